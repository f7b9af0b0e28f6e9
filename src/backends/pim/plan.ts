/**
 * Offload decisions for a lowered program on a PIM device: each kernel's shape (analyze.ts), whether
 * the PIM units compute its type natively, whether its operands can live in the banks in the PIM
 * layout (a contraction needs a constant weight operand; activations are broadcast), and the cost
 * model's verdict from simulating both the PIM mapping and the host doing the same work over the bus.
 */
import { KilnError } from '../../ir/errors.js';
import { dtypeInfo, isFloat } from '../../ir/dtype.js';
import type { KBuffer, Kernel, Program } from '../../ir/kernel/types.js';
import { bufferSize, storageOf } from '../../ir/kernel/types.js';
import { kernelCounts } from '../../costmodel/kernel-cost.js';
import { analyzeKernel, type Affine, type KernelShape, type LoopInfo } from './analyze.js';
import type { PimDeviceParams } from './device.js';
import { elementwiseBaseline, elementwisePim, gemmPim, gemvBaseline, gemvLayout, hostWriteStats, sequenceStats, type PimStats } from './kernels.js';

export type PimPrecision = 'native' | 'fp16';
/** `published`: only the published CRF instructions; `extended`: Kiln's extensions too (MAX). */
export type PimIsa = 'published' | 'extended';

export interface GemvPlan {
  readonly kind: 'gemv';
  readonly weights: { readonly buf: KBuffer; readonly idx: Affine };
  readonly act: { readonly buf: KBuffer; readonly idx: Affine };
  readonly out: KBuffer;
  readonly outIdx: Affine;
  readonly wLoops: readonly LoopInfo[]; // output loops that index the weights (rows of W)
  readonly bLoops: readonly LoopInfo[]; // output loops that index the activations (batch)
  readonly k: LoopInfo;
  readonly M: number;
  readonly K: number;
  readonly batch: number;
  /**
   * The resident matrix is an activation (activation×activation contraction): the host writes it in
   * the PIM layout over the bus before the run, and that write is counted.
   */
  readonly layoutWrite: boolean;
}

/** A sum (or, with the MAX extension, a max) over one axis: the GEMV walk over a resident matrix with ADD (MAX) instead of MAC, no input vector. */
export interface ReducePlan {
  readonly kind: 'reduce';
  readonly op: 'sum' | 'max';
  readonly x: { readonly buf: KBuffer; readonly idx: Affine };
  readonly out: KBuffer;
  readonly outIdx: Affine;
  readonly wLoops: readonly LoopInfo[];
  readonly k: LoopInfo;
  readonly M: number;
  readonly K: number;
}

export interface EwPlan {
  readonly kind: 'elementwise';
  readonly op: 'add' | 'mul' | 'relu';
  readonly out: KBuffer;
  readonly a: KBuffer;
  readonly b?: KBuffer;
  readonly n: number;
}

export interface KernelDecision {
  readonly kernel: string;
  /** What the recogniser saw: 'gemv MxK (batch B)', 'elementwise add n', or 'other'. */
  readonly shape: string;
  readonly offload: boolean;
  readonly why: string;
  readonly plan?: GemvPlan | EwPlan | ReducePlan;
  /** Operands converted to the lane type (--pim-precision fp16). */
  readonly converted: boolean;
  /** Simulated cycles on the PIM units (timing only) and for the host doing it, when both were estimated. */
  readonly pimCycles?: number;
  readonly hostCycles: number;
  readonly pimStats?: PimStats;
}

export interface HostCost {
  readonly cycles: number;
  readonly bytes: number;
  readonly energyPj: number;
}

/** Host model for a kernel not offloaded: its distinct bytes cross the bus; its operations run on the host, overlapped. */
export function hostKernelCost(k: Kernel, dev: PimDeviceParams, channels: number): HostCost {
  const bufs = new Set<KBuffer>();
  const visit = (e: unknown): void => {
    if (typeof e !== 'object' || e === null) return;
    const o = e as { k?: string; buf?: KBuffer };
    if ((o.k === 'load' || o.k === 'store') && o.buf) bufs.add(storageOf(o.buf));
    for (const v of Object.values(o)) if (typeof v === 'object' && v !== null && v !== o.buf) visit(v);
  };
  visit(k.body);
  let bytes = 0;
  for (const b of bufs) bytes += Math.ceil((bufferSize(b) * Math.max(8, dtypeInfo(b.dtype === 'index' ? 'i32' : b.dtype).bits)) / 8);
  const counts = kernelCounts(k);
  const ops = counts.flops + counts.intOps;
  const cycles = Math.max(Math.ceil(bytes / (dev.ioBytesPerCycle * channels)), Math.ceil(ops / (dev.hostMacsPerCycle * channels)));
  const e = dev.energy;
  const energyPj = bytes * 8 * (e.ioPjPerBit + e.columnPjPerBit) + Math.ceil(bytes / dev.rowBytes) * e.actPj;
  return { cycles, bytes, energyPj };
}

