/**
 * Liveness of the arena buffers of a kernel program, with in-place reuse.
 *
 * Time is measured in kernel steps (the position of a kernel in `program.kernels`, i.e. file
 * order). Every 'temp' storage root (views share their root's storage: Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity are free) is live from the first to the last kernel that touches it.
 *
 * Buffers that may share memory are collected in **blocks**: a block is one rectangle for the offset
 * strategies (its size is the extent of its members, its interval the union of theirs); each member
 * sits at a fixed byte offset inside its block. Two kinds of sharing are detected:
 *
 * - **in place** (elementwise): kernel k has exactly one store to B, unconditional, inside loops with
 *   constant bounds, at an index that is an injective affine function of those loops; every load of
 *   A in k is in that store's value (or in a local defined just before it in the same loop body) at
 *   the same affine index; A is not written in k, dies at k, has the same element size as B; then B
 *   takes A's place. Every other member of A's block that B's bytes would cover must be dead by k
 *   and untouched by k.
 * - **concat in place**: kernel k writes Y (first use) with stores `Y[c + f(i)] = R[f(i)]` where f is
 *   injective and covers R exactly; then R (with its whole block) is placed inside Y at byte c·esize,
 *   and the concat kernel copies R onto itself. Every byte two members of the merged block share
 *   while both are live must hold the same data (tracked as source segments), so a feature map used
 *   by several concats (DenseNet) lands in all of them at once when the offsets agree.
 *
 * Buffers that share memory with another buffer are listed in `shared`; the C backend drops
 * `restrict` for them.
 */
import { bufferSize, storageOf, type Expr, type KBuffer, type Program, type ProgramParam, type Stmt } from '../ir/kernel/types.js';
import { bindParam } from '../ir/kernel/symbolic.js';
import { bufferBytes, elementBytes } from '../ir/kernel/layout.js';

export const ARENA_ALIGN = 16;
export const alignUp = (n: number, a = ARENA_ALIGN): number => Math.ceil(n / a) * a;

// sizes live with the kernel IR's layout types (backends read them too)
export { bufferBytes, elementBytes };

/** Bytes [off, off+len) of a member hold bytes [roff, roff+len) produced into `root`. */
interface Seg {
  off: number;
  len: number;
  root: KBuffer;
  roff: number;
}

export interface BlockMember {
  buf: KBuffer;
  /** Byte offset inside the block. */
  rel: number;
  bytes: number;
  first: number;
  last: number;
}

export interface Block {
  id: number;
  name: string;
  /** Bytes, a multiple of ARENA_ALIGN. */
  size: number;
  first: number;
  last: number;
  members: BlockMember[];
}

export interface Alias {
  kind: 'inplace' | 'concat';
  /** The buffer whose memory is reused (A, or the concat input R). */
  from: KBuffer;
  /** The buffer placed there (B, or the concat output Y). */
  to: KBuffer;
  kernel: number;
}

export interface Liveness {
  /** Number of kernel steps. */
  steps: number;
  blocks: Block[];
  aliases: Alias[];
  /** Storage roots that share memory with another buffer (must not be `restrict`). */
  shared: Set<KBuffer>;
}

export interface LivenessOptions {
  /** Detect in-place reuse (default true). */
  inPlace?: boolean;
}

// ---------- affine index analysis ----------

/** c + Σ coef[v]·v over loop variables. */
interface Affine {
  c: number;
  t: Map<string, number>;
}

const affConst = (c: number): Affine => ({ c, t: new Map() });
function affAdd(a: Affine, b: Affine, s = 1): Affine {
  const t = new Map(a.t);
  for (const [v, k] of b.t) {
    const n = (t.get(v) ?? 0) + s * k;
    if (n === 0) t.delete(v);
    else t.set(v, n);
  }
  return { c: a.c + s * b.c, t };
}
function affScale(a: Affine, s: number): Affine {
  if (s === 0) return affConst(0);
  const t = new Map<string, number>();
  for (const [v, k] of a.t) t.set(v, k * s);
  return { c: a.c * s, t };
}
function affEqualTerms(a: Affine, b: Affine): boolean {
  if (a.t.size !== b.t.size) return false;
  for (const [v, k] of a.t) if (b.t.get(v) !== k) return false;
  return true;
}

