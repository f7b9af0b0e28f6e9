/**
 * An elementwise epilogue placed at the END of a producer's tile: the producer's stores to X stay a
 * plain group (so the C compiler still vectorizes its register tile or its inner loop), and right
 * after that group a separate loop over the elements just stored applies the epilogue, reading them
 * back while they are hot in cache.
 *
 * Tiles, searched from the outside in over the producer's statement tree:
 *  - a statement, or the whole body of a loop or branch, whose stores to X can be counted by running
 *    its loops on their index values (bounds, branch conditions and index `let`s known from names
 *    bound inside it), each element once, at most MAX_TILE_ELEMS of them, forming R rows of L
 *    consecutive elements at one stride from one affine base over the outer names: the replay is a
 *    loop (two for R > 1) over them right after it (a register tile, a depthwise channel, a row);
 *  - else a `for` loop whose body stores to X only at its top level, at indices that depend on the
 *    loop variable, outer names and index `let`s of its body without loads: the replay is a second
 *    loop with the same bounds after it (ragged edges with bounds from outside);
 *  - else each run of consecutive stores to X in one block, followed by its replay.
 *
 * In place (X is not needed by anything else): the producer stores to the epilogue's output Y
 * instead of X, and the replay reads Y[i] and writes the epilogue's value back to Y[i]. This is legal
 * when the producer never loads X (so no later store depends on an element already transformed) and
 * each unit stores each element at most once (checked on the affine indices: one base, distinct
 * offsets, and for a loop unit a stride of the loop variable larger than the span of the offsets);
 * a unit that fails this check is split into single stores, each followed by its own replay. When X
 * must stay (a program output, read by another kernel, or loaded by the producer), the producer keeps
 * storing X and the replay reads X and writes Y (the last replay of an element wins).
 */
import { type Expr, type KBuffer, type Stmt } from '../ir/kernel/types.js';
import { numBin } from '../ir/kernel/interp.js';
import { CONST, linearOf, substitutedLets, walkExpr, walkStmts, type Linear, type Pointwise, type Store } from './fuse-ir.js';

export interface TileEpilogue {
  /** The producer's buffer that the epilogue reads. */
  readonly x: KBuffer;
  /** Whether the producer's stores go to Y and the replay works in place. */
  readonly inPlace: boolean;
  /** The epilogue (its store's buffer is Y). */
  readonly pw: Pointwise;
  readonly fresh: (base: string) => string;
}

const idx = (v: number): Expr => ({ k: 'const', t: 'index', v });
const ivar = (name: string): Expr => ({ k: 'var', t: 'index', name });
const add = (a: Expr, b: Expr): Expr => (a.k === 'const' && a.v === 0 ? b : b.k === 'const' && b.v === 0 ? a : { k: 'bin', t: 'index', op: 'add', a, b });
const mul = (a: Expr, b: Expr): Expr => ({ k: 'bin', t: 'index', op: 'mul', a, b });

/** Whether a statement list stores to X at any depth (remembered per list: the rewrite asks at every level). */
const deepStores = new WeakMap<readonly Stmt[], Map<KBuffer, boolean>>();

function storesTo(ss: readonly Stmt[], x: KBuffer, deep: boolean): boolean {
  if (!deep) return ss.some((s) => s.k === 'store' && s.buf === x);
  let m = deepStores.get(ss);
  if (!m) deepStores.set(ss, (m = new Map()));
  const hit = m.get(x);
  if (hit !== undefined) return hit;
  const r = storesToDeep(ss, x);
  m.set(x, r);
  return r;
}

function storesToDeep(ss: readonly Stmt[], x: KBuffer): boolean {
  for (const s of ss) {
    if (s.k === 'store' && s.buf === x) return true;
    if (s.k === 'for' && storesTo(s.body, x, true)) return true;
    if (s.k === 'if' && (storesTo(s.then, x, true) || storesTo(s.else, x, true))) return true;
  }
  return false;
}