function typeCheck(bufs: readonly KBuffer[], dev: PimDeviceParams, precision: PimPrecision): { ok: boolean; converted: boolean; why: string } {
  const types = [...new Set(bufs.map((b) => b.dtype))];
  if (types.every((t) => t === dev.laneType)) return { ok: true, converted: false, why: '' };
  const floats = types.every((t) => t !== 'index' && isFloat(t));
  if (floats && precision === 'fp16') return { ok: true, converted: true, why: ` (${types.join('/')} converted to ${dev.laneType}: --pim-precision fp16)` };
  return { ok: false, converted: false, why: `${types.join('/')} is not computed natively by ${dev.name} lanes (${dev.laneType})${floats ? '; --pim-precision fp16 allows conversion' : ''}` };
}

function gemvPlan(s: Extract<KernelShape, { kind: 'contraction' }>): GemvPlan | string {
  const isConst = (b: KBuffer): boolean => storageOf(b).role === 'const' && storageOf(b).data !== undefined;
  // A constant operand is laid out in the banks when the model is loaded; otherwise the larger
  // operand is the resident matrix and the host writes it in the layout first (counted).
  const layoutWrite = !isConst(s.y.buf) && !isConst(s.x.buf);
  const sizeOf = (o: { idx: Affine }): number => s.outLoops.filter((l) => o.idx.coef.has(l.v)).reduce((p, l) => p * l.trip, 1);
  const [w, a] = isConst(s.y.buf) ? [s.y, s.x] : isConst(s.x.buf) ? [s.x, s.y] : sizeOf(s.y) >= sizeOf(s.x) ? [s.y, s.x] : [s.x, s.y];
  if (!w.idx.coef.has(s.k.v) || !a.idx.coef.has(s.k.v)) return 'reduction index missing from an operand';
  const wLoops = s.outLoops.filter((l) => w.idx.coef.has(l.v));
  const bLoops = s.outLoops.filter((l) => a.idx.coef.has(l.v));
  if (wLoops.some((l) => a.idx.coef.has(l.v))) return 'an output index addresses both operands (batched matrices, e.g. per-head attention): one resident matrix per batch index is not mapped';
  if (wLoops.length + bLoops.length !== s.outLoops.length) return 'an output index addresses neither operand (broadcast)';
  const M = wLoops.reduce((p, l) => p * l.trip, 1);
  const batch = bLoops.reduce((p, l) => p * l.trip, 1);
  return { kind: 'gemv', weights: w, act: a, out: s.out, outIdx: s.outIdx, wLoops, bLoops, k: s.k, M, K: s.k.trip, batch, layoutWrite };
}

/** PIM and host cost of a planned contraction (timing only). */
export function gemvCosts(dev: PimDeviceParams, g: { M: number; K: number; batch: number; layoutWrite: boolean }, channels: number): { pim: PimStats; host: PimStats } {
  const timing = { channels, functional: false };
  const run = gemmPim(dev, g.M, g.K, g.batch, undefined, undefined, timing).stats;
  const pim = g.layoutWrite ? sequenceStats(dev, channels, 'contraction', hostWriteStats(dev, g.M * g.K, { channels }), run) : run;
  return { pim, host: gemvBaseline(dev, g.M, g.K, { channels }, 'mac', g.batch) };
}

