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
import type { Expr, ScalarType } from '../types.js';

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
  /**
   * Every factor a power of two (m = 2^30; power-of-two scales, common on MCU/FPGA flows) with
   * 1 ≤ s - 30 ≤ 31: then round(|acc| / 2^(s-30)) needs no multiply and fits 32-bit arithmetic.
   */
  readonly pow2: boolean;
  constructor(ctx: LowerContext, factors: readonly number[], name: string) {
    this.pairs = factors.map(fixedPoint);
    this.pow2 = this.pairs.every((p) => p.m === 2 ** 30 && p.s - 30 >= 1 && p.s - 30 <= 31);
    const shifts = this.pairs.map((p) => (this.pow2 ? p.s - 30 : p.s));
    if (this.pairs.length > 1) {
      if (!this.pow2) this.mBuf = ctx.constTable(Tensor.from('i32', [this.pairs.length], this.pairs.map((p) => p.m)), `${name}_mult`);
      this.sBuf = ctx.constTable(Tensor.from('i8', [this.pairs.length], shifts), `${name}_shift`);
    }
    this.shifts = shifts;
  }
  private readonly shifts: readonly number[];
  private get st(): ScalarType {
    return this.pow2 ? 'u32' : 'i64';
  }
  /** The multiplier (i64) for a channel; null when every factor is a power of two. */
  m(channel: Expr): Expr | null {
    if (this.pow2) return null;
    return this.mBuf ? cast(load(this.mBuf, channel), 'i64') : lit('i64', this.pairs[0]!.m);
  }
  /** The shift for a channel (i64; u32 for powers of two). */
  s(channel: Expr): Expr {
    return this.sBuf ? cast(load(this.sBuf, channel), this.st) : lit(this.st, this.shifts[0]!);
  }
  /** Locals holding one channel's pair (hoisted out of the loops over that channel's outputs). */
  locals(kb: KernelBuilder, channel: Expr = idx(0)): { m: Expr | null; s: Expr } {
    if (!this.sBuf) return { m: this.m(channel), s: this.s(channel) };
    const m = this.m(channel);
    return { m: m ? kb.let('i64', m, 'qm') : null, s: kb.let(this.st, this.s(channel), 'qs') };
  }
}

/**
 * Binds a value to a local when a builder is given. The rounding sequences read their operands
 * several times, and the C renderer prints an expression tree as it is: without locals every
 * select and clamp copies its operands' whole trees (the saturating clamp reads the rounded value
 * four times, which reads the magnitude twice, ...), and GCC's vectorizer gave up on the
 * requantization loops of the int8 tiles ("control flow in loop").
 */
const bind = (kb: KernelBuilder | undefined, t: ScalarType, e: Expr, name: string): Expr => (kb ? kb.let(t, e, name) : e);

/** round(num / 2^s) half to even in 32-bit arithmetic (num i32, 1 ≤ s ≤ 31, s u32). */
function shiftRound32(num: Expr, s0: Expr, kb?: KernelBuilder): Expr {
  const one = lit('u32', 1);
  const m31 = lit('u32', 31);
  // s & 31 = s in its range: a shift the C compiler can see is below the width needs no range
  // check; (s - 1) & 31 = s - 1 for the same reason (s ≥ 1)
  const s = bin('bitand', s0, m31);
  const n = bind(kb, 'i32', cast(num, 'i32'), 'rn');
  const neg = lt(n, lit('i32', 0));
  // |n| ≤ 2^31 as u32; adding < 2^31 stays below 2^32
  const a = bind(kb, 'u32', select(neg, sub(lit('u32', 0), cast(n, 'u32')), cast(n, 'u32')), 'ra');
  const odd = bin('bitand', bin('shr', a, s), one);
  // s ≥ 1: the magnitude is below 2^31
  const mag = bind(kb, 'i32', cast(bin('shr', add(add(a, sub(bin('shl', one, bin('bitand', sub(s, one), m31)), one)), odd), s), 'i32'), 'rm');
  return select(neg, sub(lit('i32', 0), mag), mag);
}

/**
 * round(num · m / 2^s), half to even, in i64 (num an integer expression, m and s i64). For p ≥ 0,
 * (p + 2^(s-1) - 1 + bit_s(p)) >> s rounds p / 2^s half to even: the carry reaches bit s when the
 * remainder is above half, or exactly half with bit s (the quotient's parity) set. With a builder,
 * the intermediate values are locals (see `bind`).
 */
export function mulShiftRound(num: Expr, m: Expr, s0: Expr, kb?: KernelBuilder): Expr {
  const one = lit('i64', 1);
  const m63 = lit('i64', 63);
  // s & 63 = s (1 ≤ s ≤ 62), and (s - 1) & 63 = s - 1: as in shiftRound32
  const s = bin('bitand', s0, m63);
  const zero = lit('i64', 0);
  const n = bind(kb, 'i64', cast(num, 'i64'), 'rn');
  const neg = lt(n, zero);
  const p = bind(kb, 'i64', mul(select(neg, sub(zero, n), n), m), 'rp');
  const odd = bin('bitand', bin('shr', p, s), one);
  const mag = bind(kb, 'i64', bin('shr', add(add(p, sub(bin('shl', one, bin('bitand', sub(s, one), m63)), one)), odd), s), 'rm');
  return select(neg, sub(zero, mag), mag);
}

/**
 * mulShiftRound (or shiftRound32 when m is null) plus a zero point, saturated to [lo, hi] (an i64
 * value the store narrows). With a builder (at the point where the value is needed) the
 * intermediate values are locals: the same arithmetic, printed once each.
 */
export function requantize(num: Expr, m: Expr | null, s: Expr, zp: Expr, lo: number, hi: number, kb?: KernelBuilder): Expr {
  // 32-bit for powers of two: |round(acc / 2^s)| ≤ 2^30, and a zero point is at most 16 bits
  const t: ScalarType = m === null ? 'i32' : 'i64';
  const v = bind(kb, t, add(m === null ? shiftRound32(num, s, kb) : mulShiftRound(num, m, s, kb), cast(zp, t)), 'rv');
  return bin('max', lit(t, lo), bind(kb, t, bin('min', lit(t, hi), v), 'rc'));
}
