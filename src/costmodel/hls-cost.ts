/**
 * Resource and initiation-interval model of a kernel rendered as HLS-C (src/backends/hls), for the
 * hls-fold pass's ILP and the report. Estimates from per-operator figures (below), not synthesis
 * results: they rank foldings, they do not promise what Vitis HLS will report.
 *
 * A kernel is modelled by its innermost loops (each pipelined, one iteration per II cycles) and the
 * straight-line code around them. The fold site of a kernel is its innermost loop with the most
 * iterations; a fold factor U unrolls it U times (`unroll U`), multiplying the operators of its body
 * and cyclically partitioning the arrays it indexes with its variable into U banks.
 *  - II of a fold site = max(recurrence, ports): a loop whose iterations depend on each other
 *    (src/ir/kernel/parallel.ts) carries a float chain of U adds (HLS keeps float order: unrolling
 *    gains nothing) or an integer tree (1 cycle); a program input/output on an m_axi port gives one
 *    access per cycle, so U accesses a cycle need U cycles.
 *  - cycles = outer trips × (ceil(trips / U) × II + pipeline depth).
 *  - DSP per multiply from the operand widths and the DSP slice's multiplier (e.g. 27×18): an
 *    integer multiply of values widened from int8 costs one slice; float figures are those of the
 *    usual Vitis floating-point cores (f32 add 2, mul 3; f64 add 3, mul 11).
 *  - BRAM18K of an array: banks × ceil(bits per bank / 18 Kib); an array of 1 Kib or less per bank
 *    is LUTRAM (LUTs, no BRAM). Arrays between layers are ping-pong buffers (twice).
 */
import { indexInterval, loopIsParallel, mentions, type Interval } from '../ir/kernel/parallel.js';
import { bufferSize, storageOf, type Expr, type KBuffer, type Kernel, type Program, type ScalarType, type Stmt } from '../ir/kernel/types.js';

export type For = Stmt & { k: 'for' };

export interface HlsPart {
  name: string;
  dsp: number;
  bram18k: number;
  lut: number;
  ff: number;
  /** 288 Kib UltraRAM blocks. */
  uram: number;
  /** Signed multiplier operand widths of one DSP slice [a, b]. */
  multiplierBits: readonly number[];
  clockMhz: number;
}

export interface Resources {
  dsp: number;
  bram18k: number;
  lut: number;
  ff: number;
}

export const RESOURCE_NAMES: readonly (keyof Resources)[] = ['dsp', 'bram18k', 'lut', 'ff'];

export const zeroResources = (): Resources => ({ dsp: 0, bram18k: 0, lut: 0, ff: 0 });

function addInto(a: Resources, b: Resources, k = 1): void {
  a.dsp += b.dsp * k;
  a.bram18k += b.bram18k * k;
  a.lut += b.lut * k;
  a.ff += b.ff * k;
}

/** One kernel at one fold factor. */
export interface FoldPoint {
  /** Unroll of the fold site. */
  factor: number;
  /** Requested pipeline II of the kernel's loops (operators shared by that many iterations; 1: none). */
  share: number;
  /** Cycles of one run of the kernel (its latency; in a dataflow design also its interval). */
  cycles: number;
  /** II of the fold site's pipeline at this factor. */
  ii: number;
  /** Resources of the kernel's operators and of the banks its fold adds to its arrays. */
  res: Resources;
}

export interface KernelModel {
  kernel: Kernel;
  /** The fold site (null: a kernel without loops). */
  site: For | null;
  /** Trip count of the fold site (upper estimate when its bounds are not literal). */
  siteTrips: number;
  /** Candidate factors, ascending, 1 first. */
  points: FoldPoint[];
  /** Whether the fold site's iterations depend on each other. */
  recurrence: boolean;
  /** Whether the fold site accesses an m_axi port (one access per cycle). */
  portBound: boolean;
  /** Bits of the widest integer accumulation in the kernel that cannot overflow (null: no integer sums). */
  accBits: number | null;
}

