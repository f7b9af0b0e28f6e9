/** Helpers shared by the reduction / linear algebra / normalization / loss lowerings. */
import { KilnError } from '../../errors.js';
import { dtypeInfo, type DType } from '../../dtype.js';
import { add, cast, idx, lit, mul, type KernelBuilder } from '../builder.js';
import { unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { computeType, constOf, isFloatT } from './common.js';

/** Product of static dims in [from, to). */
export function prodOf(shape: readonly number[], from = 0, to = shape.length): number {
  let p = 1;
  for (let i = from; i < to; i++) p *= shape[i]!;
  return p;
}

/** Normalizes one axis against a rank. */
export function axisOf(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new KilnError('type', `${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Normalizes a list of axes, rejecting duplicates. */
export function axesOf(axes: readonly number[], rank: number, what = 'axes'): number[] {
  const out: number[] = [];
  for (const a of axes) {
    const n = axisOf(a, rank, what);
    if (out.includes(n)) throw new KilnError('type', `${what} contains axis ${a} twice`);
    out.push(n);
  }
  return out;
}

/** (outer, len, inner) of a tensor viewed around one axis. */
export function around(shape: readonly number[], axis: number): [number, number, number] {
  return [prodOf(shape, 0, axis), shape[axis]!, prodOf(shape, axis + 1)];
}

/**
 * One loop nest over the lines along the axis of an (outer, len, inner) view: `at(j)` is the flat
 * index of element j of the line (base = element 0), (o, k) the line's place in a reduced output.
 */
export function forEachLine(kb: KernelBuilder, outer: number, len: number, inner: number, body: (at: (j: Expr) => Expr, base: Expr, o: Expr, k: Expr) => void): void {
  kb.for(0, outer, (o) => {
    kb.for(0, inner, (k) => {
      const base = kb.let('index', add(mul(o, idx(len * inner)), k), 'base');
      body((j) => add(base, mul(j, idx(inner))), base, o, k);
    });
  });
}

/** The type float math on values of element type t runs in: f64 for f64, f32 for other floats, f64 for integers. */
export function floatCompute(t: ScalarType): ScalarType {
  if (isFloatT(t)) return computeType(t);
  return 'f64';
}

/** The wider of two float compute types. */
export function widerFloat(a: ScalarType, b: ScalarType): ScalarType {
  return a === 'f64' || b === 'f64' ? 'f64' : 'f32';
}

export function isIntType(t: ScalarType): boolean {
  if (t === 'index') return true;
  const k = dtypeInfo(t as DType).kind;
  return k === 'int' || k === 'uint';
}

export function isUnsignedType(t: ScalarType): boolean {
  return t !== 'index' && dtypeInfo(t as DType).kind === 'uint';
}

/** A float constant (or an integer constant) of type t. */
export const num = (t: ScalarType, v: number): Expr => constOf(t, v);

/** Converts an expression to type t (no-op when already t). */
export const to = (e: Expr, t: ScalarType): Expr => cast(e, t);

export const TRUE: Expr = lit('bool', 1);
export const FALSE: Expr = lit('bool', 0);

/** Refuses element types whose values the kernel IR cannot hold (strings, complex). */
export function requireKernelType(b: KBuffer, what: string): void {
  if ((b.dtype as string) === 'string') throw unsupportedLowering(`${what} of element type ${b.dtype}`);
}

/** Compile-time contents of an optional constant input as integers, null when absent. */
export function constInts(ctx: LowerContext, i: number, what: string): number[] | null {
  if (ctx.input(i) === null) return null;
  const c = ctx.constant(i);
  if (!c) throw unsupportedLowering(`non-constant ${what}`);
  return c.toIndexArray();
}

/** Loops over the dims listed in `axes` (in that order); `fn` gets a full multi-index with idx(0) elsewhere. */
export function loopAxes(kb: KernelBuilder, shape: readonly number[], axes: readonly number[], base: Expr[], fn: (ix: Expr[]) => void): void {
  const go = (k: number, ix: Expr[]): void => {
    if (k === axes.length) {
      fn(ix);
      return;
    }
    const a = axes[k]!;
    if (shape[a] === 1) {
      go(k + 1, ix);
      return;
    }
    kb.for(0, shape[a]!, (v) => {
      const next = [...ix];
      next[a] = v;
      go(k + 1, next);
    });
  };
  go(0, base);
}


/**
 * Static shape of node input i as the graph sees it. A buffer reached through a view (reshape-like
 * ops alias their input's buffer) keeps its own shape, so lowerings index by this shape instead.
 */
export function shapeIn(ctx: LowerContext, i: number): number[] {
  const t = ctx.node.inputs[i]?.tensorType;
  if (t && t.shape && t.shape.every((d) => typeof d === 'number')) return t.shape.map((d) => d as number);
  const b = ctx.input(i);
  if (!b) throw new KilnError('invalid-model', `input ${i} is required`);
  return [...b.shape];
}
