/**
 * Kernel-level fusion: an elementwise kernel that reads exactly the element another kernel just
 * stored is folded into that kernel's store (an epilogue: bias, activation, residual add, clip, …),
 * and chains of elementwise kernels become one loop nest. It works on the kernel IR alone, never on
 * the op a kernel came from, so every backend gets it.
 *
 * When the producer is itself elementwise (a chain), E runs at each store of X. When it is not (a
 * convolution/GEMM register tile, a depthwise loop), the chain of elementwise kernels after it is
 * fused into one epilogue first, which then runs after each of the producer's tiles, in a loop of its
 * own over the elements just stored (fuse-tile.ts): an epilogue at each store of a register tile
 * keeps gcc from vectorizing it (measured 2-8x slower C; docs/fusion.md). `tiles=false` keeps
 * epilogues out of such producers.
 *
 * Legality, from access functions:
 *  - the consumer E is *pointwise*: a perfect nest of loops from 0 to constant bounds whose body is
 *    `let`s and one store, at the row-major flat index of the loop variables (it writes each of its N
 *    elements once, in any order);
 *  - of what the group F writes, E reads one buffer X, only at that same flat index, X has exactly N
 *    elements and F is its only writer (so F stores every element of X, and its last store of each
 *    element is the value E reads);
 *  - F does not touch E's output.
 * Then each `store X[i] = v` in F becomes `let t = v; [store X[i] = t;] <E's body at element i>` with
 * E's loads of X replaced by t and its loop variables recovered from i. X disappears (its stores and
 * its buffer) when nothing else reads it; otherwise it is still stored.
 *
 * Which groups form: groups are runs of consecutive kernels (so no kernel moves past another), and a
 * dynamic program over the kernel sequence picks the partition with the smallest predicted time
 * (kernel-cost.ts roofline estimates of the fused kernels themselves), under the fast-memory
 * capacity: a fusion is rejected when the epilogue operands of one register tile of the producer
 * (the stores to X one block runs without a loop between them, all live at once) exceed it. Every fusion and every rejected candidate (a kernel reading what the group
 * before it writes) is recorded in Program.notes (`fusion: …`, printed in the dump) and in
 * ctx.results 'fusion' (report.json).
 */
import { KilnError } from '../ir/errors.js';
import { bufferSize, storageOf, type Expr, type KBuffer, type Kernel, type Program, type ScalarType, type Stmt } from '../ir/kernel/types.js';
import { placeAtTileEnd } from './fuse-tile.js';
import { accesses, declaredNames, linearOf, pointwiseForm, sameLinear, substitutedLets, walkExpr, type Pointwise, type Store } from './fuse-ir.js';
import { getDevice } from '../costmodel/devices.js';
import { kernelCounts } from '../costmodel/kernel-cost.js';
import { byteWidth } from '../ir/dtype.js';
import { DEFAULT_HOST_PROFILE, fpgaRoofline, type Roofline } from '../costmodel/roofline.js';
import { definePass } from './pass.js';
import { planMemory } from './plan-memory.js';
import { analyzeLiveness } from './memory-liveness.js';

/** One decision, as report.json lists it. */
export interface FusionDecision {
  kernels: string[];
  decision: 'fused' | 'rejected';
  reason: string;
  /** Predicted cycles of the kernels apart and fused (roofline of the device). */
  predictedBefore: number;
  predictedAfter: number | null;
}

export const FUSION_RESULT = 'fusion';

/** Longest group considered (the DP is over runs of consecutive kernels). */
const MAX_GROUP = 8;

/** Most groups dropped one by one (one memory plan each) before the arena check drops them in bulk. */
const MAX_ARENA_DROPS = 8;
/** Candidates tried alone in each round of the arena check. */
const ARENA_TRIES = 4;

interface FuseOk {
  /** The fused kernel (built on first use: the tile path builds it only for the groups chosen). */
  readonly kernel: Kernel;
  /** The intermediate buffer E read from F. */
  x: KBuffer;
  /** Whether X is still stored (something else reads it, or it is not a temp). */
  kept: boolean;
}