/** Latency in cycles and resources of one operator instance. */
interface OpCost {
  lat: number;
  dsp: number;
  lut: number;
  ff: number;
}

const floatBits = (t: ScalarType): number => (t === 'f64' ? 64 : 32);
const isFloatT = (t: ScalarType): boolean => t === 'f32' || t === 'f64' || t === 'f16' || t === 'bf16' || t.startsWith('f8') || t === 'f4e2m1';

export function intBits(t: ScalarType): number {
  switch (t) {
    case 'bool': return 1;
    case 'i2': case 'u2': return 2;
    case 'i4': case 'u4': return 4;
    case 'i8': case 'u8': return 8;
    case 'i16': case 'u16': return 16;
    case 'i64': case 'u64': return 64;
    default: return 32;
  }
}

/** Bits of the values an integer local really carries (from its initializer; an accumulator that is `set` keeps its type's width). */
export type WidthEnv = ReadonlyMap<string, number>;

/** Signed bits an integer operand really carries: a cast from a narrower integer keeps the narrow width. */
function effectiveBits(e: Expr, env: WidthEnv): number {
  const full = e.t === 'index' ? 32 : isFloatT(e.t) ? 64 : intBits(e.t);
  switch (e.k) {
    case 'cast': {
      if (isFloatT(e.a.t) || e.a.t === 'index') return full;
      const unsigned = e.a.t.startsWith('u') || e.a.t === 'bool';
      const inner = e.a.k === 'load' || e.a.k === 'var' || e.a.k === 'const' ? intBits(e.a.t) + (unsigned ? 1 : 0) : effectiveBits(e.a, env);
      return Math.min(full, e.a.k === 'var' ? effectiveBits(e.a, env) : inner);
    }
    case 'const': return typeof e.v === 'number' && Number.isInteger(e.v) ? Math.min(full, Math.max(2, Math.ceil(Math.log2(Math.abs(e.v) + 1)) + 1)) : full;
    case 'var': return Math.min(full, env.get(e.name) ?? full);
    case 'load': return full + (e.t.startsWith('u') && full < 32 ? 1 : 0);
    case 'bin':
      if (e.op === 'add' || e.op === 'sub') return Math.min(full, Math.max(effectiveBits(e.a, env), effectiveBits(e.b, env)) + 1);
      if (e.op === 'mul') return Math.min(full, effectiveBits(e.a, env) + effectiveBits(e.b, env));
      if (e.op === 'min' || e.op === 'max') return Math.max(effectiveBits(e.a, env), effectiveBits(e.b, env));
      return full;
    case 'select': return Math.max(effectiveBits(e.a, env), effectiveBits(e.b, env));
    default: return full;
  }
}

/** The widths of a kernel's integer locals. */
export function widthEnv(k: Kernel): Map<string, number> {
  const sets = new Set<string>();
  const lets: { name: string; t: ScalarType; init: Expr }[] = [];
  const walk = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      if (s.k === 'set') sets.add(s.name);
      else if (s.k === 'let') lets.push(s);
      else if (s.k === 'for') walk(s.body);
      else if (s.k === 'if') {
        walk(s.then);
        walk(s.else);
      }
    }
  };
  walk(k.body);
  const env = new Map<string, number>();
  for (const l of lets) {
    if (isFloatT(l.t) || l.t === 'index') continue;
    env.set(l.name, sets.has(l.name) ? intBits(l.t) : effectiveBits(l.init, env));
  }
  return env;
}

interface Ctx {
  part: HlsPart;
  env: WidthEnv;
}

function mulDsp(a: Expr, b: Expr, cx: Ctx): number {
  const [ma, mb] = [cx.part.multiplierBits[0] ?? 18, cx.part.multiplierBits[1] ?? 18];
  const wa = effectiveBits(a, cx.env);
  const wb = effectiveBits(b, cx.env);
  // small products are cheaper in LUTs; HLS maps them there
  if (wa * wb <= 40) return 0;
  const [x, y] = wa >= wb ? [wa, wb] : [wb, wa];
  return Math.ceil(x / ma) * Math.ceil(y / mb);
}

