/**
 * What a kernel computes, read off its loop nests and access functions (never its origin op):
 * - elementwise: one store out[I] = f(a[I], b[I]) with f in {+, ×} or relu(a[I]) = a[I] ≤ 0 ? 0 : a[I]
 *   (or max(a[I], 0)), where I is the row-major flat index of the enclosing loops and every buffer
 *   has exactly that many elements;
 * - contraction: C[f(o)] = 0 for every output point o, then C[f(o)] = C[f(o)] + X[g(o,k)]·Y[h(o,k)]
 *   over one reduction loop k, all indices affine in the loop variables;
 * - reduction: the same without the product (C[f(o)] += X[g(o,k)]), or a scalar accumulator
 *   `acc = 0 | -inf; for k: acc = acc + X[g(o,k)] | max(acc, X[g(o,k)]); C[f(o)] = acc` per output point.
 * Index `let`s are substituted as affine forms; data `let`s are substituted as expressions.
 */
import type { BinOp, Expr, KBuffer, Kernel, Stmt } from '../../ir/kernel/types.js';
import { bufferSize } from '../../ir/kernel/types.js';

/** Σ coef·var + c over loop variables. */
export interface Affine {
  readonly coef: ReadonlyMap<string, number>;
  readonly c: number;
}

export interface LoopInfo {
  readonly v: string;
  readonly trip: number;
}

export type KernelShape =
  | { readonly kind: 'elementwise'; readonly op: 'add' | 'mul' | 'relu'; readonly out: KBuffer; readonly a: KBuffer; readonly b?: KBuffer; readonly n: number }
  | {
      readonly kind: 'contraction';
      readonly out: KBuffer;
      readonly outIdx: Affine;
      readonly outLoops: readonly LoopInfo[];
      readonly k: LoopInfo;
      readonly x: { readonly buf: KBuffer; readonly idx: Affine };
      readonly y: { readonly buf: KBuffer; readonly idx: Affine };
    }
  | {
      readonly kind: 'reduction';
      readonly op: 'sum' | 'max';
      readonly out: KBuffer;
      readonly outIdx: Affine;
      readonly outLoops: readonly LoopInfo[];
      readonly k: LoopInfo;
      readonly x: { readonly buf: KBuffer; readonly idx: Affine };
    }
  | { readonly kind: 'other'; readonly why: string };

interface Site {
  readonly store: Extract<Stmt, { k: 'store' }>;
  readonly loops: readonly LoopInfo[];
  readonly idx: ReadonlyMap<string, Affine>;
  readonly vals: ReadonlyMap<string, Expr>;
}

class NotAffine extends Error {}

function affineOf(e: Expr, idx: ReadonlyMap<string, Affine>, loopVars: ReadonlySet<string>): Affine {
  switch (e.k) {
    case 'const':
      if (typeof e.v === 'bigint') return { coef: new Map(), c: Number(e.v) };
      if (!Number.isInteger(e.v)) throw new NotAffine();
      return { coef: new Map(), c: e.v };
    case 'var': {
      const a = idx.get(e.name);
      if (a) return a;
      if (loopVars.has(e.name)) return { coef: new Map([[e.name, 1]]), c: 0 };
      throw new NotAffine();
    }
    case 'cast':
      return affineOf(e.a, idx, loopVars);
    case 'bin': {
      const a = affineOf(e.a, idx, loopVars);
      const b = affineOf(e.b, idx, loopVars);
      if (e.op === 'add' || e.op === 'sub') {
        const s = e.op === 'add' ? 1 : -1;
        const coef = new Map(a.coef);
        for (const [v, k] of b.coef) coef.set(v, (coef.get(v) ?? 0) + s * k);
        for (const [v, k] of coef) if (k === 0) coef.delete(v);
        return { coef, c: a.c + s * b.c };
      }
      if (e.op === 'mul') {
        const [cst, other] = a.coef.size === 0 ? [a.c, b] : b.coef.size === 0 ? [b.c, a] : [NaN, a];
        if (Number.isNaN(cst)) throw new NotAffine();
        const coef = new Map<string, number>();
        if (cst !== 0) for (const [v, k] of other.coef) coef.set(v, k * cst);
        return { coef, c: other.c * cst };
      }
      throw new NotAffine();
    }
    default:
      throw new NotAffine();
  }
}

