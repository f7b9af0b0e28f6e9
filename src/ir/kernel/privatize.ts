/**
 * Exact per-iteration checks of a loop's buffer accesses, for what the interval test of
 * src/ir/kernel/parallel.ts cannot decide. Run over the index arithmetic of the kernel (shapes are
 * static): the enclosing loops and the loop's iterations are enumerated.
 *  - Privatizable scratch: a buffer shared by the iterations may instead have one copy per thread
 *    when, in every iteration, each element of it that is read was written earlier in the same
 *    iteration (nothing flows between iterations through it). Stores mark elements, every read
 *    must find its element marked; a sub-nest that only reads it is not enumerated: the interval of
 *    all its read indices must lie inside marked elements. The caller checks that nothing outside
 *    the loop touches the buffer.
 *  - Disjoint accesses: no element of a buffer is written by one iteration and read or written by
 *    another (each element remembers its writer and reader iteration).
 * Sub-nests that touch none of the buffers are skipped. Anything it cannot evaluate (an index or
 * condition that depends on loaded data, a local whose value is unknown, a run-time size) or a walk
 * over the step budget answers false.
 */
import { numBin } from './interp.js';
import { assignedNames, loadLattices, loadRange } from './parallel.js';
import { bufferSize, storageOf, type Expr, type KBuffer, type Stmt } from './types.js';

type For = Stmt & { k: 'for' };
type Env = Map<string, number>;

/** Steps (statements and enumerated loop iterations) one check may take. */
export const PRIVATIZE_STEP_BUDGET = 2_000_000;

/** Thrown (one shared instance, no stack trace to capture) when a value or check cannot be decided. */
class Unknown {}
const UNKNOWN = new Unknown();

const isInt = (t: string): boolean => t === 'index' || t === 'bool' || /^[iu]\d+$/.test(t);

function touches(ss: readonly Stmt[], buf: KBuffer, stores: boolean): boolean {
  const ex = (e: Expr): boolean => {
    switch (e.k) {
      case 'load': return (!stores && storageOf(e.buf) === buf) || ex(e.idx);
      case 'bin': return ex(e.a) || ex(e.b);
      case 'un': case 'cast': return ex(e.a);
      case 'select': return ex(e.c) || ex(e.a) || ex(e.b);
      default: return false;
    }
  };
  return ss.some((s) => {
    switch (s.k) {
      case 'for': return ex(s.lo) || ex(s.hi) || touches(s.body, buf, stores);
      case 'store': return (storageOf(s.buf) === buf) || ex(s.idx) || ex(s.val);
      case 'let': return ex(s.init);
      case 'set': return ex(s.val);
      case 'if': return ex(s.c) || touches(s.then, buf, stores) || touches(s.else, buf, stores);
      case 'barrier': return false;
    }
  });
}

/** Whether `ss` contains `target` (by identity). */
function contains(ss: readonly Stmt[], target: Stmt): boolean {
  return ss.some((s) => s === target || (s.k === 'for' && contains(s.body, target)) || (s.k === 'if' && (contains(s.then, target) || contains(s.else, target))));
}

class Checker {
  private steps = 0;
  private readonly marks = new Map<KBuffer, Uint8Array>();
  private readonly writer = new Map<KBuffer, Int32Array>();
  private readonly reader = new Map<KBuffer, Int32Array>();
  private readonly all: Set<KBuffer>;
  /** Index of the loop's iteration being run. */
  private iter = 0;

  constructor(priv: readonly KBuffer[], disjoint: readonly KBuffer[], private readonly budget: number) {
    for (const b of priv) this.marks.set(b, new Uint8Array(bufferSize(b)));
    for (const b of disjoint) {
      this.writer.set(b, new Int32Array(bufferSize(b)).fill(-1));
      this.reader.set(b, new Int32Array(bufferSize(b)).fill(-1));
    }
    this.all = new Set([...priv, ...disjoint]);
  }

  private readonly touchCache = [new WeakMap<Stmt, boolean>(), new WeakMap<Stmt, boolean>()];
  private readonly assignedCache = new WeakMap<Stmt, Set<string>>();

  private assigned(s: Stmt): Set<string> {
    let a = this.assignedCache.get(s);
    if (!a) this.assignedCache.set(s, (a = assignedNames([s])));
    return a;
  }

