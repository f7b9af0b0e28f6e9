/**
 * The loop nest shared by the elementwise lowerings: operands broadcast (numpy rules, or the
 * legacy axis alignment of opset < 7) to the output, output dims of size 1 dropped and adjacent
 * dims merged wherever every operand either spans both or broadcasts over both, so same-shape
 * operands give one flat loop and the innermost loop runs over contiguous memory. Scalar operands
 * are loaded once before the loops.
 */
import { KilnError } from '../../errors.js';
import { legacyAlignedShape } from '../../ops/elementwise-util.js';
import { isStaticShape } from '../../types.js';
import { cast, flatIndex, idx, lit, load, type KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { computeType, req } from './common.js';

/** An operand: a buffer read as if it had `shape` (same element count, e.g. legacy-aligned). */
export interface Operand {
  readonly buf: KBuffer;
  readonly shape: readonly number[];
}

const size = (s: readonly number[]): number => s.reduce((a, d) => a * d, 1);

export function operand(buf: KBuffer, shape: readonly number[] = buf.shape): Operand {
  return { buf, shape };
}

/**
 * Input i as an operand with its value's shape: a view (alias) shares its source's buffer, whose
 * shape may differ from the value's while the element order is the same.
 */
export function inputOperand(ctx: LowerContext, i: number, what: string): Operand {
  const buf = req(ctx.input(i), what);
  const v = ctx.node.inputs[i];
  const s = v?.tensorType?.shape;
  if (s && isStaticShape(s) && size(s) === size(buf.shape)) return { buf, shape: s };
  return { buf, shape: buf.shape };
}

/**
 * The two operands of a binary op: A as is, B aligned for legacy broadcasting (opset < 7 with
 * `broadcast=1` and `axis`), as the interpreter's binaryOperands does.
 */
export function binaryOperands(ctx: LowerContext, names: readonly [string, string] = ['A', 'B']): [Operand, Operand] {
  const a = inputOperand(ctx, 0, names[0]);
  const b = inputOperand(ctx, 1, names[1]);
  const bs = legacyAlignedShape(ctx.opset, ctx.attrs, a.shape.length, b.shape, 1);
  return [a, operand(b.buf, bs)];
}

const SUB_BYTE: ReadonlySet<ScalarType> = new Set(['i4', 'u4', 'i2', 'u2']);

/**
 * A value ready to store into an element of type `t`: sub-byte integer types go through i32 (the
 * store wraps to the width; there is no direct float → sub-byte conversion in C).
 */
export function fitTo(e: Expr, t: ScalarType): Expr {
  return SUB_BYTE.has(t) && e.t !== t ? cast(e, 'i32') : e;
}

/**
 * out[i] = fn(operands broadcast to i). `fn` gets the loaded values (in their element types) and
 * the kernel builder (for locals inside the innermost loop); its result is converted to the output
 * type on store.
 */
export function mapKernel(ctx: LowerContext, operands: readonly Operand[], out: KBuffer, fn: (vals: Expr[], kb: KernelBuilder) => Expr): void {
  const outShape = out.shape;
  const r = outShape.length;
  const n = size(outShape);
  if (n === 0) return;
  const padded = operands.map((o) => {
    if (size(o.shape) !== size(o.buf.shape)) throw new KilnError('invalid-model', `operand shape [${o.shape.join(',')}] does not match buffer ${o.buf.name}`);
    if (o.shape.length > r) throw new KilnError('type', `operand of rank ${o.shape.length} does not broadcast to rank ${r}`);
    const p = [...new Array<number>(r - o.shape.length).fill(1), ...o.shape];
    p.forEach((d, i) => {
      if (d !== 1 && d !== outShape[i]) throw new KilnError('type', `operand shape [${o.shape.join(',')}] does not broadcast to [${outShape.join(',')}]`);
    });
    return p;
  });
  // merge output dims: drop size-1 dims, fuse neighbours with the same broadcast pattern
  const dims: number[] = [];
  const opDims: number[][] = operands.map(() => []);
  let prev: string | null = null;
  for (let d = 0; d < r; d++) {
    const od = outShape[d]!;
    if (od === 1) continue;
    const cls = padded.map((p) => (p[d] === 1 ? 'b' : 'f')).join('');
    if (cls === prev) {
      dims[dims.length - 1]! *= od;
      padded.forEach((p, k) => {
        opDims[k]![opDims[k]!.length - 1]! *= p[d]!;
      });
    } else {
      dims.push(od);
      padded.forEach((p, k) => opDims[k]!.push(p[d]!));
      prev = cls;
    }
  }
  ctx.kernel((kb) => {
    const scalars = operands.map((o) => (size(o.shape) === 1 && n > 1 ? kb.let(o.buf.dtype, load(o.buf, idx(0)), 's') : null));
    kb.loops(dims, (ix) => {
      const vals = operands.map((o, k) => scalars[k] ?? load(o.buf, flatIndex(ix, opDims[k]!)));
      kb.store(out, flatIndex(ix, dims), fitTo(fn(vals, kb), out.dtype));
    });
  });
}

/**
 * The type a value of element type t is computed in: narrow floats in f32, sub-byte integers in
 * i32 (wrapped on store by fitTo), others as themselves.
 */
export function ct(t: ScalarType): ScalarType {
  return SUB_BYTE.has(t) ? 'i32' : computeType(t);
}

/** Converts to its compute type. */
export function up(e: Expr): Expr {
  return cast(e, ct(e.t));
}

/** A literal of type t (bigint for 64-bit integer types, truncated). */
export function num(t: ScalarType, v: number): Expr {
  return lit(t, t === 'i64' || t === 'u64' ? BigInt(Math.trunc(v)) : v);
}

export function isFloatType(t: ScalarType): boolean {
  return t === 'f32' || t === 'f64' || computeType(t) !== t;
}

export function isSignedType(t: ScalarType): boolean {
  return t === 'i8' || t === 'i16' || t === 'i32' || t === 'i64' || t === 'i4' || t === 'i2';
}

export function isIntType(t: ScalarType): boolean {
  return !isFloatType(t) && t !== 'bool';
}