export function affineEqual(a: Affine, b: Affine): boolean {
  if (a.c !== b.c || a.coef.size !== b.coef.size) return false;
  for (const [v, k] of a.coef) if (b.coef.get(v) !== k) return false;
  return true;
}

export function evalAffine(a: Affine, env: ReadonlyMap<string, number>): number {
  let s = a.c;
  for (const [v, k] of a.coef) s += k * env.get(v)!;
  return s;
}

/** Collects every store with its loops and substitution environments; undefined when the body has control flow the recogniser does not model. */
function sites(k: Kernel): Site[] | string {
  const out: Site[] = [];
  const walk = (body: readonly Stmt[], loops: LoopInfo[], idx: Map<string, Affine>, vals: Map<string, Expr>): string | undefined => {
    const loopVars = new Set(loops.map((l) => l.v));
    for (const s of body) {
      if (s.k === 'for') {
        if (s.lo.k !== 'const' || s.hi.k !== 'const') return 'loop bounds are not constant';
        const trip = Number(s.hi.v) - Number(s.lo.v);
        if (Number(s.lo.v) !== 0) return 'loop does not start at 0';
        const r = walk(s.body, [...loops, { v: s.v, trip }], new Map(idx), new Map(vals));
        if (r) return r;
      } else if (s.k === 'let') {
        if (s.t === 'index' || s.t.startsWith('i') || s.t.startsWith('u')) {
          try {
            idx.set(s.name, affineOf(s.init, idx, loopVars));
            continue;
          } catch (e) {
            if (!(e instanceof NotAffine)) throw e;
          }
        }
        vals.set(s.name, substitute(s.init, vals));
      } else if (s.k === 'store') out.push({ store: s, loops, idx: new Map(idx), vals: new Map(vals) });
      else return s.k === 'if' ? 'data-dependent or boundary branches' : 'mutable locals';
    }
    return undefined;
  };
  const why = walk(k.body, [], new Map(), new Map());
  return why ?? out;
}

function substitute(e: Expr, vals: ReadonlyMap<string, Expr>): Expr {
  switch (e.k) {
    case 'var':
      return vals.get(e.name) ?? e;
    case 'bin':
      return { ...e, a: substitute(e.a, vals), b: substitute(e.b, vals) };
    case 'un':
    case 'cast':
      return { ...e, a: substitute(e.a, vals) };
    case 'select':
      return { ...e, c: substitute(e.c, vals), a: substitute(e.a, vals), b: substitute(e.b, vals) };
    default:
      return e;
  }
}

const isZero = (e: Expr): boolean => e.k === 'const' && Number(e.v) === 0;

/**
 * Drops widening casts to f32/f64 around a narrow float value: the lowering computes f16/bf16 ops in
 * f32 and rounds at the store; one f32 rounding then one f16/bf16 rounding of a sum or product of two
 * such values equals one rounding (f32 has at least 2p+2 bits), so the PIM lane's single rounding matches.
 */
function stripWiden(e: Expr): Expr {
  let x = e;
  while (x.k === 'cast' && (x.t === 'f32' || x.t === 'f64') && (x.a.t === 'f16' || x.a.t === 'bf16' || x.a.t === 'f32')) x = x.a;
  return x;
}

function loadAt(e0: Expr, site: Site): { buf: KBuffer; idx: Affine } | undefined {
  const e = stripWiden(e0);
  if (e.k !== 'load') return undefined;
  try {
    return { buf: e.buf, idx: affineOf(e.idx, site.idx, new Set(site.loops.map((l) => l.v))) };
  } catch (err) {
    if (err instanceof NotAffine) return undefined;
    throw err;
  }
}

function isFlatIndex(a: Affine, loops: readonly LoopInfo[]): boolean {
  if (a.c !== 0) return false;
  let stride = 1;
  const used = new Set<string>();
  for (let i = loops.length - 1; i >= 0; i--) {
    const l = loops[i]!;
    if (l.trip === 1) continue;
    if (a.coef.get(l.v) !== stride) return false;
    used.add(l.v);
    stride *= l.trip;
  }
  return [...a.coef.keys()].every((v) => used.has(v));
}

