/** Shared helpers for the reduction / linear-algebra / normalization / loss ops. */
import { KilnError } from '../errors.js';
import { isBig, isFloat, dtypeInfo, type DType, type NumericArray } from '../dtype.js';
import { Tensor } from '../tensor.js';
import type { Dim, TensorType } from '../types.js';
import type { InferContext } from './registry.js';
import { inputTensorType } from './util.js';
export { toF64, fromF64 as tensorFromF64 } from './util.js';

/** Requires a numeric (non-string, non-complex) element type. */
export function requireNumeric(t: TensorType, what = 'input'): void {
  const k = dtypeInfo(t.dtype).kind;
  if (k === 'string' || k === 'complex') throw new KilnError('type', `${what} element type ${t.dtype} is not supported`);
}

export function requireFloat(t: TensorType, what = 'input'): void {
  if (!isFloat(t.dtype)) throw new KilnError('type', `${what} must have a floating-point element type, got ${t.dtype}`);
}

/** Input i's tensor type or null; a non-tensor is a type error. */
export function optType(ctx: InferContext, i: number): TensorType | null {
  return inputTensorType(ctx, i);
}

/** Normalizes a list of axes against a rank, rejecting duplicates. */
export function normAxes(axes: readonly number[], rank: number, what = 'axes'): number[] {
  const out: number[] = [];
  for (const a of axes) {
    const n = a < 0 ? a + rank : a;
    if (!Number.isInteger(n) || n < 0 || n >= rank) throw new KilnError('type', `${what} value ${a} is out of range for rank ${rank}`);
    if (out.includes(n)) throw new KilnError('type', `${what} contains axis ${a} twice`);
    out.push(n);
  }
  return out;
}

/** Product of dims (static) in [from, to). */
export function prod(shape: readonly number[], from = 0, to = shape.length): number {
  let p = 1;
  for (let i = from; i < to; i++) p *= shape[i]!;
  return p;
}

/** A dim product for inference: null when any dim is not static. */
export function dimProd(shape: readonly Dim[], from = 0, to = shape.length): Dim {
  let p = 1;
  for (let i = from; i < to; i++) {
    const d = shape[i]!;
    if (typeof d !== 'number') return null;
    p *= d;
  }
  return p;
}

/** Merges two dims that must agree; a static dim wins over an unknown one. */
export function unifyDim(a: Dim, b: Dim, what: string): Dim {
  if (typeof a === 'number' && typeof b === 'number') {
    if (a !== b) throw new KilnError('type', `${what}: dimension ${a} does not match ${b}`);
    return a;
  }
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  if (a === b) return a;
  return a ?? b;
}
