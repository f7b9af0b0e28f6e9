/**
 * An upper bound on the loop iterations one shader invocation runs, from interval arithmetic over
 * the loop bounds (null when a bound depends on loaded data or cannot be bounded). Mesa llvmpipe
 * (the software GPU under Dawn's OpenGL ES backend) ends every loop of an invocation once 65535
 * iterations have run in all (gallivm's loop limiter, shared by all loops of a shader), so an
 * entry point over that bound would return partial results there: the Node runner refuses it.
 */
import { indexInterval as range, type Interval } from '../../ir/kernel/parallel.js';
import type { Expr, Stmt } from '../../ir/kernel/types.js';

/** Loop iterations per invocation after which llvmpipe stops every loop. */
export const LLVMPIPE_LOOP_LIMIT = 65535;

const UNBOUNDED: Interval = { lo: -Infinity, hi: Infinity };

/**
 * Loop iterations (each counts once, as the limiter does) of one run of the statements; `local`
 * loops of a workgroup body run once per invocation. Null when unbounded.
 */
export function loopIterations(ss: readonly Stmt[], env: Map<string, Interval> = new Map()): number | null {
  let total = 0;
  for (const s of ss) {
    switch (s.k) {
      case 'let': env.set(s.name, s.t === 'index' || s.t === 'i32' ? range(s.init, env) : UNBOUNDED); break;
      case 'set': env.set(s.name, UNBOUNDED); break;
      case 'if': {
        const a = loopIterations(s.then, env);
        const b = loopIterations(s.else, env);
        if (a === null || b === null) return null;
        total += Math.max(a, b);
        break;
      }
      case 'for': {
        const lo = range(s.lo, env);
        const hi = range(s.hi, env);
        if (s.ann.gpu?.scope === 'local') {
          env.set(s.v, { lo: lo.lo, hi: hi.hi - 1 });
          const inner = loopIterations(s.body, env);
          if (inner === null) return null;
          total += inner;
          break;
        }
        const trip = Math.max(0, hi.hi - lo.lo);
        if (!Number.isFinite(trip)) return null;
        env.set(s.v, { lo: lo.lo, hi: hi.hi - 1 });
        const inner = loopIterations(s.body, env);
        if (inner === null) return null;
        total += trip * (1 + inner);
        break;
      }
      default: break;
    }
  }
  return total;
}