function elementwise(site: Site): KernelShape {
  const s = site.store;
  let val = substitute(s.val, site.vals);
  if (val.k === 'cast' && val.t === s.buf.dtype) val = val.a; // the store's own rounding
  let outIdx: Affine;
  try {
    outIdx = affineOf(s.idx, site.idx, new Set(site.loops.map((l) => l.v)));
  } catch (e) {
    if (e instanceof NotAffine) return { kind: 'other', why: 'store index is not affine' };
    throw e;
  }
  const n = site.loops.reduce((p, l) => p * l.trip, 1);
  if (!isFlatIndex(outIdx, site.loops) || n !== bufferSize(s.buf)) return { kind: 'other', why: 'not a flat elementwise loop over its whole output' };
  const same = (e: Expr): KBuffer | undefined => {
    const l = loadAt(e, site);
    return l && affineEqual(l.idx, outIdx) && bufferSize(l.buf) === n ? l.buf : undefined;
  };
  if (val.k === 'bin' && (val.op === 'add' || val.op === 'mul')) {
    const a = same(val.a);
    const b = same(val.b);
    if (a && b) return { kind: 'elementwise', op: val.op, out: s.buf, a, b, n };
  }
  // relu: x <= 0 ? 0 : x, x > 0 ? x : 0, max(x, 0)
  if (val.k === 'select' && val.c.k === 'bin') {
    const c = val.c;
    const x = same(c.a);
    const relu =
      x && isZero(c.b) &&
      (((c.op === 'le' || c.op === 'lt') && isZero(val.a) && same(val.b) === x) || ((c.op === 'gt' || c.op === 'ge') && isZero(val.b) && same(val.a) === x));
    if (relu && x) return { kind: 'elementwise', op: 'relu', out: s.buf, a: x, n };
  }
  if (val.k === 'bin' && val.op === 'max') {
    const x = same(val.a) ?? same(val.b);
    if (x && (isZero(val.a) || isZero(val.b))) return { kind: 'elementwise', op: 'relu', out: s.buf, a: x, n };
  }
  return { kind: 'other', why: 'elementwise function is not add, mul or relu' };
}

function contraction(init: Site, upd: Site, allowOuter = false): KernelShape {
  const loopVars = new Set(upd.loops.map((l) => l.v));
  const s = upd.store;
  if (init.store.buf !== s.buf || !isZero(init.store.val)) return { kind: 'other', why: 'not an accumulation into a zeroed output' };
  let outIdx: Affine;
  let initIdx: Affine;
  try {
    outIdx = affineOf(s.idx, upd.idx, loopVars);
    initIdx = affineOf(init.store.idx, init.idx, new Set(init.loops.map((l) => l.v)));
  } catch (e) {
    if (e instanceof NotAffine) return { kind: 'other', why: 'index is not affine' };
    throw e;
  }
  const val = substitute(s.val, upd.vals);
  if (val.k !== 'bin' || val.op !== 'add') return { kind: 'other', why: 'update is not an addition' };
  const acc = (e: Expr): boolean => {
    const l = loadAt(e, upd);
    return !!l && l.buf === s.buf && affineEqual(l.idx, outIdx);
  };
  const prod = acc(val.a) ? val.b : acc(val.b) ? val.a : undefined;
  const summand = prod ? loadAt(prod, upd) : undefined;
  if (!summand && (!prod || prod.k !== 'bin' || prod.op !== ('mul' as BinOp))) return { kind: 'other', why: 'update does not add a product or a load to the accumulator' };
  const x = summand ?? loadAt((prod as Extract<Expr, { k: 'bin' }>).a, upd);
  const y = summand ? undefined : loadAt((prod as Extract<Expr, { k: 'bin' }>).b, upd);
  if (!x || (!summand && !y)) return { kind: 'other', why: 'product operands are not affine loads' };
  const outLoops = upd.loops.filter((l) => outIdx.coef.has(l.v));
  // Loops around both the zeroing and the update restart the accumulator: they are not reductions.
  const outer = new Set(init.loops.filter((l) => upd.loops.some((m) => m.v === l.v)).map((l) => l.v));
  if (!allowOuter && upd.loops.some((l) => outer.has(l.v) && !outIdx.coef.has(l.v) && l.trip > 1)) return { kind: 'other', why: 'accumulator restarted by an outer loop' };
  const red = upd.loops.filter((l) => !outIdx.coef.has(l.v) && !outer.has(l.v) && l.trip > 1);
  if (red.length !== 1) return { kind: 'other', why: `${red.length} reduction loops (one wanted)` };
  // The zeroing loops must cover the same output points: same coefficients over loops of the same trips.
  const initLoops = init.loops.filter((l) => initIdx.coef.has(l.v));
  const key = (a: Affine, ls: readonly LoopInfo[]): string => `${a.c}|${ls.map((l) => `${a.coef.get(l.v)}x${l.trip}`).sort().join(',')}`;
  if (key(initIdx, initLoops) !== key(outIdx, outLoops)) return { kind: 'other', why: 'zeroing and accumulation cover different outputs' };
  if (!y) return { kind: 'reduction', op: 'sum', out: s.buf, outIdx, outLoops, k: red[0]!, x };
  return { kind: 'contraction', out: s.buf, outIdx, outLoops, k: red[0]!, x, y };
}

