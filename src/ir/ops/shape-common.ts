/** Shared helpers for the data-movement ops (shape.ts and shape-*.ts). */
import { KilnError } from '../errors.js';
import type { DType } from '../dtype.js';
import { Tensor, stridesOf, shapeSize, type Scalar } from '../tensor.js';
import { tensorType, type Dim, type TensorType } from '../types.js';
import type { InferContext, KernelContext } from './registry.js';
import { inputTensorType, checkRank } from './util.js';

/** Indexable view of any tensor storage (same-dtype element copies). */
export type AnyArr = { [i: number]: Scalar; length: number };

export function arr(t: Tensor): AnyArr {
  return t.data as unknown as AnyArr;
}

/** Constant integer input i as numbers, null when not constant or absent. */
export function constInts(ctx: InferContext, i: number): number[] | null {
  if (!ctx.hasInput(i)) return null;
  const t = ctx.constInput(i);
  return t ? t.toIndexArray() : null;
}

/** Optional integer input as numbers (null when omitted). */
export function optInts(ctx: KernelContext, i: number): number[] | null {
  const t = ctx.optTensor(i);
  return t ? t.toIndexArray() : null;
}

export function tt(ctx: InferContext, i: number): TensorType | null {
  return inputTensorType(ctx, i);
}

export function unknownOf(t: TensorType | null, dt?: DType): TensorType {
  return tensorType(dt ?? t?.dtype ?? 'f32', null);
}

/** Dims with the given rank, all unknown. */
export function unknownDims(rank: number): Dim[] {
  return new Array<Dim>(checkRank(rank)).fill(null);
}

/** Generic permute: out[idx] = x[perm-mapped idx]. */
export function transposeTensor(x: Tensor, perm: readonly number[]): Tensor {
  const rank = x.rank;
  const outShape = perm.map((p) => x.shape[p]!);
  const out = Tensor.zeros(x.dtype, outShape);
  const inStrides = stridesOf(x.shape);
  const st = perm.map((p) => inStrides[p]!);
  const n = out.size;
  const src = arr(x);
  const dst = arr(out);
  const counter = new Array<number>(rank).fill(0);
  let off = 0;
  for (let o = 0; o < n; o++) {
    dst[o] = src[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      off += st[d]!;
      if (counter[d]! < outShape[d]!) break;
      off -= st[d]! * outShape[d]!;
      counter[d] = 0;
    }
  }
  return out;
}

/** Calls fn(o, multiIndex) for every element of a shape in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (o: number, idx: number[]) => void): void {
  const n = shapeSize(shape);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < n; o++) {
    fn(o, idx);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      if (idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

export function typeErr(msg: string): KilnError {
  return new KilnError('type', msg);
}

export function rtErr(msg: string): KilnError {
  return new KilnError('runtime', msg);
}

/** Normalizes an index against a dim size (negatives wrap), with a runtime error when out of range. */
export function normIndex(i: number, n: number, what = 'index'): number {
  const r = i < 0 ? i + n : i;
  if (r < 0 || r >= n) throw rtErr(`${what} ${i} is out of range for dimension of size ${n}`);
  return r;
}

/** Comparable key for an element (for sorting / uniqueness). */
export function cmpScalar(a: Scalar, b: Scalar): number {
  if (typeof a === 'string' || typeof b === 'string') {
    const sa = String(a);
    const sb = String(b);
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  }
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;
  if (Number.isNaN(y)) return -1;
  return x < y ? -1 : x > y ? 1 : 0;
}