  /** Whether a statement accesses any checked buffer (only stores to scratch, with storesOnly); cached. */
  private touches(s: Stmt, storesOnly = false): boolean {
    const cache = this.touchCache[storesOnly ? 1 : 0]!;
    let t = cache.get(s);
    if (t === undefined) cache.set(s, (t = this.touchesNow([s], storesOnly)));
    return t;
  }

  private touchesNow(ss: readonly Stmt[], storesOnly: boolean): boolean {
    for (const b of this.all) if ((!storesOnly || this.writer.has(b)) && touches(ss, b, false)) return true;
    if (storesOnly) for (const b of this.marks.keys()) if (touches(ss, b, true)) return true;
    return false;
  }

  private access(b: KBuffer, i: number, write: boolean): void {
    const m = this.marks.get(b);
    if (m) {
      if (!(i >= 0 && i < m.length)) throw UNKNOWN;
      if (write) m[i] = 1;
      else if (m[i] !== 1) throw UNKNOWN;
      return;
    }
    const w = this.writer.get(b)!;
    const r = this.reader.get(b)!;
    if (!(i >= 0 && i < w.length)) throw UNKNOWN;
    if (w[i] !== -1 && w[i] !== this.iter) throw UNKNOWN;
    if (write) {
      if (r[i] !== -1 && r[i] !== this.iter) throw UNKNOWN;
      w[i] = this.iter;
    } else r[i] = r[i] === -1 || r[i] === this.iter ? this.iter : -2;
  }

  private step(n = 1): void {
    this.steps += n;
    if (this.steps > this.budget) throw UNKNOWN;
  }

  /** Value of an integer expression; reads of the buffer must hit marked elements. */
  ev(e: Expr, env: Env): number {
    switch (e.k) {
      case 'const':
        if (!isInt(e.t)) throw UNKNOWN;
        return Number(e.v);
      case 'var': {
        const v = env.get(e.name);
        if (v === undefined) throw UNKNOWN;
        return v;
      }
      case 'load': {
        const b = storageOf(e.buf);
        if (this.all.has(b)) this.access(b, this.ev(e.idx, env), false);
        else this.reads(e.idx, env);
        throw UNKNOWN;
      }
      case 'bin': {
        if (!isInt(e.a.t) || !isInt(e.b.t)) throw UNKNOWN;
        return numBin(e.op, e.a.t, this.ev(e.a, env), this.ev(e.b, env));
      }
      case 'un': {
        const a = this.ev(e.a, env);
        if (e.op === 'neg') return -a;
        if (e.op === 'abs') return Math.abs(a);
        if (e.op === 'not') return a ? 0 : 1;
        throw UNKNOWN;
      }
      case 'cast':
        if (!isInt(e.t) || !isInt(e.a.t)) throw UNKNOWN;
        return this.ev(e.a, env);
      case 'select':
        return this.ev(e.c, env) ? this.ev(e.a, env) : this.ev(e.b, env);
    }
  }

  /** Checks the buffer reads inside a value expression (its value itself is not needed). */
  private reads(e: Expr, env: Env): void {
    switch (e.k) {
      case 'load': {
        const b = storageOf(e.buf);
        if (this.all.has(b)) this.access(b, this.ev(e.idx, env), false);
        else this.reads(e.idx, env);
        return;
      }
      case 'bin': this.reads(e.a, env); this.reads(e.b, env); return;
      case 'un': case 'cast': this.reads(e.a, env); return;
      case 'select': this.reads(e.c, env); this.reads(e.a, env); this.reads(e.b, env); return;
      default: return;
    }
  }

  private tryEv(e: Expr, env: Env): number | undefined {
    try {
      return this.ev(e, env);
    } catch (err) {
      if (err instanceof Unknown && this.steps <= this.budget) return undefined;
      throw err;
    }
  }

  /** Reads every element c + Σ k·x for x in the terms' ranges (a superset of what one load reads). */
  private lattice(b: KBuffer, c: number, terms: readonly { k: number; r: { lo: number; hi: number } }[]): void {
    if (terms.length === 0) {
      this.step();
      this.access(b, c, false);
      return;
    }
    const [t, ...rest] = terms;
    for (let x = t!.r.lo; x <= t!.r.hi; x++) this.lattice(b, c + t!.k * x, rest);
  }

