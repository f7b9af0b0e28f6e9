/**
 * hls-fold: chooses each kernel's parallelism for the HLS-C target. Every innermost loop is marked
 * `pipeline`; the kernel's fold site (its innermost loop with the most iterations) gets `unroll U`,
 * with U chosen by the folding ILP (src/costmodel/hls-ilp.ts) from the resource/II model
 * (src/costmodel/hls-cost.ts) so that the dataflow design's interval (its slowest layer) is
 * smallest within `budget` percent of the part's DSP, BRAM18K, LUT and FF. The arrays a fold
 * indexes are partitioned by the renderer from the same annotations. A design that does not fit
 * even with every layer folded (U = 1) is refused with one line naming the resource and its
 * largest user. The decisions and the model's figures go to results['hls-fold'] for the report.
 */
import { KilnError } from '../ir/errors.js';
import { storageOf, type KBuffer, type Kernel, type Program, type Stmt } from '../ir/kernel/types.js';
import { getDevice } from '../costmodel/devices.js';
import { RESOURCE_NAMES, arrayResources, baseArrayResources, kernelUses, modelKernel, placeUram, shareArrays, type HlsPart, type KernelModel, type Resources } from '../costmodel/hls-cost.js';
import { intervalOf, latencyOf, overBudget, solveFolding, usage } from '../costmodel/hls-ilp.js';
import type { FoldingSummary, HlsFoldReport, HlsLayerReport } from '../costmodel/hls-report.js';
import { definePass, numberOption } from './pass.js';

export const HLS_FOLD = 'hls-fold';

export type { FoldingSummary, HlsFoldReport, HlsLayerReport } from '../costmodel/hls-report.js';

export function hlsPart(name: string): HlsPart {
  const d = getDevice(name, 'fpga');
  return { name: d.name, dsp: d.resources.dsp, bram18k: d.resources.bram18k, lut: d.resources.lut, ff: d.resources.ff, multiplierBits: d.dsp.multiplierBits, clockMhz: d.clock.mhz, uram: d.resources.uram };
}

const LABEL: Record<keyof Resources, string> = { dsp: 'DSP', bram18k: 'BRAM18K', lut: 'LUT', ff: 'FF' };

function clearMarks(ss: readonly Stmt[]): void {
  for (const s of ss) {
    if (s.k === 'for') {
      delete s.ann.unroll;
      delete s.ann.pipeline;
      delete s.ann.ii;
      clearMarks(s.body);
    } else if (s.k === 'if') {
      clearMarks(s.then);
      clearMarks(s.else);
    }
  }
}

/** Marks the innermost loops `pipeline` (with the requested II when operators are shared). */
function markInnermost(ss: readonly Stmt[], ii: number): void {
  for (const s of ss) {
    if (s.k === 'for') {
      const nested = hasLoop(s.body);
      if (!nested) {
        s.ann.pipeline = true;
        if (ii > 1) s.ann.ii = ii;
      } else markInnermost(s.body, ii);
    } else if (s.k === 'if') {
      markInnermost(s.then, ii);
      markInnermost(s.else, ii);
    }
  }
}

function hasLoop(ss: readonly Stmt[]): boolean {
  return ss.some((s) => s.k === 'for' || (s.k === 'if' && (hasLoop(s.then) || hasLoop(s.else))));
}

/** The kernel that first reads (else writes) a buffer, for naming an array's layer. */
function ownerOf(program: Program, b: KBuffer): Kernel | undefined {
  return program.kernels.find((k) => kernelUses(k).has(b));
}

function refuse(program: Program, models: readonly KernelModel[], ports: ReadonlySet<KBuffer>, need: Resources, budget: Resources, part: HlsPart, pct: number, res: keyof Resources, tempCopies: number): never {
  let who = '';
  let most = -1;
  for (const m of models) {
    const v = m.points[0]!.res[res];
    if (v > most) {
      most = v;
      who = `layer '${m.kernel.origin.node}' (${m.kernel.origin.op})`;
    }
  }
  const seen = new Set<KBuffer>();
  for (const b of program.buffers) {
    const r = storageOf(b);
    if (seen.has(r) || ports.has(r)) continue;
    seen.add(r);
    const v = arrayResources(r, 1)[res] * (r.role === 'temp' ? tempCopies : 1);
    if (v > most) {
      most = v;
      const k = ownerOf(program, r);
      who = `array '${r.name}'${k ? ` of layer '${k.origin.node}' (${k.origin.op})` : ''}`;
    }
  }
  throw new KilnError('unsupported', `design does not fit ${part.name} even with every layer folded: ${LABEL[res]} ${Math.ceil(need[res])} > ${Math.floor(budget[res])} (${pct}% of ${part[res]}); largest user ${who} with ${Math.ceil(most)} ${LABEL[res]}`);
}

