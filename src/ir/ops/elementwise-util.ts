/** Shared helpers for the elementwise op files: type checks, generic broadcast maps, float helpers. */
import { KilnError } from '../errors.js';
import { dtypeInfo, type DType } from '../dtype.js';
import { Tensor, type Scalar } from '../tensor.js';
import { tensorType, type Dim, type TensorType, type ValueType } from '../types.js';
import type { InferContext, KernelContext } from './registry.js';
import { broadcastDims, broadcastShapes, forEachBroadcast, inputTensorType } from './util.js';
export { roundHalfEven } from './util.js';

export type TypeClass = 'float' | 'int' | 'uint' | 'bool' | 'string' | 'numeric' | 'signed' | 'any' | 'integer';

/** Whether a dtype belongs to a class of element types accepted by an op. */
export function dtypeIn(dt: DType, classes: readonly TypeClass[]): boolean {
  const k = dtypeInfo(dt).kind;
  for (const c of classes) {
    switch (c) {
      case 'any':
        return true;
      case 'float':
        if (k === 'float') return true;
        break;
      case 'int':
        if (k === 'int') return true;
        break;
      case 'uint':
        if (k === 'uint') return true;
        break;
      case 'integer':
        if (k === 'int' || k === 'uint') return true;
        break;
      case 'bool':
        if (k === 'bool') return true;
        break;
      case 'string':
        if (k === 'string') return true;
        break;
      case 'numeric':
        if (k === 'float' || k === 'int' || k === 'uint') return true;
        break;
      case 'signed':
        if (k === 'float' || k === 'int') return true;
        break;
    }
  }
  return false;
}

/** Typed error unless every known tensor input among `idx` has an element type in `classes`. */
export function checkInputTypes(ctx: InferContext, classes: readonly TypeClass[], idx?: readonly number[]): void {
  const which = idx ?? ctx.inputs.map((_, i) => i);
  for (const i of which) {
    const t = inputTensorType(ctx, i);
    if (t === null) continue;
    if (!dtypeIn(t.dtype, classes)) {
      throw new KilnError('type', `${ctx.node.opType}: input ${i} has unsupported element type ${t.dtype}`);
    }
  }
}

/** Typed error unless the known tensor inputs among `idx` share one element type. */
export function checkSameTypes(ctx: InferContext, idx?: readonly number[]): void {
  const which = idx ?? ctx.inputs.map((_, i) => i);
  let first: DType | null = null;
  for (const i of which) {
    const t = inputTensorType(ctx, i);
    if (t === null) continue;
    if (first === null) first = t.dtype;
    else if (t.dtype !== first) {
      throw new KilnError('type', `${ctx.node.opType}: input element types ${first} and ${t.dtype} differ`);
    }
  }
}

/** Broadcast inference over the given inputs with a fixed output element type. */
export function broadcastInferOf(ctx: InferContext, idx: readonly number[], outDType: DType | null): ValueType[] {
  const tt: TensorType[] = [];
  let unknown = false;
  for (const i of idx) {
    const t = inputTensorType(ctx, i);
    if (t === null) {
      if (ctx.hasInput(i)) unknown = true;
      continue;
    }
    tt.push(t);
  }
  const dt = outDType ?? tt[0]?.dtype ?? 'f32';
  if (unknown || tt.some((t) => t.shape === null)) return [tensorType(dt, null)];
  return [tensorType(dt, broadcastDims(...tt.map((t) => t.shape!)))];
}

/** Same shape as input i, given element type. */
export function sameShapeAs(ctx: InferContext, i: number, dt?: DType): ValueType[] {
  const t = inputTensorType(ctx, i);
  if (t === null) return [tensorType(dt ?? 'f32', null)];
  return [tensorType(dt ?? t.dtype, t.shape)];
}