interface Loop {
  v: string;
  lo: number | null;
  hi: number | null;
}

function constOf(e: Expr): number | null {
  return e.k === 'const' && typeof e.v === 'number' && Number.isInteger(e.v) ? e.v : e.k === 'const' && typeof e.v === 'bigint' ? Number(e.v) : null;
}

function affineOf(e: Expr, loops: ReadonlySet<string>, env: ReadonlyMap<string, Affine>): Affine | null {
  switch (e.k) {
    case 'const': {
      const c = constOf(e);
      return c === null ? null : affConst(c);
    }
    case 'var':
      if (loops.has(e.name)) return { c: 0, t: new Map([[e.name, 1]]) };
      return env.get(e.name) ?? null;
    case 'bin': {
      if (e.op !== 'add' && e.op !== 'sub' && e.op !== 'mul') return null;
      const a = affineOf(e.a, loops, env);
      const b = affineOf(e.b, loops, env);
      if (!a || !b) return null;
      if (e.op === 'add') return affAdd(a, b);
      if (e.op === 'sub') return affAdd(a, b, -1);
      if (a.t.size === 0) return affScale(b, a.c);
      if (b.t.size === 0) return affScale(a, b.c);
      return null;
    }
    default:
      return null;
  }
}

/**
 * Whether f is injective over the loop box and how many points the box has; also the minimum of f.
 * Every loop with more than one iteration must appear with a positive coefficient, and sorted by
 * coefficient each must exceed the span of the smaller ones (mixed radix).
 */
function injective(f: Affine, loops: readonly Loop[]): { ok: boolean; count: number; min: number } {
  let count = 1;
  let min = f.c;
  const terms: { k: number; n: number }[] = [];
  const seen = new Set<string>();
  for (const l of loops) {
    if (l.lo === null || l.hi === null) return { ok: false, count: 0, min: 0 };
    const n = Math.max(0, l.hi - l.lo);
    count *= n;
    const k = f.t.get(l.v) ?? 0;
    seen.add(l.v);
    min += k * l.lo;
    if (n <= 1) continue;
    if (k <= 0) return { ok: false, count, min };
    terms.push({ k, n });
  }
  for (const v of f.t.keys()) if (!seen.has(v)) return { ok: false, count, min };
  terms.sort((a, b) => a.k - b.k);
  let span = 0;
  for (const t of terms) {
    if (t.k <= span) return { ok: false, count, min };
    span += t.k * (t.n - 1);
  }
  return { ok: true, count, min };
}

// ---------- kernel access analysis ----------

interface StoreSite {
  root: KBuffer;
  buf: KBuffer;
  idx: Affine | null;
  val: Expr;
  loops: Loop[];
  block: Stmt[];
  pos: number;
  conditional: boolean;
}

interface LoadSite {
  root: KBuffer;
  buf: KBuffer;
  idx: Affine | null;
  /** The store whose value contains this load, or the (block, pos) of a local defined there. */
  store?: StoreSite;
  letAt?: { block: Stmt[]; pos: number };
}

interface Access {
  stores: StoreSite[];
  loads: LoadSite[];
  touched: Set<KBuffer>;
  written: Set<KBuffer>;
}

