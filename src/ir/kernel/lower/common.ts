/** Lowering helpers shared by op families: broadcast elementwise maps, reductions, index math. */
import { broadcastShapes } from '../../ops/util.js';
import { KilnError } from '../../errors.js';
import { broadcastIndex, cast, flatIndex, load, lit } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';

export function req<T>(x: T | null, what: string): T {
  if (x === null) throw new KilnError('invalid-model', `${what} is required`);
  return x;
}

/**
 * output[i] = fn(inputs broadcast to the output's index). `fn` gets the loaded values (in their
 * element types) and returns the value to store (converted to the output type).
 */
export function lowerElementwise(ctx: LowerContext, inputs: readonly KBuffer[], out: KBuffer, fn: (vals: Expr[], outIdx: Expr[]) => Expr): void {
  const shape = out.shape;
  ctx.kernel((kb) => {
    kb.loops(shape, (ix) => {
      const vals = inputs.map((b) => load(b, broadcastIndex(ix, b.shape)));
      kb.store(out, flatIndex(ix, shape), fn(vals, ix));
    });
  });
}

/** Output shape of numpy broadcasting over buffers. */
export function broadcastOf(bufs: readonly KBuffer[]): number[] {
  return broadcastShapes(...bufs.map((b) => b.shape));
}

/** Computation type for a value of element type t: narrow floats compute in f32. */
export function computeType(t: ScalarType): ScalarType {
  return t === 'f16' || t === 'bf16' || t.startsWith('f8') || t === 'f4e2m1' ? 'f32' : t;
}

export function isFloatT(t: ScalarType): boolean {
  return t === 'f32' || t === 'f64' || computeType(t) !== t;
}

/** A constant of the given type. */
export function constOf(t: ScalarType, v: number): Expr {
  return lit(t, t === 'i64' || t === 'u64' ? BigInt(Math.trunc(v)) : v);
}

/** Converts to the compute type of its own type (f16 → f32, others unchanged). */
export function widen(e: Expr): Expr {
  return cast(e, computeType(e.t));
}
