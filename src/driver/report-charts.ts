/**
 * Inline SVG charts of `kiln report`: the pass timeline and the roofline. Pure string building; every
 * piece of model text goes through escapeXml.
 */
import type { KernelCost } from '../costmodel/kernel-cost.js';
import type { Roofline } from '../costmodel/roofline.js';

/** Escapes text for HTML/SVG content and attribute values; control characters become spaces. */
export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, ' ');
}

/** 3 significant digits with an SI prefix: 1.23 k, 45.6 M. */
export function si(x: number, unit = ''): string {
  if (x === 0 || !Number.isFinite(x)) return `${x}${unit ? ` ${unit}` : ''}`;
  const prefixes: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'], [1, ''], [1e-3, 'm'], [1e-6, 'µ'], [1e-9, 'n']];
  const [f, p] = prefixes.find(([v]) => Math.abs(x) >= v) ?? prefixes[prefixes.length - 1]!;
  return `${Number((x / f).toPrecision(3))} ${p}${unit}`;
}

export interface PassTiming {
  name: string;
  level: string;
  ms: number;
}

const LEVEL_COLORS = ['#60a5fa', '#f59e0b', '#34d399', '#a78bfa', '#f87171', '#9ca3af'];

/** Horizontal bars, one per pass in pipeline order, coloured by level, with a legend. */
export function passTimelineSvg(passes: readonly PassTiming[]): string {
  const levels = [...new Set(passes.map((p) => p.level))];
  const color = (l: string): string => LEVEL_COLORS[levels.indexOf(l) % LEVEL_COLORS.length]!;
  const W = 900;
  const labelW = 220;
  const barW = W - labelW - 90;
  const row = 20;
  const top = 28;
  const H = top + Math.max(1, passes.length) * row + 10;
  const max = Math.max(1e-9, ...passes.map((p) => p.ms));
  const total = passes.reduce((a, p) => a + p.ms, 0);
  const out: string[] = [`<svg id="pass-chart" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`];
  out.push(`<title>compile passes: ${escapeXml(total.toFixed(1))} ms in all</title>`);
  let lx = labelW;
  for (const l of levels) {
    out.push(`<rect x="${lx}" y="6" width="10" height="10" fill="${color(l)}"/><text x="${lx + 14}" y="15">${escapeXml(l)}</text>`);
    lx += 24 + 7 * l.length;
  }
  if (passes.length === 0) out.push(`<text x="10" y="${top + 14}">no pass timings</text>`);
  passes.forEach((p, i) => {
    const y = top + i * row;
    const w = Math.max(1, (barW * p.ms) / max);
    out.push(`<g><title>${escapeXml(`${p.name} (${p.level}): ${p.ms.toFixed(2)} ms`)}</title>`);
    out.push(`<text x="${labelW - 6}" y="${y + 13}" text-anchor="end">${escapeXml(p.name)}</text>`);
    out.push(`<rect class="bar" x="${labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="${row - 5}" fill="${color(p.level)}"/>`);
    out.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + 13}">${escapeXml(p.ms.toFixed(2))} ms</text></g>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Kernels that can sit on a log-log roofline: some ops and some bytes. */
export function plottable(c: KernelCost): boolean {
  return c.ops > 0 && c.bytes > 0 && c.estSeconds > 0;
}

/** Log-log roofline: attainable ops/s against ops/byte, roofs of the target, one dot per kernel. */
export function rooflineSvg(costs: readonly KernelCost[], rf: Roofline): string {
  const W = 900;
  const H = 520;
  const ml = 80;
  const mr = 30;
  const mt = 30;
  const mb = 50;
  const pw = W - ml - mr;
  const ph = H - mt - mb;
  const bw = rf.bytesPerCycle * rf.clockHz;
  const peakF = rf.flopsPerCycle * rf.clockHz;
  const peakI = rf.intOpsPerCycle * rf.clockHz;
  const ridgeF = peakF / bw;
  const ridgeI = peakI / bw;
  const pts = costs.filter(plottable).map((c) => ({ c, x: c.intensity!, y: c.ops / c.estSeconds }));
  const xs = [ridgeF, ridgeI, ...pts.map((p) => p.x)];
  const x0 = 10 ** Math.floor(Math.log10(Math.min(...xs) / 4));
  const x1 = 10 ** Math.ceil(Math.log10(Math.max(...xs) * 4));
  const ys = [peakF, peakI, ...pts.map((p) => p.y)];
  const y1 = 10 ** Math.ceil(Math.log10(Math.max(...ys) * 1.5));
  const y0 = 10 ** Math.floor(Math.log10(Math.min(bw * x0, ...pts.map((p) => p.y)) / 1.5));
  const X = (x: number): number => ml + (pw * Math.log10(x / x0)) / Math.log10(x1 / x0);
  const Y = (y: number): number => mt + ph - (ph * Math.log10(y / y0)) / Math.log10(y1 / y0);
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [`<svg id="roofline-chart" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`];
  out.push(`<title>${escapeXml(`roofline of ${rf.name}: peak ${si(peakF, 'flop/s')}, ${si(bw, 'B/s')}`)}</title>`);
  out.push(`<defs><clipPath id="roof-clip"><rect x="${ml}" y="${mt}" width="${pw}" height="${ph}"/></clipPath></defs>`);
  out.push(`<rect x="${ml}" y="${mt}" width="${pw}" height="${ph}" fill="#fafafa" stroke="#9ca3af"/>`);
  for (let e = Math.round(Math.log10(x0)); e <= Math.round(Math.log10(x1)); e++) {
    const x = X(10 ** e);
    out.push(`<line x1="${f(x)}" y1="${mt}" x2="${f(x)}" y2="${mt + ph}" stroke="#e5e7eb"/><text x="${f(x)}" y="${mt + ph + 15}" text-anchor="middle">${escapeXml(si(10 ** e))}</text>`);
  }
  for (let e = Math.round(Math.log10(y0)); e <= Math.round(Math.log10(y1)); e++) {
    const y = Y(10 ** e);
    out.push(`<line x1="${ml}" y1="${f(y)}" x2="${ml + pw}" y2="${f(y)}" stroke="#e5e7eb"/><text x="${ml - 6}" y="${f(y + 4)}" text-anchor="end">${escapeXml(si(10 ** e))}</text>`);
  }
  out.push(`<text x="${ml + pw / 2}" y="${H - 12}" text-anchor="middle">arithmetic intensity (ops per byte loaded or stored)</text>`);
  out.push(`<text x="16" y="${mt + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${mt + ph / 2})">ops per second</text>`);
  out.push(`<g clip-path="url(#roof-clip)">`);
  out.push(`<polyline class="roof" points="${f(X(x0))},${f(Y(bw * x0))} ${f(X(ridgeF))},${f(Y(peakF))} ${f(X(x1))},${f(Y(peakF))}" fill="none" stroke="#1f2937" stroke-width="2"><title>${escapeXml(`float roof: ${si(peakF, 'flop/s')}; memory slope ${si(bw, 'B/s')}`)}</title></polyline>`);
  if (peakI !== peakF) out.push(`<polyline class="roof" points="${f(X(ridgeI))},${f(Y(peakI))} ${f(X(x1))},${f(Y(peakI))}" fill="none" stroke="#6b7280" stroke-width="1.5" stroke-dasharray="6 4"><title>${escapeXml(`integer roof: ${si(peakI, 'op/s')}`)}</title></polyline>`);
  out.push('</g>');
  out.push(`<circle class="ridge" cx="${f(X(ridgeF))}" cy="${f(Y(peakF))}" r="5" fill="none" stroke="#dc2626" stroke-width="2"><title>${escapeXml(`ridge point: ${Number(ridgeF.toPrecision(3))} flop/byte`)}</title></circle>`);
  out.push(`<text x="${f(X(ridgeF) - 8)}" y="${f(Y(peakF) - 8)}" text-anchor="end" fill="#dc2626">ridge ${escapeXml(String(Number(ridgeF.toPrecision(3))))} flop/B</text>`);
  out.push(`<text x="${f(X(x1) - 4)}" y="${f(Y(peakF) - 5)}" text-anchor="end">float peak ${escapeXml(si(peakF, 'flop/s'))}</text>`);
  if (peakI !== peakF) out.push(`<text x="${f(X(x1) - 4)}" y="${f(Y(peakI) - 5)}" text-anchor="end" fill="#6b7280">integer peak ${escapeXml(si(peakI, 'op/s'))}</text>`);
  for (const p of pts) {
    const c = p.c;
    const tip = `${c.name} (${c.op}, node ${c.node}): ${si(c.ops, 'ops')} (${c.flops} flop, ${c.intOps} int), ${si(c.bytes, 'B')}, ${Number(p.x.toPrecision(3))} ops/B, est. ${si(c.estSeconds, 's')}, ${c.bound} bound${c.exact ? '' : ' (estimated counts)'}`;
    out.push(`<circle class="kernel" cx="${f(X(p.x))}" cy="${f(Y(p.y))}" r="4.5" fill="${c.bound === 'compute' ? '#2563eb' : '#f59e0b'}" fill-opacity="0.75" stroke="#111827" stroke-width="0.5"><title>${escapeXml(tip)}</title></circle>`);
  }
  out.push(`<g font-size="10"><circle cx="${ml + 12}" cy="${mt + 12}" r="4.5" fill="#2563eb"/><text x="${ml + 20}" y="${mt + 16}">compute bound</text><circle cx="${ml + 112}" cy="${mt + 12}" r="4.5" fill="#f59e0b"/><text x="${ml + 120}" y="${mt + 16}">memory bound</text></g>`);
  out.push('</svg>');
  return out.join('\n');
}
