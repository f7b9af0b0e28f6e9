/**
 * `kiln pim-bench` microbenchmarks: one op on a device profile and channel count, either on the PIM
 * units (mode 'pim') or done by the host over the bus (mode 'baseline'). Data are deterministic
 * pseudo-random lane values; the PIM run does the functional arithmetic too.
 */
import { KilnError } from '../../ir/errors.js';
import { loadPimDevice, peakInternalBytesPerCycle, peakMacsPerCycle } from './device.js';
import { laneCodec } from './f16.js';
import { benchValues, elementwiseBaseline, elementwisePim, gemvBaseline, gemvPim, type ElementwiseOp, type PimStats } from './kernels.js';

export const PIM_BENCH_OPS = ['gemv', 'add', 'mul', 'relu'] as const;
export type PimBenchOp = (typeof PIM_BENCH_OPS)[number];

export interface PimBenchRequest {
  readonly op: PimBenchOp;
  readonly m?: number;
  readonly k?: number;
  readonly n?: number;
  readonly dtype: string;
  readonly device: string;
  readonly channels: number;
  readonly mode: 'pim' | 'baseline';
}

export interface PimBenchResult {
  op: PimBenchOp;
  shape: number[];
  dtype: string;
  device: string;
  channels: number;
  mode: 'pim' | 'baseline';
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
  if (req.op === 'gemv') {
    const m = positive(req.m, '--m');
    const k = positive(req.k, '--k');
    shape = [m, k];
    if (req.mode === 'baseline') stats = gemvBaseline(dev, m, k, opts);
    else stats = gemvPim(dev, m, k, benchValues(m * k, 1, codec.round), benchValues(k, 2, codec.round), opts).stats;
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