function analyzeKernel(body: Stmt[]): Access {
  const setNames = new Set<string>();
  const findSets = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      if (s.k === 'set') setNames.add(s.name);
      else if (s.k === 'for') findSets(s.body);
      else if (s.k === 'if') {
        findSets(s.then);
        findSets(s.else);
      }
    }
  };
  findSets(body);
  const acc: Access = { stores: [], loads: [], touched: new Set(), written: new Set() };
  const env = new Map<string, Affine>();
  const loadsIn = (e: Expr, loops: Loop[], where: Partial<LoadSite>): void => {
    const names = new Set(loops.map((l) => l.v));
    const visit = (x: Expr, top: boolean): void => {
      switch (x.k) {
        case 'load': {
          const root = storageOf(x.buf);
          acc.touched.add(root);
          acc.loads.push({ root, buf: x.buf, idx: affineOf(x.idx, names, env), ...(top ? where : {}) });
          visit(x.idx, false);
          break;
        }
        case 'bin': visit(x.a, top); visit(x.b, top); break;
        case 'un': case 'cast': visit(x.a, top); break;
        case 'select': visit(x.c, top); visit(x.a, top); visit(x.b, top); break;
        default: break;
      }
    };
    visit(e, true);
  };
  const walk = (block: Stmt[], loops: Loop[], cond: boolean): void => {
    block.forEach((s, pos) => {
      switch (s.k) {
        case 'for': {
          loadsIn(s.lo, loops, {});
          loadsIn(s.hi, loops, {});
          walk(s.body, [...loops, { v: s.v, lo: constOf(s.lo), hi: constOf(s.hi) }], cond);
          break;
        }
        case 'let': {
          loadsIn(s.init, loops, { letAt: { block, pos } });
          if (!setNames.has(s.name)) {
            const a = affineOf(s.init, new Set(loops.map((l) => l.v)), env);
            if (a) env.set(s.name, a);
          }
          break;
        }
        case 'set': loadsIn(s.val, loops, {}); break;
        case 'store': {
          const root = storageOf(s.buf);
          acc.touched.add(root);
          acc.written.add(root);
          const site: StoreSite = { root, buf: s.buf, idx: affineOf(s.idx, new Set(loops.map((l) => l.v)), env), val: s.val, loops, block, pos, conditional: cond };
          acc.stores.push(site);
          loadsIn(s.idx, loops, {});
          loadsIn(s.val, loops, { store: site });
          break;
        }
        case 'if':
          loadsIn(s.c, loops, {});
          walk(s.then, loops, true);
          walk(s.else, loops, true);
          break;
      }
    });
  };
  walk(body, [], false);
  return acc;
}

// ---------- blocks ----------

interface Member extends BlockMember {
  block: MBlock;
  segs: Seg[];
}

interface MBlock {
  id: number;
  members: Member[];
}

const timeOverlap = (a: { first: number; last: number }, b: { first: number; last: number }): boolean => a.first <= b.last && b.first <= a.last;

/** Whether two members (at absolute offsets oa, ob in the same frame) agree on every shared byte. */
function sameContent(a: Member, oa: number, b: Member, ob: number): boolean {
  const lo = Math.max(oa, ob);
  const hi = Math.min(oa + a.bytes, ob + b.bytes);
  if (lo >= hi) return true;
  const src = (m: Member, o: number, p: number): { root: KBuffer; r: number; end: number } | null => {
    for (const s of m.segs) if (o + s.off <= p && p < o + s.off + s.len) return { root: s.root, r: s.roff + (p - o - s.off), end: o + s.off + s.len };
    return null;
  };
  let p = lo;
  while (p < hi) {
    const x = src(a, oa, p);
    const y = src(b, ob, p);
    if (!x || !y || x.root !== y.root || x.r !== y.r) return false;
    p = Math.min(x.end, y.end, hi);
  }
  return true;
}

/**
 * Computes liveness intervals and blocks for the 'temp' buffers of a program (in kernel order).
 */
export function analyzeLiveness(program: Program, opts: LivenessOptions = {}): Liveness {
  if (program.param) return symbolicLiveness(program, program.param, opts);
  return fixedLiveness(program, opts);
}

/**
 * A program with a run-time size: buffers are sized for its bound, and in-place reuse found with the
 * size bound to the bound is kept only when the same reuse, at the same relative offsets, is found
 * at the smallest sizes too (a reuse proven for one size only could clobber data at another).
 */
function symbolicLiveness(program: Program, param: ProgramParam, opts: LivenessOptions): Liveness {
  const at = (v: number): Liveness => fixedLiveness(bindParam(program, v), opts);
  const top = at(param.max);
  if (opts.inPlace === false) return top;
  const signature = (l: Liveness): string => JSON.stringify([
    l.aliases.map((a) => [a.kind, a.from.name, a.to.name, a.kernel]),
    l.blocks.map((b) => b.members.map((m) => [m.buf.name, m.rel])),
  ]);
  const others = [...new Set([1, 2, param.max - 1])].filter((v) => v >= 1 && v < param.max);
  return others.every((v) => signature(at(v)) === signature(top)) ? top : fixedLiveness(bindParam(program, param.max), { ...opts, inPlace: false });
}