class Fuser {
  constructor(private readonly tiles: boolean) {}
  private counter = 0;
  /** How many kernels store to each storage buffer, and read it (the whole program). */
  private writers = new Map<KBuffer, number>();
  private readers = new Map<KBuffer, Set<Kernel>>();

  index(kernels: readonly Kernel[]): void {
    this.writers.clear();
    this.readers.clear();
    for (const k of kernels) {
      const a = accesses(k);
      for (const b of a.writes) this.writers.set(b, (this.writers.get(b) ?? 0) + 1);
      for (const b of a.reads) {
        let s = this.readers.get(b);
        if (!s) this.readers.set(b, (s = new Set()));
        s.add(k);
      }
    }
  }

  /** Whether E reads something F writes (a candidate worth explaining when it is rejected). */
  depends(f: Kernel, e: Kernel): boolean {
    const w = accesses(f).writes;
    return [...accesses(e).reads].some((b) => w.has(b));
  }

  /**
   * F with E as its epilogue, or why not. `members` are the original kernels already in F (their
   * reads of X do not keep X alive).
   */
  fuse(f: Kernel, e: Kernel, members: readonly Kernel[]): FuseOk | string {
    const pw = pointwiseForm(e);
    if (typeof pw === 'string') return `@${e.name} is not elementwise: ${pw}`;
    const fa = accesses(f);
    const y = storageOf(pw.store.buf);
    if (fa.writes.has(y) || fa.reads.has(y)) return `@${f.name} touches %${y.name}, which @${e.name} writes`;
    const defs = new Map(pw.lets.map((l) => [l.name, l.init] as const));
    const storeLin = linearOf(pw.store.idx, defs)!;
    let x: KBuffer | null = null;
    let bad: string | null = null;
    const check = (ex: Expr): void => {
      if (ex.k !== 'load' || bad) return;
      const s = storageOf(ex.buf);
      if (!fa.writes.has(s)) return;
      if (x !== null && x !== s) bad = `@${e.name} reads two buffers @${f.name} writes (%${x.name}, %${s.name})`;
      else if (!(() => { const l = linearOf(ex.idx, defs); return l !== null && sameLinear(l, storeLin); })()) bad = `@${e.name} reads %${s.name} at another element than the one it stores`;
      x = s;
    };
    for (const l of pw.lets) walkExpr(l.init, check);
    walkExpr(pw.store.idx, check);
    walkExpr(pw.store.val, check);
    if (bad) return bad;
    if (x === null) return `@${e.name} reads nothing @${f.name} writes`;
    const xb: KBuffer = x;
    if (bufferSize(xb) !== pw.n) return `%${xb.name} has ${bufferSize(xb)} elements, @${e.name} iterates over ${pw.n}`;
    if ((this.writers.get(xb) ?? 0) !== 1) return `%${xb.name} is written by ${this.writers.get(xb) ?? 0} kernels`;
    // X stays when anything but E (and the members fused before) reads it, or it is a program output
    const others = [...(this.readers.get(xb) ?? [])].filter((k) => k !== e && !members.includes(k));
    const keep = xb.role !== 'temp' || others.length > 0 || fa.reads.has(xb);
    const taken = declaredNames(f);
    const fresh = (base: string): string => {
      let n: string;
      do n = `${base}${this.counter++}`; while (taken.has(n));
      taken.add(n);
      return n;
    };
    if (typeof pointwiseForm(f) === 'string') {
      // not elementwise (a convolution/GEMM tile, a depthwise loop): the epilogue goes after each
      // tile's stores, in a loop of its own, so the tile itself stays as the C compiler vectorizes it
      if (!this.tiles) return `@${f.name} is not elementwise and fuse{tiles=false} keeps epilogues out of such loop nests`;
      if (keep && xb.dtype !== y.dtype) return `%${xb.name} stays (${xb.role !== 'temp' ? 'a program buffer' : others.length > 0 ? 'read by another kernel' : `read by @${f.name}`}) and @${e.name} changes its element type (${xb.dtype} -> ${y.dtype})`;
      if (!keep && xb.dtype !== y.dtype) return `@${e.name} changes the element type (${xb.dtype} -> ${y.dtype}), so it cannot work in place in %${y.name} after the tile`;
      if (accesses(e).reads.has(y)) return `@${e.name} reads its own output %${y.name}`;
      let built: Kernel | null = null;
      return {
        get kernel(): Kernel {
          return (built ??= { name: f.name, origin: f.origin, body: placeAtTileEnd(f.body, { x: xb, inPlace: !keep, pw, fresh }) });
        },
        x: xb,
        kept: keep,
      };
    }
    const rewrite = (ss: readonly Stmt[]): Stmt[] => {
      const out: Stmt[] = [];
      for (const s of ss) {
        switch (s.k) {
          case 'for': out.push({ ...s, body: rewrite(s.body) }); break;
          case 'if': out.push({ ...s, then: rewrite(s.then), else: rewrite(s.else) }); break;
          case 'store':
            if (storageOf(s.buf) !== xb) out.push(s);
            else out.push(...this.epilogue(s, xb, keep, pw, fresh));
            break;
          default: out.push(s);
        }
      }
      return out;
    };
    return { kernel: { name: f.name, origin: f.origin, body: rewrite(f.body) }, x: xb, kept: keep };
  }

