/**
 * `kiln pim-bench` microbenchmarks: one op on a device profile and channel count, either on the PIM
 * units (mode 'pim') or done by the host over the bus (mode 'baseline'). Data are deterministic
 * pseudo-random lane values; the PIM run does the functional arithmetic too.
 */
import { KilnError } from '../../ir/errors.js';
import { loadPimDevice, peakInternalBytesPerCycle, peakMacsPerCycle } from './device.js';
import { laneCodec } from './f16.js';
import { benchValues, elementwiseBaseline, elementwisePim, gemmPim, gemvBaseline, gemvPim, sequenceStats, type ElementwiseOp, type PimStats } from './kernels.js';

export const PIM_BENCH_OPS = ['gemv', 'gemm', 'add', 'mul', 'relu'] as const;
/** pim: on the PIM units (a GEMM in one session); pim-per-row: a GEMM as one GEMV run per input row; baseline: the host over the bus. */
export type PimBenchMode = 'pim' | 'pim-per-row' | 'baseline';
export type PimBenchOp = (typeof PIM_BENCH_OPS)[number];

export interface PimBenchRequest {
  readonly op: PimBenchOp;
  readonly m?: number;
  readonly k?: number;
  readonly n?: number;
  readonly dtype: string;
  readonly device: string;
  readonly channels: number;
  readonly mode: PimBenchMode;
}

export interface PimBenchResult {
  op: PimBenchOp;
  shape: number[];
  dtype: string;
  device: string;
  channels: number;
  mode: PimBenchMode;
  cycles: number;
  seconds: number;
  energyPj: number;
  /** gemv: fraction of the profile's peak PIM MAC rate; elementwise: of its peak internal bandwidth. */
  peakFraction: number;
  internalBandwidthFraction: number;
  busFraction: number;
  peakMacsPerCycle: number;
  peakInternalBytesPerCycle: number;
  breakdown: Record<string, number>;
  commands: PimStats['commands'];
  energy: PimStats['energy'];
}

function positive(v: number | undefined, flag: string): number {
  if (v === undefined || !Number.isSafeInteger(v) || v <= 0) throw new KilnError('usage', `pim-bench: ${flag} wants a positive whole number`);
  return v;
}

export function runPimBench(req: PimBenchRequest): PimBenchResult {
  const dev = loadPimDevice(req.device);
  if (req.dtype !== dev.laneType) throw new KilnError('unsupported', `pim-bench: ${dev.name} lanes compute ${dev.laneType}, not ${req.dtype}`);
  const channels = positive(req.channels, '--channels');
  const codec = laneCodec(dev.laneType);
  const opts = { channels };
  let stats: PimStats;
  let shape: number[];
  if (req.mode === 'pim-per-row' && req.op !== 'gemm') throw new KilnError('usage', 'pim-bench: --per-row applies to gemm only');
  if (req.op === 'gemv') {
    const m = positive(req.m, '--m');
    const k = positive(req.k, '--k');
    shape = [m, k];
    if (req.mode === 'baseline') stats = gemvBaseline(dev, m, k, opts);
    else stats = gemvPim(dev, m, k, benchValues(m * k, 1, codec.round), benchValues(k, 2, codec.round), opts).stats;
  } else if (req.op === 'gemm') {
    // Y (m x n) = X (m x k) . W (k x n): W resident (n outputs per row), the m rows of X broadcast.
    const m = positive(req.m, '--m');
    const n = positive(req.n, '--n');
    const k = positive(req.k, '--k');
    shape = [m, n, k];
    const W = benchValues(n * k, 1, codec.round);
    const X = benchValues(m * k, 2, codec.round);
    if (req.mode === 'baseline') stats = gemvBaseline(dev, n, k, opts, 'mac', m);
    else if (req.mode === 'pim') stats = gemmPim(dev, n, k, m, W, X, opts).stats;
    else stats = sequenceStats(dev, channels, 'contraction', ...Array.from({ length: m }, (_, r) => gemvPim(dev, n, k, W, X.subarray(r * k, (r + 1) * k), opts).stats));
  } else {
    const n = positive(req.n, '--n');
    shape = [n];
    const op: ElementwiseOp = req.op;
    if (req.mode === 'baseline') stats = elementwiseBaseline(dev, op, n, opts);
    else stats = elementwisePim(dev, op, benchValues(n, 3, codec.round), op === 'relu' ? undefined : benchValues(n, 4, codec.round), opts).stats;
  }
  return {
    op: req.op,
    shape,
    dtype: req.dtype,
    device: dev.name,
    channels,
    mode: req.mode,
    cycles: stats.cycles,
    seconds: stats.seconds,
    energyPj: Math.round(stats.energyPj),
    peakFraction: stats.peakFraction,
    internalBandwidthFraction: stats.internalBandwidthFraction,
    busFraction: stats.busFraction,
    peakMacsPerCycle: peakMacsPerCycle(dev) * channels,
    peakInternalBytesPerCycle: peakInternalBytesPerCycle(dev) * channels,
    breakdown: stats.breakdown,
    commands: stats.commands,
    energy: stats.energy,
  };
}

