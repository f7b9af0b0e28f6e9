/**
 * Target `pim`: kernels the cost model offloads run on the simulated PIM units (GEMV against
 * resident constant weights, elementwise add/mul/relu); everything else runs on the host model,
 * functionally with the kernel interpreter and timed as bus traffic plus host operations.
 */
import { KilnError } from '../../ir/errors.js';
import { programStorage, runProgram } from '../../ir/kernel/interp.js';
import type { KBuffer, Kernel, Program } from '../../ir/kernel/types.js';
import { bufferSize, storageOf } from '../../ir/kernel/types.js';
import { Tensor } from '../../ir/tensor.js';
import { registerTarget, type KernelTarget, type TargetContext, type TargetFiles, type TargetOptionValues, type TargetRunResult } from '../target.js';
import { DEFAULT_PIM_DEVICE, loadPimDevice, peakInternalBytesPerCycle, type PimDeviceParams } from './device.js';
import { laneCodec } from './f16.js';
import { assemble } from './isa.js';
import { elementwiseMicrokernel, elementwisePim, gemmPim, gemvLayout, gemvMicrokernel, hostWriteStats, sequenceStats, type PimStats } from './kernels.js';
import { evalAffine, type LoopInfo } from './analyze.js';
import { hostKernelCost, planProgram, type EwPlan, type GemvPlan, type KernelDecision, type PimIsa, type PimPrecision, type ReducePlan } from './plan.js';

interface PimSettings {
  readonly dev: PimDeviceParams;
  readonly channels: number;
  readonly precision: PimPrecision;
  readonly isa: PimIsa;
}

function settings(o: TargetOptionValues): PimSettings {
  const dev = loadPimDevice(o.device ?? DEFAULT_PIM_DEVICE);
  const channels = Number(o.channels ?? '1');
  if (!Number.isSafeInteger(channels) || channels < 1 || channels > 64) throw new KilnError('usage', `pim channels '${o.channels}' must be a whole number 1..64`);
  const precision = (o['pim-precision'] ?? 'native') as PimPrecision;
  const isa = (o.isa ?? 'published') as PimIsa;
  return { dev, channels, precision, isa };
}

/** Enumerates the points of a loop list in row-major order. */
function forEachPoint(loops: readonly LoopInfo[], f: (env: Map<string, number>) => void, env = new Map<string, number>(), i = 0): void {
  if (i === loops.length) return f(env);
  const l = loops[i]!;
  for (let v = 0; v < l.trip; v++) {
    env.set(l.v, v);
    forEachPoint(loops, f, env, i + 1);
  }
}

function numbers(t: Tensor): ArrayLike<number> {
  return t.data as ArrayLike<number>;
}

interface Executed {
  stats?: PimStats;
  maxAbsErr?: number;
}

/** Gathers a resident matrix (rows = points of `rows`, columns = the reduction loop) in lane values. */
function gatherMatrix(data: ArrayLike<number>, idx: GemvPlan['weights']['idx'], rows: readonly LoopInfo[], k: LoopInfo, round: (x: number) => number): Float64Array {
  const K = k.trip;
  const out = new Float64Array(rows.reduce((p, l) => p * l.trip, 1) * K);
  let m = 0;
  forEachPoint(rows, (env) => {
    for (let j = 0; j < K; j++) {
      env.set(k.v, j);
      out[m * K + j] = round(data[evalAffine(idx, env)]!);
    }
    m++;
  });
  return out;
}

function runGemv(p: GemvPlan, st: Map<KBuffer, Tensor>, s: PimSettings): Executed {
  const round = laneCodec(s.dev.laneType).round;
  const W = gatherMatrix(numbers(st.get(storageOf(p.weights.buf))!), p.weights.idx, p.wLoops, p.k, round);
  const X = gatherMatrix(numbers(st.get(storageOf(p.act.buf))!), p.act.idx, p.bLoops, p.k, round);
  const out = st.get(storageOf(p.out))!.data as unknown as { [i: number]: number };
  // One PIM session for the whole batch (GEMM), weights resident.
  const r = gemmPim(s.dev, p.M, p.K, p.batch, W, X, { channels: s.channels });
  const stats = p.layoutWrite ? sequenceStats(s.dev, s.channels, 'contraction', hostWriteStats(s.dev, p.M * p.K, { channels: s.channels }), r.stats) : r.stats;
  let b = 0;
  forEachPoint(p.bLoops, (benv) => {
    let i = 0;
    forEachPoint(p.wLoops, (wenv) => {
      const e = new Map([...benv, ...wenv]);
      out[evalAffine(p.outIdx, e)] = r.y[b * p.M + i++]!;
    });
    b++;
  });
  return { stats };
}