  /** `store X[i] = v` with E's body after it at element i. */
  private epilogue(s: Store, x: KBuffer, keep: boolean, pw: Pointwise, fresh: (b: string) => string): Stmt[] {
    const out: Stmt[] = [];
    const t = fresh('fv');
    // the consumer must see the value as stored: rounded to X's type (a store rounds; a local of a
    // narrow float type, or an f32 in the interpreter, would not)
    const rounded: Expr = s.val.k === 'load' || s.val.k === 'const' ? s.val : { k: 'cast', t: x.dtype, a: s.val };
    out.push({ k: 'let', name: t, t: x.dtype, init: rounded });
    if (keep) out.push({ k: 'store', buf: s.buf, idx: s.idx, val: { k: 'var', t: x.dtype, name: t } });
    let p: Expr = s.idx;
    if (s.idx.k !== 'var' && s.idx.k !== 'const') {
      const pn = fresh('fi');
      out.push({ k: 'let', name: pn, t: 'index', init: s.idx });
      p = { k: 'var', t: 'index', name: pn };
    }
    const vars = new Map<string, Expr>();
    let stride = pw.n;
    pw.loops.forEach(({ v, n }, i) => {
      stride /= n;
      let e: Expr = stride === 1 ? p : { k: 'bin', t: 'index', op: 'div', a: p, b: { k: 'const', t: 'index', v: stride } };
      if (i > 0) e = { k: 'bin', t: 'index', op: 'mod', a: e, b: { k: 'const', t: 'index', v: n } };
      vars.set(v, e);
    });
    const sub = (e: Expr): Expr => {
      switch (e.k) {
        case 'var': return vars.get(e.name) ?? e;
        case 'const': return e;
        case 'load': return storageOf(e.buf) === x ? { k: 'var', t: e.t, name: t } : { ...e, idx: sub(e.idx) };
        case 'bin': return { ...e, a: sub(e.a), b: sub(e.b) };
        case 'un': case 'cast': return { ...e, a: sub(e.a) };
        case 'select': return { ...e, c: sub(e.c), a: sub(e.a), b: sub(e.b) };
      }
    };
    out.push(...substitutedLets(pw.lets, vars, sub, fresh, (f) => ({ k: 'store', buf: pw.store.buf, idx: p, val: f(pw.store.val) })));
    return out;
  }
}

/**
 * The most stores to `x` one block of F runs without a loop between them (an unrolled register tile:
 * 256 for an 8×32 GEMM tile); the epilogue's operands for all of them are live at once.
 */
function tileStores(ss: readonly Stmt[], x: KBuffer): number {
  let here = 0;
  let inner = 0;
  const scan = (list: readonly Stmt[]): void => {
    for (const s of list) {
      if (s.k === 'store' && storageOf(s.buf) === x) here++;
      else if (s.k === 'if') {
        scan(s.then);
        scan(s.else);
      } else if (s.k === 'for') inner = Math.max(inner, tileStores(s.body, x));
    }
  };
  scan(ss);
  return Math.max(here, inner);
}