/**
 * A contraction into a per-row accumulator (zero acc; acc += x·y; out[f(o)] = cast(acc[g(o)])), all
 * three inside the same outer loops: read as a contraction whose output is `out`.
 */
function viaAccumulator(init: Site, upd: Site, copy: Site): KernelShape {
  const c = contraction(init, upd, true);
  if (c.kind !== 'contraction') return c.kind === 'reduction' ? { kind: 'other', why: 'reduction through an accumulator buffer' } : c;
  const val = substitute(copy.store.val, copy.vals);
  const inner = val.k === 'cast' ? val.a : val;
  const src = loadAt(inner, copy);
  if (!src || src.buf !== c.out) return { kind: 'other', why: 'accumulator is not copied to the output' };
  let outIdx: Affine;
  try {
    outIdx = affineOf(copy.store.idx, copy.idx, new Set(copy.loops.map((l) => l.v)));
  } catch (e) {
    if (e instanceof NotAffine) return { kind: 'other', why: 'output index is not affine' };
    throw e;
  }
  // The copy's own loops (beyond those shared with the update) must walk the accumulator as the update wrote it.
  const shared = new Set(upd.loops.map((l) => l.v));
  const own = copy.loops.filter((l) => !shared.has(l.v));
  const accLoops = c.outLoops.filter((l) => !copy.loops.some((m) => m.v === l.v));
  if (own.length !== accLoops.length) return { kind: 'other', why: 'accumulator copy does not match the accumulation' };
  const rename = new Map<string, string>();
  for (const l of own) {
    const partner = accLoops.find((a) => a.trip === l.trip && c.outIdx.coef.get(a.v) === src.idx.coef.get(l.v) && ![...rename.values()].includes(a.v));
    if (!partner) return { kind: 'other', why: 'accumulator copy does not match the accumulation' };
    rename.set(l.v, partner.v);
  }
  const ren = (a: Affine): Affine => ({ c: a.c, coef: new Map([...a.coef].map(([v, k]) => [rename.get(v) ?? v, k])) });
  if (!affineEqual(ren(src.idx), c.outIdx)) return { kind: 'other', why: 'accumulator copy reads other elements' };
  const yIdx = ren(outIdx);
  const outLoops = upd.loops.filter((l) => yIdx.coef.has(l.v));
  return { kind: 'contraction', out: copy.store.buf, outIdx: yIdx, outLoops, k: c.k, x: c.x, y: c.y };
}

/**
 * The scalar-accumulator reduction: loops (with index lets) around
 * `let acc = 0 | -inf; for k { set acc = acc + X[g] | max(acc, X[g]) }; store C[f] = cast(acc)`.
 */
