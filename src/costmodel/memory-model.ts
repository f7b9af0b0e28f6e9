/**
 * Reuse-aware memory model of a kernel's loop nests on a cache hierarchy (host profiles), used by
 * kernel-cost.ts next to its access counts.
 *
 * Footprint: the distinct cache lines a sub-nest touches, from the affine access functions of its
 * loads and stores (flat index = c + Σ a_v·v over loop variables, through `let` locals) and its loop
 * extents (evaluated with the enclosing variables at their first value). Per access, the loop
 * dimensions sorted by stride merge into contiguous runs (a stride no larger than the run so far
 * extends it, e.g. a convolution's kw and ow, then kh and oh in row units); a run of s elements of
 * e bytes covers 1 + (s-1)·e/line lines on average. Accesses of one buffer with the same strides
 * share one footprint (their offsets widen the innermost run); different strides add; a buffer never
 * counts more than its own lines. An access that is not affine counts one line per execution.
 *
 * Caches are warm: a kernel whose whole footprint fits a level moves nothing into it (its data is
 * there from the kernel, or the run, before); the cold traffic is `kernelTraffic`.
 *
 * Traffic into a level of capacity S: a loop whose whole footprint fits in S costs that footprint
 * once per execution; one that does not fit costs, when two consecutive iterations fit, the first
 * iteration's footprint plus the new lines of each next one (F2 - F1: spatial and temporal reuse
 * across consecutive iterations), else each iteration the traffic of its inner loops.
 *
 * Compute: loop nests of constant bounds with at most TINY_BODY body executions count as unrolled
 * into the loop around them. Each innermost loop is vector (f32 lanes of the profile's vector width at the vector
 * peak) when every access is affine with stride 0 or 1 in its variable, no store has stride 0, and
 * it updates no float local declared outside it and stores no float to one element on every
 * iteration (accumulators: gcc does not reassociate float reductions without -ffast-math);
 * straight-line code over runs of consecutive elements (register-blocked micro-kernels) is taken as
 * SLP-vectorized (the scalar peak times the run length, up to the lanes); otherwise scalar, at the
 * scalar peak. Accumulators cost one FMA latency per iteration (independent ones in parallel);
 * an accumulator loop that is its parent's only loop, where every access has stride 0 or 1 in the
 * parent's variable, is vectorized across the parent (gcc's outer-loop vectorization): one
 * latency per lanes iterations.
 *
 * Lower bound: the traffic no schedule can avoid: compulsory (each distinct byte of the buffers once)
 * and, for a contraction (a statement accumulating a product of two loads: GEMM, convolution), the
 * classic red-blue pebble bound 2·MACs/√(S/e) elements for a fast memory of S bytes (Hong & Kung;
 * Irony, Toledo & Tiskin). `flashAttentionBound` gives the attention bound Θ(N²d²/M).
 */
import { numBin } from '../ir/kernel/interp.js';
import { byteWidth, isFloat } from '../ir/dtype.js';
import { bufferSize, storageOf, type Expr, type KBuffer, type Kernel, type ScalarType, type Stmt } from '../ir/kernel/types.js';
import type { MemoryLevelFigure, Roofline } from './roofline.js';

/** Cycles per iteration of a float accumulator chain when the profile has no measured figure (an FMA latency on current x86 cores). */
export const FMA_LATENCY_CYCLES = 4;
/** Scalar loads and stores issued per cycle (assumed: two load/store ports). */
export const SCALAR_ACCESSES_PER_CYCLE = 2;
/** Innermost-body executions up to which a constant loop nest is taken as completely unrolled (gcc's default limit is 16). */
export const TINY_BODY = 16;

const elemBytes = (t: ScalarType): number => (t === 'index' ? 4 : byteWidth(t));
const floaty = (t: ScalarType): boolean => t !== 'index' && isFloat(t);

/** c + Σ co[v]·v. */
export interface Affine {
  c: number;
  co: Map<string, number>;
}

interface Access {
  buf: KBuffer;
  e: number;
  float: boolean;
  aff: Affine | null;
  store: boolean;
}