type Counts = Pick<ReturnType<typeof kernelCounts>, 'flops' | 'intOps' | 'loadBytes' | 'storeBytes'>;

/** Operation and byte counts of a kernel (counted once per kernel object). */
const countsCache = new WeakMap<Kernel, Counts>();
function countsOf(k: Kernel): Counts {
  let c = countsCache.get(k);
  if (!c) countsCache.set(k, (c = kernelCounts(k)));
  return c;
}

/** Predicted cycles of counts on the roofline. */
function cyclesOfCounts(c: Counts, roof: Roofline): number {
  const bytes = c.loadBytes + c.storeBytes;
  return Math.round(Math.max(c.flops / roof.flopsPerCycle + c.intOps / roof.intOpsPerCycle, bytes / roof.bytesPerCycle));
}

/** Predicted cycles of one kernel on the roofline. */
function cyclesOf(k: Kernel, roof: Roofline): number {
  return cyclesOfCounts(countsOf(k), roof);
}

/**
 * Predicted cycles of a producer with its epilogue after each tile: the producer's work plus the
 * epilogue's (its other operands and its store), in one roofline (compute and memory overlap across
 * the two).
 */
function tiledCycles(head: Kernel, epi: Kernel, x: KBuffer, roof: Roofline): number {
  const a = countsOf(head);
  const b = countsOf(epi);
  // the epilogue runs once per store of X (a producer that stores an element several times runs it
  // as often)
  // the epilogue runs once per store of X: counted when the producer also loads X (it accumulates
  // through memory, storing elements several times); otherwise taken as once per element (an
  // estimate: a producer that overwrites without reading back is costed low)
  const times = readsOf(head).has(x) ? Math.max(1, storesOf(head, x) / bufferSize(x)) : 1;
  // its read of the element just stored hits the cache line the tile wrote: not counted as traffic
  // (as when the epilogue ran at the store)
  const reread = Math.min(b.loadBytes, bufferSize(x) * elemBytes(x.dtype));
  return cyclesOfCounts({ flops: a.flops + b.flops * times, intOps: a.intOps + b.intOps * times, loadBytes: a.loadBytes + (b.loadBytes - reread) * times, storeBytes: a.storeBytes + b.storeBytes * times }, roof);
}

const readsCache = new WeakMap<Kernel, Set<KBuffer>>();
function readsOf(k: Kernel): Set<KBuffer> {
  let r = readsCache.get(k);
  if (!r) readsCache.set(k, (r = accesses(k).reads));
  return r;
}

/** How many stores to X a kernel runs (counted on its control flow and X's stores alone). */
const storesCache = new WeakMap<Kernel, Map<KBuffer, number>>();
function storesOf(k: Kernel, x: KBuffer): number {
  let m = storesCache.get(k);
  if (!m) storesCache.set(k, (m = new Map()));
  const hit = m.get(x);
  if (hit !== undefined) return hit;
  const strip = (ss: readonly Stmt[]): Stmt[] => {
    const out: Stmt[] = [];
    for (const s of ss) {
      if (s.k === 'for') out.push({ ...s, body: strip(s.body) });
      else if (s.k === 'if') out.push({ ...s, then: strip(s.then), else: strip(s.else) });
      else if (s.k === 'let' && (s.t === 'index' || s.t === 'bool')) out.push(s);
      else if (s.k === 'store' && storageOf(s.buf) === x) out.push({ ...s, val: { k: 'const', t: x.dtype, v: 0 } });
    }
    return out;
  };
  const n = kernelCounts({ name: k.name, origin: k.origin, body: strip(k.body) }).storeBytes / elemBytes(x.dtype);
  m.set(x, n);
  return n;
}