function scalarReduction(k: Kernel): KernelShape | undefined {
  const loops: LoopInfo[] = [];
  const idx = new Map<string, Affine>();
  let body: readonly Stmt[] = k.body;
  const vars = (): Set<string> => new Set(loops.map((l) => l.v));
  const indexLets = (ss: readonly Stmt[]): boolean => {
    for (const s of ss) {
      if (s.k !== 'let' || !(s.t === 'index' || s.t.startsWith('i') || s.t.startsWith('u'))) return false;
      try {
        idx.set(s.name, affineOf(s.init, idx, vars()));
      } catch (e) {
        if (e instanceof NotAffine) return false;
        throw e;
      }
    }
    return true;
  };
  const isIndexT = (t: string): boolean => t === 'index' || t.startsWith('i') || t.startsWith('u');
  for (;;) {
    if (body.length >= 3 && body[0]!.k === 'let' && !isIndexT(body[0]!.t) && body[1]!.k === 'for') break;
    const fors = body.filter((s) => s.k === 'for');
    const f = fors[0];
    if (fors.length !== 1 || f?.k !== 'for' || !indexLets(body.filter((s) => s !== f))) return undefined;
    if (f.lo.k !== 'const' || f.hi.k !== 'const' || Number(f.lo.v) !== 0) return undefined;
    loops.push({ v: f.v, trip: Number(f.hi.v) });
    body = f.body;
  }
  // body: let acc; for k {...}; index lets; store
  const [init, red, ...rest] = body;
  const store = rest[rest.length - 1];
  if (init?.k !== 'let' || red?.k !== 'for' || store?.k !== 'store' || !indexLets(rest.slice(0, -1))) return undefined;
  if (red.lo.k !== 'const' || red.hi.k !== 'const' || Number(red.lo.v) !== 0 || red.body.length !== 1) return undefined;
  const upd = red.body[0]!;
  if (upd.k !== 'set' || upd.name !== init.name) return undefined;
  const kLoop: LoopInfo = { v: red.v, trip: Number(red.hi.v) };
  const isAcc = (e: Expr): boolean => e.k === 'var' && e.name === init.name;
  const v = upd.val;
  if (v.k !== 'bin' || (v.op !== 'add' && v.op !== 'max')) return { kind: 'other', why: 'accumulator update is not a sum or a max' };
  const other = isAcc(v.a) ? v.b : isAcc(v.b) ? v.a : undefined;
  const initV = init.init;
  const okInit = v.op === 'add' ? isZero(initV) : initV.k === 'const' && Number(initV.v) === -Infinity;
  if (!other || !okInit) return { kind: 'other', why: 'accumulator does not start at the identity of its update' };
  const all = [...loops, kLoop];
  const site: Site = { store: store, loops: all, idx, vals: new Map() };
  const x = loadAt(other, site);
  const sv = store.val.k === 'cast' ? store.val.a : store.val;
  if (!x || !isAcc(sv)) return { kind: 'other', why: 'reduction operand is not an affine load, or the result is not the accumulator' };
  let outIdx: Affine;
  try {
    outIdx = affineOf(store.idx, idx, new Set(loops.map((l) => l.v)));
  } catch (e) {
    if (e instanceof NotAffine) return { kind: 'other', why: 'output index is not affine' };
    throw e;
  }
  if (outIdx.coef.has(kLoop.v)) return { kind: 'other', why: 'output index uses the reduction loop' };
  if (kLoop.trip <= 1) return { kind: 'other', why: 'reduction over a single element' };
  if (loops.some((l) => l.trip > 1 && !outIdx.coef.has(l.v))) return { kind: 'other', why: 'more than one reduction loop (one wanted)' };
  return { kind: 'reduction', op: v.op === 'add' ? 'sum' : 'max', out: store.buf, outIdx, outLoops: loops.filter((l) => outIdx.coef.has(l.v)), k: kLoop, x };
}

export function analyzeKernel(k: Kernel): KernelShape {
  const r = scalarReduction(k);
  if (r) return r;
  const ss = sites(k);
  if (typeof ss === 'string') return { kind: 'other', why: ss };
  if (ss.length === 1) return elementwise(ss[0]!);
  if (ss.length === 2) return contraction(ss[0]!, ss[1]!);
  if (ss.length === 3) return viaAccumulator(ss[0]!, ss[1]!, ss[2]!);
  return { kind: 'other', why: `${ss.length} stores: not a single elementwise map or contraction` };
}