/** A loop (or the kernel body at the root) with what it holds directly and its inner loops. */
interface Node {
  loop: Extract<Stmt, { k: 'for' }> | null;
  children: Node[];
  accesses: Access[];
  flops: number;
  intOps: number;
  /** Float locals `set` directly in this loop's body, by name (accumulators when declared outside it). */
  floatSets: string[];
  /** Locals declared directly in this loop's body. */
  lets: Set<string>;
  hasIf: boolean;
}

type Defs = ReadonlyMap<string, Expr>;

/** The affine form of an index expression, or null (div, mod, loaded values, assigned locals). */
export function affineOf(e: Expr, defs: Defs, loopVars: ReadonlySet<string>): Affine | null {
  switch (e.k) {
    case 'const':
      return { c: Number(e.v), co: new Map() };
    case 'var': {
      if (loopVars.has(e.name)) return { c: 0, co: new Map([[e.name, 1]]) };
      const d = defs.get(e.name);
      return d ? affineOf(d, defs, loopVars) : null;
    }
    case 'cast':
      return floaty(e.t) || floaty(e.a.t) ? null : affineOf(e.a, defs, loopVars);
    case 'bin': {
      if (e.op !== 'add' && e.op !== 'sub' && e.op !== 'mul') return null;
      const a = affineOf(e.a, defs, loopVars);
      const b = affineOf(e.b, defs, loopVars);
      if (!a || !b) return null;
      if (e.op === 'mul') {
        const [k, x] = a.co.size === 0 ? [a.c, b] : b.co.size === 0 ? [b.c, a] : [null, null];
        if (k === null || x === null) return null;
        return { c: x.c * k, co: new Map([...x.co].map(([v, n]) => [v, n * k])) };
      }
      const s = e.op === 'sub' ? -1 : 1;
      const co = new Map(a.co);
      for (const [v, n] of b.co) co.set(v, (co.get(v) ?? 0) + s * n);
      for (const [v, n] of co) if (n === 0) co.delete(v);
      return { c: a.c + s * b.c, co };
    }
    default:
      return null;
  }
}

/** Numeric value of an index expression under bound variables; undefined when it depends on data. */
function evalNum(e: Expr, env: ReadonlyMap<string, number>, defs: Defs): number | undefined {
  switch (e.k) {
    case 'const':
      return Number(e.v);
    case 'var': {
      const v = env.get(e.name);
      if (v !== undefined) return v;
      const d = defs.get(e.name);
      return d ? evalNum(d, env, defs) : undefined;
    }
    case 'cast': {
      const a = evalNum(e.a, env, defs);
      return a === undefined ? undefined : floaty(e.t) ? a : Math.trunc(a);
    }
    case 'select': {
      const c = evalNum(e.c, env, defs);
      return c === undefined ? undefined : evalNum(c !== 0 ? e.a : e.b, env, defs);
    }
    case 'bin': {
      const a = evalNum(e.a, env, defs);
      const b = evalNum(e.b, env, defs);
      return a === undefined || b === undefined ? undefined : numBin(e.op, e.a.t, a, b);
    }
    default:
      return undefined;
  }
}

/** Scalar ops of an expression (index arithmetic free), and the loads in it. */
function scanExpr(e: Expr, node: Node, defs: Defs, loopVars: ReadonlySet<string>): void {
  const op = (a: ScalarType, r: ScalarType): void => {
    if (a === 'index' || r === 'index') return;
    if (floaty(a) || floaty(r)) node.flops++;
    else node.intOps++;
  };
  switch (e.k) {
    case 'load':
      node.accesses.push({ buf: storageOf(e.buf), e: elemBytes(e.t), float: floaty(e.t), aff: affineOf(e.idx, defs, loopVars), store: false });
      scanExpr(e.idx, node, defs, loopVars);
      return;
    case 'bin':
      scanExpr(e.a, node, defs, loopVars);
      scanExpr(e.b, node, defs, loopVars);
      op(e.a.t, e.t === 'bool' ? e.a.t : e.t);
      return;
    case 'un':
    case 'cast':
      scanExpr(e.a, node, defs, loopVars);
      op(e.a.t, e.t === 'bool' ? e.a.t : e.t);
      return;
    case 'select':
      scanExpr(e.c, node, defs, loopVars);
      scanExpr(e.a, node, defs, loopVars);
      scanExpr(e.b, node, defs, loopVars);
      op(e.t, e.t);
      return;
    default:
      return;
  }
}