/** Bytes E moves per element besides its read of X (its other operands and its store). */
function epilogueBytesPerElement(e: Kernel, x: KBuffer, n: number): number {
  const c = kernelCounts(e);
  return Math.max(0, (c.loadBytes + c.storeBytes) / n - elemBytes(x.dtype));
}

const elemBytes = (t: ScalarType): number => (t === 'index' ? 4 : byteWidth(t));

/** Bytes of one BRAM18K block (18 Kibit, of which 16 Kibit hold data at 8-bit widths and more at 9/18/36). */
const BRAM18K_BYTES = 2304;

/** The roofline and fast-memory capacity of a device profile (host: L1 data cache, mcu: SRAM, fpga: block RAM). */
function deviceFigures(name: string): { roof: Roofline; capacity: number } {
  const d = getDevice(name);
  if (d.kind === 'host') return { roof: d.roofline, capacity: d.caches.find((c) => c.level === 1)?.bytes ?? Infinity };
  if (d.kind === 'mcu' && d.roofline) return { roof: d.roofline, capacity: d.sram.size };
  if (d.kind === 'fpga') return { roof: fpgaRoofline(name), capacity: d.resources.bram18k * BRAM18K_BYTES };
  throw new KilnError('usage', `fuse: device '${name}' has no roofline (a host, mcu or fpga profile of kiln devices)`);
}

function parseBytes(s: string): number {
  const m = /^(\d+)\s*(B|KiB|MiB)?$/.exec(s.trim());
  if (!m) throw new KilnError('usage', `fuse: capacity '${s}' must be bytes, e.g. 32768 or 32KiB`);
  return Number(m[1]) * (m[2] === 'KiB' ? 1024 : m[2] === 'MiB' ? 1024 * 1024 : 1);
}

interface Segment {
  end: number;
  /** Whether the producer is not elementwise (the others run after each of its tiles). */
  tiled: boolean;
  readonly kernel: Kernel;
  cycles: number;
  removed: KBuffer[];
}