function fixedLiveness(program: Program, opts: LivenessOptions): Liveness {
  const inPlace = opts.inPlace ?? true;
  const access = program.kernels.map((k) => analyzeKernel(k.body));
  const first = new Map<KBuffer, number>();
  const last = new Map<KBuffer, number>();
  access.forEach((a, i) => {
    for (const b of a.touched) {
      if (b.role !== 'temp') continue;
      if (!first.has(b)) first.set(b, i);
      last.set(b, i);
    }
  });
  const roots = [...first.keys()].sort((a, b) => first.get(a)! - first.get(b)! || a.id - b.id);
  const memberOf = new Map<KBuffer, Member>();
  const blocks: MBlock[] = [];
  for (const b of roots) {
    const blk: MBlock = { id: blocks.length, members: [] };
    const bytes = bufferBytes(b);
    const m: Member = { buf: b, rel: 0, bytes, first: first.get(b)!, last: last.get(b)!, block: blk, segs: [{ off: 0, len: bytes, root: b, roff: 0 }] };
    blk.members.push(m);
    blocks.push(blk);
    memberOf.set(b, m);
  }
  const aliases: Alias[] = [];
  const merge = (into: MBlock, from: MBlock, shift: number): void => {
    if (into === from) return;
    for (const m of from.members) {
      m.rel += shift;
      m.block = into;
      into.members.push(m);
    }
    from.members = [];
  };

  if (inPlace) {
    access.forEach((acc, k) => {
      const done = new Set<KBuffer>();
      // elementwise in place
      const storesTo = new Map<KBuffer, StoreSite[]>();
      for (const s of acc.stores) storesTo.set(s.root, [...(storesTo.get(s.root) ?? []), s]);
      for (const [B, sites] of storesTo) {
        const mb = memberOf.get(B);
        if (!mb || mb.first !== k || sites.length !== 1 || mb.block.members.length !== 1) continue;
        const S = sites[0]!;
        if (S.conditional || !S.idx || !injective(S.idx, S.loops).ok) continue;
        if (acc.loads.some((l) => l.root === B)) continue;
        const candidates: KBuffer[] = [];
        for (const l of acc.loads) if (!candidates.includes(l.root)) candidates.push(l.root);
        for (const A of candidates) {
          const ma = memberOf.get(A);
          if (!ma || ma.block === mb.block || acc.written.has(A) || ma.last !== k) continue;
          if (elementBytes(A.dtype) !== elementBytes(B.dtype)) continue;
          const ok = acc.loads.filter((l) => l.root === A).every((l) => {
            if (!l.idx || !affEqualTerms(l.idx, S.idx!) || l.idx.c !== S.idx!.c) return false;
            if (l.store === S) return true;
            return !!l.letAt && l.letAt.block === S.block && l.letAt.pos < S.pos;
          });
          if (!ok) continue;
          // members of A's block under B's bytes must be dead by k and untouched by k
          const lo = ma.rel;
          const hi = ma.rel + mb.bytes;
          const clash = ma.block.members.some((m) => m !== ma && m.rel < hi && lo < m.rel + m.bytes && (m.last > k || (m.last === k && acc.touched.has(m.buf))));
          if (clash) continue;
          merge(ma.block, mb.block, ma.rel);
          aliases.push({ kind: 'inplace', from: A, to: B, kernel: k });
          done.add(B);
          break;
        }
      }
      // concat in place: Y[c + f(i)] = R[f(i)]
      for (const [Y, sites] of storesTo) {
        const my = memberOf.get(Y);
        if (!my || done.has(Y) || my.first !== k || my.block.members.length !== 1) continue;
        const eb = elementBytes(Y.dtype);
        let cands: { R: KBuffer; c: number }[] = [];
        for (const S of sites) {
          if (S.conditional || !S.idx || S.val.k !== 'load') continue;
          const R = storageOf(S.val.buf);
          const mr = memberOf.get(R);
          if (!mr || R === Y || acc.written.has(R) || elementBytes(R.dtype) !== eb) continue;
          const rl = acc.loads.filter((l) => l.root === R);
          if (rl.length !== 1 || rl[0]!.store !== S || !rl[0]!.idx) continue;
          const f = rl[0]!.idx;
          if (!affEqualTerms(f, S.idx)) continue;
          const inj = injective(f, S.loops);
          if (!inj.ok || inj.min !== 0 || inj.count !== bufferSize(R) || inj.count === 0) continue;
          if (cands.some((x) => x.R === R)) {
            cands = cands.filter((x) => x.R !== R);
            continue;
          }
          cands.push({ R, c: (S.idx.c - f.c) * eb });
        }
        // drop candidates until the whole placement is consistent
        while (cands.length > 0) {
          const shiftOf = new Map<MBlock, number>();
          let bad = -1;
          cands.forEach((x, i) => {
            if (bad >= 0) return;
            const mr = memberOf.get(x.R)!;
            const s = x.c - mr.rel;
            const prev = shiftOf.get(mr.block);
            if (prev !== undefined && prev !== s) bad = i;
            else shiftOf.set(mr.block, s);
          });
          if (bad < 0) {
            // Y's content: its own bytes, overwritten by the inputs' sources
            const segs: Seg[] = [];
            const sorted = [...cands].sort((a, b) => a.c - b.c);
            let p = 0;
            for (const x of sorted) {
              const mr = memberOf.get(x.R)!;
              if (x.c > p) segs.push({ off: p, len: x.c - p, root: Y, roff: p });
              for (const s of mr.segs) segs.push({ ...s, off: s.off + x.c });
              p = x.c + mr.bytes;
            }
            if (p < my.bytes) segs.push({ off: p, len: my.bytes - p, root: Y, roff: p });
            const saved = my.segs;
            my.segs = segs;
            const groups: { blk: MBlock; shift: number }[] = [{ blk: my.block, shift: 0 }, ...[...shiftOf].map(([blk, shift]) => ({ blk, shift }))];
            for (let gi = 0; gi < groups.length && bad < 0; gi++) {
              for (let gj = gi + 1; gj < groups.length && bad < 0; gj++) {
                for (const a of groups[gi]!.blk.members) {
                  for (const b of groups[gj]!.blk.members) {
                    if (!timeOverlap(a, b)) continue;
                    if (!sameContent(a, a.rel + groups[gi]!.shift, b, b.rel + groups[gj]!.shift)) {
                      // blame the candidate whose block is involved
                      const blk = gi === 0 ? groups[gj]!.blk : groups[gi]!.blk;
                      bad = cands.findIndex((x) => memberOf.get(x.R)!.block === blk);
                      if (bad < 0) bad = 0;
                      break;
                    }
                  }
                  if (bad >= 0) break;
                }
              }
            }
            if (bad < 0) {
              for (const [blk, shift] of shiftOf) merge(my.block, blk, shift);
              for (const x of cands) aliases.push({ kind: 'concat', from: x.R, to: Y, kernel: k });
              break;
            }
            my.segs = saved;
          }
          cands.splice(bad, 1);
        }
      }
    });
  }

  const out: Block[] = [];
  const shared = new Set<KBuffer>();
  for (const blk of blocks) {
    if (blk.members.length === 0) continue;
    const base = Math.min(...blk.members.map((m) => m.rel));
    const members: BlockMember[] = blk.members
      .map((m) => ({ buf: m.buf, rel: m.rel - base, bytes: m.bytes, first: m.first, last: m.last }))
      .sort((a, b) => a.first - b.first || a.buf.id - b.buf.id);
    if (members.length > 1) for (const m of members) shared.add(m.buf);
    const size = alignUp(Math.max(...members.map((m) => m.rel + m.bytes)));
    out.push({
      id: out.length,
      name: members[0]!.buf.name,
      size,
      first: Math.min(...members.map((m) => m.first)),
      last: Math.max(...members.map((m) => m.last)),
      members,
    });
  }
  return { steps: program.kernels.length, blocks: out, aliases, shared };
}