const TRANSCENDENTAL: OpCost = { lat: 20, dsp: 8, lut: 2500, ff: 2500 };

function opCost(e: Expr, cx: Ctx): OpCost {
  const t = e.k === 'bin' || e.k === 'un' || e.k === 'cast' ? (e.k === 'cast' ? e.a.t : e.a.t) : e.t;
  if (t === 'index') return { lat: 0, dsp: 0, lut: 0, ff: 0 };
  if (isFloatT(t)) {
    const x = floatBits(t) === 64 ? 3 : 1;
    if (e.k === 'bin') {
      switch (e.op) {
        case 'add': case 'sub': return { lat: 4, dsp: 2 + (x > 1 ? 1 : 0), lut: 220 * x, ff: 350 * x };
        case 'mul': return { lat: 3, dsp: x > 1 ? 11 : 3, lut: 100 * x, ff: 150 * x };
        case 'div': case 'mod': case 'fmod': return { lat: 12, dsp: 0, lut: 800 * x, ff: 1200 * x };
        case 'pow': case 'atan2': return { ...TRANSCENDENTAL, dsp: TRANSCENDENTAL.dsp * x, lut: TRANSCENDENTAL.lut * x };
        default: return { lat: 1, dsp: 0, lut: 60 * x, ff: 40 * x };
      }
    }
    if (e.k === 'un') {
      switch (e.op) {
        case 'neg': case 'abs': case 'isnan': case 'isinf': case 'sign': case 'not': return { lat: 0, dsp: 0, lut: 32 * x, ff: 0 };
        case 'sqrt': case 'recip': return { lat: 12, dsp: 0, lut: 600 * x, ff: 900 * x };
        case 'floor': case 'ceil': case 'round': case 'trunc': return { lat: 2, dsp: 0, lut: 200 * x, ff: 150 * x };
        default: return { ...TRANSCENDENTAL, dsp: TRANSCENDENTAL.dsp * x, lut: TRANSCENDENTAL.lut * x };
      }
    }
    return { lat: 2, dsp: 0, lut: 150 * x, ff: 100 * x };
  }
  const w = intBits(t);
  if (e.k === 'bin') {
    switch (e.op) {
      case 'mul': {
        const dsp = mulDsp(e.a, e.b, cx);
        return dsp > 0 ? { lat: 3, dsp, lut: 10, ff: 2 * w } : { lat: 1, dsp: 0, lut: Math.ceil((effectiveBits(e.a, cx.env) * effectiveBits(e.b, cx.env)) / 2), ff: w };
      }
      case 'div': case 'mod': return { lat: w + 2, dsp: 0, lut: w * w, ff: w * w };
      case 'pow': return { lat: 20, dsp: 4, lut: 20 * w, ff: 20 * w };
      default: {
        // adders as wide as the values they carry
        const v = Math.min(w, effectiveBits(e, cx.env));
        return { lat: 1, dsp: 0, lut: v, ff: v };
      }
    }
  }
  return { lat: 0, dsp: 0, lut: Math.ceil(w / 2), ff: 0 };
}

/** Sum of operator costs of an expression tree (latency: the longest path). */
function exprCost(e: Expr, cx: Ctx): OpCost {
  const kids: Expr[] = e.k === 'bin' ? [e.a, e.b] : e.k === 'un' || e.k === 'cast' ? [e.a] : e.k === 'select' ? [e.c, e.a, e.b] : e.k === 'load' ? [e.idx] : [];
  const own = e.k === 'const' || e.k === 'var' ? { lat: 0, dsp: 0, lut: 0, ff: 0 } : e.k === 'load' ? { lat: 2, dsp: 0, lut: 0, ff: 0 } : opCost(e, cx);
  let lat = 0;
  const sum = { ...own };
  for (const k of kids) {
    const c = exprCost(k, cx);
    lat = Math.max(lat, c.lat);
    sum.dsp += c.dsp;
    sum.lut += c.lut;
    sum.ff += c.ff;
  }
  return { ...sum, lat: own.lat + lat };
}