/** Fuses the program's kernels in place; returns the decisions. */
export function fuseProgram(program: Program, opts: { device?: string; capacity?: number; keepArena?: boolean; tiles?: boolean } = {}): FusionDecision[] {
  const dev = deviceFigures(opts.device ?? DEFAULT_HOST_PROFILE);
  const capacity = opts.capacity ?? dev.capacity;
  const ks = hoistElementwise(program.kernels);
  const fuser = new Fuser(opts.tiles ?? true);
  fuser.index(ks);
  const single = ks.map((k) => cyclesOf(k, dev.roof));
  // candidate groups from each start, and why each one stops growing
  const segments: Segment[][] = ks.map(() => []);
  const stops = new Map<number, { next: number; reason: string; before: number; after: number | null }>();
  for (let j = 0; j < ks.length; j++) {
    const head = ks[j]!;
    // a producer that is not elementwise takes the chain of elementwise kernels after it as one
    // epilogue (fused among themselves first), placed after each of its tiles
    const tiled = typeof pointwiseForm(head) === 'string';
    let chain: { kernel: Kernel; removed: KBuffer[] } | null = null;
    let f = head;
    let removed: KBuffer[] = [];
    let before = single[j]!;
    for (let i = j + 1; i < ks.length && i - j < MAX_GROUP; i++) {
      const e = ks[i]!;
      if (!fuser.depends(f, e)) break;
      before += single[i]!;
      let epi = e;
      let r: ReturnType<Fuser['fuse']>;
      if (!tiled) r = fuser.fuse(f, e, ks.slice(j, i));
      else {
        let link: ReturnType<Fuser['fuse']> | null = null;
        if (chain !== null) {
          link = fuser.fuse(chain.kernel, e, ks.slice(j + 1, i));
          if (typeof link !== 'string') {
            epi = link.kernel;
            const pw = pointwiseForm(epi);
            if (typeof pw === 'string') link = `the epilogue chain up to @${e.name} is not elementwise once fused (${pw}; %${link.x.name} is still read elsewhere)`;
          }
        }
        r = typeof link === 'string' ? link : fuser.fuse(head, epi, ks.slice(j, i + 1));
        if (typeof r !== 'string') {
          const chainRemoved: KBuffer[] = chain === null ? [] : [...chain.removed, ...(link !== null && typeof link !== 'string' && !link.kept ? [link.x] : [])];
          chain = { kernel: epi, removed: chainRemoved };
          removed = [...chainRemoved];
        }
      }
      if (typeof r === 'string') {
        stops.set(j, { next: i, reason: r, before, after: null });
        break;
      }
      const next = tiled ? tiledCycles(head, epi, r.x, dev.roof) : cyclesOf(r.kernel, dev.roof);
      const tile = tileStores((tiled ? head : f).body, r.x);
      const added = tile * epilogueBytesPerElement(epi, r.x, bufferSize(r.x));
      if (added > capacity) {
        stops.set(j, { next: i, reason: `the epilogue's operands for a tile of ${tile} stores take ${Math.round(added)} B, over the fast-memory capacity ${capacity} B`, before, after: next });
        break;
      }
      if (!r.kept) removed.push(r.x);
      if (tiled) {
        // what the group writes, for the next kernel's dependence test (the kernel itself is built
        // only if the group is chosen)
        const ok = r;
        f = { name: head.name, origin: head.origin, body: [...head.body, ...epi.body] };
        segments[j]!.push({ end: i + 1, tiled: true, get kernel() { return ok.kernel; }, cycles: next, removed: [...removed] });
      } else {
        f = r.kernel;
        segments[j]!.push({ end: i + 1, tiled: false, kernel: f, cycles: next, removed: [...removed] });
      }
    }
  }
  // DP over prefixes: best[i] = least predicted cycles of kernels [0, i)
  const n = ks.length;
  const best = new Array<number>(n + 1).fill(Infinity);
  const choice = new Array<Segment | null>(n + 1).fill(null);
  best[0] = 0;
  for (let j = 0; j < n; j++) {
    if (best[j] === Infinity) continue;
    if (best[j]! + single[j]! < best[j + 1]!) {
      best[j + 1] = best[j]! + single[j]!;
      choice[j + 1] = null;
    }
    for (const s of segments[j]!) {
      // ties go to the larger group: fewer kernels, fewer intermediate buffers
      if (best[j]! + s.cycles <= best[s.end]!) {
        best[s.end] = best[j]! + s.cycles;
        choice[s.end] = s;
      }
    }
  }
  const groups: { start: number; seg: Segment | null }[] = [];
  for (let i = n; i > 0;) {
    const s = choice[i]!;
    const start = s ? segmentStart(segments, s) : i - 1;
    groups.unshift({ start, seg: s });
    i = start;
  }
  // the arena must not grow. The fused program is planned once with the memory planner's heuristics
  // (no ILP) next to the unfused one; only while it is larger, groups are dropped one at a time:
  // candidates are the groups whose fused kernel runs where the fused program has the most bytes live
  // (ties: the least predicted gain), a few tried per round (one plan each), at most MAX_ARENA_DROPS
  // rounds, then every group into a loop nest that is not elementwise goes, then all of them
  const accepted = new Set(groups.filter((g) => g.seg !== null));
  const assemble = (): { kernels: Kernel[]; gone: Set<KBuffer>; at: Map<(typeof groups)[number], number> } => {
    const kernels: Kernel[] = [];
    const gone = new Set<KBuffer>();
    const at = new Map<(typeof groups)[number], number>();
    for (const g of groups) {
      if (g.seg && accepted.has(g)) {
        at.set(g, kernels.length);
        kernels.push(g.seg.kernel);
        for (const b of g.seg.removed) gone.add(b);
      } else kernels.push(...ks.slice(g.start, g.seg ? g.seg.end : g.start + 1));
    }
    return { kernels, gone, at };
  };
  const gain = (g: (typeof groups)[number]): number => ks.slice(g.start, g.seg!.end).reduce((a, _, i) => a + single[g.start + i]!, 0) - g.seg!.cycles;
  const fusedProgram = (kernels: Kernel[], gone: ReadonlySet<KBuffer>): Program => ({ ...program, kernels, buffers: program.buffers.filter((b) => !gone.has(storageOf(b))) });
  const arenaOf = (kernels: Kernel[], gone: ReadonlySet<KBuffer>): number => planMemory(fusedProgram(kernels, gone), { timeLimitMs: 0 }).arenaBytes;
  const grown = new Map<(typeof groups)[number], string>();
  let result = assemble();
  if (accepted.size > 0 && opts.keepArena !== false) {
    const base = arenaOf(program.kernels, new Set());
    let arena = arenaOf(result.kernels, result.gone);
    if (arena > base) {
      // bytes live at each step of the fused program (one liveness analysis)
      const live = liveBytes(fusedProgram(result.kernels, result.gone));
      const order = [...accepted].sort((a, b) => (live[result.at.get(b)!] ?? 0) - (live[result.at.get(a)!] ?? 0) || gain(a) - gain(b) || a.start - b.start);
      const drop = (list: (typeof groups)[number][]): void => {
        for (const g of list) {
          accepted.delete(g);
          grown.set(g, `fusing it makes the planned arena ${arena} B, over the unfused ${base} B`);
        }
        result = assemble();
        arena = arenaOf(result.kernels, result.gone);
      };
      // each round tries the next ARENA_TRIES candidates alone (one plan each): when some of them
      // bring the arena back, the one with the least predicted gain goes; otherwise the first
      let rounds = 0;
      while (arena > base && rounds++ < MAX_ARENA_DROPS) {
        const tries = order.filter((g) => accepted.has(g)).slice(0, ARENA_TRIES);
        if (tries.length === 0) break;
        let pick: (typeof groups)[number] | null = null;
        for (const g of tries) {
          accepted.delete(g);
          const r = assemble();
          accepted.add(g);
          if (arenaOf(r.kernels, r.gone) <= base && (pick === null || gain(g) < gain(pick))) pick = g;
        }
        drop([pick ?? tries[0]!]);
      }
      if (arena > base) drop([...accepted].filter((g) => typeof pointwiseForm(ks[g.start]!) === 'string'));
      if (arena > base) drop([...accepted]);
      if (arena > base) result = { kernels: [...program.kernels], gone: new Set(), at: new Map() }; // the hoisting alone grew it
    }
  }
  const decisions: FusionDecision[] = [];
  for (const g of groups) {
    const end = g.seg ? g.seg.end : g.start + 1;
    const names = ks.slice(g.start, end).map((k) => k.name);
    if (g.seg) {
      const before = ks.slice(g.start, end).reduce((a, _, i) => a + single[g.start + i]!, 0);
      const why = grown.get(g);
      if (why !== undefined) decisions.push({ kernels: names, decision: 'rejected', reason: why, predictedBefore: before, predictedAfter: g.seg.cycles });
      else {
        const how = g.seg.tiled ? `the epilogue runs after each tile of @${names[0]!} (the tile's stores unchanged), on the elements it just stored` : 'reads what the kernel before stored, element by element';
        decisions.push({ kernels: names, decision: 'fused', reason: g.seg.removed.length > 0 ? `${how}; ${g.seg.removed.map((b) => `%${b.name}`).join(', ')} no longer stored` : how, predictedBefore: before, predictedAfter: g.seg.cycles });
      }
    }
    const stop = stops.get(g.start);
    if (stop && stop.next === end) decisions.push({ kernels: [...names, ks[stop.next]!.name], decision: 'rejected', reason: stop.reason, predictedBefore: stop.before, predictedAfter: stop.after });
    // a legal larger group the DP did not take: the cost model found it slower
    const larger = segments[g.start]!.find((x) => x.end === end + 1);
    if (larger) {
      const before = ks.slice(g.start, end + 1).reduce((a, _, i) => a + single[g.start + i]!, 0);
      decisions.push({ kernels: [...names, ks[end]!.name], decision: 'rejected', reason: larger.cycles >= before ? 'the cost model predicts it slower than the kernels apart' : 'the cost model predicts the grouping chosen for these kernels faster', predictedBefore: before, predictedAfter: larger.cycles });
    }
  }
  program.kernels = result.kernels;
  if (result.gone.size > 0) program.buffers = program.buffers.filter((b) => !result.gone.has(storageOf(b)));
  const notes = (program.notes ?? []).filter((t) => !t.startsWith('fusion:'));
  for (const d of decisions) {
    const ks2 = d.kernels.map((k) => `@${k}`).join(' + ');
    const pred = d.predictedAfter === null ? `${d.predictedBefore} cycles predicted apart` : `predicted ${d.predictedBefore} -> ${d.predictedAfter} cycles`;
    notes.push(d.decision === 'fused' ? `fusion: fused ${ks2} (${pred})` : `fusion: rejected ${ks2} because ${d.reason} (${pred})`);
  }
  if (notes.length > 0) program.notes = notes;
  return decisions;
}