function runReduce(p: ReducePlan, st: Map<KBuffer, Tensor>, s: PimSettings): Executed {
  const round = laneCodec(s.dev.laneType).round;
  const X = gatherMatrix(numbers(st.get(storageOf(p.x.buf))!), p.x.idx, p.wLoops, p.k, round);
  const out = st.get(storageOf(p.out))!.data as unknown as { [i: number]: number };
  const r = gemmPim(s.dev, p.M, p.K, 1, X, undefined, { channels: s.channels }, p.op);
  let i = 0;
  forEachPoint(p.wLoops, (env) => {
    out[evalAffine(p.outIdx, env)] = r.y[i++]!;
  });
  return { stats: r.stats };
}

function runElementwise(p: EwPlan, st: Map<KBuffer, Tensor>, s: PimSettings): Executed {
  const round = laneCodec(s.dev.laneType).round;
  const a = Float64Array.from(numbers(st.get(storageOf(p.a))!), round);
  const b = p.b ? Float64Array.from(numbers(st.get(storageOf(p.b))!), round) : undefined;
  const r = elementwisePim(s.dev, p.op, a, b, { channels: s.channels });
  const out = st.get(storageOf(p.out))!.data as unknown as { [i: number]: number };
  for (let i = 0; i < p.n; i++) out[i] = r.c[i]!;
  return { stats: r.stats };
}

/** Runs one kernel with the interpreter on shared storage (every non-constant root buffer is passed in, so writes land in place). */
function interpretKernel(program: Program, k: Kernel, st: Map<KBuffer, Tensor>): void {
  const roots = program.buffers.filter((b) => !b.viewOf && b.role !== 'const');
  const sub: Program = { name: program.name, buffers: program.buffers, inputs: roots, outputs: [], kernels: [k] };
  runProgram(sub, roots.map((b) => st.get(b)!));
}

export interface PimRunReport {
  cycles: number;
  pimCycles: number;
  hostCycles: number;
  energyPj: number;
  seconds: number;
  internalBandwidthUtilisation: number;
  offloaded: string[];
  maxAbsErrConverted?: number;
}

export function runPim(program: Program, inputs: readonly Tensor[], s: PimSettings, decisions = planProgram(program, s.dev, s.channels, s.precision, s.isa)): { outputs: Tensor[]; report: PimRunReport } {
  const st = programStorage(program, inputs, true);
  let pimCycles = 0;
  let hostCycles = 0;
  let energyPj = 0;
  let internal = 0;
  let maxErr: number | undefined;
  const offloaded: string[] = [];
  program.kernels.forEach((k, i) => {
    const d = decisions[i]!;
    if (!d.offload || !d.plan) {
      interpretKernel(program, k, st);
      // The cycles the decision compared (the simulated host baseline for an offload candidate).
      hostCycles += d.hostCycles;
      energyPj += hostKernelCost(k, s.dev, s.channels).energyPj;
      return;
    }
    let ref: Float64Array | undefined;
    if (d.converted) {
      // Report the conversion's error: the interpreter's result for this kernel, on a copy.
      const copy = new Map([...st].map(([b, t]) => [b, b.role === 'const' ? t : new Tensor(t.dtype, t.shape, t.data.slice() as typeof t.data)]));
      interpretKernel(program, k, copy);
      ref = Float64Array.from(numbers(copy.get(storageOf(d.plan.out))!));
    }
    const r = d.plan.kind === 'gemv' ? runGemv(d.plan, st, s) : d.plan.kind === 'reduce' ? runReduce(d.plan, st, s) : runElementwise(d.plan, st, s);
    if (ref) {
      const got = numbers(st.get(storageOf(d.plan.out))!);
      let e = 0;
      for (let j = 0; j < ref.length; j++) e = Math.max(e, Math.abs(ref[j]! - got[j]!));
      maxErr = Math.max(maxErr ?? 0, e);
    }
    offloaded.push(k.name);
    if (r.stats) {
      pimCycles += r.stats.cycles;
      energyPj += r.stats.energyPj;
      internal += r.stats.internalBytes;
    }
  });
  const outputs = program.outputs.map((b) => {
    const t = st.get(storageOf(b))!;
    return t.shape.length === b.shape.length && t.shape.every((d, i) => d === b.shape[i]) ? t : t.reshape(b.shape);
  });
  const cycles = pimCycles + hostCycles;
  return {
    outputs,
    report: {
      cycles, pimCycles, hostCycles, energyPj: Math.round(energyPj), seconds: (cycles * s.dev.tCKns) / 1e9,
      internalBandwidthUtilisation: cycles > 0 ? internal / cycles / (peakInternalBytesPerCycle(s.dev) * s.channels) : 0,
      offloaded, ...(maxErr !== undefined ? { maxAbsErrConverted: maxErr } : {}),
    },
  };
}