function stmtsCost(ss: readonly Stmt[], cx: Ctx): OpCost {
  const out = { lat: 0, dsp: 0, lut: 0, ff: 0 };
  for (const s of ss) {
    const parts: Expr[] = s.k === 'store' ? [s.idx, s.val] : s.k === 'let' ? [s.init] : s.k === 'set' ? [s.val] : s.k === 'if' ? [s.c] : [];
    for (const e of parts) {
      const c = exprCost(e, cx);
      out.lat = Math.max(out.lat, c.lat);
      out.dsp += c.dsp;
      out.lut += c.lut;
      out.ff += c.ff;
    }
    if (s.k === 'if') {
      const a = stmtsCost(s.then, cx);
      const b = stmtsCost(s.else, cx);
      out.lat = Math.max(out.lat, a.lat, b.lat);
      out.dsp += a.dsp + b.dsp;
      out.lut += a.lut + b.lut;
      out.ff += a.ff + b.ff;
    }
  }
  return out;
}

/** Largest trip count of a loop given the ranges around it; null when its bounds are unbounded. */
export function maxTrips(l: For, env: ReadonlyMap<string, Interval>): number | null {
  const lo = indexInterval(l.lo, env);
  const hi = indexInterval(l.hi, env);
  const n = Math.floor(hi.hi - lo.lo);
  return Number.isFinite(n) ? Math.max(0, n) : null;
}

/** Calls `visit` for every load and store in the statements (storage buffer, index, whether a store). */
export function forEachAccess(ss: readonly Stmt[], visit: (buf: KBuffer, idx: Expr, store: boolean) => void): void {
  const visitE = (e: Expr): void => {
    switch (e.k) {
      case 'load': visit(storageOf(e.buf), e.idx, false); visitE(e.idx); break;
      case 'bin': visitE(e.a); visitE(e.b); break;
      case 'un': case 'cast': visitE(e.a); break;
      case 'select': visitE(e.c); visitE(e.a); visitE(e.b); break;
      default: break;
    }
  };
  const visitS = (s: Stmt): void => {
    switch (s.k) {
      case 'for': visitE(s.lo); visitE(s.hi); s.body.forEach(visitS); break;
      case 'store': visit(storageOf(s.buf), s.idx, true); visitE(s.idx); visitE(s.val); break;
      case 'let': visitE(s.init); break;
      case 'set': visitE(s.val); break;
      case 'if': visitE(s.c); s.then.forEach(visitS); s.else.forEach(visitS); break;
    }
  };
  ss.forEach(visitS);
}

/** Buffers (their storage) indexed with the loop's variable inside its body. */
export function buffersIndexedBy(l: For): KBuffer[] {
  const out = new Set<KBuffer>();
  forEachAccess(l.body, (b, idx) => {
    if (mentions(idx, l.v)) out.add(b);
  });
  return [...out];
}

/** Cyclic partition factor of each array: the largest unroll of a loop that indexes it with its variable. */
export function partitionFactors(program: Program): Map<KBuffer, number> {
  const out = new Map<KBuffer, number>();
  const walk = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      if (s.k === 'for') {
        const u = s.ann.unroll ?? 1;
        if (u > 1) for (const b of buffersIndexedBy(s)) out.set(b, Math.max(out.get(b) ?? 1, Math.min(u, Math.max(1, bufferSize(b)))));
        walk(s.body);
      } else if (s.k === 'if') {
        walk(s.then);
        walk(s.else);
      }
    }
  };
  for (const k of program.kernels) walk(k.body);
  return out;
}

/** Storage bits of one element as the HLS-C code holds it. */
export function elementBits(t: ScalarType): number {
  if (t === 'f32') return 32;
  if (t === 'f64') return 64;
  if (t === 'f16' || t === 'bf16') return 16;
  if (isFloatT(t)) return 8;
  if (t === 'index') return 32;
  const w = intBits(t);
  return w < 8 ? 8 : w;
}

