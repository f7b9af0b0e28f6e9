/** The text of an HLS design's report (kiln compile, kiln report): per-layer folding and totals against the part. */
import type { Resources } from '../../costmodel/hls-cost.js';
import type { HlsFoldReport } from '../../costmodel/hls-report.js';

type Res = Resources;

const pad = (s: string | number, n: number): string => String(s).padStart(n);
const us = (cycles: number, mhz: number): string => `${(cycles / mhz).toFixed(1)} us`;

export function describeHls(report: Readonly<Record<string, unknown>>): string[] {
  const f = report.hls as HlsFoldReport | undefined;
  if (!f) return [];
  const out: string[] = [];
  const t = f.total;
  const share = (k: keyof Res): string => `${t[k]}/${f.available[k]} (${((100 * t[k]) / f.available[k]).toFixed(1)}%)`;
  out.push(`HLS design on ${f.part} at ${f.clockMhz} MHz, io ${f.io}, budget ${f.budgetPercent}%, ${f.dataflow ? 'dataflow' : 'sequential (ping-pong buffers do not fit)'}: interval ${f.ii} cycles (${us(f.ii, f.clockMhz)}), latency ${f.latency} cycles (${us(f.latency, f.clockMhz)})`);
  out.push(`resources: DSP ${share('dsp')}, BRAM18K ${share('bram18k')}, LUT ${share('lut')}, FF ${share('ff')}, URAM ${f.uram.blocks}/${f.uram.available} (${f.uram.arrays.length} tensors); ILP ${f.ilp.status}${f.ilp.gap !== null ? `, gap ${(100 * f.ilp.gap).toFixed(2)}%` : ''} (${f.ilp.variables} variables)`);
  out.push(`${'layer'.padEnd(24)} ${'op'.padEnd(18)} ${pad('unroll', 6)} ${pad('II', 4)} ${pad('cycles', 9)} ${pad('DSP', 5)} ${pad('BRAM', 5)} ${pad('LUT', 7)} ${pad('FF', 7)} ${pad('acc', 4)}  why`);
  for (const l of f.layers) {
    out.push(`${l.node.slice(0, 24).padEnd(24)} ${l.op.slice(0, 18).padEnd(18)} ${pad(l.factor, 6)} ${pad(Math.max(l.ii, l.share), 4)} ${pad(l.cycles, 9)} ${pad(l.dsp, 5)} ${pad(l.bram18k, 5)} ${pad(l.lut, 7)} ${pad(l.ff, 7)} ${pad(l.accumulatorBits ?? '-', 4)}  ${l.reason}`);
  }
  for (const c of f.compare) out.push(`folding ${c.name}: interval ${c.ii} cycles, latency ${c.latency} cycles${c.fits ? '' : ' (does not fit)'}`);
  return out;
}