/** Decides, for every kernel, whether it runs on the PIM units, and why. */
export function planProgram(program: Program, dev: PimDeviceParams, channels: number, precision: PimPrecision, isa: PimIsa = 'published'): KernelDecision[] {
  return program.kernels.map((k) => {
    const host = hostKernelCost(k, dev, channels);
    const no = (shape: string, why: string): KernelDecision => ({ kernel: k.name, shape, offload: false, why, converted: false, hostCycles: host.cycles });
    const s = analyzeKernel(k);
    if (s.kind === 'other') return no('other', `host: ${s.why}`);
    const timing = { channels, functional: false };
    try {
      if (s.kind === 'elementwise') {
        const shape = `elementwise ${s.op} n=${s.n}`;
        const t = typeCheck([s.out, s.a, ...(s.b ? [s.b] : [])], dev, precision);
        if (!t.ok) return no(shape, `host: ${t.why}`);
        const pim = elementwisePim(dev, s.op, new Float64Array(s.n), s.b ? new Float64Array(s.n) : undefined, timing).stats;
        const base = elementwiseBaseline(dev, s.op, s.n, { channels });
        const plan: EwPlan = { kind: 'elementwise', op: s.op, out: s.out, a: s.a, b: s.b, n: s.n };
        const offload = pim.cycles < base.cycles;
        return {
          kernel: k.name, shape, offload, plan, converted: t.converted, pimCycles: pim.cycles, hostCycles: base.cycles, pimStats: pim,
          why: offload ? `pim: ${pim.cycles} cycles vs host ${base.cycles}${t.why}` : `host: ${base.cycles} cycles vs pim ${pim.cycles} (mode switches and programming outweigh the gain)`,
        };
      }
      if (s.kind === 'reduction') {
        const shape = `reduce ${s.op} ${s.outLoops.reduce((p, l) => p * l.trip, 1)}x${s.k.trip}`;
        if (s.op === 'max' && isa !== 'extended') return no(shape, 'host: no max instruction in the published PIM ISA (ADD, MUL, MAC, MAD, MOV, FILL); --target-option isa=extended allows Kiln\'s MAX extension');
        if (!s.x.idx.coef.has(s.k.v) || s.outLoops.some((l) => !s.x.idx.coef.has(l.v))) return no(shape, 'host: the reduced operand is not indexed by every output loop and the reduction loop');
        const t = typeCheck([s.out, s.x.buf], dev, precision);
        if (!t.ok) return no(shape, `host: ${t.why}`);
        const M = s.outLoops.reduce((p, l) => p * l.trip, 1);
        gemvLayout(dev, M, s.k.trip, channels);
        const pim = gemmPim(dev, M, s.k.trip, 1, undefined, undefined, timing, s.op).stats;
        const base = gemvBaseline(dev, M, s.k.trip, { channels }, s.op);
        const plan: ReducePlan = { kind: 'reduce', op: s.op, x: s.x, out: s.out, outIdx: s.outIdx, wLoops: s.outLoops, k: s.k, M, K: s.k.trip };
        const offload = pim.cycles < base.cycles;
        return {
          kernel: k.name, shape, offload, plan, converted: t.converted, pimCycles: pim.cycles, hostCycles: base.cycles, pimStats: pim,
          why: offload ? `pim: ${pim.cycles} cycles (partial ${s.op === 'sum' ? 'sums' : 'maxima (MAX extension)'} per unit, lane and cross-unit ${s.op === 'sum' ? 'sums' : 'maxima'} on the host) vs host ${base.cycles}${t.why}` : `host: ${base.cycles} cycles vs pim ${pim.cycles}`,
        };
      }
      const g = gemvPlan(s);
      if (typeof g === 'string') return no('contraction', `host: ${g}`);
      const shape = `${g.batch > 1 ? 'gemm' : 'gemv'} ${g.M}x${g.K}${g.batch > 1 ? ` batch ${g.batch}` : ''}${g.layoutWrite ? ' (activation matrix)' : ''}`;
      const t = typeCheck([g.out, g.weights.buf, g.act.buf], dev, precision);
      if (!t.ok) return no(shape, `host: ${t.why}`);
      gemvLayout(dev, g.M, g.K, channels, g.batch);
      const c = gemvCosts(dev, g, channels);
      const pimCycles = c.pim.cycles;
      const hostCycles = c.host.cycles;
      const offload = pimCycles < hostCycles;
      const lw = g.layoutWrite ? ` (incl. writing the ${g.M}x${g.K} activation matrix in the PIM layout)` : '';
      return {
        kernel: k.name, shape, offload, plan: g, converted: t.converted, pimCycles, hostCycles, pimStats: c.pim,
        why: offload ? `pim: ${pimCycles} cycles${lw} vs host ${hostCycles}${t.why}` : `host: ${hostCycles} cycles vs pim ${pimCycles}${lw}`,
      };
    } catch (e) {
      if (e instanceof KilnError && e.code === 'unsupported') return no(s.kind, `host: ${e.message}`);
      throw e;
    }
  });
}
