/**
 * Narrow floating-point formats (f16, bf16, the float8 family, f4e2m1): rounding a double to the
 * nearest representable value (round half to even), and converting to and from bit patterns.
 */
import type { DType } from './dtype.js';

export interface MiniFloat {
  readonly e: number; // exponent bits
  readonly m: number; // mantissa bits
  readonly bias: number;
  /** 'ieee': inf + NaN with all-ones exponent; 'fn': no inf, NaN = all ones; 'fnuz': no inf, no -0, NaN = sign bit only; 'none': no inf, no NaN */
  readonly special: 'ieee' | 'fn' | 'fnuz' | 'none';
}

const formats: Partial<Record<DType, MiniFloat>> = {
  f16: { e: 5, m: 10, bias: 15, special: 'ieee' },
  bf16: { e: 8, m: 7, bias: 127, special: 'ieee' },
  f8e4m3fn: { e: 4, m: 3, bias: 7, special: 'fn' },
  f8e4m3fnuz: { e: 4, m: 3, bias: 8, special: 'fnuz' },
  f8e5m2: { e: 5, m: 2, bias: 15, special: 'ieee' },
  f8e5m2fnuz: { e: 5, m: 2, bias: 16, special: 'fnuz' },
  f4e2m1: { e: 2, m: 1, bias: 1, special: 'none' },
};

/** The layout of a narrow float type (not f8e8m0), for backends that convert bit patterns themselves. */
export function miniFloatFormat(dt: DType): MiniFloat | undefined {
  return formats[dt];
}

export function isMiniFloat(dt: DType): boolean {
  return formats[dt] !== undefined || dt === 'f8e8m0';
}

function fmtOf(dt: DType): MiniFloat {
  const f = formats[dt];
  if (!f) throw new Error(`not a narrow float type: ${dt}`);
  return f;
}

function maxExponent(f: MiniFloat): number {
  const allOnes = 2 ** f.e - 1;
  return (f.special === 'ieee' ? allOnes - 1 : allOnes) - f.bias;
}

/** Largest finite value of a narrow float type. */
export function maxFinite(dt: DType): number {
  if (dt === 'f8e8m0') return 2 ** 127;
  const f = fmtOf(dt);
  const top = maxExponent(f);
  // 'fn' spends the all-ones mantissa of the top binade on NaN.
  const mant = f.special === 'fn' ? 2 - 2 ** -(f.m - 1) : 2 - 2 ** -f.m;
  return mant * 2 ** top;
}

export function hasInfinity(dt: DType): boolean {
  return dt === 'f32' || dt === 'f64' || formats[dt]?.special === 'ieee';
}

function roundHalfEven(q: number): number {
  const fl = Math.floor(q);
  const diff = q - fl;
  if (diff > 0.5) return fl + 1;
  if (diff < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

function exponentOf(a: number): number {
  let ex = Math.floor(Math.log2(a));
  if (2 ** ex > a) ex--;
  else if (2 ** (ex + 1) <= a) ex++;
  return ex;
}

/**
 * Round x to the nearest value of a narrow float type (half to even).
 * Overflow: with `saturate`, to ±max; otherwise to ±inf where the type has it, else NaN.
 */
export function roundToFormat(dt: DType, x: number, saturate = false): number {
  if (dt === 'f8e8m0') return roundE8M0(x, saturate);
  const f = fmtOf(dt);
  // f4e2m1 has no NaN; the ONNX reference maps NaN to +0
  if (Number.isNaN(x)) return f.special === 'none' ? 0 : NaN;
  const negative = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  const max = maxFinite(dt);
  const overflow = (): number => {
    if (saturate) return negative ? -max : max;
    if (f.special === 'ieee') return negative ? -Infinity : Infinity;
    if (f.special === 'none') return negative ? -max : max;
    return NaN;
  };
  if (a === Infinity) return overflow();
  if (a === 0) return negative && f.special !== 'fnuz' ? -0 : 0;
  let ex = exponentOf(a);
  const minExp = 1 - f.bias;
  if (ex < minExp) ex = minExp;
  const scale = 2 ** (ex - f.m);
  const v = roundHalfEven(a / scale) * scale;
  if (v > max) return overflow();
  if (v === 0) return negative && f.special !== 'fnuz' ? -0 : 0;
  return negative ? -v : v;
}

/** f8e8m0: unsigned powers of two 2^-127…2^127, 0xFF is NaN. Rounds to nearest (ties up). */
function roundE8M0(x: number, saturate: boolean): number {
  if (Number.isNaN(x) || x < 0) return NaN;
  if (x === Infinity) return saturate ? 2 ** 127 : NaN;
  if (x === 0) return 2 ** -127;
  let ex = exponentOf(x);
  if (x / 2 ** ex >= 1.5) ex++;
  if (ex < -127) ex = -127;
  if (ex > 127) return saturate ? 2 ** 127 : NaN;
  return 2 ** ex;
}

/** Bit pattern of a value that is representable in the type (call roundToFormat first). */
export function toBits(dt: DType, v: number): number {
  if (dt === 'f8e8m0') return Number.isNaN(v) ? 0xff : exponentOf(v) + 127;
  const f = fmtOf(dt);
  const total = 1 + f.e + f.m;
  const signBit = 2 ** (total - 1);
  const expMask = 2 ** f.e - 1;
  if (Number.isNaN(v)) {
    if (f.special === 'fnuz') return signBit;
    if (f.special === 'fn') return signBit - 1; // S.1111.111 with sign 0
    return expMask * 2 ** f.m + 2 ** (f.m - 1);
  }
  const negative = v < 0 || Object.is(v, -0);
  const a = Math.abs(v);
  if (a === 0) return negative && f.special !== 'fnuz' ? signBit : 0;
  const s = negative ? signBit : 0;
  if (a === Infinity) return s + expMask * 2 ** f.m;
  let ex = exponentOf(a);
  const minExp = 1 - f.bias;
  if (ex < minExp) return s + Math.round(a / 2 ** (minExp - f.m));
  const mant = Math.round(a / 2 ** (ex - f.m)) - 2 ** f.m;
  return s + (ex + f.bias) * 2 ** f.m + mant;
}

/** Value of a bit pattern. */
export function fromBits(dt: DType, bits: number): number {
  if (dt === 'f8e8m0') return bits === 0xff ? NaN : 2 ** (bits - 127);
  const f = fmtOf(dt);
  const total = 1 + f.e + f.m;
  const signBit = 2 ** (total - 1);
  const negative = bits >= signBit;
  const rest = negative ? bits - signBit : bits;
  const expField = Math.floor(rest / 2 ** f.m);
  const mant = rest % 2 ** f.m;
  const expMask = 2 ** f.e - 1;
  if (f.special === 'fnuz' && negative && rest === 0) return NaN;
  if (f.special === 'fn' && expField === expMask && mant === 2 ** f.m - 1) return NaN;
  if (f.special === 'ieee' && expField === expMask) {
    if (mant !== 0) return NaN;
    return negative ? -Infinity : Infinity;
  }
  const value = expField === 0 ? mant * 2 ** (1 - f.bias - f.m) : (2 ** f.m + mant) * 2 ** (expField - f.bias - f.m);
  return negative ? -value : value;
}
