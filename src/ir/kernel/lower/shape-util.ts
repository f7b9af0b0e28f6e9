/**
 * Helpers for the data-movement lowerings (shape-*.ts): strided loop nests with merged contiguous
 * dimensions and hoisted offsets, index normalization, constant reads.
 */
import { KilnError } from '../../errors.js';
import { stridesOf } from '../../tensor.js';
import type { Tensor } from '../../tensor.js';
import { add, cast, idx, lit, load, lt, max, min, mul, select, type KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import { unsupportedLowering } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { computeType } from './common.js';

export { stridesOf };

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** One loop of a strided nest: extent and the stride it adds to each of the nest's offsets. */
export interface SDim {
  n: number;
  st: (number | Expr)[];
}

const stE = (s: number | Expr): Expr => (typeof s === 'number' ? idx(s) : s);

/** Drops extent-1 dims and merges adjacent dims that are contiguous for every offset. */
export function mergeDims(dims: readonly SDim[]): SDim[] {
  const out: SDim[] = [];
  for (const d of dims) {
    if (d.n === 1) continue;
    const prev = out[out.length - 1];
    if (prev && prev.st.every((s, k) => typeof s === 'number' && typeof d.st[k] === 'number' && s === d.n * (d.st[k] as number))) {
      out[out.length - 1] = { n: prev.n * d.n, st: d.st };
    } else out.push({ n: d.n, st: [...d.st] });
  }
  return out;
}

const trivial = (e: Expr): boolean => e.k === 'var' || e.k === 'const';

/**
 * A loop nest over `dims` (outermost first) that tracks one flat offset per operand: offset k is
 * bases[k] + Σ i_d * dims[d].st[k]. Contiguous dims are merged first; offsets of outer levels are
 * hoisted into locals. Emits nothing when some extent is 0.
 */
export function stridedLoops(kb: KernelBuilder, dims: readonly SDim[], bases: readonly Expr[], body: (offs: Expr[]) => void): void {
  if (dims.some((d) => d.n === 0)) return;
  const m = mergeDims(dims);
  const go = (d: number, offs: Expr[]): void => {
    if (d === m.length) {
      body(offs);
      return;
    }
    const dim = m[d]!;
    kb.for(0, dim.n, (v) => {
      let next = offs.map((o, k) => add(o, mul(v, stE(dim.st[k]!))));
      if (d < m.length - 1) next = next.map((e) => (trivial(e) ? e : kb.let('index', e, 'o')));
      go(d + 1, next);
    });
  };
  go(0, [...bases]);
}

/** dst[dstBase + Σ i·ds] = src[srcBase + Σ i·ss] over the dims. */
export function stridedCopy(kb: KernelBuilder, dst: KBuffer, dstBase: Expr, src: KBuffer, srcBase: Expr, dims: readonly SDim[]): void {
  stridedLoops(kb, dims, [dstBase, srcBase], ([o, s]) => kb.store(dst, o!, load(src, s!)));
}

/** dst[i] = value over the whole buffer (one flat loop). */
export function fill(kb: KernelBuilder, dst: KBuffer, value: Expr): void {
  const n = sizeOf(dst.shape);
  if (n === 0) return;
  if (n === 1) kb.store(dst, idx(0), value);
  else kb.for(0, n, (i) => kb.store(dst, i, value));
}

/** Copies a whole buffer into another of the same size (flat). */
export function copyAll(kb: KernelBuilder, dst: KBuffer, src: KBuffer): void {
  const n = sizeOf(dst.shape);
  if (n === 0) return;
  kb.for(0, n, (i) => kb.store(dst, i, load(src, i)));
}

/**
 * An integer index value (any integer or float type) as 'index', negatives wrapped by `dim`, then
 * clamped into [0, dim) so generated code never reads or writes out of bounds.
 */
export function normIndex(kb: KernelBuilder, e: Expr, dim: number): Expr {
  const j = kb.let('index', cast(e, 'index'), 'j');
  const w = select(lt(j, idx(0)), add(j, idx(dim)), j);
  return kb.let('index', min(max(w, idx(0)), idx(Math.max(dim - 1, 0))), 'j');
}

/** Constant integer input i as numbers, or null when omitted; refuses a non-constant input. */
export function constInts(ctx: LowerContext, i: number, what: string): number[] | null {
  if (ctx.input(i) === null) return null;
  const t = ctx.constant(i);
  if (!t) throw unsupportedLowering(`${ctx.node.opType} with a non-constant ${what}`);
  return t.toIndexArray();
}

/** Attribute axis normalized against a rank. */
export function normAxis(a: number, rank: number, what = 'axis'): number {
  const r = a < 0 ? a + rank : a;
  if (!Number.isInteger(r) || r < 0 || r >= rank) throw new KilnError('type', `${what} ${a} is out of range for rank ${rank}`);
  return r;
}

/** A literal holding element 0 of a tensor, in the compute type of `t`. */
export function scalarLit(t: ScalarType, v: Tensor | null, i = 0): Expr {
  const ct = computeType(t);
  if (!v || v.size === 0) return lit(ct, 0);
  const x = v.get(i);
  if (typeof x === 'bigint') return ct === 'i64' || ct === 'u64' ? lit(ct, x) : lit(ct, Number(x));
  if (typeof x === 'string') throw unsupportedLowering('string constants');
  if (ct === 'i64' || ct === 'u64') return lit(ct, BigInt(Math.trunc(Number(x))));
  return lit(ct, Number(x));
}

/** Scalar value of input i: a literal when constant, else a load of element 0 (in its compute type). */
export function scalarInput(ctx: LowerContext, i: number, t: ScalarType): Expr {
  const c = ctx.constant(i);
  if (c) return c.size === 0 ? lit(computeType(t), 0) : cast(scalarLit(c.dtype as ScalarType, c), computeType(t));
  const b = ctx.input(i);
  if (!b) return lit(computeType(t), 0);
  if (sizeOf(b.shape) === 0) return lit(computeType(t), 0);
  return cast(load(b, idx(0)), computeType(t));
}

/** Flat row-major offset of a multi-index (all dims, size-1 dims included). */
export function flatOf(ix: readonly Expr[], shape: readonly number[]): Expr {
  const st = stridesOf(shape);
  let e: Expr = idx(0);
  ix.forEach((v, d) => {
    if (shape[d] !== 1) e = add(e, mul(v, idx(st[d]!)));
  });
  return e;
}

/**
 * Static shape of input i as the graph value declares it. (A view's buffer keeps the shape of the
 * buffer it aliases, so the buffer's own shape can differ from the value's.)
 */
export function inShape(ctx: LowerContext, i: number): number[] {
  const v = ctx.node.inputs[i];
  const s = v?.tensorType?.shape;
  if (s && s.every((d) => typeof d === 'number')) return s as number[];
  const b = ctx.input(i);
  if (!b) throw new KilnError('invalid-model', `input ${i} of ${ctx.node.opType} is omitted`);
  return [...b.shape];
}
