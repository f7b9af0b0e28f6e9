/**
 * Which loops of a kernel may run their iterations at once, decided from the kernel IR alone (never
 * from the op a kernel came from). A loop over %v is independent when
 *  - every buffer it writes is accessed (loaded or stored, through any view) at indices
 *    `c*v + r` with one constant c ≠ 0 for that buffer, where r does not depend on %v and the
 *    union of r's ranges over all those accesses spans fewer than |c| elements — so iteration v
 *    only touches elements c*v + [rmin, rmax], disjoint from every other iteration's;
 *  - no `set` inside it assigns a local declared outside it (no dependence through locals).
 * Ranges come from interval arithmetic over loop bounds; anything it cannot bound (a loaded value
 * in an index, a bound that is not constant) makes the loop count as dependent. Enclosing loops
 * are held fixed, so nested loops that each pass may be collapsed into one grid. Index-typed locals
 * that are never `set` (`let %o = %i * 31`, as lowerings write row offsets) are replaced by their
 * definitions, so accesses through them are analysed as the affine forms they are; callers pass
 * the definitions made between collapsed loops as `defs`.
 */
import { storageOf, type BinOp, type Expr, type KBuffer, type Stmt } from './types.js';

export interface Interval {
  lo: number;
  hi: number;
}

/**
 * Interval of `a op b` for the ops whose bounds follow from the operands' bounds alone (add, sub,
 * mul, min, max); undefined for the others, whose rules differ between callers.
 */
