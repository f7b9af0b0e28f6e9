/**
 * The arena over time as an SVG picture: x is the kernel step, y the byte offset (0 at the top),
 * one labelled rectangle per buffer (members of an in-place block are drawn at their own offsets
 * and intervals). Pure string building, no dependencies.
 */
import type { MemoryPlan } from './plan-memory.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, ' ');

function human(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export interface PlotOptions {
  title?: string;
  /** Width and height of the drawing area in pixels. */
  width?: number;
  height?: number;
}

export function memoryPlotSvg(plan: MemoryPlan, opts: PlotOptions = {}): string {
  const W = opts.width ?? 1000;
  const H = opts.height ?? 600;
  const ml = 90;
  const mt = 40;
  const mb = 40;
  const mr = 20;
  const steps = Math.max(1, plan.liveness.steps);
  const arena = Math.max(1, plan.arenaBytes);
  const sx = W / steps;
  const sy = H / arena;
  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W + ml + mr}" height="${H + mt + mb}" viewBox="0 0 ${W + ml + mr} ${H + mt + mb}" font-family="sans-serif" font-size="10">`);
  const r = plan.report;
  const title = `${opts.title ? `${opts.title}: ` : ''}arena ${human(plan.arenaBytes)} (${r.strategy}), live-set lower bound ${human(r.lowerBoundBytes)}`;
  out.push(`<title>${esc(title)}</title>`);
  out.push(`<text x="${ml}" y="20" font-size="13">${esc(title)}</text>`);
  out.push(`<rect x="${ml}" y="${mt}" width="${W}" height="${H}" fill="#f8f8f8" stroke="#888"/>`);
  // axes
  const yt = 5;
  for (let i = 0; i <= yt; i++) {
    const y = mt + (H * i) / yt;
    out.push(`<line x1="${ml - 4}" y1="${y.toFixed(1)}" x2="${ml}" y2="${y.toFixed(1)}" stroke="#888"/>`);
    out.push(`<text x="${ml - 6}" y="${(y + 3).toFixed(1)}" text-anchor="end">${esc(human(Math.round((arena * i) / yt)))}</text>`);
  }
  const xt = Math.min(steps, 10);
  for (let i = 0; i <= xt; i++) {
    const s = Math.round((steps * i) / xt);
    const x = ml + s * sx;
    out.push(`<line x1="${x.toFixed(1)}" y1="${mt + H}" x2="${x.toFixed(1)}" y2="${mt + H + 4}" stroke="#888"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${mt + H + 15}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${ml + W / 2}" y="${mt + H + 32}" text-anchor="middle">kernel step</text>`);
  out.push(`<text x="14" y="${mt + H / 2}" text-anchor="middle" transform="rotate(-90 14 ${mt + H / 2})">offset</text>`);
  plan.liveness.blocks.forEach((b, bi) => {
    const hue = (bi * 137) % 360;
    for (const m of b.members) {
      const off = plan.blockOffsets[bi]! + m.rel;
      const x = ml + m.first * sx;
      const w = Math.max(1, (m.last - m.first + 1) * sx);
      const y = mt + off * sy;
      const h = Math.max(0.5, m.bytes * sy);
      const label = `${m.buf.name} ${human(m.bytes)} @${off} [${m.first}..${m.last}]`;
      out.push(`<g><title>${esc(label)}</title>`);
      out.push(`<rect x="${x.toFixed(2)}" y="${y.toFixed(2)}" width="${w.toFixed(2)}" height="${h.toFixed(2)}" fill="hsl(${hue},60%,75%)" fill-opacity="0.8" stroke="hsl(${hue},50%,40%)" stroke-width="0.5"/>`);
      if (h >= 9 && w >= 30) {
        const chars = Math.floor(w / 5.5);
        const text = m.buf.name.length > chars ? `${m.buf.name.slice(0, Math.max(1, chars - 1))}…` : m.buf.name;
        out.push(`<text x="${(x + 2).toFixed(2)}" y="${(y + Math.min(h, 20) / 2 + 3).toFixed(2)}">${esc(text)}</text>`);
      }
      out.push('</g>');
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