function reasonFor(models: readonly KernelModel[], choice: readonly number[], i: number, ii: number, base: Resources, budget: Resources, bottleneck: string): string {
  const m = models[i]!;
  const p = m.points[choice[i]!]!;
  if (p.cycles < ii) return choice[i] === 0 ? `fully folded (II ${p.share}) and still faster than bottleneck layer '${bottleneck}'` : `most folded point that keeps up with bottleneck layer '${bottleneck}'`;
  if (choice[i] === m.points.length - 1) return m.site ? 'bottleneck: fold site fully unrolled' : 'bottleneck: no loop to unroll';
  const next = m.points[choice[i]! + 1]!;
  if (next.cycles >= p.cycles) return `bottleneck: ${next.share > 1 ? `II ${next.share}` : `unroll ${next.factor}`} is no faster (${m.recurrence ? 'a loop-carried recurrence, ' : ''}pipeline fill of short loops${m.portBound ? ', m_axi port accesses' : ''})`;
  const wider = [...choice];
  wider[i] = choice[i]! + 1;
  const over = overBudget(usage(models, wider, base), budget);
  return over ? `bottleneck; binding resource ${LABEL[over]} (${next.share > 1 ? `II ${next.share}` : `unroll ${next.factor}`} would exceed the budget)` : 'bottleneck (ILP time limit reached before a wider factor was proven)';
}