export interface DecodeStep {
  readonly name: string;
  readonly shape: string;
  readonly count: number;
  readonly pimCycles: number;
  readonly hostCycles: number;
  readonly pimEnergyPj: number;
  readonly hostEnergyPj: number;
  /** Where the PIM configuration runs it: the cost model keeps a kernel on the host when that is faster. */
  readonly where: 'pim' | 'host';
}

export interface DecodeBenchResult {
  readonly device: string;
  readonly channels: number;
  readonly dModel: number;
  readonly heads: number;
  readonly tokens: number;
  readonly steps: DecodeStep[];
  readonly pimCycles: number;
  readonly hostCycles: number;
  readonly speedup: number;
  readonly pimEnergyPj: number;
  readonly hostEnergyPj: number;
  /** Internal PIM bandwidth over bus bandwidth: the bound on the speed-up of bandwidth-bound work. */
  readonly bandwidthRatio: number;
}

/**
 * One decoder block in decode mode (batch 1, one new token, a KV cache of `tokens`) as the sequence
 * of its bandwidth-bound kernels: Q/K/V/output projections and the two MLP matrices (weights
 * resident), per-head attention scores q·Kᵀ and the weighted sum of V (cache resident, written in
 * the PIM layout as tokens are appended), and the two residual adds. Softmax, LayerNorm and GELU are
 * O(d) and are counted on the host in both configurations. Each kernel is simulated (timing only) on
 * the PIM units and as host work over the bus; this is a kernel-level composition, not the
 * transformer-block sample model.
 */
export function runDecodeBench(deviceName: string, channels: number, dModel: number, heads: number, tokens: number): DecodeBenchResult {
  const dev = loadPimDevice(deviceName);
  if (dModel % heads !== 0) throw new KilnError('usage', `pim-bench decode: --d ${dModel} is not a multiple of --heads ${heads}`);
  const dh = dModel / heads;
  const opts = { channels, functional: false };
  const steps: DecodeStep[] = [];
  const gemv = (name: string, m: number, k: number, count: number): void => {
    const p = gemvPim(dev, m, k, undefined, undefined, opts).stats;
    const h = gemvBaseline(dev, m, k, { channels });
    const onPim = p.cycles < h.cycles;
    const best = onPim ? p : h;
    steps.push({ name, shape: `${m}x${k}`, count, pimCycles: best.cycles * count, hostCycles: h.cycles * count, pimEnergyPj: best.energyPj * count, hostEnergyPj: h.energyPj * count, where: onPim ? 'pim' : 'host' });
  };
  gemv('q/k/v projections', dModel, dModel, 3);
  gemv('attention scores q.K^T (per head)', tokens, dh, heads);
  gemv('attention values p.V (per head)', dh, tokens, heads);
  gemv('output projection', dModel, dModel, 1);
  gemv('mlp up', 4 * dModel, dModel, 1);
  gemv('mlp down', dModel, 4 * dModel, 1);
  const add = elementwisePim(dev, 'add', new Float64Array(dModel), new Float64Array(dModel), opts).stats;
  const addHost = elementwiseBaseline(dev, 'add', dModel, { channels });
  const addOnPim = add.cycles < addHost.cycles;
  const addBest = addOnPim ? add : addHost;
  steps.push({ name: 'residual adds', shape: `${dModel}`, count: 2, pimCycles: 2 * addBest.cycles, hostCycles: 2 * addHost.cycles, pimEnergyPj: 2 * addBest.energyPj, hostEnergyPj: 2 * addHost.energyPj, where: addOnPim ? 'pim' : 'host' });
  // Softmax over tokens per head, two LayerNorms and GELU: read and write their vectors over the bus once each.
  const small = elementwiseBaseline(dev, 'relu', heads * tokens + 2 * dModel + 4 * dModel, { channels });
  steps.push({ name: 'softmax, layernorm, gelu (host)', shape: `${heads}x${tokens}+${6 * dModel}`, count: 1, pimCycles: small.cycles, hostCycles: small.cycles, pimEnergyPj: small.energyPj, hostEnergyPj: small.energyPj, where: 'host' });
  const sum = (f: (s: DecodeStep) => number): number => steps.reduce((a, s) => a + f(s), 0);
  const pimCycles = sum((s) => s.pimCycles);
  const hostCycles = sum((s) => s.hostCycles);
  return {
    device: dev.name, channels, dModel, heads, tokens, steps, pimCycles, hostCycles, speedup: hostCycles / pimCycles,
    pimEnergyPj: Math.round(sum((s) => s.pimEnergyPj)), hostEnergyPj: Math.round(sum((s) => s.hostEnergyPj)),
    bandwidthRatio: peakInternalBytesPerCycle(dev) / dev.ioBytesPerCycle,
  };
}