function buildTree(k: Kernel): { root: Node; defs: Defs } {
  const assigned = new Set<string>();
  const lets = new Map<string, Expr>();
  const floatLocals = new Set<string>();
  const loopVars = new Set<string>();
  const scan = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      if (s.k === 'for') {
        loopVars.add(s.v);
        scan(s.body);
      } else if (s.k === 'if') {
        scan(s.then);
        scan(s.else);
      } else if (s.k === 'let') {
        lets.set(s.name, s.init);
        if (floaty(s.t)) floatLocals.add(s.name);
      } else if (s.k === 'set') assigned.add(s.name);
    }
  };
  scan(k.body);
  const defs = new Map([...lets].filter(([n]) => !assigned.has(n)));
  const fill = (node: Node, ss: readonly Stmt[]): void => {
    for (const s of ss) {
      switch (s.k) {
        case 'for': {
          scanExpr(s.lo, node, defs, loopVars);
          scanExpr(s.hi, node, defs, loopVars);
          const child: Node = { loop: s, children: [], accesses: [], flops: 0, intOps: 0, floatSets: [], lets: new Set(), hasIf: false };
          fill(child, s.body);
          node.children.push(child);
          break;
        }
        case 'store':
          node.accesses.push({ buf: storageOf(s.buf), e: elemBytes(s.buf.dtype), float: floaty(s.buf.dtype), aff: affineOf(s.idx, defs, loopVars), store: true });
          scanExpr(s.idx, node, defs, loopVars);
          scanExpr(s.val, node, defs, loopVars);
          break;
        case 'let':
          scanExpr(s.init, node, defs, loopVars);
          node.lets.add(s.name);
          break;
        case 'set':
          scanExpr(s.val, node, defs, loopVars);
          if (floatLocals.has(s.name)) node.floatSets.push(s.name);
          break;
        case 'if':
          node.hasIf = true;
          scanExpr(s.c, node, defs, loopVars);
          fill(node, s.then);
          fill(node, s.else);
          break;
        default:
          break;
      }
    }
  };
  const root: Node = { loop: null, children: [], accesses: [], flops: 0, intOps: 0, floatSets: [], lets: new Set(), hasIf: false };
  fill(root, k.body);
  return { root, defs };
}

/** Trip count of a loop with the variables of `env` bound (1 when it depends on data). */
function trips(n: Node, env: ReadonlyMap<string, number>, defs: Defs): number {
  if (!n.loop) return 1;
  const lo = evalNum(n.loop.lo, env, defs);
  const hi = evalNum(n.loop.hi, env, defs);
  return lo === undefined || hi === undefined ? 1 : Math.max(0, hi - lo);
}

const withVar = (env: ReadonlyMap<string, number>, n: Node, defs: Defs): Map<string, number> => {
  const m = new Map(env);
  if (n.loop) m.set(n.loop.v, evalNum(n.loop.lo, env, defs) ?? 0);
  return m;
};

/** Accesses of a sub-nest with the extent of each of its loop variables and each access's executions. */
function collect(n: Node, env: ReadonlyMap<string, number>, defs: Defs, extentOverride?: number): { acc: { a: Access; execs: number }[]; ext: Map<string, number> } {
  const acc: { a: Access; execs: number }[] = [];
  const ext = new Map<string, number>();
  const walk = (m: Node, e: ReadonlyMap<string, number>, mult: number, override?: number): void => {
    const t = override ?? trips(m, e, defs);
    if (m.loop) ext.set(m.loop.v, Math.max(ext.get(m.loop.v) ?? 0, t));
    const inner = withVar(e, m, defs);
    for (const a of m.accesses) acc.push({ a, execs: mult * t });
    for (const c of m.children) walk(c, inner, mult * t);
  };
  walk(n, env, 1, extentOverride);
  return { acc, ext };
}

