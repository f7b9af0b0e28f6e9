/** Helpers shared by op definitions: broadcasting, axes, elementwise loops, inference shortcuts. */
import { KilnError } from '../errors.js';
import { isBig, type DType, type NumericArray, type BigArray } from '../dtype.js';
import { Tensor, shapeSize, stridesOf, normalizeNumber } from '../tensor.js';
import { MAX_RANK, tensorType, type Dim, type TensorType, type ValueType } from '../types.js';
import type { InferContext } from './registry.js';

// ---------- shapes ----------

export { MAX_RANK } from '../types.js';

export function checkRank(rank: number, what = 'tensor'): number {
  if (!Number.isInteger(rank) || rank < 0 || rank > MAX_RANK) throw new KilnError('limit', `${what} rank ${rank} is over Kiln's limit of ${MAX_RANK}`);
  return rank;
}

/** Numpy-style broadcast of static shapes. */
export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        throw new KilnError('type', `shapes [${shapes.map((x) => x.join(',')).join('] and [')}] do not broadcast`);
      }
    }
  }
  return out;
}

/** Broadcast for inference: symbolic/unknown dims are kept when they cannot be decided. */
export function broadcastDims(...shapes: (readonly Dim[])[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      const cur = out[o]!;
      if (d === 1) continue;
      if (cur === 1) out[o] = d;
      else if (typeof cur === 'number' && typeof d === 'number') {
        if (cur !== d) throw new KilnError('type', `shapes [${shapes.map((x) => x.map(dimText).join(',')).join('] and [')}] do not broadcast`);
      } else if (cur !== d) {
        // one side static (>1) wins over a symbol; two different symbols stay unknown
        out[o] = typeof cur === 'number' ? cur : typeof d === 'number' ? d : null;
      }
    }
  }
  return out;
}

export function dimText(d: Dim): string {
  return d === null ? '?' : String(d);
}