/** BRAM18K and LUTs of an array in `banks` cyclic banks. */
export function arrayResources(b: KBuffer, banks: number): Resources {
  const bits = bufferSize(b) * elementBits(b.dtype);
  const per = Math.ceil(bits / banks);
  if (per <= 1024) return { dsp: 0, bram18k: 0, lut: Math.ceil((per * banks) / 64) + (bits > 0 ? 4 * banks : 0), ff: 0 };
  return { dsp: 0, bram18k: banks * Math.ceil(per / 18432), lut: 8 * banks, ff: 0 };
}

function innermostLoops(ss: readonly Stmt[], env: Map<string, Interval>, outer: number, out: { loop: For; outer: number; trips: number }[], fallback: number): void {
  for (const s of ss) {
    if (s.k === 'for') {
      const trips = maxTrips(s, env) ?? fallback;
      const inner = new Map(env);
      const lo = indexInterval(s.lo, env);
      const hi = indexInterval(s.hi, env);
      inner.set(s.v, { lo: lo.lo, hi: hi.hi - 1 });
      const hasLoop = containsLoop(s.body);
      if (!hasLoop) out.push({ loop: s, outer, trips });
      else innermostLoops(s.body, inner, outer * Math.max(1, trips), out, fallback);
    } else if (s.k === 'if') {
      innermostLoops(s.then, env, outer, out, fallback);
      innermostLoops(s.else, env, outer, out, fallback);
    } else if (s.k === 'let' && s.t === 'index') {
      env.set(s.name, indexInterval(s.init, env));
    }
  }
}

function containsLoop(ss: readonly Stmt[]): boolean {
  return ss.some((s) => s.k === 'for' || (s.k === 'if' && (containsLoop(s.then) || containsLoop(s.else))));
}

/** Count of statements outside any loop (each a cycle or so). */
function straightLine(ss: readonly Stmt[]): number {
  let n = 0;
  for (const s of ss) {
    if (s.k === 'for') continue;
    n++;
    if (s.k === 'if') n += straightLine(s.then) + straightLine(s.else);
  }
  return n;
}

/** Loads/stores per iteration of a loop body to the given buffers (program inputs/outputs on m_axi): the most to one buffer. */
function portAccesses(l: For, ports: ReadonlySet<KBuffer>): number {
  const count = new Map<KBuffer, number>();
  forEachAccess(l.body.filter((s) => s.k !== 'for'), (b) => {
    if (ports.has(b)) count.set(b, (count.get(b) ?? 0) + 1);
  });
  return Math.max(0, ...count.values());
}

/** Whether a loop's carried dependence goes through float arithmetic (kept in order by HLS). */
function floatChain(l: For): boolean {
  let f = false;
  const visit = (s: Stmt): void => {
    if (s.k === 'set') f ||= isFloatT(s.val.t);
    else if (s.k === 'store') f ||= isFloatT(s.val.t);
    else if (s.k === 'if') {
      s.then.forEach(visit);
      s.else.forEach(visit);
    }
  };
  l.body.forEach(visit);
  return f;
}

/** Bits a sum of `terms` products of integer operands needs so it cannot overflow. */
function accumulatorBits(l: For, trips: number, env: WidthEnv): number | null {
  let widest: number | null = null;
  const visit = (s: Stmt): void => {
    if (s.k === 'set' && !isFloatT(s.val.t) && s.val.t !== 'index' && s.val.k === 'bin' && s.val.op === 'add') {
      const term = effectiveBits(s.val.b, env);
      const bits = term + Math.ceil(Math.log2(Math.max(1, trips) + 1));
      widest = Math.max(widest ?? 0, bits);
    } else if (s.k === 'if') {
      s.then.forEach(visit);
      s.else.forEach(visit);
    }
  };
  l.body.forEach(visit);
  return widest;
}

const PIPELINE_DEPTH_BASE = 3;
const KERNEL_BASE: Resources = { dsp: 0, bram18k: 0, lut: 150, ff: 200 };
/** Largest fold factor considered. */
export const MAX_FACTOR = 256;