/** Expected lines of one access pattern: runs merged by stride, then capped by the address range. */
function patternLines(co: ReadonlyMap<string, number>, offsets: readonly number[], ext: ReadonlyMap<string, number>, e: number, line: number): number {
  const dims: [number, number][] = [];
  for (const [v, a] of co) {
    const n = ext.get(v) ?? 1;
    if (n > 1 && a !== 0) dims.push([Math.abs(a), n]);
  }
  const spread = offsets.length > 1 ? Math.max(...offsets) - Math.min(...offsets) : 0;
  let distinctOffsets = 1;
  if (spread > 0) {
    if (spread <= 64) dims.push([1, spread + 1]);
    else distinctOffsets = new Set(offsets).size;
  }
  dims.sort((x, y) => x[0] - y[0]);
  // level 0: a run of `span` elements; each next level: `count` copies of the level below at stride `base`
  let span = 1;
  let base = 1;
  let count = 1;
  let copies = 1;
  let first = true;
  let range = 1;
  for (const [a, n] of dims) {
    range += a * (n - 1);
    if (first) {
      if (a <= span) span += a * (n - 1);
      else {
        first = false;
        base = a;
        count = n;
      }
    } else if (a <= base * count) count += (a / base) * (n - 1);
    else {
      copies *= count;
      base = a;
      count = n;
    }
  }
  copies *= first ? 1 : count;
  const runLines = 1 + ((span - 1) * e) / line;
  const lines = Math.min(copies * runLines, 1 + ((range - 1) * e) / line + (copies > 1 ? 1 : 0));
  return lines * distinctOffsets;
}

/** Distinct bytes (whole lines) a sub-nest touches. */
function footprint(n: Node, env: ReadonlyMap<string, number>, defs: Defs, line: number, extentOverride?: number): number {
  const { acc, ext } = collect(n, env, defs, extentOverride);
  const byBuf = new Map<KBuffer, { groups: Map<string, { co: Map<string, number>; offs: number[] }>; e: number; opaque: number }>();
  for (const { a, execs } of acc) {
    let b = byBuf.get(a.buf);
    if (!b) byBuf.set(a.buf, (b = { groups: new Map(), e: a.e, opaque: 0 }));
    if (!a.aff) {
      b.opaque += execs;
      continue;
    }
    // strides over this sub-nest's variables; the enclosing ones are fixed and only shift the offset
    const co = new Map([...a.aff.co].filter(([v]) => ext.has(v)).sort((x, y) => (x[0] < y[0] ? -1 : 1)));
    let off = a.aff.c;
    for (const [v, k] of a.aff.co) if (!ext.has(v)) off += k * (env.get(v) ?? 0);
    const key = [...co].map(([v, k]) => `${v}:${k}`).join(',');
    const g = b.groups.get(key);
    if (g) g.offs.push(off);
    else b.groups.set(key, { co, offs: [off] });
  }
  let bytes = 0;
  for (const [buf, b] of byBuf) {
    let lines = b.opaque;
    for (const g of b.groups.values()) lines += patternLines(g.co, g.offs, ext, b.e, line);
    const cap = Math.ceil((bufferSize(buf) * b.e) / line);
    bytes += Math.min(lines, cap) * line;
  }
  return bytes;
}

/** Bytes moved into a fast memory of `capacity` bytes (lines of `line` bytes) by one execution of `n`. */
function traffic(n: Node, env: ReadonlyMap<string, number>, defs: Defs, capacity: number, line: number): number {
  if (n.loop) {
    const f = footprint(n, env, defs, line);
    if (f <= capacity) return f;
    const t = trips(n, env, defs);
    if (t >= 2) {
      const f2 = footprint(n, env, defs, line, 2);
      if (f2 <= capacity) return footprint(n, env, defs, line, 1) + (t - 1) * Math.max(0, f2 - footprint(n, env, defs, line, 1));
    }
    return t * bodyTraffic(n, withVar(env, n, defs), defs, capacity, line);
  }
  return bodyTraffic(n, env, defs, capacity, line);
}