export function combineIntervals(op: BinOp, a: Interval, b: Interval): Interval | undefined {
  switch (op) {
    case 'add': return { lo: a.lo + b.lo, hi: a.hi + b.hi };
    case 'sub': return { lo: a.lo - b.hi, hi: a.hi - b.lo };
    case 'mul': {
      // 0 × ∞ is NaN: an unbounded side times a zero bound contributes 0
      const p = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi].map((x) => (Number.isNaN(x) ? 0 : x));
      return { lo: Math.min(...p), hi: Math.max(...p) };
    }
    case 'min': return { lo: Math.min(a.lo, b.lo), hi: Math.min(a.hi, b.hi) };
    case 'max': return { lo: Math.max(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
    default: return undefined;
  }
}

const UNBOUNDED: Interval = { lo: -Infinity, hi: Infinity };

/** Integer types whose casts keep an index value (no wrap at the sizes kernels index). */
const WIDE_INT = new Set(['index', 'i32', 'i64', 'u32', 'u64']);

/**
 * A range that holds every value of an index expression, given the ranges of the variables in
 * `env` (loop variables, index locals); unbounded where the expression reads data.
 */
export function indexInterval(e: Expr, env: ReadonlyMap<string, Interval>): Interval {
  switch (e.k) {
    case 'const': return typeof e.v === 'number' ? { lo: e.v, hi: e.v } : { lo: Number(e.v), hi: Number(e.v) };
    case 'var': return env.get(e.name) ?? UNBOUNDED;
    case 'cast': return WIDE_INT.has(e.t) ? indexInterval(e.a, env) : UNBOUNDED;
    case 'select': {
      const a = indexInterval(e.a, env);
      const b = indexInterval(e.b, env);
      return { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
    }
    case 'bin': {
      const a = indexInterval(e.a, env);
      const b = indexInterval(e.b, env);
      const c = combineIntervals(e.op, a, b);
      if (c) return c;
      if (e.op === 'div' && b.lo === b.hi && b.lo > 0) {
        const q = [Math.trunc(a.lo / b.lo), Math.trunc(a.hi / b.lo)];
        return { lo: Math.min(...q), hi: Math.max(...q) };
      }
      // a divisor's range is enough for a bound (no exact truncation needed)
      if (e.op === 'div') return b.lo > 0 ? { lo: Math.min(a.lo / b.lo, a.lo / b.hi, 0), hi: Math.max(a.hi / b.lo, 0) } : UNBOUNDED;
      if (e.op === 'mod') return b.lo > 0 && a.lo >= 0 ? { lo: 0, hi: b.hi - 1 } : UNBOUNDED;
      return UNBOUNDED;
    }
    default: return UNBOUNDED;
  }
}

/** Ranges of the loop variables in scope; enclosing fixed loops are absent (treated as points). */
type Env = ReadonlyMap<string, Interval>;

/** A linear form: coefficients per variable plus a constant, or null when not linear. */
interface Linear {
  coef: Map<string, number>;
  c: number;
}

function linear(e: Expr): Linear | null {
  switch (e.k) {
    case 'const':
      return typeof e.v === 'number' && Number.isSafeInteger(e.v) ? { coef: new Map(), c: e.v } : null;
    case 'var':
      return e.t === 'index' ? { coef: new Map([[e.name, 1]]), c: 0 } : null;
    case 'bin': {
      if (e.t !== 'index') return null;
      const a = linear(e.a);
      const b = linear(e.b);
      if (!a || !b) return null;
      if (e.op === 'add' || e.op === 'sub') {
        const s = e.op === 'add' ? 1 : -1;
        const coef = new Map(a.coef);
        for (const [k, v] of b.coef) coef.set(k, (coef.get(k) ?? 0) + s * v);
        return { coef, c: a.c + s * b.c };
      }
      if (e.op === 'mul') {
        const [k, l] = a.coef.size === 0 ? [a.c, b] : b.coef.size === 0 ? [b.c, a] : [null, null];
        if (k === null || l === null) return null;
        return { coef: new Map([...l.coef].map(([n, v]) => [n, v * k])), c: l.c * k };
      }
      return null;
    }
    default:
      return null;
  }
}


/** Whether an expression mentions only fixed (point) variables and constants. */
function onlyPoints(e: Expr, point: ReadonlySet<string>): boolean {
  switch (e.k) {
    case 'const': return true;
    case 'var': return point.has(e.name);
    case 'bin': return onlyPoints(e.a, point) && onlyPoints(e.b, point);
    case 'un': case 'cast': return onlyPoints(e.a, point);
    case 'select': return onlyPoints(e.c, point) && onlyPoints(e.a, point) && onlyPoints(e.b, point);
    default: return false;
  }
}

function mentionsAny(e: Expr, names: ReadonlySet<string>): boolean {
  for (const n of names) if (mentions(e, n)) return true;
  return false;
}

/** Range of an index expression given the variables' ranges (variables not in env are points: width 0). */
function range(e: Expr, env: Env, point: ReadonlySet<string>): Interval {
  // fixed variables stand for an unknown constant (offset 0): a non-linear operation on one is a
  // constant only when nothing else in it varies, and unbounded otherwise
  if (e.k === 'select' || (e.k === 'bin' && e.op !== 'add' && e.op !== 'sub' && e.op !== 'mul')) {
    if (point.size > 0 && mentionsAny(e, point)) return onlyPoints(e, point) ? { lo: 0, hi: 0 } : UNBOUNDED;
  }
  switch (e.k) {
    case 'const':
      return typeof e.v === 'number' ? { lo: e.v, hi: e.v } : UNBOUNDED;
    case 'var': {
      if (point.has(e.name)) return { lo: 0, hi: 0 };
      return env.get(e.name) ?? UNBOUNDED;
    }
    case 'bin': {
      if (e.t !== 'index') return UNBOUNDED;
      const a = range(e.a, env, point);
      const b = range(e.b, env, point);
      const c = combineIntervals(e.op, a, b);
      if (c) return c;
      switch (e.op) {
        case 'div':
          // truncating division by a positive constant keeps the sign and shrinks the magnitude
          if (b.lo === b.hi && b.lo > 0) return { lo: Math.trunc(a.lo / b.lo), hi: Math.trunc(a.hi / b.lo) };
          return UNBOUNDED;
        case 'mod':
          if (b.lo === b.hi && b.lo > 0) return a.lo >= 0 ? { lo: 0, hi: Math.min(a.hi, b.lo - 1) } : { lo: -(b.lo - 1), hi: b.lo - 1 };
          return UNBOUNDED;
        default:
          return UNBOUNDED;
      }
    }
    case 'select': {
      const a = range(e.a, env, point);
      const b = range(e.b, env, point);
      return { lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
    }
    default:
      return UNBOUNDED;
  }
}

interface Access {
  buf: KBuffer;
  idx: Expr;
  env: Env;
}

/** `e` with the variables of `defs` replaced by their definitions (already substituted). */
export function substitute(e: Expr, defs: ReadonlyMap<string, Expr>): Expr {
  if (defs.size === 0) return e;
  switch (e.k) {
    case 'var': return defs.get(e.name) ?? e;
    case 'load': return { ...e, idx: substitute(e.idx, defs) };
    case 'bin': return { ...e, a: substitute(e.a, defs), b: substitute(e.b, defs) };
    case 'un': case 'cast': return { ...e, a: substitute(e.a, defs) };
    case 'select': return { ...e, c: substitute(e.c, defs), a: substitute(e.a, defs), b: substitute(e.b, defs) };
    default: return e;
  }
}

/** Names assigned by a `set` anywhere in these statements. */
export function assignedNames(ss: readonly Stmt[], out: Set<string> = new Set()): Set<string> {
  for (const s of ss) {
    if (s.k === 'set') out.add(s.name);
    else if (s.k === 'for') assignedNames(s.body, out);
    else if (s.k === 'if') {
      assignedNames(s.then, out);
      assignedNames(s.else, out);
    }
  }
  return out;
}

/** Loads, stores and `set`s inside a loop body, each with the loop-variable ranges in scope there. */
function collect(ss: readonly Stmt[], env: Map<string, Interval>, lets: Set<string>, out: { loads: Access[]; stores: Access[]; sets: string[]; ok: boolean }, defs: Map<string, Expr>, assigned: ReadonlySet<string>): void {
  const expr = (e: Expr): void => {
    switch (e.k) {
      case 'load': out.loads.push({ buf: e.buf, idx: substitute(e.idx, defs), env: new Map(env) }); expr(e.idx); return;
      case 'bin': expr(e.a); expr(e.b); return;
      case 'un': case 'cast': expr(e.a); return;
      case 'select': expr(e.c); expr(e.a); expr(e.b); return;
      default: return;
    }
  };
  for (const s of ss) {
    switch (s.k) {
      case 'for': {
        expr(s.lo);
        expr(s.hi);
        // fixed variables in bounds are not points here: a bound's value matters, not only its width
        const lo = range(substitute(s.lo, defs), env, new Set());
        const hi = range(substitute(s.hi, defs), env, new Set());
        const inner = new Map(env);
        inner.set(s.v, { lo: lo.lo, hi: hi.hi - 1 });
        const innerDefs = new Map(defs);
        innerDefs.delete(s.v);
        collect(s.body, inner, lets, out, innerDefs, assigned);
        break;
      }
      case 'store': out.stores.push({ buf: s.buf, idx: substitute(s.idx, defs), env: new Map(env) }); expr(s.idx); expr(s.val); break;
      case 'let':
        lets.add(s.name);
        expr(s.init);
        if (s.t === 'index' && !assigned.has(s.name)) defs.set(s.name, substitute(s.init, defs));
        else defs.delete(s.name);
        break;
      case 'set': out.sets.push(s.name); expr(s.val); break;
      case 'if': expr(s.c); collect(s.then, env, lets, out, new Map(defs), assigned); collect(s.else, env, lets, out, new Map(defs), assigned); break;
    }
  }
}

/**
 * Whether the iterations of `loop` are independent (see the module comment). `fixed` names enclosing
 * loop variables that are held constant (collapsed outer parallel loops).
 */
export function loopIsParallel(loop: Stmt & { k: 'for' }, fixed: ReadonlySet<string> = new Set(), defs: ReadonlyMap<string, Expr> = new Map()): boolean {
  const r = loopDependences(loop, fixed, defs);
  return r.ok && r.invariant.length === 0 && r.unproven.length === 0;
}

/**
 * The dependence verdict of a loop: `ok` false when some written buffer is accessed at overlapping
 * elements by different iterations, a `set` assigns a local declared outside the loop, or a bound
 * cannot be bounded. `invariant` lists the written buffers (storage roots) that every iteration
 * accesses at the same indices (none of their indices mentions the loop variable): shared scratch
 * that only privatization (one copy per thread) could make independent. With `ok` and no invariant
 * buffer the iterations are independent. `unproven` lists the written buffers whose accesses
 * depend on the loop variable but that the interval test above cannot show disjoint (e.g. a tile
 * of rows × columns, whose later rows lie beyond the next iteration's first): an exact check
 * (src/ir/kernel/privatize.ts) may still prove them.
 */
export function loopDependences(loop: Stmt & { k: 'for' }, fixed: ReadonlySet<string> = new Set(), defs: ReadonlyMap<string, Expr> = new Map()): { ok: boolean; invariant: KBuffer[]; unproven: KBuffer[] } {
  const no = { ok: false, invariant: [], unproven: [] };
  const lo = range(substitute(loop.lo, defs), new Map(), fixed);
  const hi = range(substitute(loop.hi, defs), new Map(), fixed);
  if (!Number.isFinite(lo.lo) || !Number.isFinite(hi.hi)) return no;
  const env = new Map<string, Interval>();
  const lets = new Set<string>();
  const acc = { loads: [] as Access[], stores: [] as Access[], sets: [] as string[], ok: true };
  const inner = new Map(defs);
  inner.delete(loop.v);
  collect(loop.body, env, lets, acc, inner, assignedNames(loop.body));
  if (acc.sets.some((n) => !lets.has(n))) return no;
  const written = new Set(acc.stores.map((a) => storageOf(a.buf)));
  const byBuf = new Map<KBuffer, Access[]>();
  for (const a of [...acc.stores, ...acc.loads]) {
    const root = storageOf(a.buf);
    if (!written.has(root)) continue;
    const list = byBuf.get(root) ?? [];
    list.push(a);
    byBuf.set(root, list);
  }
  const v = loop.v;
  const invariant: KBuffer[] = [];
  const unproven: KBuffer[] = [];
  for (const [root, list] of byBuf) {
    // every access independent of %v: the same elements in every iteration
    if (list.every((a) => !mentions(a.idx, v))) {
      invariant.push(root);
      continue;
    }
    if (!disjointByInterval(list, v, fixed)) unproven.push(root);
  }
  return { ok: true, invariant, unproven };
}

/** The interval test of the module comment for one written buffer's accesses. */
function disjointByInterval(list: readonly Access[], v: string, fixed: ReadonlySet<string>): boolean {
  let c: number | null = null;
  let rmin = Infinity;
  let rmax = -Infinity;
  for (const a of list) {
    const lin = linear(a.idx);
    let k: number;
    let r: Interval;
    if (lin) {
      k = lin.coef.get(v) ?? 0;
      const rest: Linear = { coef: new Map([...lin.coef].filter(([n]) => n !== v)), c: lin.c };
      r = linearRange(rest, a.env, fixed);
    } else {
      // not linear: %v must not occur in it (then k = 0 and the access is the same in every iteration)
      if (mentions(a.idx, v)) return false;
      k = 0;
      r = range(a.idx, a.env, fixed);
    }
    if (k === 0) return false;
    if (c === null) c = k;
    else if (c !== k) return false;
    rmin = Math.min(rmin, r.lo);
    rmax = Math.max(rmax, r.hi);
  }
  return !(c === null || !Number.isFinite(rmin) || !Number.isFinite(rmax) || rmax - rmin >= Math.abs(c));
}

/**
 * Range of every index at which the statements load `buf` (its storage), with `env` giving the
 * ranges (or points) of the variables in scope; null when a load's index cannot be bounded or the
 * statements load no element of it.
 */
export function loadRange(ss: readonly Stmt[], buf: KBuffer, env: ReadonlyMap<string, Interval>): Interval | null {
  const acc = { loads: [] as Access[], stores: [] as Access[], sets: [] as string[], ok: true };
  collect(ss, new Map(env), new Set(), acc, new Map(), assignedNames(ss));
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of acc.loads) {
    if (storageOf(a.buf) !== buf) continue;
    const r = range(a.idx, a.env, new Set());
    if (!Number.isFinite(r.lo) || !Number.isFinite(r.hi)) return null;
    lo = Math.min(lo, r.lo);
    hi = Math.max(hi, r.hi);
  }
  return lo <= hi ? { lo, hi } : null;
}

/**
 * The loads of `buf` (its storage) in the statements as linear forms `c + Σ k·x` over variables
 * with their ranges (`env` gives the variables in scope, as ranges or points), so a caller can
 * enumerate exactly the lattice of elements read; null when a load is not linear or a variable in
 * it cannot be bounded.
 */
export function loadLattices(ss: readonly Stmt[], buf: KBuffer, env: ReadonlyMap<string, Interval>): { c: number; terms: { k: number; r: Interval }[] }[] | null {
  const acc = { loads: [] as Access[], stores: [] as Access[], sets: [] as string[], ok: true };
  collect(ss, new Map(env), new Set(), acc, new Map(), assignedNames(ss));
  const out: { c: number; terms: { k: number; r: Interval }[] }[] = [];
  for (const a of acc.loads) {
    if (storageOf(a.buf) !== buf) continue;
    const lin = linear(a.idx);
    if (!lin) return null;
    const terms: { k: number; r: Interval }[] = [];
    for (const [n, k] of lin.coef) {
      if (k === 0) continue;
      const r = a.env.get(n);
      if (!r || !Number.isFinite(r.lo) || !Number.isFinite(r.hi)) return null;
      terms.push({ k, r });
    }
    out.push({ c: lin.c, terms });
  }
  return out;
}

/**
 * Iterations per thread of a loop of `extent` iterations split over `threads` (OpenMP
 * `schedule(static, chunk)`): chunk k runs on one thread, so per-thread scratch is indexed by
 * (iteration - lo) / chunk.
 */
export function parallelChunk(extent: number, threads: number): number {
  return Math.max(1, Math.ceil(extent / Math.max(1, threads)));
}

function linearRange(l: Linear, env: Env, fixed: ReadonlySet<string>): Interval {
  let lo = l.c;
  let hi = l.c;
  for (const [n, k] of l.coef) {
    if (k === 0 || fixed.has(n)) continue;
    const r = env.get(n);
    if (!r) return UNBOUNDED;
    lo += Math.min(k * r.lo, k * r.hi);
    hi += Math.max(k * r.lo, k * r.hi);
  }
  return { lo, hi };
}

/** Whether `e` reads variable %name. */
export function mentions(e: Expr, name: string): boolean {
  switch (e.k) {
    case 'var': return e.name === name;
    case 'load': return mentions(e.idx, name);
    case 'bin': return mentions(e.a, name) || mentions(e.b, name);
    case 'un': case 'cast': return mentions(e.a, name);
    case 'select': return mentions(e.c, name) || mentions(e.a, name) || mentions(e.b, name);
    default: return false;
  }
}

/**
 * The loop a chain continues with: the body's only loop after `let`s of locals never `set` (whose
 * definitions, substituted, go into defs), or undefined.
 */
export function nextInChain(body: readonly Stmt[], assigned: ReadonlySet<string>, defs?: Map<string, Expr>): (Stmt & { k: 'for' }) | undefined {
  const last = body[body.length - 1];
  if (last?.k !== 'for') return undefined;
  for (const s of body.slice(0, -1)) {
    if (s.k !== 'let' || assigned.has(s.name)) return undefined;
    if (defs && s.t === 'index') defs.set(s.name, substitute(s.init, defs));
  }
  return last;
}
