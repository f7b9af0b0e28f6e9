/** Small helpers shared by the misc-* lowerings (attention, recurrent, signal, training, ml). */
import { KilnError } from '../../errors.js';
import { add, bin, cast, div, idx, load, lit, mul, select, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import { unsupportedLowering } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';

/** A float constant of type t. */
export const fl = (t: ScalarType, v: number): Expr => lit(t, v);

/** Index arithmetic over a mix of exprs and numbers. */
export const ix = (v: Expr | number): Expr => (typeof v === 'number' ? idx(v) : v);

/** Σ terms[i] (index). */
export function isum(...terms: (Expr | number)[]): Expr {
  let e: Expr = idx(0);
  for (const t of terms) e = add(e, ix(t));
  return e;
}

/** a*b (index). */
export const imul = (a: Expr | number, b: Expr | number): Expr => mul(ix(a), ix(b));

/** Loads buffer b at a flat index and converts to type t. */
export const ld = (b: KBuffer, i: Expr, t: ScalarType): Expr => cast(load(b, i), t);

/** Loads element 0 of a (scalar) buffer as type t. */
export const scalarOf = (b: KBuffer, t: ScalarType): Expr => ld(b, idx(0), t);

/** Logistic sigmoid as the reference computes it (stable on both sides). */
export function sigmoidE(x: Expr): Expr {
  const one = fl(x.t, 1);
  return select(bin('ge', x, fl(x.t, 0)), div(one, add(one, un('exp', un('neg', x)))), div(un('exp', x), add(one, un('exp', x))));
}

/** A statically-known integer from a constant input (first element), or null. */
export function constInt(ctx: LowerContext, i: number): number | null {
  if (ctx.input(i) === null) return null;
  const c = ctx.constant(i);
  if (!c) return null;
  if (c.size < 1) throw new KilnError('invalid-model', `input ${i} is empty`);
  return c.toIndexArray()[0]!;
}

/** Requires a constant integer input. */
export function needConstInt(ctx: LowerContext, i: number, what: string): number {
  const v = constInt(ctx, i);
  if (v === null) throw unsupportedLowering(`${ctx.node.opType} with a non-constant ${what}`);
  return v;
}

/** Stores 0 into every element of a buffer. */
export function zeroFill(kb: KernelBuilder, b: KBuffer): void {
  const n = b.shape.reduce((a, d) => a * d, 1);
  kb.for(0, n, (i) => kb.store(b, i, fl(b.dtype === 'index' ? 'i32' : b.dtype, 0)));
}

/** x*y + z style helpers for float exprs. */
export const fadd = add;
export const fsub = sub;
export const fmul = mul;
export const fdiv = div;