/** One iteration of a loop that does not fit (or the kernel body): its inner loops and its own accesses. */
function bodyTraffic(n: Node, env: ReadonlyMap<string, number>, defs: Defs, capacity: number, line: number): number {
  let sum = 0;
  for (const c of n.children) sum += traffic(c, env, defs, capacity, line);
  for (const a of n.accesses) {
    const stride = n.loop && a.aff ? Math.abs(a.aff.co.get(n.loop.v) ?? 0) : null;
    sum += stride === null ? line : Math.min(line, Math.max(a.e, stride * a.e));
  }
  return sum;
}

export interface LevelTraffic {
  /** The level the bytes come from (L1: every access; L2: what misses L1; ...; DRAM). */
  name: string;
  bytes: number;
  bytesPerCycle: number;
  cycles: number;
  /** The level's bandwidth was measured (kiln calibrate), not assumed. */
  measured: boolean;
  /** Lower bound of the bytes from this level (compulsory, or the contraction's I/O bound). */
  boundBytes: number;
}

export interface LowerBound {
  /** 'contraction' (GEMM/conv: the √S I/O bound applies) or 'compulsory' (each distinct byte once). */
  kind: 'contraction' | 'compulsory';
  /** Multiply-accumulates of the contraction (0 for compulsory). */
  macs: number;
  /** Distinct bytes of the buffers the kernel touches. */
  compulsoryBytes: number;
  /** max over levels of bound bytes / bandwidth, and the ops at the vector peak. */
  cycles: number;
}

export interface ReuseCost {
  levels: LevelTraffic[];
  /** Operations counted in vectorizable innermost loops / in scalar code (flops + int ops). */
  vectorOps: number;
  scalarOps: number;
  computeCycles: number;
  memoryCycles: number;
  estCycles: number;
  estSeconds: number;
  /** 'compute' or the level whose traffic takes longest. */
  bound: string;
  lowerBound: LowerBound;
  /** estCycles / lowerBound.cycles (1: at the bound). */
  boundDistance: number;
}

/** The hierarchy of a roofline: its levels, or L1 only (the roofline's bandwidth) for a profile without caches. */
function levelsOf(r: Roofline): readonly MemoryLevelFigure[] {
  return r.levels ?? [{ name: 'mem', bytes: null, lineBytes: 64, bytesPerCycle: r.bytesPerCycle, measured: false }];
}

/** Red-blue pebble bound of a contraction with `macs` multiply-adds of `e`-byte elements for `capacity` fast bytes. */
export function contractionBoundBytes(macs: number, capacity: number, e: number): number {
  return (2 * macs * e) / Math.sqrt(capacity / e);
}

/**
 * FlashAttention's I/O lower bound for exact attention over sequence length n and head dimension d
 * with fast memory of `capacity` bytes (Dao et al. 2022, Proposition 3): Ω(n²d²/M) elements, plus
 * the compulsory read of Q, K, V and write of O (4nd).
 */
export function flashAttentionBoundBytes(n: number, d: number, capacity: number, e: number): number {
  const m = capacity / e;
  return e * Math.max(4 * n * d, (n * n * d * d) / m);
}