/** The non-constant part of a linear form as a comparable key, and its constant. */
function split(l: Linear): { key: string; c: number } {
  const terms = [...l].filter(([k, v]) => k !== CONST && v !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { key: terms.map(([k, v]) => `${k}*${v}`).join('+'), c: l.get(CONST) ?? 0 };
}

/**
 * Offsets as R rows of L consecutive elements at stride S (R = 1: one run), or null. Offsets are
 * relative to the smallest one.
 */
function rowsOf(offsets: readonly number[]): { rows: number; len: number; stride: number } | null {
  const o = [...offsets].sort((a, b) => a - b);
  const base = o[0]!;
  let len = 1;
  while (len < o.length && o[len] === base + len) len++;
  if (o.length % len !== 0) return null;
  const rows = o.length / len;
  const stride = rows > 1 ? o[len]! - base : len;
  for (let r = 0; r < rows; r++) for (let c = 0; c < len; c++) if (o[r * len + c] !== base + r * stride + c) return null;
  return { rows, len, stride };
}

/** Most elements one tile's replay covers (its data should still be in L1), and most steps of the count. */
const MAX_TILE_ELEMS = 4096;
const MAX_STEPS = 100_000;

/** Value of an index/bool expression under `env`, or null (a load, an unknown name, a float). */
function evalIndex(e: Expr, env: ReadonlyMap<string, number>): number | null {
  switch (e.k) {
    case 'const': return typeof e.v === 'number' ? e.v : null;
    case 'var': return env.get(e.name) ?? null;
    case 'select': {
      const c = evalIndex(e.c, env);
      return c === null ? null : evalIndex(c !== 0 ? e.a : e.b, env);
    }
    case 'un': {
      const a = evalIndex(e.a, env);
      if (a === null) return null;
      return e.op === 'neg' ? -a : e.op === 'not' ? (a === 0 ? 1 : 0) : e.op === 'abs' ? Math.abs(a) : null;
    }
    case 'bin': {
      const a = evalIndex(e.a, env);
      const b = evalIndex(e.b, env);
      if (a === null || b === null) return null;
      // the kernel interpreter's index semantics; a division by zero is not known here
      return (e.op === 'div' || e.op === 'mod') && b === 0 ? null : numBin(e.op, 'index', a, b);
    }
    default: return null;
  }
}

/** What a group of statements stores to X in one execution: an affine base over outer names plus offsets. */
interface Footprint {
  /** The part of every store index over names bound outside the statements (and its constant 0). */
  outer: Linear;
  /** The elements stored, relative to the base, sorted, each once. */
  offsets: number[];
}

/**
 * The elements of X that `ss` stores in one execution, counted by running its loops on their index
 * values (loops, branches and index lets that lead to a store of X; every bound and condition must
 * be known from names bound inside `ss`), or null when that is not possible within the budget, when
 * an element is stored twice, or when the indices do not share one base over the outer names.
 */
/** Footprints already counted, per statement list (or statement) of a producer and buffer. */
const footprints = new WeakMap<object, Map<KBuffer, Footprint | null>>();

function footprint(ss: readonly Stmt[], x: KBuffer, key: object): Footprint | null {
  let m = footprints.get(key);
  if (!m) footprints.set(key, (m = new Map()));
  if (m.has(x)) return m.get(x)!;
  const f = countFootprint(ss, x);
  m.set(x, f);
  return f;
}

function countFootprint(ss: readonly Stmt[], x: KBuffer): Footprint | null {
  // an upper bound of the stores first (constant trip counts, the larger branch): most statements
  // of a large loop nest are over the budget without counting them one by one
  if (storeBound(ss, x) > MAX_TILE_ELEMS) return null;
  const inner = new Set<string>();
  const defs = new Map<string, Expr>();
  walkStmts(ss, (s) => {
    if (s.k === 'for') inner.add(s.v);
    else if (s.k === 'let') {
      inner.add(s.name);
      if (s.t === 'index') defs.set(s.name, s.init);
    } else if (s.k === 'set') inner.add(s.name);
  }, () => {});
  // each store's index: the outer part (one key for all) and its inner terms
  const forms = new Map<Store, { c: number; terms: [string, number][] } | null>();
  let outerKey: string | null = null;
  let outer: Linear | null = null;
  const formOf = (s: Store): { c: number; terms: [string, number][] } | null => {
    const lin = linearOf(s.idx, defs);
    if (!lin) return null;
    const out: Linear = new Map();
    const terms: [string, number][] = [];
    for (const [k, c] of lin) {
      if (k === CONST || c === 0) continue;
      if (inner.has(k)) terms.push([k, c]);
      else out.set(k, c);
    }
    const key = split(out).key;
    if (outerKey === null) { outerKey = key; outer = out; }
    else if (key !== outerKey) return null;
    return { c: lin.get(CONST) ?? 0, terms };
  };
  const seen = new Set<number>();
  let steps = 0;
  let ok = true;
  const env = new Map<string, number>();
  const run = (list: readonly Stmt[]): void => {
    for (const s of list) {
      if (!ok) return;
      if (++steps > MAX_STEPS) { ok = false; return; }
      switch (s.k) {
        case 'let':
          if (s.t === 'index' || s.t === 'bool') {
            const v = evalIndex(s.init, env);
            if (v === null) env.delete(s.name);
            else env.set(s.name, v);
          }
          break;
        case 'set':
          env.delete(s.name);
          break;
        case 'for': {
          if (!storesTo(s.body, x, true)) break;
          const lo = evalIndex(s.lo, env);
          const hi = evalIndex(s.hi, env);
          if (lo === null || hi === null) { ok = false; return; }
          for (let i = lo; i < hi && ok; i++) {
            env.set(s.v, i);
            run(s.body);
          }
          env.delete(s.v);
          break;
        }
        case 'if': {
          if (!storesTo(s.then, x, true) && !storesTo(s.else, x, true)) break;
          const c = evalIndex(s.c, env);
          if (c === null) { ok = false; return; }
          run(c !== 0 ? s.then : s.else);
          break;
        }
        case 'store': {
          if (s.buf !== x) break;
          let f = forms.get(s);
          if (f === undefined) forms.set(s, (f = formOf(s)));
          if (f === null) { ok = false; return; }
          let off = f.c;
          for (const [k, c] of f.terms) {
            const v = env.get(k);
            if (v === undefined) { ok = false; return; }
            off += c * v;
          }
          if (seen.has(off) || seen.size >= MAX_TILE_ELEMS) { ok = false; return; }
          seen.add(off);
          break;
        }
        default:
          break;
      }
    }
  };
  run(ss);
  if (!ok || outer === null || seen.size === 0) return null;
  return { outer, offsets: [...seen].sort((a, b) => a - b) };
}

/** An upper bound of the stores to X one execution of `ss` runs (loops with bounds that are not constants count as 1). */
function storeBound(ss: readonly Stmt[], x: KBuffer): number {
  let n = 0;
  for (const s of ss) {
    if (s.k === 'store' && s.buf === x) n++;
    else if (s.k === 'for') {
      const lo = s.lo.k === 'const' && typeof s.lo.v === 'number' ? s.lo.v : null;
      const hi = s.hi.k === 'const' && typeof s.hi.v === 'number' ? s.hi.v : null;
      const inner = storeBound(s.body, x);
      n += inner === 0 ? 0 : lo !== null && hi !== null ? Math.max(0, hi - lo) * inner : inner;
    } else if (s.k === 'if') n += Math.max(storeBound(s.then, x), storeBound(s.else, x));
  }
  return n;
}

/** An index expression for a linear form (names bound where it is used). */
function exprOf(l: Linear, c: number): Expr {
  let e: Expr | null = null;
  for (const [k, v] of [...l].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (k === CONST || v === 0) continue;
    const term = v === 1 ? ivar(k) : mul(ivar(k), idx(v));
    e = e === null ? term : add(e, term);
  }
  if (e === null) return idx(c);
  return c === 0 ? e : add(e, idx(c));
}

class Placer {
  constructor(private readonly t: TileEpilogue) {}

  /** The epilogue at element p (an index expression valid where the replay runs). */
  element(p: Expr): Stmt[] {
    const { pw, fresh, x, inPlace } = this.t;
    const out: Stmt[] = [];
    let pv: Expr = p;
    if (p.k !== 'var') {
      const n = fresh('fi');
      out.push({ k: 'let', name: n, t: 'index', init: p });
      pv = ivar(n);
    }
    const y = pw.store.buf;
    const src = inPlace ? y : x;
    const tv = fresh('fv');
    out.push({ k: 'let', name: tv, t: x.dtype, init: { k: 'load', t: x.dtype, buf: src, idx: pv } });
    // the epilogue's loop variables from the flat index; operands read at its own element use p itself
    const defs = new Map(pw.lets.map((l) => [l.name, l.init] as const));
    const storeLin = linearOf(pw.store.idx, defs)!;
    const vars = new Map<string, Expr>();
    let stride = pw.n;
    pw.loops.forEach(({ v, n }, i) => {
      stride /= n;
      let e: Expr = stride === 1 ? pv : { k: 'bin', t: 'index', op: 'div', a: pv, b: idx(stride) };
      if (i > 0) e = { k: 'bin', t: 'index', op: 'mod', a: e, b: idx(n) };
      vars.set(v, e);
    });
    const same = (e: Expr): boolean => {
      const l = linearOf(e, defs);
      if (!l) return false;
      const a = split(l);
      const b = split(storeLin);
      return a.key === b.key && a.c === b.c;
    };
    const sub = (e: Expr): Expr => {
      switch (e.k) {
        case 'var': return vars.get(e.name) ?? e;
        case 'const': return e;
        case 'load':
          if (e.buf === x || (e.buf.viewOf !== undefined && storageOfX(e.buf, x))) return { k: 'var', t: e.t, name: tv };
          return same(e.idx) ? { ...e, idx: pv } : { ...e, idx: sub(e.idx) };
        case 'bin': return { ...e, a: sub(e.a), b: sub(e.b) };
        case 'un': case 'cast': return { ...e, a: sub(e.a) };
        case 'select': return { ...e, c: sub(e.c), a: sub(e.a), b: sub(e.b) };
      }
    };
    out.push(...substitutedLets(pw.lets, vars, sub, fresh, (f) => ({ k: 'store', buf: y, idx: pv, val: f(pw.store.val) })));
    return out;
  }

  /** The producer's store, redirected to Y when in place. */
  private stored(s: Store): Store {
    return this.t.inPlace ? { ...s, buf: this.t.pw.store.buf } : s;
  }

  /**
   * The replay of a group of store indices, all evaluated where the replay runs. `defs` resolves
   * the names the indices use for the injectivity check.
   */
  private replay(idxs: readonly Expr[], defs: ReadonlyMap<string, Expr>): Stmt[] | null {
    if (idxs.length === 1) return this.element(idxs[0]!);
    const lins = idxs.map((e) => linearOf(e, defs));
    const parts = lins.map((l) => (l ? split(l) : null));
    const uniform = parts.every((p) => p !== null && p.key === parts[0]!.key);
    const offsets = uniform ? parts.map((p) => p!.c) : [];
    const distinct = uniform && new Set(offsets).size === offsets.length;
    if (this.t.inPlace && !distinct) return null;
    const shape = distinct ? rowsOf(offsets) : null;
    if (!shape) return idxs.flatMap((e) => this.element(e));
    const min = Math.min(...offsets);
    const base = idxs[offsets.indexOf(min)]!;
    const c = this.t.fresh('ec');
    const inner = (row: Expr | null): Stmt => ({
      k: 'for', v: c, lo: idx(0), hi: idx(shape.len), ann: {},
      body: this.element(add(row === null ? base : add(base, row), ivar(c))),
    });
    if (shape.rows === 1) return [inner(null)];
    const r = this.t.fresh('er');
    return [{ k: 'for', v: r, lo: idx(0), hi: idx(shape.rows), ann: {}, body: [inner(mul(ivar(r), idx(shape.stride)))] }];
  }

  /** A loop unit: the loop (stores redirected) and its replay loop, or null when it is not one. */
  private loopUnit(f: Extract<Stmt, { k: 'for' }>): Stmt[] | null {
    const { x } = this.t;
    const body = f.body;
    // stores to X only at the top level of the body
    for (const s of body) if ((s.k === 'for' && storesTo(s.body, x, true)) || (s.k === 'if' && (storesTo(s.then, x, true) || storesTo(s.else, x, true)))) return null;
    const setNames = new Set<string>();
    const letDefs = new Map<string, Extract<Stmt, { k: 'let' }>>();
    const scan = (ss: readonly Stmt[], top: boolean): void => {
      for (const s of ss) {
        if (s.k === 'set') setNames.add(s.name);
        else if (s.k === 'let' && top) letDefs.set(s.name, s);
        else if (s.k === 'for') scan(s.body, false);
        else if (s.k === 'if') { scan(s.then, false); scan(s.else, false); }
      }
    };
    scan(body, true);
    const stores = body.filter((s): s is Store => s.k === 'store' && s.buf === x);
    // the index lets the replay must recompute, in body order
    const need = new Set<string>();
    let ok = true;
    const want = (e: Expr): void => walkExpr(e, (n) => {
      if (n.k === 'load') ok = false;
      if (n.k !== 'var') return;
      if (setNames.has(n.name)) ok = false;
      const d = letDefs.get(n.name);
      if (d && !need.has(n.name)) {
        if (d.t !== 'index') ok = false;
        need.add(n.name);
        want(d.init);
      }
    });
    for (const s of stores) want(s.idx);
    if (!ok) return null;
    // names of the replay: a fresh loop variable and fresh lets
    const v = this.t.fresh('ev');
    const rename = new Map<string, string>([[f.v, v]]);
    const ren = (e: Expr): Expr => {
      switch (e.k) {
        case 'var': { const n = rename.get(e.name); return n ? { ...e, name: n } : e; }
        case 'const': return e;
        case 'load': return { ...e, idx: ren(e.idx) };
        case 'bin': return { ...e, a: ren(e.a), b: ren(e.b) };
        case 'un': case 'cast': return { ...e, a: ren(e.a) };
        case 'select': return { ...e, c: ren(e.c), a: ren(e.a), b: ren(e.b) };
      }
    };
    const lets: Stmt[] = [];
    const defs = new Map<string, Expr>();
    for (const s of body) {
      if (s.k !== 'let' || !need.has(s.name)) continue;
      const n = this.t.fresh('el');
      const init = ren(s.init);
      rename.set(s.name, n);
      lets.push({ k: 'let', name: n, t: 'index', init });
      defs.set(n, init);
    }
    const idxs = stores.map((s) => ren(s.idx));
    if (this.t.inPlace) {
      // each element stored once over the whole loop: one base, distinct offsets, and the loop
      // variable's stride larger than their span
      const lins = idxs.map((e) => linearOf(e, defs));
      if (lins.some((l) => l === null)) return null;
      const parts = lins.map((l) => split(l!));
      if (parts.some((p) => p.key !== parts[0]!.key)) return null;
      const cs = parts.map((p) => p.c);
      if (new Set(cs).size !== cs.length) return null;
      const coef = Math.abs(lins[0]!.get(v) ?? 0);
      if (coef === 0 || coef <= Math.max(...cs) - Math.min(...cs)) return null;
    }
    const inner = this.replay(idxs, defs);
    if (!inner) return null;
    const loop: Stmt = { ...f, body: body.map((s) => (s.k === 'store' && s.buf === x ? this.stored(s) : s)) };
    return [loop, { k: 'for', v, lo: f.lo, hi: f.hi, ann: {}, body: [...lets, ...inner] }];
  }

  /** Statements with X's stores redirected to Y (in place), at any depth. */
  private redirect(ss: readonly Stmt[]): Stmt[] {
    if (!this.t.inPlace) return [...ss];
    return ss.map((s) => {
      switch (s.k) {
        case 'store': return s.buf === this.t.x ? this.stored(s) : s;
        case 'for': return { ...s, body: this.redirect(s.body) };
        case 'if': return { ...s, then: this.redirect(s.then), else: this.redirect(s.else) };
        default: return s;
      }
    });
  }

  /** `ss` as one tile (its stores, then one replay over what it stored), or null. */
  private asTile(ss: readonly Stmt[], key: object): Stmt[] | null {
    const fp = footprint(ss, this.t.x, key);
    if (!fp) return null;
    const shape = rowsOf(fp.offsets);
    if (!shape) return null;
    const base = exprOf(fp.outer, fp.offsets[0]!);
    let replay: Stmt[];
    if (shape.rows === 1 && shape.len === 1) replay = this.element(base);
    else {
      const c = this.t.fresh('ec');
      const inner = (row: Expr | null): Stmt => ({
        k: 'for', v: c, lo: idx(0), hi: idx(shape.len), ann: {},
        body: this.element(add(row === null ? base : add(base, row), ivar(c))),
      });
      if (shape.rows === 1) replay = [inner(null)];
      else {
        const r = this.t.fresh('er');
        replay = [{ k: 'for', v: r, lo: idx(0), hi: idx(shape.rows), ann: {}, body: [inner(mul(ivar(r), idx(shape.stride)))] }];
      }
    }
    return [...this.redirect(ss), ...replay];
  }

  /**
   * The statements of one block: the largest tiles first (the whole block when `whole`, then each
   * loop), else a loop unit, else deeper; consecutive stores form a run.
   */
  rewrite(ss: readonly Stmt[], whole: boolean): Stmt[] {
    const { x } = this.t;
    if (whole) {
      const t = this.asTile(ss, ss);
      if (t) return t;
    }
    const out: Stmt[] = [];
    for (let i = 0; i < ss.length; i++) {
      const s = ss[i]!;
      if (s.k === 'store' && s.buf === x) {
        const run: Store[] = [s];
        while (i + 1 < ss.length && ss[i + 1]!.k === 'store' && (ss[i + 1] as Store).buf === x) run.push(ss[++i] as Store);
        const r = this.replay(run.map((st) => st.idx), new Map());
        if (r) out.push(...run.map((st) => this.stored(st)), ...r);
        else for (const st of run) out.push(this.stored(st), ...this.element(st.idx));
      } else if (s.k === 'for') {
        if (!storesTo(s.body, x, true)) out.push(s);
        else out.push(...(this.asTile([s], s) ?? this.loopUnit(s) ?? [{ ...s, body: this.rewrite(s.body, true) }]));
      } else if (s.k === 'if' && (storesTo(s.then, x, true) || storesTo(s.else, x, true))) {
        out.push({ ...s, then: this.rewrite(s.then, true), else: this.rewrite(s.else, true) });
      } else out.push(s);
    }
    return out;
  }
}

function storageOfX(b: KBuffer, x: KBuffer): boolean {
  let r: KBuffer | undefined = b;
  while (r) {
    if (r === x) return true;
    r = r.viewOf;
  }
  return false;
}

/** The producer body with the epilogue after each of its tiles (see the module comment). */
export function placeAtTileEnd(body: readonly Stmt[], t: TileEpilogue): Stmt[] {
  return new Placer(t).rewrite(body, false);
}
