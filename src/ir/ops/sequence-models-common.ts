/** Shared helpers for the attention and recurrent op definitions. */
import { KilnError } from '../errors.js';
import { isFloat, type DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import type { Dim, TensorType } from '../types.js';
export { toF64, fromF64 } from './util.js';

export function requireFloat(t: TensorType | Tensor, what: string): void {
  if (!isFloat(t.dtype)) throw new KilnError('type', `${what} must have a floating-point element type, got ${t.dtype}`);
}

/** Dimension arithmetic for inference: known numbers combine, anything else is unknown. */
export function dimMul(a: Dim | undefined, b: Dim | undefined): Dim {
  return typeof a === 'number' && typeof b === 'number' ? a * b : null;
}
export function dimAdd(a: Dim | undefined, b: Dim | undefined): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b ?? null;
  if (b === 0) return a ?? null;
  return null;
}
export function dimDiv(a: Dim | undefined, b: Dim | undefined): Dim {
  if (typeof a === 'number' && typeof b === 'number' && b !== 0) {
    if (a % b !== 0) throw new KilnError('type', `dimension ${a} is not divisible by ${b}`);
    return a / b;
  }
  return null;
}
export function dimOf(t: TensorType | null | undefined, i: number): Dim {
  if (!t || t.shape === null) return null;
  return t.shape[i] ?? null;
}

/** Numerically stable softmax in place; a row with no finite maximum (all -inf) becomes zeros. */
export function softmaxInPlace(x: Float64Array, off: number, n: number): void {
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[off + j]!;
    if (v > m || Number.isNaN(v)) m = Number.isNaN(v) ? NaN : v;
    if (Number.isNaN(m)) break;
  }
  if (m === -Infinity) {
    for (let j = 0; j < n; j++) x[off + j] = 0;
    return;
  }
  let s = 0;
  for (let j = 0; j < n; j++) {
    const e = Math.exp(x[off + j]! - m);
    x[off + j] = e;
    s += e;
  }
  for (let j = 0; j < n; j++) x[off + j] = x[off + j]! / s;
}

export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