/** The longest run of consecutive constant offsets among accesses of one buffer with the same strides (SLP groups). */
function slpWidth(accesses: readonly Access[]): number {
  const groups = new Map<string, Set<number>>();
  for (const a of accesses) {
    if (!a.aff) continue;
    const key = `${a.buf.id}|${a.store}|${[...a.aff.co].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([v, k]) => `${v}:${k}`).join(',')}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = new Set()));
    g.add(a.aff.c);
  }
  let best = 1;
  for (const g of groups.values()) {
    for (const c of g) {
      if (g.has(c - 1)) continue;
      let n = 1;
      while (g.has(c + n)) n++;
      best = Math.max(best, n);
    }
  }
  return best;
}

/** Executions of the contraction statements (a product of two loads accumulated) of a kernel. */
function contractionMacs(defs: Defs, k: Kernel): number {
  // a statement is a MAC when it stores/sets a value that adds a product of two loads to its own target
  const isMac = (val: Expr, self: (e: Expr) => boolean): boolean => {
    if (val.k === 'cast') return isMac(val.a, self);
    if (val.k !== 'bin' || val.op !== 'add') return false;
    const prod = (e: Expr): boolean => {
      if (e.k === 'cast') return prod(e.a);
      if (e.k !== 'bin' || e.op !== 'mul') return false;
      const ld = (x: Expr): boolean => x.k === 'load' || (x.k === 'cast' && ld(x.a)) || (x.k === 'var' && defs.get(x.name)?.k === 'load') || (x.k === 'var' && defs.has(x.name) && ld(defs.get(x.name)!));
      return ld(e.a) && ld(e.b);
    };
    return (self(val.a) && prod(val.b)) || (self(val.b) && prod(val.a));
  };
  let macs = 0;
  const walk = (ss: readonly Stmt[], mult: number, env: Map<string, number>): void => {
    for (const s of ss) {
      if (s.k === 'for') {
        const lo = evalNum(s.lo, env, defs);
        const hi = evalNum(s.hi, env, defs);
        const t = lo === undefined || hi === undefined ? 1 : Math.max(0, hi - lo);
        const inner = new Map(env);
        inner.set(s.v, lo ?? 0);
        walk(s.body, mult * t, inner);
      } else if (s.k === 'if') {
        walk(s.then, mult, env);
      } else if (s.k === 'set') {
        if (isMac(s.val, (e) => e.k === 'var' && e.name === s.name)) macs += mult;
      } else if (s.k === 'store') {
        if (isMac(s.val, (e) => e.k === 'load' && storageOf(e.buf) === storageOf(s.buf))) macs += mult;
      }
    }
  };
  walk(k.body, 1, new Map());
  return macs;
}

/** The reuse-aware cost of one kernel on a host roofline. */
export function reuseCost(k: Kernel, r: Roofline): ReuseCost {
  const { root, defs } = buildTree(k);
  const levels = levelsOf(r);
  const line = levels[0]!.lineBytes;
  const lanes = Math.max(1, (r.vectorBits ?? 128) / 32);
  const scalarF = r.scalarFlopsPerCycle ?? r.flopsPerCycle / lanes;
  const scalarI = r.scalarIntOpsPerCycle ?? r.intOpsPerCycle / lanes;
  const lat = r.accumulateCycles ?? FMA_LATENCY_CYCLES;

  // compute and L1 (every access; invariant loads of an innermost loop are hoisted into registers)
  let vectorOps = 0;
  let scalarOps = 0;
  let computeCycles = 0;
  let l1Bytes = 0;
  let l1Cycles = 0;
  /**
   * A loop nest with constant bounds and at most TINY_BODY executions of its innermost body is
   * unrolled completely by the compiler: its accesses and ops join the loop around it.
   */
  interface Agg {
    accesses: { a: Access; times: number }[];
    flops: number;
    intOps: number;
    /** Float locals set, with the times each is set per execution. */
    floatSets: { name: string; times: number }[];
    lets: Set<string>;
    hasIf: boolean;
  }
  const tiny = (c: Node, env: ReadonlyMap<string, number>): Agg | null => {
    if (!c.loop || c.loop.lo.k !== 'const' || c.loop.hi.k !== 'const') return null;
    const t = trips(c, env, defs);
    // a loop of a vector's lanes or more is vectorized rather than unrolled
    if (t >= lanes) return null;
    const inner = c.children.map((x) => tiny(x, withVar(env, c, defs)));
    if (inner.some((x) => x === null)) return null;
    const agg: Agg = { accesses: c.accesses.map((a) => ({ a, times: t })), flops: c.flops * t, intOps: c.intOps * t, floatSets: c.floatSets.map((name) => ({ name, times: t })), lets: new Set(c.lets), hasIf: c.hasIf };
    for (const x of inner) {
      for (const a of x!.accesses) agg.accesses.push({ a: a.a, times: a.times * t });
      agg.flops += x!.flops * t;
      agg.intOps += x!.intOps * t;
      for (const f of x!.floatSets) agg.floatSets.push({ name: f.name, times: f.times * t });
      for (const l of x!.lets) agg.lets.add(l);
      agg.hasIf ||= x!.hasIf;
    }
    return agg.accesses.reduce((m, a) => Math.max(m, a.times), t) <= TINY_BODY ? agg : null;
  };
  const visit = (n: Node, env: ReadonlyMap<string, number>, mult: number, parent: Node | null, parentTrips: number): void => {
    const t = trips(n, env, defs);
    const inner = withVar(env, n, defs);
    const merged = n.children.map((c) => tiny(c, inner));
    const innermost = n.loop !== null && merged.every((m) => m !== null);
    const accesses = innermost ? [...n.accesses.map((a) => ({ a, times: 1 })), ...merged.flatMap((m) => m!.accesses)] : n.accesses.map((a) => ({ a, times: 1 }));
    const flops = n.flops + (innermost ? merged.reduce((s, m) => s + m!.flops, 0) : 0);
    const intOps = n.intOps + (innermost ? merged.reduce((s, m) => s + m!.intOps, 0) : 0);
    // a float local set in the loop but declared outside it carries a dependence from one iteration to the next
    const declared = new Set([...n.lets, ...(innermost ? merged.flatMap((m) => [...m!.lets]) : [])]);
    const sets = [...n.floatSets.map((name) => ({ name, times: 1 })), ...(innermost ? merged.flatMap((m) => m!.floatSets) : [])];
    // a float store to the same element on every iteration is an accumulator too (the compiler keeps it in a register)
    const memAcc = innermost ? accesses.filter(({ a }) => a.store && a.float && a.aff !== null && !a.aff.co.has(n.loop!.v)).reduce((acc, x) => acc + x.times, 0) : 0;
    const floatSets = sets.filter((f) => !declared.has(f.name)).reduce((acc, f) => acc + f.times, 0) + memAcc;
    // independent accumulators run in parallel: the chain per iteration is the most updates of one of them
    const perName = new Map<string, number>();
    for (const f of sets) if (!declared.has(f.name)) perName.set(f.name, (perName.get(f.name) ?? 0) + f.times);
    const chain = Math.max(memAcc > 0 ? 1 : 0, ...perName.values());
    // straight-line code over consecutive elements (a register-blocked micro-kernel) is SLP-vectorized
    const slp = innermost ? Math.min(lanes, slpWidth(accesses.map((x) => x.a))) : 1;
    const hasIf = n.hasIf || (innermost && merged.some((m) => m!.hasIf));
    const v = n.loop?.v;
    const unit = (a: Access, w: string): boolean => a.aff !== null && [0, 1].includes(a.aff.co.get(w) ?? 0) && !(a.store && (a.aff.co.get(w) ?? 0) === 0);
    const vec = innermost && t >= lanes && !hasIf && floatSets === 0 && accesses.every(({ a }) => unit(a, v!));
    // an accumulator loop inside a loop whose iterations are independent and unit-stride: the
    // compiler vectorizes the outer loop (one accumulator per lane)
    const pv = parent?.loop?.v;
    const outerVec =
      innermost && !vec && floatSets > 0 && !hasIf && pv !== undefined && parent!.children.length === 1 && parentTrips >= lanes &&
      accesses.every(({ a }) => a.aff !== null && [0, 1].includes(a.aff.co.get(pv) ?? 0)) &&
      parent!.accesses.every((a) => unit(a, pv));
    const execs = mult * t;
    const ops = flops + intOps;
    if (vec || outerVec) {
      vectorOps += ops * execs;
      const thr = (flops * execs) / r.flopsPerCycle + (intOps * execs) / r.intOpsPerCycle;
      computeCycles += Math.max(thr, outerVec ? (floatSets * execs * lat) / lanes : 0);
    } else if (slp >= 4) {
      vectorOps += ops * execs;
      const thr = (flops * execs) / Math.min(r.flopsPerCycle, scalarF * slp) + (intOps * execs) / Math.min(r.intOpsPerCycle, scalarI * slp);
      computeCycles += Math.max(thr, chain * execs * lat);
    } else {
      scalarOps += ops * execs;
      const thr = (flops * execs) / scalarF + (intOps * execs) / scalarI;
      computeCycles += Math.max(thr, chain * execs * lat);
    }
    for (const { a, times } of accesses) {
      const invariant = innermost && a.aff !== null && !a.aff.co.has(v!);
      const count = (invariant ? mult : execs) * times;
      l1Bytes += count * a.e;
      l1Cycles += vec || outerVec ? (count * a.e) / levels[0]!.bytesPerCycle : count / (SCALAR_ACCESSES_PER_CYCLE * (slp >= 4 ? slp : 1));
    }
    if (!innermost) for (const c of n.children) visit(c, inner, execs, n, t);
  };
  for (const a of root.accesses) {
    l1Bytes += a.e;
    l1Cycles += 1 / SCALAR_ACCESSES_PER_CYCLE;
  }
  for (const c of root.children) visit(c, new Map(), 1, null, 1);

  // lower bound: compulsory bytes, and the contraction bound per level
  const whole = collect(root, new Map(), defs);
  const bufs = new Map<KBuffer, number>();
  for (const { a } of whole.acc) bufs.set(a.buf, a.e);
  let compulsory = 0;
  for (const [b, e] of bufs) compulsory += bufferSize(b) * e;
  const macs = contractionMacs(defs, k);
  const e0 = Math.min(4, ...bufs.values());

  const out: LevelTraffic[] = [{ name: levels[0]!.name, bytes: l1Bytes, bytesPerCycle: levels[0]!.bytesPerCycle, cycles: l1Cycles, measured: levels[0]!.measured, boundBytes: compulsory }];
  // warm caches: data a kernel touches that fits a level is there from the kernel (or run) before
  const total = root.children.reduce((s, c) => s + footprint(c, new Map(), defs, line), 0);
  for (let i = 1; i < levels.length; i++) {
    const cap = levels[i - 1]!.bytes ?? Infinity;
    const warm = total <= cap;
    const bytes = warm ? 0 : Math.max(0, traffic(root, new Map(), defs, cap, line));
    const boundBytes = warm ? 0 : macs > 0 ? Math.max(compulsory, contractionBoundBytes(macs, cap, e0)) : compulsory;
    out.push({ name: levels[i]!.name, bytes, bytesPerCycle: levels[i]!.bytesPerCycle, cycles: bytes / levels[i]!.bytesPerCycle, measured: levels[i]!.measured, boundBytes });
  }
  // L1's own bound: every operand read once from L1 at the vector rate
  let memoryCycles = 0;
  let bound = 'compute';
  for (const l of out) {
    if (l.cycles > memoryCycles) {
      memoryCycles = l.cycles;
      if (l.cycles > computeCycles) bound = l.name;
    }
  }
  const estCycles = Math.max(computeCycles, memoryCycles);
  const ops = vectorOps + scalarOps;
  const boundCycles = Math.max(ops / Math.max(r.flopsPerCycle, r.intOpsPerCycle), ...out.map((l) => l.boundBytes / l.bytesPerCycle));
  return {
    levels: out,
    vectorOps,
    scalarOps,
    computeCycles,
    memoryCycles,
    estCycles,
    estSeconds: estCycles / r.clockHz,
    bound,
    lowerBound: { kind: macs > 0 ? 'contraction' : 'compulsory', macs, compulsoryBytes: compulsory, cycles: boundCycles },
    boundDistance: boundCycles > 0 ? estCycles / boundCycles : 1,
  };
}

/** Footprint in bytes of a whole kernel's nest (tests and the report). */
export function kernelFootprint(k: Kernel, lineBytes = 64): number {
  const { root, defs } = buildTree(k);
  let f = 0;
  for (const c of root.children) f += footprint(c, new Map(), defs, lineBytes);
  return f;
}

/** Bytes moved into a fast memory of `capacity` bytes for one run of the kernel (tests and the report). */
export function kernelTraffic(k: Kernel, capacity: number, lineBytes = 64): number {
  const { root, defs } = buildTree(k);
  return traffic(root, new Map(), defs, capacity, lineBytes);
}