/**
 * Moves each elementwise kernel up to right after the latest kernel it depends on, when the kernels
 * it passes neither write what it reads nor touch what it writes (so results are unchanged). The
 * memory-aware order may have put an independent kernel between a producer and its epilogue; groups
 * are runs of consecutive kernels, so this makes the pair a candidate.
 */
function hoistElementwise(kernels: readonly Kernel[]): Kernel[] {
  const ks = [...kernels];
  const acc = new Map(ks.map((k) => [k, accesses(k)] as const));
  for (let i = 1; i < ks.length; i++) {
    const e = ks[i]!;
    if (typeof pointwiseForm(e) === 'string') continue;
    const ea = acc.get(e)!;
    let p = i - 1;
    for (; p >= 0; p--) {
      const a = acc.get(ks[p]!)!;
      if ([...ea.reads].some((b) => a.writes.has(b)) || [...ea.writes].some((b) => a.writes.has(b) || a.reads.has(b))) break;
    }
    // only when the kernel it meets writes what it reads (a fusion candidate)
    if (p < 0 || p >= i - 1 || ![...ea.reads].some((b) => acc.get(ks[p]!)!.writes.has(b))) continue;
    ks.splice(i, 1);
    ks.splice(p + 1, 0, e);
  }
  return ks;
}