  /** Runs statements inside one iteration of the loop, marking stores and checking reads. */
  body(ss: readonly Stmt[], env: Env): void {
    for (const s of ss) {
      this.step();
      switch (s.k) {
        case 'let': case 'set': {
          const x = s.k === 'let' ? s.init : s.val;
          this.reads(x, env);
          const v = isInt(x.t) ? this.tryEv(x, env) : undefined;
          if (v === undefined) env.delete(s.name);
          else env.set(s.name, v);
          break;
        }
        case 'store':
          this.reads(s.val, env);
          if (this.all.has(storageOf(s.buf))) this.access(storageOf(s.buf), this.ev(s.idx, env), true);
          else this.reads(s.idx, env);
          break;
        case 'if': {
          if (!this.touches(s)) {
            for (const n of this.assigned(s)) env.delete(n);
            break;
          }
          this.reads(s.c, env);
          this.body(this.ev(s.c, env) ? s.then : s.else, env);
          break;
        }
        case 'for': {
          if (!this.touches(s)) {
            for (const n of this.assigned(s)) env.delete(n);
            break;
          }
          if (!this.touches(s, true)) {
            // reads of scratch only: every index it may read must be marked
            const points = new Map([...env].map(([k, v]) => [k, { lo: v, hi: v }]));
            for (const b of this.marks.keys()) {
              if (!touches([s], b, false)) continue;
              const lat = loadLattices([s], b, points);
              if (lat) for (const l of lat) this.lattice(b, l.c, l.terms);
              else {
                const r = loadRange([s], b, points);
                if (!r) throw UNKNOWN;
                this.step(r.hi - r.lo + 1);
                for (let i = r.lo; i <= r.hi; i++) this.access(b, i, false);
              }
            }
            for (const n of this.assigned(s)) env.delete(n);
            break;
          }
          const lo = this.ev(s.lo, env);
          const hi = this.ev(s.hi, env);
          for (let i = lo; i < hi; i++) {
            env.set(s.v, i);
            this.body(s.body, env);
          }
          env.delete(s.v);
          for (const n of assignedNames(s.body)) env.delete(n);
          break;
        }
        case 'barrier': break;
      }
    }
  }

  /** Walks from the kernel's top down to `loop`, then checks each of its iterations. */
  path(ss: readonly Stmt[], loop: For, env: Env): void {
    for (const s of ss) {
      this.step();
      if (s === loop) {
        const lo = this.ev(s.lo, env);
        const hi = this.ev(s.hi, env);
        for (let i = lo; i < hi; i++) {
          for (const m of this.marks.values()) m.fill(0);
          this.iter = i - lo;
          const inner = new Map(env);
          inner.set(s.v, i);
          this.body(s.body, inner);
        }
        continue;
      }
      switch (s.k) {
        case 'let': case 'set': {
          const x = s.k === 'let' ? s.init : s.val;
          const v = isInt(x.t) ? this.tryEv(x, env) : undefined;
          if (v === undefined) env.delete(s.name);
          else env.set(s.name, v);
          break;
        }
        case 'for':
          if (contains(s.body, loop)) {
            const lo = this.ev(s.lo, env);
            const hi = this.ev(s.hi, env);
            for (let i = lo; i < hi; i++) {
              const inner = new Map(env);
              inner.set(s.v, i);
              this.path(s.body, loop, inner);
            }
          } else for (const n of this.assigned(s)) env.delete(n);
          break;
        case 'if':
          if (contains(s.then, loop) || contains(s.else, loop)) this.path(this.ev(s.c, env) ? s.then : s.else, loop, env);
          else for (const n of this.assigned(s)) env.delete(n);
          break;
        default: break;
      }
    }
  }
}

/**
 * Whether, in every iteration of `loop` (a loop inside `kernelBody`), every element of each `priv`
 * buffer read was written earlier in that iteration (so each thread may work on its own copy), and
 * no element of a `disjoint` buffer written by one iteration is accessed by another.
 */
export function iterationsIndependent(kernelBody: readonly Stmt[], loop: For, priv: readonly KBuffer[], disjoint: readonly KBuffer[], budget = PRIVATIZE_STEP_BUDGET): boolean {
  const c = new Checker(priv.map(storageOf), disjoint.map(storageOf), budget);
  try {
    c.path(kernelBody, loop, new Map());
    return true;
  } catch (e) {
    if (e instanceof Unknown) return false;
    throw e;
  }
}