function layoutOf(d: KernelDecision, s: PimSettings): Record<string, unknown> | undefined {
  const p = d.plan;
  if (!d.offload || !p) return undefined;
  const dev = s.dev;
  if (p.kind === 'gemv' || p.kind === 'reduce') {
    const batch = p.kind === 'gemv' ? p.batch : 1;
    const L = gemvLayout(dev, p.M, p.K, s.channels, batch);
    const names = p.kind === 'gemv' ? { weights: p.weights.buf.name, activations: p.act.buf.name, ...(p.layoutWrite ? { weightsWrittenByHost: true } : {}) } : { reduced: p.x.buf.name };
    return {
      kernel: d.kernel, kind: p.kind === 'gemv' ? (batch > 1 ? 'gemm' : 'gemv') : `reduce-${p.op}`, ...names, output: p.out.name, M: p.M, K: p.K, batch,
      channels: s.channels, rowsPerChannel: L.rowsPerChannel, groups: L.nGroups, kBlocks: L.nKb, dramRowsPerBank: L.dramRowsUsed,
      weightPlacement: `W[m][k]: channel c = floor(m / ${L.rowsPerChannel}); m' = m mod ${L.rowsPerChannel} = (g*${dev.banks / dev.banksPerUnit} + u)*${dev.grfEntries} + s; bank u*${dev.banksPerUnit} + floor(s / ${dev.grfEntries / dev.banksPerUnit}); row g*${L.nKb} + floor(k / ${dev.grfEntries * dev.lanes}); column (s mod ${dev.grfEntries / dev.banksPerUnit})*${dev.grfEntries} + floor(k / ${dev.lanes}) mod ${dev.grfEntries}; lane k mod ${dev.lanes}`,
      ...(p.kind === 'gemv' ? { inputBroadcast: `x[b][k] written (AB-PIM WR) to column floor(k/${dev.lanes}) mod ${dev.grfEntries} of the open row, once per (group, vector b, k block)` } : {}),
      partialSums: `row ${L.nGroups * L.nKb} + g*${batch} + b, columns o*${dev.grfEntries}; the host ${p.kind === 'reduce' && p.op === 'max' ? 'takes the max of' : 'sums'} the ${dev.lanes} lanes`,
    };
  }
  return {
    kernel: d.kernel, kind: 'elementwise', op: p.op, a: p.a.name, ...(p.b ? { b: p.b.name } : {}), output: p.out.name, n: p.n, channels: s.channels,
    placement: dev.banksPerUnit === 2 ? 'a in even banks, b in odd banks, same row/column; result written in place of a' : 'a in the first half of each row, b in the second half; result in place of a',
  };
}

function microkernelOf(d: KernelDecision, s: PimSettings): string | undefined {
  const p = d.plan;
  if (!d.offload || !p) return undefined;
  if (p.kind === 'gemv') {
    const L = gemvLayout(s.dev, p.M, p.K, s.channels, p.batch);
    return gemvMicrokernel(s.dev, L.nKb, L.nGroups, 'mac', p.batch);
  }
  if (p.kind === 'reduce') {
    const L = gemvLayout(s.dev, p.M, p.K, s.channels);
    return gemvMicrokernel(s.dev, L.nKb, L.nGroups, p.op);
  }
  const perStep = (s.dev.banks / s.dev.banksPerUnit) * s.dev.grfEntries * s.dev.lanes * (p.op === 'relu' ? s.dev.banksPerUnit : 1);
  return elementwiseMicrokernel(s.dev, p.op, Math.ceil(Math.ceil(p.n / s.channels) / perStep));
}