/** Bytes of arena blocks live at each kernel step (in-place reuse included). */
function liveBytes(program: Program): number[] {
  const l = analyzeLiveness(program);
  const out = new Array<number>(l.steps).fill(0);
  for (const b of l.blocks) for (let i = b.first; i <= b.last; i++) out[i] = (out[i] ?? 0) + b.size;
  return out;
}

function segmentStart(segments: readonly Segment[][], s: Segment): number {
  return segments.findIndex((list) => list.includes(s));
}

export const fusePass = definePass({
  name: 'fuse',
  level: 'kernel',
  description: 'fuse elementwise kernels into the kernel whose output they read (elementwise chains at its store, epilogues after each tile of a loop nest); groups chosen by a DP over the kernel sequence with kernel-cost estimates; the arena never grows',
  options: {
    enabled: 'false turns the pass off (same as --no-fuse)',
    device: `device profile for the cost model and the fast-memory capacity (host: L1, mcu: SRAM; default ${DEFAULT_HOST_PROFILE})`,
    capacity: 'fast-memory capacity in bytes (e.g. 32KiB), instead of the device\'s',
    tiles: 'false keeps epilogues out of producers that are not elementwise (default true: convolution/GEMM tiles and depthwise loops get the epilogue after each tile, in a loop of its own)',
  },
  run(program, ctx) {
    if (ctx.options.enabled === 'false') return false;
    if (ctx.options.enabled !== undefined && ctx.options.enabled !== 'true') throw new KilnError('usage', `fuse: enabled='${ctx.options.enabled}' must be true or false`);
    const decisions = fuseProgram(program, {
      ...(ctx.options.device !== undefined ? { device: ctx.options.device } : {}),
      ...(ctx.options.capacity !== undefined ? { capacity: parseBytes(ctx.options.capacity) } : {}),
      tiles: ctx.options.tiles !== 'false',
    });
    ctx.results.set(FUSION_RESULT, decisions);
    return decisions.some((d) => d.decision === 'fused');
  },
});