/** Generic n-ary broadcasting map over scalars (any element types, strings included). */
export function mapNary(inputs: readonly Tensor[], outType: DType, fn: (vals: Scalar[]) => Scalar | boolean): Tensor {
  const shape = broadcastShapes(...inputs.map((t) => t.shape));
  const out = Tensor.zeros(outType, shape);
  const vals = new Array<Scalar>(inputs.length);
  const datas = inputs.map((t) => t.data);
  forEachBroadcast(
    shape,
    inputs.map((t) => t.shape),
    (o, idx) => {
      for (let k = 0; k < datas.length; k++) vals[k] = datas[k]![idx[k]!]!;
      out.setScalar(o, fn(vals));
    },
  );
  return out;
}

/** Wraps a bigint into the 64-bit type `dt`. */
export function wrapBig(dt: DType, v: bigint): bigint {
  return dt === 'u64' ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v);
}

/** Error function, accurate to about 1e-15 (series for small |x|, continued fraction for erfc). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax > 6) return x > 0 ? 1 : -1;
  if (ax < 2.5) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

// ---------- binary ops with legacy (opset < 7) broadcasting ----------

/**
 * Before opset 7, binary ops broadcast only with `broadcast=1`, aligning B to A starting at `axis`
 * (default: trailing alignment). Returns B's shape padded so numpy broadcasting gives that result.
 */
export function legacyAlignedShape<D>(opset: number, attrs: { int(name: string, def?: number): number; has(name: string): boolean }, aRank: number, bShape: readonly D[], one: D): readonly D[] {
  if (opset >= 7) return bShape;
  if (attrs.int('broadcast', 0) === 0 || !attrs.has('axis')) return bShape;
  let axis = attrs.int('axis');
  if (axis < 0) axis += aRank;
  if (axis < 0 || axis + bShape.length > aRank) {
    throw new KilnError('type', `legacy broadcast axis ${attrs.int('axis')} does not fit B of rank ${bShape.length} into A of rank ${aRank}`);
  }
  const out: D[] = [...bShape];
  for (let i = axis + bShape.length; i < aRank; i++) out.push(one);
  return out;
}

/**
 * PRelu's slope before opset 7 (Caffe-style, as old exporters emit it): a 1-D slope of X's channel
 * count applies per channel on axis 1, not on the last axis as numpy broadcasting would align it.
 */
export function legacySlopeShape<D>(opset: number, xShape: readonly D[], slopeShape: readonly D[], one: D): readonly D[] {
  if (opset >= 7 || slopeShape.length !== 1 || xShape.length < 3 || slopeShape[0] !== xShape[1]) return slopeShape;
  return [slopeShape[0]!, ...new Array<D>(xShape.length - 2).fill(one)];
}

/** Broadcast inference of inputs 0 and 1, honouring legacy broadcasting. */
export function binaryInferOf(ctx: InferContext, outDType: DType | null): ValueType[] {
  const a = inputTensorType(ctx, 0);
  const b = inputTensorType(ctx, 1);
  const dt = outDType ?? a?.dtype ?? b?.dtype ?? 'f32';
  if (a === null || b === null || a.shape === null || b.shape === null) return [tensorType(dt, null)];
  const bs = legacyAlignedShape(ctx.opset, ctx.attrs, a.shape.length, b.shape, 1 as Dim);
  return [tensorType(dt, broadcastDims(a.shape, bs))];
}

/** The two operands of a binary op at run time: same element type, B aligned for legacy broadcasting. */
export function binaryOperands(ctx: KernelContext, sameType = true): [Tensor, Tensor] {
  const a = ctx.tensor(0);
  let b = ctx.tensor(1);
  if (sameType && a.dtype !== b.dtype) {
    throw new KilnError('type', `${ctx.node.opType}: input element types ${a.dtype} and ${b.dtype} differ`);
  }
  if (ctx.opset < 7) {
    const bs = legacyAlignedShape(ctx.opset, ctx.attrs, a.rank, b.shape, 1);
    if (bs.length !== b.rank) b = b.reshape(bs);
  }
  return [a, b];
}