export function emitPim(program: Program, ctx: TargetContext): TargetFiles {
  const s = settings(ctx.options);
  const decisions = planProgram(program, s.dev, s.channels, s.precision, s.isa);
  const files = new Map<string, string | Uint8Array>();
  const asm: string[] = [`; Kiln PIM microkernels for ${program.name} on ${s.dev.name} x${s.channels} (docs/pim-isa.md)\n`];
  const words: number[] = [];
  const layout: Record<string, unknown>[] = [];
  for (const d of decisions) {
    const text = microkernelOf(d, s);
    if (!text) continue;
    const w = assemble(text);
    asm.push(`\n; kernel ${d.kernel}: ${d.shape} — CRF words ${words.length}..${words.length + w.length - 1}\n${text}`);
    words.push(...w);
    layout.push(layoutOf(d, s)!);
  }
  const bin = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(bin.buffer).setUint32(i * 4, w, true));
  files.set(`${ctx.name}.pim.s`, asm.join(''));
  files.set(`${ctx.name}.pim.bin`, bin);
  files.set(`${ctx.name}.layout.json`, `${JSON.stringify({ device: s.dev.name, channels: s.channels, kernels: layout }, null, 2)}\n`);
  let pimCycles = 0;
  let hostCycles = 0;
  for (const d of decisions) {
    if (d.offload && d.pimCycles !== undefined) pimCycles += d.pimCycles;
    else hostCycles += d.hostCycles;
  }
  const internal = decisions.reduce((a, d) => a + (d.offload && d.pimStats ? d.pimStats.internalBytes : 0), 0);
  const cycles = pimCycles + hostCycles;
  return {
    files,
    report: {
      device: s.dev.name, channels: s.channels, precision: s.precision, isa: s.isa, sources: s.dev.sources,
      estimate: {
        cycles, pimCycles, hostCycles, seconds: (cycles * s.dev.tCKns) / 1e9,
        energyPj: Math.round(decisions.reduce((a, d) => a + (d.offload && d.pimStats ? d.pimStats.energyPj : 0), 0)),
        internalBandwidthUtilisation: cycles > 0 ? internal / cycles / (peakInternalBytesPerCycle(s.dev) * s.channels) : 0,
      },
      kernels: decisions.map((d) => ({ kernel: d.kernel, shape: d.shape, offload: d.offload, why: d.why, ...(d.pimCycles !== undefined ? { pimCycles: d.pimCycles } : {}), hostCycles: d.hostCycles })),
    },
  };
}

export const pimTarget: KernelTarget = {
  name: 'pim',
  description: 'processing-in-memory (HBM-PIM / GDDR6-AiM) on Kiln\'s cycle-level simulator; the host model runs what is not offloaded',
  level: 'kernel',
  options: {
    device: { description: 'PIM device profile (a pim device of `kiln devices --kind pim`)', default: DEFAULT_PIM_DEVICE },
    channels: { description: 'pseudo-channels the data is spread over', default: '1' },
    'pim-precision': { description: 'native: offload only kernels in the lane type; fp16: convert float kernels (output error reported)', default: 'native', values: ['native', 'fp16'] },
    isa: { description: "published: the published PIM instructions only; extended: also Kiln's MAX (row maxima offloaded)", default: 'published', values: ['published', 'extended'] },
  },
  capabilities: { ci: true, emits: true },
  checkOptions: (o) => void settings(o),
  pipeline: () => '',
  emit: emitPim,
  run(program: Program, inputs: readonly Tensor[], ctx: TargetContext): TargetRunResult {
    const s = settings(ctx.options);
    const r = runPim(program, inputs, s);
    const err = r.report.maxAbsErrConverted !== undefined ? `, max |error| of converted kernels ${r.report.maxAbsErrConverted.toExponential(3)}` : '';
    return {
      outputs: r.outputs,
      summary: `pim ${s.dev.name} x${s.channels}: ${r.report.cycles} cycles (${r.report.pimCycles} on PIM, ${r.report.hostCycles} host), ${(r.report.energyPj / 1e6).toFixed(3)} uJ, ${r.report.offloaded.length} kernel(s) offloaded${err}`,
      measures: { cycles: r.report.cycles, pimCycles: r.report.pimCycles, hostCycles: r.report.hostCycles, energyPj: r.report.energyPj, seconds: r.report.seconds, ...(r.report.maxAbsErrConverted !== undefined ? { maxAbsErrConverted: r.report.maxAbsErrConverted } : {}) },
    };
  },
};

registerTarget(pimTarget);