/** Largest pipeline II a kernel may be folded to (operators shared by that many iterations). */
export const MAX_SHARE = 128;

interface LoopModel {
  loop: For;
  outer: number;
  trips: number;
  cost: OpCost;
  parallel: boolean;
  fchain: boolean;
  portAcc: number;
}

/**
 * The fold points of a kernel, most folded first: pipelines at II = s (s = MAX_SHARE … 2: each
 * operator shared by s iterations, the FINN/hls4ml "reuse factor"), then II = 1 with the fold site
 * unrolled U = 1, 2, 4 … times. `ports`: buffers on m_axi ports (one access per cycle each).
 */
export function modelKernel(k: Kernel, part: HlsPart, ports: ReadonlySet<KBuffer>, fallbackTrips: number): KernelModel {
  const found: { loop: For; outer: number; trips: number }[] = [];
  innermostLoops(k.body, new Map(), 1, found, fallbackTrips);
  const cx: Ctx = { part, env: widthEnv(k) };
  let accBits: number | null = null;
  const loops: LoopModel[] = found.map((l) => {
    const acc = accumulatorBits(l.loop, l.trips, cx.env);
    if (acc !== null) accBits = Math.max(accBits ?? 0, acc);
    const parallel = loopIsParallel(l.loop);
    return { ...l, cost: stmtsCost(l.loop.body, cx), parallel, fchain: !parallel && floatChain(l.loop), portAcc: ports.size ? portAccesses(l.loop, ports) : 0 };
  });
  let site: LoopModel | null = null;
  for (const l of loops) if (!site || l.outer * l.trips > site.outer * site.trips) site = l;
  const straight = straightLine(k.body);
  const point = (u: number, share: number): FoldPoint => {
    let cycles = straight;
    let siteIi = 1;
    const res = { ...KERNEL_BASE };
    for (const l of loops) {
      const f = l === site ? u : 1;
      const rec = l.parallel ? 1 : l.fchain ? f * Math.max(1, l.cost.lat) : 1;
      const ii = Math.max(1, rec, l.portAcc * f, share);
      if (l === site) siteIi = ii;
      const depth = PIPELINE_DEPTH_BASE + l.cost.lat + Math.ceil(Math.log2(f));
      cycles += l.outer * (Math.ceil(l.trips / f) * ii + depth);
      // operators shared by `share` iterations, plus the multiplexers that sharing needs
      res.dsp += Math.ceil((l.cost.dsp * f) / share);
      res.lut += Math.ceil(((l.cost.lut + 40) * f) / share) + (share > 1 ? Math.ceil(l.cost.lut / 10) : 0);
      res.ff += Math.ceil(((l.cost.ff + 40) * f) / share);
    }
    if (site && u > 1) {
      // the banks this fold adds to the arrays it indexes (beyond one bank each; ports are not partitioned)
      for (const b of buffersIndexedBy(site.loop)) {
        if (ports.has(b)) continue;
        const banks = Math.min(u, Math.max(1, bufferSize(b)));
        addInto(res, arrayResources(b, banks));
        addInto(res, arrayResources(b, 1), -1);
        res.lut += Math.ceil(Math.log2(banks)) * elementBits(b.dtype) * u;
      }
    }
    return { factor: u, share, cycles: Math.max(1, cycles), ii: siteIi, res };
  };
  const points: FoldPoint[] = [];
  const ops = Math.max(1, ...loops.map((l) => l.cost.dsp + Math.ceil(l.cost.lut / 100)));
  const maxShare = Math.min(MAX_SHARE, 2 ** Math.ceil(Math.log2(ops)));
  for (let sh = maxShare; sh >= 2; sh /= 2) points.push(point(1, sh));
  const limit = site ? Math.min(MAX_FACTOR, Math.max(1, site.trips)) : 1;
  for (let f = 1; f < limit; f *= 2) points.push(point(f, 1));
  points.push(point(limit, 1));
  return { kernel: k, site: site?.loop ?? null, siteTrips: site?.trips ?? 0, points, recurrence: site ? !site.parallel : false, portBound: (site?.portAcc ?? 0) > 0, accBits };
}

