/**
 * Kernel-IR helpers shared by the fuse pass and its end-of-tile epilogue placement: affine index
 * forms, walks, the buffers a kernel reads and writes, and the pointwise form of an elementwise
 * kernel.
 */
import { bufferSize, storageOf, type Expr, type KBuffer, type Kernel, type Stmt } from '../ir/kernel/types.js';

export type Store = Extract<Stmt, { k: 'store' }>;
export type Let = Extract<Stmt, { k: 'let' }>;

export interface Pointwise {
  /** Loop variables outermost first, with their trip counts. */
  loops: { v: string; n: number }[];
  lets: Let[];
  store: Store;
  n: number;
}

/** A linear index form: coefficient per variable plus a constant. */
export type Linear = Map<string, number>;
export const CONST = '';

export function linearOf(e: Expr, defs: ReadonlyMap<string, Expr>): Linear | null {
  switch (e.k) {
    case 'const':
      return typeof e.v === 'number' && Number.isSafeInteger(e.v) ? new Map([[CONST, e.v]]) : null;
    case 'var': {
      if (e.t !== 'index') return null;
      const d = defs.get(e.name);
      return d ? linearOf(d, defs) : new Map([[e.name, 1]]);
    }
    case 'bin': {
      if (e.t !== 'index') return null;
      const a = linearOf(e.a, defs);
      const b = linearOf(e.b, defs);
      if (!a || !b) return null;
      if (e.op === 'add' || e.op === 'sub') {
        const out = new Map(a);
        for (const [k, v] of b) out.set(k, (out.get(k) ?? 0) + (e.op === 'add' ? v : -v));
        return out;
      }
      if (e.op === 'mul') {
        const isConst = (l: Linear): boolean => [...l.keys()].every((k) => k === CONST);
        const [c, l] = isConst(a) ? [a.get(CONST) ?? 0, b] : isConst(b) ? [b.get(CONST) ?? 0, a] : [null, null];
        if (c === null || l === null) return null;
        return new Map([...l].map(([k, v]) => [k, v * c]));
      }
      return null;
    }
    default:
      return null;
  }
}

export function sameLinear(a: Linear, b: Linear): boolean {
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) if ((a.get(k) ?? 0) !== (b.get(k) ?? 0)) return false;
  return true;
}

export function walkExpr(e: Expr, f: (e: Expr) => void): void {
  f(e);
  switch (e.k) {
    case 'load': walkExpr(e.idx, f); break;
    case 'bin': walkExpr(e.a, f); walkExpr(e.b, f); break;
    case 'un': case 'cast': walkExpr(e.a, f); break;
    case 'select': walkExpr(e.c, f); walkExpr(e.a, f); walkExpr(e.b, f); break;
    default: break;
  }
}

export function walkStmts(ss: readonly Stmt[], st: (s: Stmt) => void, ex: (e: Expr) => void): void {
  for (const s of ss) {
    st(s);
    switch (s.k) {
      case 'for': walkExpr(s.lo, ex); walkExpr(s.hi, ex); walkStmts(s.body, st, ex); break;
      case 'if': walkExpr(s.c, ex); walkStmts(s.then, st, ex); walkStmts(s.else, st, ex); break;
      case 'store': walkExpr(s.idx, ex); walkExpr(s.val, ex); break;
      case 'let': walkExpr(s.init, ex); break;
      case 'set': walkExpr(s.val, ex); break;
    }
  }
}

/** Storage buffers a kernel stores to, and those it loads from. */
export function accesses(k: Kernel): { writes: Set<KBuffer>; reads: Set<KBuffer> } {
  const writes = new Set<KBuffer>();
  const reads = new Set<KBuffer>();
  walkStmts(k.body, (s) => void (s.k === 'store' && writes.add(storageOf(s.buf))), (e) => void (e.k === 'load' && reads.add(storageOf(e.buf))));
  return { writes, reads };
}

/** Every variable name a kernel declares (loop variables and lets). */
export function declaredNames(k: Kernel): Set<string> {
  const out = new Set<string>();
  walkStmts(k.body, (s) => void (s.k === 'for' ? out.add(s.v) : s.k === 'let' ? out.add(s.name) : undefined), () => {});
  return out;
}

export const constNum = (e: Expr): number | null => (e.k === 'const' && typeof e.v === 'number' ? e.v : null);

/** E's pointwise form, or why it has none. */
export function pointwiseForm(k: Kernel): Pointwise | string {
  const loops: { v: string; n: number }[] = [];
  let body: readonly Stmt[] = k.body;
  while (body.length === 1 && body[0]!.k === 'for') {
    const f = body[0]!;
    if (constNum(f.lo) !== 0 || constNum(f.hi) === null) return 'its loop bounds are not constants from 0';
    loops.push({ v: f.v, n: constNum(f.hi)! });
    body = f.body;
  }
  if (loops.length === 0) return 'it is not one loop nest';
  const lets: Let[] = [];
  let store: Store | null = null;
  for (const s of body) {
    if (s.k === 'let' && store === null) lets.push(s);
    else if (s.k === 'store' && store === null) store = s;
    else return 'its loop body is not lets and one store (a reduction, a branch or several stores)';
  }
  if (!store) return 'it stores nothing';
  const defs = new Map(lets.map((l) => [l.name, l.init] as const));
  const lin = linearOf(store.idx, defs);
  if (!lin) return 'its store index is not affine in its loop variables';
  // row-major: innermost coefficient 1, each outer one the product of the trip counts inside it
  let stride = 1;
  const want: Linear = new Map([[CONST, 0]]);
  for (let i = loops.length - 1; i >= 0; i--) {
    want.set(loops[i]!.v, stride);
    stride *= loops[i]!.n;
  }
  if (!sameLinear(lin, want)) return 'it does not store each element of its loop space once, in row-major order';
  if (bufferSize(storageOf(store.buf)) !== stride) return 'its loop space is not its whole output';
  return { loops, lets, store, n: stride };
}

/**
 * The consumer's lets under fresh names with `sub` applied, followed by its store of `val`, leaving
 * out lets nothing reads any more (an index that only addressed the fused buffer, now a local): C
 * builds with -Werror=unused-variable refuse them.
 */
export function substitutedLets(lets: readonly Let[], vars: Map<string, Expr>, sub: (e: Expr) => Expr, fresh: (base: string) => string, store: (sub: (e: Expr) => Expr) => Stmt): Stmt[] {
  const renamed: Let[] = [];
  for (const l of lets) {
    const n = fresh('fl');
    renamed.push({ k: 'let', name: n, t: l.t, init: sub(l.init) });
    vars.set(l.name, { k: 'var', t: l.t, name: n });
  }
  const last = store(sub);
  const used = new Set<string>();
  const note = (e: Expr): void => walkExpr(e, (x) => {
    if (x.k === 'var') used.add(x.name);
  });
  walkStmts([last], () => {}, note);
  const kept: Let[] = [];
  for (let i = renamed.length - 1; i >= 0; i--) {
    const l = renamed[i]!;
    if (!used.has(l.name)) continue;
    note(l.init);
    kept.unshift(l);
  }
  return [...kept, last];
}
