/**
 * Integer-only requantization, shared by the int8 lowerings (QLinearConv, QLinearMatMul, QLinearAdd,
 * QLinearGlobalAveragePool): a real factor known at compile time is a fixed-point pair (m, s) with
 * factor ≈ m / 2^s, m a 31-bit integer (gemmlowp / TFLite's multiplier and shift, one pair per
 * tensor or per channel), and y = round(acc · m / 2^s) is computed in 64-bit integers:
 *   |acc| · m (< 2^62), then a right shift by s that rounds half to even (as QuantizeLinear and
 *   onnxruntime's nearbyintf do), and the sign put back: rounding half to even is symmetric, so the
 *   magnitude can be rounded and the shift is always of a nonnegative number.
 * Where the factor has at most 31 significant bits (every f32 factor, and power-of-two scales) the
 * result is exactly the float path's; elsewhere it differs only where acc · factor lies within
 * 2^-31 (relative) of a half-way point: ±1 LSB at most. The node attribute `kiln.requant = "float"`
 * (set by the `requant{mode=float}` pass or the model's `kiln.requant` metadata) keeps the float
 * path for users who need bit-exactness with a float requantization.
 */
import { Tensor } from '../../tensor.js';
import { add, bin, cast, idx, lit, load, lt, mul, select, sub } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr } from '../types.js';

/** factor ≈ m / 2^s with m < 2^31 (m = 0 for a zero factor) and 1 ≤ s ≤ 62. */
export interface FixedPoint {
  m: number;
  s: number;
}

const MAX_SHIFT = 62;

export function fixedPoint(real: number): FixedPoint {
  if (!(real > 0) || !Number.isFinite(real)) return { m: 0, s: 1 };
  // real = frac · 2^e with frac in [0.5, 1)
  let e = Math.floor(Math.log2(real)) + 1;
  let frac = real / 2 ** e;
  if (frac >= 1) {
    frac /= 2;
    e++;
  } else if (frac < 0.5) {
    frac *= 2;
    e--;
  }
  let m = Math.round(frac * 2 ** 31);
  if (m === 2 ** 31) {
    m = 2 ** 30;
    e++;
  }
  let s = 31 - e;
  if (s > MAX_SHIFT) {
    // a factor below 2^-31: keep the top bits (every |acc| < 2^31 then rounds to 0 or ±1)
    const drop = s - MAX_SHIFT;
    m = Math.round(m / 2 ** drop);
    s = MAX_SHIFT;
  }
  if (s < 1) {
    // a factor of 2^30 or more saturates any nonzero accumulator: fewer bits do the same
    m = 2 ** 30;
    s = 1;
  }
  return { m, s };
}

/** Whether the node asks for the float requantization (`kiln.requant = "float"`). */
export function floatRequant(ctx: LowerContext): boolean {
  const a = ctx.node.attrs.get('kiln.requant');
  return a?.kind === 'string' && a.value === 'float';
}

/**
 * Multiplier and shift operands for a per-tensor (one pair: literals) or per-channel factor table
 * (two constant buffers, read at `channel`).
 */
export class RequantTable {
  private readonly mBuf;
  private readonly sBuf;
  readonly pairs: readonly FixedPoint[];
  constructor(ctx: LowerContext, factors: readonly number[], name: string) {
    this.pairs = factors.map(fixedPoint);
    if (this.pairs.length > 1) {
      this.mBuf = ctx.constTable(Tensor.from('i32', [this.pairs.length], this.pairs.map((p) => p.m)), `${name}_mult`);
      this.sBuf = ctx.constTable(Tensor.from('i8', [this.pairs.length], this.pairs.map((p) => p.s)), `${name}_shift`);
    }
  }
  /** The multiplier (i64) for a channel. */
  m(channel: Expr): Expr {
    return this.mBuf ? cast(load(this.mBuf, channel), 'i64') : lit('i64', this.pairs[0]!.m);
  }
  /** The shift (i64) for a channel. */
  s(channel: Expr): Expr {
    return this.sBuf ? cast(load(this.sBuf, channel), 'i64') : lit('i64', this.pairs[0]!.s);
  }
  /** Locals holding one channel's pair (hoisted out of the loops over that channel's outputs). */
  locals(kb: KernelBuilder, channel: Expr = idx(0)): { m: Expr; s: Expr } {
    return this.sBuf ? { m: kb.let('i64', this.m(channel), 'qm'), s: kb.let('i64', this.s(channel), 'qs') } : { m: this.m(channel), s: this.s(channel) };
  }
}

/**
 * round(num · m / 2^s), half to even, in i64 (num an integer expression, m and s i64). For p ≥ 0,
 * (p + 2^(s-1) - 1 + bit_s(p)) >> s rounds p / 2^s half to even: the carry reaches bit s when the
 * remainder is above half, or exactly half with bit s (the quotient's parity) set.
 */
export function mulShiftRound(num: Expr, m: Expr, s: Expr): Expr {
  const one = lit('i64', 1);
  const zero = lit('i64', 0);
  const n = cast(num, 'i64');
  const neg = lt(n, zero);
  const p = mul(select(neg, sub(zero, n), n), m);
  const odd = bin('bitand', bin('shr', p, s), one);
  const mag = bin('shr', add(add(p, sub(bin('shl', one, sub(s, one)), one)), odd), s);
  return select(neg, sub(zero, mag), mag);
}

/** mulShiftRound plus a zero point, saturated to [lo, hi] (an i64 value the store narrows). */
export function requantize(num: Expr, m: Expr, s: Expr, zp: Expr, lo: number, hi: number): Expr {
  const v = add(mulShiftRound(num, m, s), cast(zp, 'i64'));
  return bin('max', lit('i64', lo), bin('min', lit('i64', hi), v));
}