/** UltraRAM blocks of an array (288 Kib each), twice for a ping-pong buffer. */
export function uramBlocks(b: KBuffer): number {
  return 2 * Math.ceil((bufferSize(b) * elementBits(b.dtype)) / 294912);
}

/**
 * Intermediate tensors placed in UltraRAM, largest first, while `blocks` last: arrays of at least
 * 4 BRAM18K (URAM cannot hold initialized constants, so only temps).
 */
export function placeUram(program: Program, ports: ReadonlySet<KBuffer>, blocks: number): { arrays: KBuffer[]; used: number } {
  const temps = [...new Set(program.buffers.map(storageOf))].filter((b) => b.role === 'temp' && !ports.has(b) && bufferSize(b) * elementBits(b.dtype) > 4 * 18432);
  temps.sort((a, b) => bufferSize(b) * elementBits(b.dtype) - bufferSize(a) * elementBits(a.dtype) || a.id - b.id);
  const arrays: KBuffer[] = [];
  let used = 0;
  for (const b of temps) {
    const n = uramBlocks(b);
    if (used + n > blocks) continue;
    arrays.push(b);
    used += n;
  }
  return { arrays, used };
}

/** Buffers (storage) a kernel loads or stores. */
export function kernelUses(k: Kernel): Set<KBuffer> {
  const out = new Set<KBuffer>();
  forEachAccess(k.body, (b) => out.add(b));
  return out;
}

/**
 * For a sequential design: intermediate tensors whose kernels do not overlap share one array (same
 * element type, sized for the largest), first fit in order of first use. Returns each shared
 * tensor's host (the first tensor of its slot); tensors alone in their slot are left out.
 */
export function shareArrays(program: Program, skip: ReadonlySet<KBuffer>): Map<KBuffer, KBuffer> {
  const first = new Map<KBuffer, number>();
  const last = new Map<KBuffer, number>();
  program.kernels.forEach((k, i) => {
    for (const b of kernelUses(k)) {
      if (b.role !== 'temp' || skip.has(b)) continue;
      if (!first.has(b)) first.set(b, i);
      last.set(b, i);
    }
  });
  const slots: { host: KBuffer; free: number }[] = [];
  const out = new Map<KBuffer, KBuffer>();
  const order = [...first.keys()].sort((a, b) => first.get(a)! - first.get(b)! || a.id - b.id);
  for (const b of order) {
    const slot = slots.find((s) => s.host.dtype === b.dtype && s.free < first.get(b)!);
    if (slot) {
      out.set(b, slot.host);
      slot.free = last.get(b)!;
    } else slots.push({ host: b, free: last.get(b)! });
  }
  return out;
}

/** Resources of the arrays at one bank each (temps `tempCopies` times: 2 for ping-pong buffers; ports excluded). */
export function baseArrayResources(program: Program, ports: ReadonlySet<KBuffer>, tempCopies = 2, shared: ReadonlyMap<KBuffer, KBuffer> = new Map()): Resources {
  const r = zeroResources();
  const seen = new Set<KBuffer>();
  // a shared array is as large as its largest tensor
  const size = new Map<KBuffer, number>();
  for (const [b, host] of shared) size.set(host, Math.max(size.get(host) ?? bufferSize(host), bufferSize(b)));
  for (const b of program.buffers) {
    const root = storageOf(b);
    if (seen.has(root) || ports.has(root) || shared.has(root)) continue;
    seen.add(root);
    const arr = size.has(root) ? { ...root, shape: [size.get(root)!] } : root;
    addInto(r, arrayResources(arr, 1), root.role === 'temp' ? tempCopies : 1);
  }
  return r;
}

export function addResources(a: Resources, b: Resources): Resources {
  const r = { ...a };
  addInto(r, b);
  return r;
}
