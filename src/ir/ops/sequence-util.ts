/** Tensor helpers shared by the control-flow and sequence ops: slicing, concatenation, stacking, type joins. */
import { KilnError } from '../errors.js';
import { Tensor, shapeSize } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';

type AnyArr = { [i: number]: unknown; length: number };

/** Copies `count` elements from src[si..] to dst[di..] (same storage kind). */
function copyRun(dst: AnyArr, di: number, src: AnyArr, si: number, count: number): void {
  for (let k = 0; k < count; k++) dst[di + k] = src[si + k];
}

/** Slice [start, end) along `axis` (the axis is kept). */
export function sliceAxis(t: Tensor, axis: number, start: number, end: number): Tensor {
  const shape = t.shape;
  const outer = shapeSize(shape.slice(0, axis));
  const inner = shapeSize(shape.slice(axis + 1));
  const n = shape[axis]!;
  const len = end - start;
  const outShape = [...shape];
  outShape[axis] = len;
  const out = Tensor.zeros(t.dtype, outShape);
  const src = t.data as unknown as AnyArr;
  const dst = out.data as unknown as AnyArr;
  for (let o = 0; o < outer; o++) copyRun(dst, o * len * inner, src, (o * n + start) * inner, len * inner);
  return out;
}

/** Element `idx` along `axis` (the axis is removed). */
export function takeAxis(t: Tensor, axis: number, idx: number): Tensor {
  const s = sliceAxis(t, axis, idx, idx + 1);
  const shape = [...t.shape];
  shape.splice(axis, 1);
  return s.reshape(shape);
}

/** Concatenates tensors along an existing axis; all other dims must match. */
export function concatAxis(ts: readonly Tensor[], axis: number): Tensor {
  if (ts.length === 0) throw new KilnError('runtime', 'cannot concatenate zero tensors');
  const first = ts[0]!;
  const rank = first.rank;
  for (const t of ts) {
    if (t.rank !== rank || t.dtype !== first.dtype) throw new KilnError('runtime', 'concatenated tensors must have the same rank and element type');
    for (let d = 0; d < rank; d++) {
      if (d !== axis && t.shape[d] !== first.shape[d]) {
        throw new KilnError('runtime', `cannot concatenate shapes [${first.shape.join(',')}] and [${t.shape.join(',')}] along axis ${axis}`);
      }
    }
  }
  const outer = shapeSize(first.shape.slice(0, axis));
  const inner = shapeSize(first.shape.slice(axis + 1));
  const total = ts.reduce((a, t) => a + t.shape[axis]!, 0);
  const outShape = [...first.shape];
  outShape[axis] = total;
  const out = Tensor.zeros(first.dtype, outShape);
  const dst = out.data as unknown as AnyArr;
  let off = 0;
  for (const t of ts) {
    const len = t.shape[axis]!;
    const src = t.data as unknown as AnyArr;
    for (let o = 0; o < outer; o++) copyRun(dst, (o * total + off) * inner, src, o * len * inner, len * inner);
    off += len;
  }
  return out;
}

/** Stacks tensors of equal shape along a new axis. */
export function stackAxis(ts: readonly Tensor[], axis: number): Tensor {
  const parts = ts.map((t) => {
    const s = [...t.shape];
    s.splice(axis, 0, 1);
    return t.reshape(s);
  });
  return concatAxis(parts, axis);
}

/** The most precise type that covers both (dims that differ become unknown). */
export function joinTypes(a: ValueType | null, b: ValueType | null): ValueType | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.kind !== b.kind) return a;
  if (a.kind === 'tensor' && b.kind === 'tensor') {
    if (a.dtype !== b.dtype) return a;
    if (a.shape === null || b.shape === null || a.shape.length !== b.shape.length) return tensorType(a.dtype, null);
    const bs = b.shape;
    return tensorType(a.dtype, a.shape.map((d, i): Dim => (d === bs[i] ? d : null)));
  }
  if ((a.kind === 'sequence' && b.kind === 'sequence') || (a.kind === 'optional' && b.kind === 'optional')) {
    return { kind: a.kind, elem: joinTypes(a.elem, b.elem) };
  }
  return a;
}

/** Same kind/dtype/rank but every dim unknown (for values whose shape may change at run time). */
export function looseType(t: ValueType | null): ValueType | null {
  if (t === null) return null;
  if (t.kind === 'tensor') return tensorType(t.dtype, t.shape === null ? null : t.shape.map(() => null));
  if (t.kind === 'sequence' || t.kind === 'optional') return { kind: t.kind, elem: looseType(t.elem) };
  return t;
}

export function i64Scalar(v: number | bigint): Tensor {
  return Tensor.scalar('i64', BigInt(v));
}

export function boolScalar(b: boolean): Tensor {
  return Tensor.scalar('bool', b ? 1 : 0);
}

/** A scalar (or single-element) integer tensor as a number. */
export function scalarInt(t: Tensor, what: string): number {
  if (t.size !== 1) throw new KilnError('runtime', `${what} must hold one element, got shape [${t.shape.join(',')}]`);
  return t.toIndexArray()[0]!;
}