/** Normalizes a possibly negative axis against a rank, with a typed error when out of range. */
export function normAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank || !Number.isInteger(a)) throw new KilnError('type', `${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Strides of `shape` aligned to an output of rank `rank`, 0 where broadcast. */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const st = stridesOf(shape);
  const out = new Array<number>(outShape.length).fill(0);
  const off = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 ? 0 : st[i]!;
  return out;
}

/**
 * Calls fn(outIndex, idxA, idxB, …) for every element of the broadcast output, with flat indices
 * into each operand. Linear in the output size.
 */
export function forEachBroadcast(outShape: readonly number[], shapes: readonly (readonly number[])[], fn: (o: number, idx: readonly number[]) => void): void {
  const n = shapeSize(outShape);
  const rank = outShape.length;
  const strides = shapes.map((s) => broadcastStrides(s, outShape));
  const idx = new Array<number>(shapes.length).fill(0);
  const counter = new Array<number>(rank).fill(0);
  for (let o = 0; o < n; o++) {
    fn(o, idx);
    // increment the multi-index and the operand offsets
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      for (let k = 0; k < strides.length; k++) idx[k]! += strides[k]![d]!;
      if (counter[d]! < outShape[d]!) break;
      for (let k = 0; k < strides.length; k++) idx[k]! -= strides[k]![d]! * outShape[d]!;
      counter[d] = 0;
    }
  }
}

// ---------- elementwise kernels ----------

export type NumFn1 = (x: number) => number;
export type BigFn1 = (x: bigint) => bigint;
export type NumFn2 = (a: number, b: number) => number;
export type BigFn2 = (a: bigint, b: bigint) => bigint;

/** Elementwise unary map into `outType` (defaults to the input type). */
export function mapUnary(x: Tensor, fnNum: NumFn1, fnBig?: BigFn1, outType: DType = x.dtype): Tensor {
  const out = Tensor.zeros(outType, x.shape);
  const n = x.size;
  if (isBig(x.dtype)) {
    if (!fnBig) throw new KilnError('unsupported', `element type ${x.dtype} is not supported by this op`);
    const src = x.data as BigArray;
    if (isBig(outType)) {
      const dst = out.data as BigArray;
      for (let i = 0; i < n; i++) dst[i] = fnBig(src[i]!);
    } else {
      for (let i = 0; i < n; i++) out.setScalar(i, fnBig(src[i]!));
    }
    return out;
  }
  const src = x.data as NumericArray;
  if (isBig(outType)) {
    for (let i = 0; i < n; i++) out.setScalar(i, fnNum(src[i]!));
    return out;
  }
  const dst = out.data as NumericArray;
  const needsNorm = normalizeNumber(outType, 0.3) !== 0.3 && outType !== 'f32' && outType !== 'f64';
  for (let i = 0; i < n; i++) {
    const v = fnNum(src[i]!);
    dst[i] = needsNorm ? normalizeNumber(outType, v) : v;
  }
  return out;
}

/** Elementwise binary map with numpy broadcasting. */
export function mapBinary(a: Tensor, b: Tensor, fnNum: NumFn2, fnBig?: BigFn2, outType: DType = a.dtype): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const out = Tensor.zeros(outType, shape);
  const big = isBig(a.dtype);
  if (big && !fnBig) throw new KilnError('unsupported', `element type ${a.dtype} is not supported by this op`);
  const ad = a.data;
  const bd = b.data;
  if (big) {
    const A = ad as BigArray;
    const B = bd as BigArray;
    if (isBig(outType)) {
      const O = out.data as BigArray;
      forEachBroadcast(shape, [a.shape, b.shape], (o, [i, j]) => {
        O[o] = fnBig!(A[i!]!, B[j!]!);
      });
    } else {
      forEachBroadcast(shape, [a.shape, b.shape], (o, [i, j]) => out.setScalar(o, fnBig!(A[i!]!, B[j!]!)));
    }
    return out;
  }
  const A = ad as NumericArray;
  const B = bd as NumericArray;
  if (isBig(outType)) {
    forEachBroadcast(shape, [a.shape, b.shape], (o, [i, j]) => out.setScalar(o, fnNum(A[i!]!, B[j!]!)));
    return out;
  }
  const O = out.data as NumericArray;
  const plain = outType === 'f32' || outType === 'f64' || outType === 'i8' || outType === 'u8' || outType === 'i16' || outType === 'u16' || outType === 'i32' || outType === 'u32';
  if (plain) {
    forEachBroadcast(shape, [a.shape, b.shape], (o, [i, j]) => {
      O[o] = fnNum(A[i!]!, B[j!]!);
    });
  } else {
    forEachBroadcast(shape, [a.shape, b.shape], (o, [i, j]) => {
      O[o] = normalizeNumber(outType, fnNum(A[i!]!, B[j!]!));
    });
  }
  return out;
}

// ---------- inference shortcuts ----------

/** Input i as a tensor type, or a typed error. */
export function inputTensorType(ctx: InferContext, i: number): TensorType | null {
  const t = ctx.inputs[i];
  if (t === undefined || t === null) return null;
  if (t.kind !== 'tensor') throw new KilnError('type', `input ${i} must be a tensor, got ${t.kind}`);
  return t;
}

export function requireTensorType(ctx: InferContext, i: number): TensorType {
  const t = inputTensorType(ctx, i);
  if (t === null) throw new KilnError('type', `input ${i} has no known type`);
  return t;
}

/** Output = input 0's type (unary elementwise ops). */
export function sameAsInput(ctx: InferContext, i = 0): ValueType[] {
  const t = ctx.inputs[i];
  if (t === undefined || t === null) return [tensorTypeUnknown()];
  return [t];
}

/** Broadcast of all present tensor inputs, with the given (or first input's) element type. */
export function broadcastInfer(ctx: InferContext, outDType?: DType): TensorType[] {
  const ts = ctx.inputs.filter((t): t is ValueType => t !== null && t !== undefined);
  const tt = ts.map((t) => {
    if (t.kind !== 'tensor') throw new KilnError('type', `expected tensor inputs, got ${t.kind}`);
    return t;
  });
  const dt = outDType ?? tt[0]?.dtype ?? 'f32';
  if (tt.some((t) => t.shape === null)) return [tensorType(dt, null)];
  return [tensorType(dt, broadcastDims(...tt.map((t) => t.shape!)))];
}

/** A tensor type whose element type and shape are unknown (placeholder for failed inference). */
export function tensorTypeUnknown(dt: DType = 'f32'): TensorType {
  return tensorType(dt, null);
}

// ---------- float64 views (kernels that compute in double) ----------

/** All elements of a numeric tensor as doubles (64-bit integers converted). */
export function toF64(t: Tensor): Float64Array {
  if (t.dtype === 'string') throw new KilnError('type', 'string tensors are not supported by this op');
  if (isBig(t.dtype)) {
    const out = new Float64Array(t.size);
    for (let i = 0; i < t.size; i++) out[i] = t.num(i);
    return out;
  }
  return Float64Array.from(t.data as NumericArray);
}

/** A tensor of element type dt from doubles, each rounded/normalized to the element type. */
export function fromF64(dt: DType, shape: readonly number[], vals: ArrayLike<number>): Tensor {
  const t = Tensor.zeros(dt, shape);
  const n = t.size;
  if (dt === 'f32' || dt === 'f64') {
    const d = t.data as Float32Array | Float64Array;
    for (let i = 0; i < n; i++) d[i] = vals[i]!;
  } else {
    for (let i = 0; i < n; i++) t.setScalar(i, vals[i]!);
  }
  return t;
}

/** Round half to even, keeping the sign of zero (round(-0.4) is -0). */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x) || Number.isInteger(x)) return x;
  const f = Math.floor(x);
  const d = x - f;
  const r = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  return r === 0 && x < 0 ? -0 : r;
}