/** Runs the folding on a program in place; returns the report. */
export function hlsFold(program: Program, opts: { part: string; budgetPercent: number; io: string; timeLimitMs: number }): HlsFoldReport {
  const part = hlsPart(opts.part);
  const pct = opts.budgetPercent;
  for (const k of program.kernels) clearMarks(k.body);
  const axi = new Set<KBuffer>(opts.io === 'stream' ? [] : [...program.inputs, ...program.outputs].map(storageOf));
  // large intermediate tensors go to UltraRAM; like ports they are not partitioned (one access per cycle in the model)
  const uram = placeUram(program, axi, Math.floor((part.uram * pct) / 100));
  const ports = new Set<KBuffer>([...axi, ...uram.arrays]);
  const fallback = Math.max(1, ...program.buffers.map((b) => b.shape.reduce((a, d) => a * d, 1)));
  const models = program.kernels.map((k) => modelKernel(k, part, ports, fallback));
  const budget: Resources = { dsp: (part.dsp * pct) / 100, bram18k: (part.bram18k * pct) / 100, lut: (part.lut * pct) / 100, ff: (part.ff * pct) / 100 };
  let base = baseArrayResources(program, ports);
  let dataflow = true;
  let shared = new Map<KBuffer, KBuffer>();
  // ping-pong buffers that do not fit: a sequential design with single buffers (interval = latency)
  if (overBudget(usage(models, models.map(() => 0), base), budget)) {
    // sequential with single buffers, shared between tensors whose kernels do not overlap, is the smallest design; a refusal quotes its figures
    shared = shareArrays(program, ports);
    base = baseArrayResources(program, ports, 1, shared);
    dataflow = false;
  }
  const folded = models.map(() => 0);
  const needFolded = usage(models, folded, base);
  const over = overBudget(needFolded, budget);
  if (over) refuse(program, models, ports, needFolded, budget, part, pct, over, dataflow ? 2 : 1);
  const sol = solveFolding(models, base, budget, opts.timeLimitMs, dataflow);
  models.forEach((m, i) => {
    const p = m.points[sol.choice[i]!]!;
    markInnermost(m.kernel.body, p.share);
    if (m.site && p.factor > 1) m.site.ann.unroll = p.factor;
  });
  const interval = (choice: readonly number[]): number => (dataflow ? intervalOf(models, choice) : latencyOf(models, choice));
  const ii = interval(sol.choice);
  const slowest = models.findIndex((m, i) => m.points[sol.choice[i]!]!.cycles === intervalOf(models, sol.choice));
  const bottleneck = slowest >= 0 ? models[slowest]!.kernel.origin.node : '';
  const layers = models.map((m, i): HlsLayerReport => {
    const p = m.points[sol.choice[i]!]!;
    return {
      kernel: m.kernel.name,
      node: m.kernel.origin.node,
      op: m.kernel.origin.op,
      factor: p.factor,
      share: p.share,
      siteTrips: m.siteTrips,
      ii: p.ii,
      cycles: p.cycles,
      ...roundRes(p.res),
      accumulatorBits: m.accBits,
      reason: dataflow ? reasonFor(models, sol.choice, i, ii, base, budget, bottleneck) : reasonFor(models, sol.choice, i, p.cycles, base, budget, bottleneck).replace(/^bottleneck/, 'sequential design'),
    };
  });
  // the two fixed foldings the ILP is compared with
  const summary = (name: string, choice: number[]): FoldingSummary => ({ name, factors: choice.map((c, i) => models[i]!.points[c]!.factor), shares: choice.map((c, i) => models[i]!.points[c]!.share), ii: interval(choice), latency: latencyOf(models, choice), fits: !overBudget(usage(models, choice, base), budget) });
  // unrolled: II 1 everywhere and every fold site unrolled up to a common cap
  const capped = (cap: number): number[] => models.map((m) => {
    let j = m.points.length - 1;
    m.points.forEach((p, k) => {
      if (p.share === 1 && p.factor <= cap) j = k;
    });
    return j;
  });
  let cap = 1;
  while (cap * 2 <= 256 && !overBudget(usage(models, capped(cap * 2), base), budget)) cap *= 2;
  return {
    part: part.name,
    clockMhz: part.clockMhz,
    budgetPercent: pct,
    io: opts.io,
    dataflow,
    ilp: { status: sol.status, gap: sol.gap, variables: models.reduce((n, m) => n + m.points.length, 1) },
    ii,
    latency: latencyOf(models, sol.choice),
    layers,
    arrays: roundRes(base),
    total: roundRes(usage(models, sol.choice, base)),
    budget: roundRes(budget),
    available: { dsp: part.dsp, bram18k: part.bram18k, lut: part.lut, ff: part.ff },
    uram: { arrays: uram.arrays.map((b) => b.name), blocks: uram.used, available: part.uram },
    shared: Object.fromEntries([...shared].map(([b, host]) => [b.name, host.name])),
    compare: [summary('ilp', sol.choice), summary('all folded (largest II, unroll 1)', folded), summary(`all unrolled to fit (II 1, unroll ≤ ${cap})`, capped(cap))],
  };
}

function roundRes(r: Resources): Resources {
  const out = { dsp: 0, bram18k: 0, lut: 0, ff: 0 };
  for (const n of RESOURCE_NAMES) out[n] = Math.ceil(r[n]);
  return out;
}

export const hlsFoldPass = definePass({
  name: HLS_FOLD,
  level: 'kernel',
  description: 'choose per-kernel unroll factors for HLS-C by an ILP over the FPGA part\'s DSP/BRAM/LUT/FF budget (pipeline and unroll loop annotations)',
  options: {
    part: 'FPGA part (kiln devices --kind fpga; default xczu7ev)',
    budget: 'percent of each resource the design may use (default 90)',
    io: 'm_axi (inputs/outputs in external memory: one access per cycle) or stream',
    'time-limit': 'ILP time limit in seconds (default 10)',
  },
  run: (program, ctx) => {
    const io = ctx.options.io ?? 'm_axi';
    if (io !== 'm_axi' && io !== 'stream') throw new KilnError('usage', `hls-fold: io must be m_axi or stream, not '${io}'`);
    const report = hlsFold(program, { part: ctx.options.part ?? 'xczu7ev', budgetPercent: numberOption(HLS_FOLD, ctx, 'budget', { dflt: 90, min: 1, max: 100 }), io, timeLimitMs: numberOption(HLS_FOLD, ctx, 'time-limit', { dflt: 10, min: 0.1, max: 3600 }) * 1000 });
    ctx.results.set(HLS_FOLD, report);
    ctx.log(`hls-fold: ${report.layers.length} layers on ${report.part}, interval ${report.ii} cycles (ILP ${report.ilp.status})`);
    return true;
  },
});
