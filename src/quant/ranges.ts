/**
 * Activation ranges from calibration statistics: min/max, a percentile of the value histogram, or
 * the threshold of least KL divergence (entropy calibration as TensorRT describes it: the 2048-bin
 * histogram of |x| is clipped at each candidate threshold, its outliers folded into the last bin, and
 * compared with its own quantization to the target number of levels; the threshold with the smallest
 * divergence wins).
 */
import { KilnError } from '../ir/errors.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** Bins of the histograms kept per tensor (TensorRT uses 2048). */
export const HIST_BINS = 2048;

/** A float range [lo, hi]; quantization ranges always include 0 (lo ≤ 0 ≤ hi). */
export interface Range {
  lo: number;
  hi: number;
}

/** Running statistics of one tensor over the calibration set. */
export class TensorStats {
  min = Infinity;
  max = -Infinity;
  count = 0;
  /** Histogram of x over [min, max] (percentile) or of |x| over [0, max|x|] (entropy); filled in a second pass. */
  hist: Float64Array | null = null;

  observe(data: ArrayLike<number>): void {
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (Number.isNaN(v)) continue;
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
    }
    this.count += data.length;
  }

  get absMax(): number {
    return Math.max(Math.abs(this.min), Math.abs(this.max));
  }

  /** Second pass: histogram of the values (signed: over [min, max]; abs: of |x| over [0, absMax]). */
  histogram(data: ArrayLike<number>, abs: boolean): void {
    this.hist ??= new Float64Array(HIST_BINS);
    const lo = abs ? 0 : this.min;
    const width = ((abs ? this.absMax : this.max) - lo) / HIST_BINS;
    if (!(width > 0)) {
      this.hist[0]! += data.length;
      return;
    }
    for (let i = 0; i < data.length; i++) {
      const v = abs ? Math.abs(data[i]!) : data[i]!;
      // exact zeros (half of a ReLU output) are exact at every threshold: counted, they would only
      // make the merged first level of each candidate look worse and drive the threshold down
      if (Number.isNaN(v) || (abs && v === 0)) continue;
      const b = Math.min(HIST_BINS - 1, Math.max(0, Math.floor((v - lo) / width)));
      this.hist[b]! += 1;
    }
  }
}

/** Whether `method` needs the second (histogram) pass, and whether that histogram is of |x|. */
export function histogramKind(method: CalibrationMethod): 'none' | 'signed' | 'abs' {
  return method === 'minmax' ? 'none' : method === 'percentile' ? 'signed' : 'abs';
}

function withZero(lo: number, hi: number): Range {
  return { lo: Math.min(0, lo), hi: Math.max(0, hi) };
}

/** The min/max range (0 included). A tensor never seen is an error, not a default. */
export function minMaxRange(s: TensorStats, name: string): Range {
  if (s.count === 0 || !Number.isFinite(s.min) || !Number.isFinite(s.max)) {
    throw new KilnError('runtime', `calibration saw no finite values for tensor '${name}'`, { tensor: name });
  }
  return withZero(s.min, s.max);
}

/** The range between the (100-p)th and pth percentiles of the values (0 included). */
export function percentileRange(s: TensorStats, name: string, percentile: number): Range {
  const mm = minMaxRange(s, name);
  const h = s.hist;
  if (!h || s.max === s.min) return mm;
  const total = h.reduce((a, b) => a + b, 0);
  const width = (s.max - s.min) / HIST_BINS;
  const tail = (total * (100 - percentile)) / 100;
  let acc = 0;
  let loBin = 0;
  for (; loBin < HIST_BINS - 1; loBin++) {
    if (acc + h[loBin]! > tail) break;
    acc += h[loBin]!;
  }
  acc = 0;
  let hiBin = HIST_BINS - 1;
  for (; hiBin > 0; hiBin--) {
    if (acc + h[hiBin]! > tail) break;
    acc += h[hiBin]!;
  }
  return withZero(s.min + loBin * width, s.min + (hiBin + 1) * width);
}

/** KL(P || Q) over bins where P is non-zero (Q is smoothed where P has mass and Q none). */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  if (sp === 0 || sq === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    if (pi === 0) continue;
    const qi = q[i]! / sq;
    kl += pi * Math.log(pi / (qi > 0 ? qi : 1e-12));
  }
  return kl;
}

/**
 * The threshold T minimizing KL divergence between the clipped histogram of |x| and its
 * quantization to `levels` bins; the range is [0, T] for a non-negative tensor (its quantized
 * form spends every level on [0, T]) and [-T, T] otherwise.
 */
export function entropyRange(s: TensorStats, name: string, levels: { unsigned: number; signed: number }): Range {
  const mm = minMaxRange(s, name);
  const h = s.hist;
  const absMax = s.absMax;
  if (!h || absMax === 0) return mm;
  const nonNegative = s.min >= 0;
  const nq = nonNegative ? levels.unsigned : levels.signed;
  let best = HIST_BINS;
  let bestKl = Infinity;
  const p = new Float64Array(HIST_BINS);
  const q = new Float64Array(HIST_BINS);
  for (let i = nq; i <= HIST_BINS; i++) {
    // reference: the first i bins, outliers folded into the last one
    let outliers = 0;
    for (let j = i; j < HIST_BINS; j++) outliers += h[j]!;
    for (let j = 0; j < i; j++) p[j] = h[j]!;
    p[i - 1]! += outliers;
    // candidate: the first i bins merged into nq levels, each spread back over its non-empty bins
    for (let k = 0; k < nq; k++) {
      const start = Math.floor((k * i) / nq);
      const end = Math.floor(((k + 1) * i) / nq);
      let sum = 0;
      let nonEmpty = 0;
      for (let j = start; j < end; j++) {
        sum += h[j]!;
        if (h[j]! > 0) nonEmpty++;
      }
      for (let j = start; j < end; j++) q[j] = h[j]! > 0 ? sum / nonEmpty : 0;
    }
    const kl = klDivergence(p.subarray(0, i), q.subarray(0, i));
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  const t = Math.min(absMax, (best + 0.5) * (absMax / HIST_BINS));
  return nonNegative ? { lo: 0, hi: t } : { lo: Math.max(mm.lo, -t), hi: Math.min(mm.hi, t) };
}
