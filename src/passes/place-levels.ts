/**
 * Memory levels: when a program's arena does not fit on-chip memory, decide which activations live
 * in an external level (e.g. PSRAM) and when they are copied in and out, so that off-chip traffic is
 * smallest while the on-chip arena fits (src/costmodel/levels-ilp.ts has the model).
 *
 * 1. Problem: the blocks of the liveness analysis (buffers sharing memory) with their uses, the
 *    bytes a kernel moves when it accesses the block off-chip, and the bytes copied per boundary.
 * 2. Decision: greedy, and the MIP (HiGHS, time limit) warm-started from it; the MIP's decision is
 *    used only when HiGHS proves it optimal (so the result does not depend on solver speed).
 * 3. Rewrite: every temp buffer gets a clone with its level. A member that is ever off-chip has a
 *    home in the external level (non-resident uses access it there); each time its block enters
 *    on-chip memory it gets a new on-chip buffer, filled by a copy kernel, and a copy kernel writes
 *    it home when it leaves with data the home lacks. Copy kernels are plain loops (KernelBuilder),
 *    so every backend and the interpreter run them.
 * 4. Offsets per level with planMemory (strategies and offset ILP), each level seeing only its own
 *    buffers. When fragmentation makes the on-chip arena exceed the capacity, the capacity given to
 *    the level model is lowered by the excess and the decision repeated.
 */
import { KilnError } from '../ir/errors.js';
import { KernelBuilder, load } from '../ir/kernel/builder.js';
import { storageOf, type Expr, type KBuffer, type Kernel, type Program, type Stmt } from '../ir/kernel/types.js';
import { analyzeLiveness, bufferBytes, elementBytes, type Liveness } from './memory-liveness.js';
import { MEMORY_STRATEGIES, planMemory, type MemoryPlan, type MemoryStrategy, type PlanOptions } from './plan-memory.js';
import { MEMORY_PLAN, type LevelArenaLayout, type LevelsReport } from '../ir/kernel/layout.js';
import { getBoard } from '../costmodel/boards.js';
import { estimateFit } from '../costmodel/mcu-fit.js';
import { definePass, type PassContext } from './pass.js';
import { greedyLevels, levelTraffic, solveLevelsIlp, type LevelBlock, type LevelBoundary, type LevelCopyOut, type LevelDecision, type LevelProblem, type LevelUse } from '../costmodel/levels-ilp.js';

/** Name of the on-chip level (the board's `sram`). */
export const ON_CHIP = 'sram';

/** A static arena of one external level, for the backends (with its own offset plan). */
export interface LevelArena extends LevelArenaLayout {
  plan: MemoryPlan;
}

export type { LevelsReport };

/** The on-chip plan (arena = on-chip level) plus the external arenas. */
export interface LevelPlan extends MemoryPlan {
  levels: LevelArena[];
  levelReport: LevelsReport;
}

export interface ExternalLevel {
  name: string;
  size: number;
}

export interface PlaceLevelsOptions extends PlanOptions {
  /** On-chip bytes the arena may use. */
  capacity: number;
  /** External level (the first one of the board). */
  level: ExternalLevel;
  /** Put each external arena in section `.kiln_<name>` (MCU linker script). */
  sections?: boolean;
  /** Budget of the level MIP in ms (default: timeLimitMs, else 10 000). */
  levelTimeLimitMs?: number;
}

export interface PlacedProgram {
  program: Program;
  plan: LevelPlan;
}

// ---------- kernel access ----------

interface Touch {
  /** Estimated bytes the kernel loads and stores of this root. */
  bytes: number;
  writes: boolean;
}

const constOf = (e: Expr): number | null => (e.k === 'const' ? Number(e.v) : null);

/** Per storage root touched by a kernel: estimated access bytes (loops with constant bounds counted). */
function kernelTouches(k: Kernel): Map<KBuffer, Touch> {
  const out = new Map<KBuffer, Touch>();
  const note = (b: KBuffer, n: number, write: boolean): void => {
    const r = storageOf(b);
    const t = out.get(r) ?? { bytes: 0, writes: false };
    t.bytes += n * elementBytes(r.dtype);
    t.writes ||= write;
    out.set(r, t);
  };
  const expr = (e: Expr, n: number): void => {
    switch (e.k) {
      case 'load': note(e.buf, n, false); expr(e.idx, n); break;
      case 'bin': expr(e.a, n); expr(e.b, n); break;
      case 'un': case 'cast': expr(e.a, n); break;
      case 'select': expr(e.c, n); expr(e.a, n); expr(e.b, n); break;
      default: break;
    }
  };
  const stmts = (ss: readonly Stmt[], n: number): void => {
    for (const s of ss) {
      switch (s.k) {
        case 'for': {
          const lo = constOf(s.lo);
          const hi = constOf(s.hi);
          // a bound that depends on outer loops: counted as one iteration (the floor below applies)
          const trip = lo !== null && hi !== null ? Math.max(0, hi - lo) : 1;
          expr(s.lo, n);
          expr(s.hi, n);
          stmts(s.body, n * trip);
          break;
        }
        case 'store': note(s.buf, n, true); expr(s.idx, n); expr(s.val, n); break;
        case 'let': expr(s.init, n); break;
        case 'set': expr(s.val, n); break;
        case 'if': expr(s.c, n); stmts(s.then, n); stmts(s.else, n); break;
      }
    }
  };
  stmts(k.body, 1);
  for (const [r, t] of out) t.bytes = Math.max(t.bytes, bufferBytes(r));
  return out;
}

// ---------- the problem ----------

interface MemberInfo {
  buf: KBuffer;
  bytes: number;
  first: number;
  last: number;
  /** Steps at which a kernel writes it. */
  writes: number[];
}

interface BlockInfo {
  members: MemberInfo[];
  block: LevelBlock;
}

export function levelProblem(program: Program, liveness: Liveness, capacity: number): { problem: LevelProblem; infos: BlockInfo[] } {
  const touches = program.kernels.map(kernelTouches);
  const infos: BlockInfo[] = liveness.blocks.map((blk) => {
    const members: MemberInfo[] = blk.members.map((m) => ({ buf: m.buf, bytes: m.bytes, first: m.first, last: m.last, writes: [] }));
    const direct = new Map<number, number>();
    for (let t = blk.first; t <= blk.last; t++) {
      for (const m of members) {
        const x = touches[t]!.get(m.buf);
        if (!x) continue;
        direct.set(t, (direct.get(t) ?? 0) + x.bytes);
        if (x.writes) m.writes.push(t);
      }
    }
    const uses: LevelUse[] = [...direct].sort((a, b) => a[0] - b[0]).map(([step, directBytes]) => ({ step, directBytes }));
    const crosses = (m: MemberInfo, i: number): boolean => m.first <= uses[i]!.step && m.last >= uses[i + 1]!.step;
    const boundaries: LevelBoundary[] = uses.slice(1).map((_, i) => ({ reloadBytes: members.filter((m) => crosses(m, i)).reduce((a, m) => a + m.bytes, 0) }));
    const outs: LevelCopyOut[] = [];
    for (const m of members) {
      // the use index of the member's last write at or before use i (null: not written yet)
      const lastWrite = (i: number): number | null => {
        const w = m.writes.filter((x) => x <= uses[i]!.step).pop();
        return w === undefined ? null : uses.findIndex((u) => u.step === w);
      };
      const crossing = boundaries.map((_, i) => i).filter((i) => crosses(m, i));
      for (const i of crossing) {
        const writtenAt = lastWrite(i);
        outs.push({ boundary: i, bytes: m.bytes, sameEpoch: crossing.filter((e) => e < i && lastWrite(e) === writtenAt), writtenAt });
      }
    }
    return { members, block: { id: blk.id, size: blk.size, uses, boundaries, outs } };
  });
  return { problem: { steps: liveness.steps, capacity, blocks: infos.map((i) => i.block) }, infos };
}

// ---------- rewriting ----------

function mapExpr(e: Expr, f: (b: KBuffer) => KBuffer): Expr {
  switch (e.k) {
    case 'load': return { ...e, buf: f(e.buf), idx: mapExpr(e.idx, f) };
    case 'bin': return { ...e, a: mapExpr(e.a, f), b: mapExpr(e.b, f) };
    case 'un': case 'cast': return { ...e, a: mapExpr(e.a, f) };
    case 'select': return { ...e, c: mapExpr(e.c, f), a: mapExpr(e.a, f), b: mapExpr(e.b, f) };
    default: return e;
  }
}

function mapStmts(ss: readonly Stmt[], f: (b: KBuffer) => KBuffer): Stmt[] {
  return ss.map((s): Stmt => {
    switch (s.k) {
      case 'for': return { ...s, lo: mapExpr(s.lo, f), hi: mapExpr(s.hi, f), body: mapStmts(s.body, f) };
      case 'store': return { ...s, buf: f(s.buf), idx: mapExpr(s.idx, f), val: mapExpr(s.val, f) };
      case 'let': return { ...s, init: mapExpr(s.init, f) };
      case 'set': return { ...s, val: mapExpr(s.val, f) };
      case 'if': return { ...s, c: mapExpr(s.c, f), then: mapStmts(s.then, f), else: mapStmts(s.else, f) };
      case 'barrier': return s;
    }
  });
}

const isTempStorage = (b: KBuffer): boolean => storageOf(b).role === 'temp';

class Namer {
  private readonly used = new Set<string>();
  private nextId: number;
  constructor(program: Program) {
    for (const b of program.buffers) this.used.add(b.name);
    for (const k of program.kernels) this.used.add(k.name);
    this.nextId = Math.max(-1, ...program.buffers.map((b) => b.id)) + 1;
  }
  name(base: string): string {
    let n = base;
    for (let k = 1; this.used.has(n); k++) n = `${base}_${k}`;
    this.used.add(n);
    return n;
  }
  id(): number {
    return this.nextId++;
  }
  /** A copy of b with a level; `name` is made unique unless it is b's own name (b is replaced). */
  clone(b: KBuffer, name: string, level: string | undefined, viewOf?: KBuffer): KBuffer {
    const c: KBuffer = { id: this.id(), name: name === b.name ? name : this.name(name), dtype: b.dtype, shape: [...b.shape], role: b.role };
    if (level !== undefined) c.level = level;
    if (viewOf) c.viewOf = viewOf;
    return c;
  }
}

interface Rewrite {
  program: Program;
  levelOf: Map<KBuffer, string>;
  copyKernels: number;
  copyIns: number;
  directUses: number;
}

interface MemberPlace {
  block: number;
  /** On-chip buffer per segment id (created on first use). */
  segs: Map<number, KBuffer>;
  home?: KBuffer;
  /** Whether the home misses the latest write. */
  stale: boolean;
}

/**
 * Applies a decision: on-chip segments (a new one each time the block enters on-chip memory), an
 * off-chip home per member that is ever accessed or stored off-chip, and the copy kernels.
 */
function rewrite(program: Program, infos: readonly BlockInfo[], d: LevelDecision, level: string): Rewrite {
  const namer = new Namer(program);
  const levelOf = new Map<KBuffer, string>();
  const extra = new Map<KBuffer, KBuffer[]>();
  const addExtra = (orig: KBuffer, b: KBuffer): void => void extra.set(orig, [...(extra.get(orig) ?? []), b]);
  // segment id of each use (-1: not resident), per block
  const segOf = infos.map((info, bi) => {
    let id = -1;
    return info.block.uses.map((_, j) => {
      if (!d.resident[bi]![j]) return -1;
      if (j === 0 || !d.keep[bi]![j - 1]) id++;
      return id;
    });
  });
  const useAt = infos.map((info) => new Map(info.block.uses.map((u, j) => [u.step, j])));
  const place = new Map<KBuffer, MemberPlace>();
  let directUses = 0;
  infos.forEach((info, bi) => {
    directUses += d.resident[bi]!.filter((r) => !r).length;
    const uses = info.block.uses;
    for (const m of info.members) {
      const live = uses.map((u, j) => ({ u, j })).filter(({ u }) => m.first <= u.step && u.step <= m.last);
      const onChip = live.some(({ j }) => d.resident[bi]![j]);
      const needsHome = live.some(({ j }) => !d.resident[bi]![j]) || live.some(({ j }) => j + 1 < uses.length && uses[j + 1]!.step <= m.last && !d.keep[bi]![j]);
      const mp: MemberPlace = { block: bi, segs: new Map(), stale: true };
      if (needsHome) {
        mp.home = namer.clone(m.buf, onChip ? `${m.buf.name}_${level}` : m.buf.name, level);
        levelOf.set(mp.home, level);
        if (onChip) addExtra(m.buf, mp.home);
      }
      place.set(m.buf, mp);
    }
  });
  const segment = (root: KBuffer, id: number): KBuffer => {
    const mp = place.get(root)!;
    let b = mp.segs.get(id);
    if (!b) {
      // the first on-chip segment keeps the name (and the buffer's place in the list)
      b = namer.clone(root, mp.segs.size === 0 ? root.name : `${root.name}_r${mp.segs.size}`, ON_CHIP);
      if (mp.segs.size > 0) addExtra(root, b);
      mp.segs.set(id, b);
      levelOf.set(b, ON_CHIP);
    }
    return b;
  };
  const bufferAt = (root: KBuffer, step: number): KBuffer => {
    const mp = place.get(root)!;
    const j = useAt[mp.block]!.get(step)!;
    const id = segOf[mp.block]![j]!;
    return id < 0 ? mp.home! : segment(root, id);
  };
  const viewClones = new Map<string, KBuffer>();
  const mapAt = (step: number) => {
    const f = (b: KBuffer): KBuffer => {
      if (!isTempStorage(b)) return b;
      if (!b.viewOf) return place.has(b) ? bufferAt(b, step) : b;
      const target = f(b.viewOf);
      const key = `${b.id}:${target.id}`;
      let v = viewClones.get(key);
      if (!v) {
        // the view of a buffer that kept its name keeps its own name
        const root = storageOf(target);
        v = namer.clone(b, target === storageOf(b) || target.name === b.viewOf.name ? b.name : `${b.name}_v`, levelOf.get(root) ?? root.level, target);
        if (!levelOf.has(root) && root.offset !== undefined) v.offset = root.offset;
        viewClones.set(key, v);
        addExtra(b, v);
      }
      return v;
    };
    return f;
  };
  const copy = (src: KBuffer, dst: KBuffer, what: string, origin: Kernel['origin']): Kernel => {
    const kb = new KernelBuilder();
    const n = dst.shape.reduce((a, b) => a * b, 1);
    kb.for(0, n, (i) => kb.store(dst, i, load(src, i)));
    return { name: namer.name(`${what}_${dst.name}`), origin, body: kb.body };
  };
  const kernels: Kernel[] = [];
  let copyKernels = 0;
  let copyIns = 0;
  program.kernels.forEach((k, step) => {
    // copy-ins: the block enters on-chip memory at this use; its members live across come back
    infos.forEach((info, bi) => {
      const j = useAt[bi]!.get(step);
      if (j === undefined || j === 0 || !d.resident[bi]![j] || d.keep[bi]![j - 1]) return;
      for (const m of info.members) {
        if (!(m.first <= info.block.uses[j - 1]!.step && m.last >= step)) continue;
        kernels.push(copy(place.get(m.buf)!.home!, segment(m.buf, segOf[bi]![j]!), 'load', { node: m.buf.name, op: 'CopyIn' }));
        copyKernels++;
        copyIns++;
      }
    });
    kernels.push({ ...k, body: mapStmts(k.body, mapAt(step)) });
    // copy-outs: the block leaves on-chip memory after this use; stale members live across go home
    infos.forEach((info, bi) => {
      const j = useAt[bi]!.get(step);
      if (j === undefined) return;
      for (const m of info.members) if (m.writes.includes(step)) place.get(m.buf)!.stale = d.resident[bi]![j]!;
      if (j + 1 >= info.block.uses.length || !d.resident[bi]![j] || d.keep[bi]![j]) return;
      for (const m of info.members) {
        const mp = place.get(m.buf)!;
        if (!(m.first <= step && m.last >= info.block.uses[j + 1]!.step) || !mp.stale) continue;
        kernels.push(copy(segment(m.buf, segOf[bi]![j]!), mp.home!, 'store', { node: m.buf.name, op: 'CopyOut' }));
        copyKernels++;
        mp.stale = false;
      }
    });
  });
  const buffers: KBuffer[] = [];
  for (const b of program.buffers) {
    const mp = b.role === 'temp' && !b.viewOf ? place.get(b) : undefined;
    if (mp) buffers.push(mp.segs.size > 0 ? mp.segs.get(Math.min(...mp.segs.keys()))! : mp.home!);
    else if (!isTempStorage(b) || !b.viewOf) buffers.push(b);
    for (const x of extra.get(b) ?? []) buffers.push(x);
  }
  return { program: { ...program, buffers, kernels }, levelOf, copyKernels, copyIns, directUses };
}

/** The program as one level sees it: buffers of other levels become stand-in inputs (not planned). */
function levelView(p: Program, levelOf: ReadonlyMap<KBuffer, string>, level: string): Program {
  const stand = new Map<KBuffer, KBuffer>();
  const f = (b: KBuffer): KBuffer => {
    const r = storageOf(b);
    if (r.role !== 'temp' || levelOf.get(r) === level) return b;
    let s = stand.get(b);
    if (!s) {
      s = { id: b.id, name: b.name, dtype: b.dtype, shape: b.shape, role: b.viewOf ? 'temp' : 'input' };
      if (b.viewOf) s.viewOf = f(b.viewOf);
      stand.set(b, s);
    }
    return s;
  };
  return { ...p, kernels: p.kernels.map((k) => ({ ...k, body: mapStmts(k.body, f) })) };
}

// ---------- driver ----------

const MAX_ROUNDS = 6;

/**
 * Places the temps of `program` in on-chip memory (at most `capacity` bytes of arena) and the
 * external level; returns the rewritten program and its plan. KilnError('limit') when the external
 * level is too small or no on-chip arena within the capacity was found.
 */
export function placeLevels(program: Program, opts: PlaceLevelsOptions): PlacedProgram {
  if (opts.capacity < 0) throw new KilnError('limit', `no on-chip memory left for activations (${opts.capacity} B)`);
  const liveness = opts.liveness ?? analyzeLiveness(program, { inPlace: opts.inPlace });
  const budget = opts.levelTimeLimitMs ?? opts.timeLimitMs ?? 10_000;
  const t0 = performance.now();
  let cap = opts.capacity;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const { problem, infos } = levelProblem(program, liveness, cap);
    const greedy = greedyLevels(problem);
    const greedyTraffic = levelTraffic(problem, greedy);
    const left = Math.max(0, budget - (performance.now() - t0));
    const ilp = greedyTraffic === 0 ? null : solveLevelsIlp(problem, { timeLimitMs: left, start: greedy });
    const useIlp = ilp?.status === 'optimal' && ilp.decision !== undefined && ilp.traffic! <= greedyTraffic;
    const decision = useIlp ? ilp!.decision! : greedy;
    const traffic = useIlp ? ilp!.traffic! : greedyTraffic;
    const rw = rewrite(program, infos, decision, opts.level.name);
    const planOpts: PlanOptions = { ...(opts.strategy ? { strategy: opts.strategy } : {}), ...(opts.timeLimitMs !== undefined ? { timeLimitMs: opts.timeLimitMs } : {}), ...(opts.inPlace !== undefined ? { inPlace: opts.inPlace } : {}), ...(opts.order ? { order: opts.order } : {}) };
    const onPlan = planMemory(levelView(rw.program, rw.levelOf, ON_CHIP), planOpts);
    if (onPlan.arenaBytes > opts.capacity) {
      // fragmentation (or a different in-place outcome after the rewrite): ask for less
      cap -= onPlan.arenaBytes - opts.capacity;
      if (cap < 0) break;
      continue;
    }
    const offPlan = planMemory(levelView(rw.program, rw.levelOf, opts.level.name), planOpts);
    if (offPlan.arenaBytes > opts.level.size) {
      throw new KilnError('limit', `activations need ${offPlan.arenaBytes} B in ${opts.level.name}, which has ${opts.level.size} B (on-chip arena ${onPlan.arenaBytes} B of ${opts.capacity} B)`);
    }
    // placement on the buffers, for dumps and the verifier (a view sits where its root is)
    for (const [b, off] of [...onPlan.arenaOffset, ...offPlan.arenaOffset]) b.offset = off;
    for (const b of rw.program.buffers) {
      const r = storageOf(b);
      if (b !== r && rw.levelOf.has(r) && r.offset !== undefined) b.offset = r.offset;
    }
    const shared = new Set([...onPlan.shared, ...offPlan.shared]);
    const arena: LevelArena = {
      name: opts.level.name,
      symbol: `kiln_arena_${opts.level.name}`,
      bytes: offPlan.arenaBytes,
      capacity: opts.level.size,
      ...(opts.sections ? { section: `.kiln_${opts.level.name}` } : {}),
      offsets: offPlan.arenaOffset,
      plan: offPlan,
    };
    const count = (lvl: string): number => [...rw.levelOf.values()].filter((l) => l === lvl).length;
    const solver: LevelsReport['levelSolver'] = ilp
      ? { status: ilp.status, gap: ilp.gap, ms: ilp.ms, bound: ilp.bound, method: useIlp ? 'ilp' : 'greedy', greedyTrafficBytes: greedyTraffic, trafficBytes: ilp.traffic, columns: ilp.columns, rows: ilp.rows, iterations: round, ...(ilp.message ? { message: ilp.message } : {}) }
      : { status: 'optimal', gap: 0, ms: 0, bound: 0, method: 'greedy', greedyTrafficBytes: 0, trafficBytes: 0, columns: 0, rows: 0, iterations: round, message: 'the greedy placement moves no bytes' };
    const levelReport: LevelsReport = {
      levels: [
        { name: ON_CHIP, bytes: onPlan.arenaBytes, capacity: opts.capacity },
        { name: opts.level.name, bytes: offPlan.arenaBytes, capacity: opts.level.size },
      ],
      offChipTrafficBytes: traffic,
      levelSolver: solver,
      levelPlacement: { onChipBuffers: count(ON_CHIP), offChipBuffers: count(opts.level.name), copyIns: rw.copyIns, copyKernels: rw.copyKernels, offChipUses: rw.directUses, capacityBytes: cap },
    };
    return { program: rw.program, plan: { ...onPlan, shared, levels: [arena], levelReport } };
  }
  throw new KilnError('limit', `no placement keeps the on-chip arena within ${opts.capacity} B after ${MAX_ROUNDS} rounds`);
}

/**
 * `place-levels{board=…}`: after plan-memory, when the activations do not fit the board's SRAM (the
 * fit estimate of src/costmodel/mcu-fit.ts) and the board describes an external level, places the
 * temps across SRAM and that level (rewriting the program with copy kernels) and replaces the
 * memory plan; otherwise leaves the one-arena plan unchanged.
 */
export const placeLevelsPass = definePass({
  name: 'place-levels',
  level: 'kernel',
  description: "spill activations to the board's external memory level when they do not fit its SRAM (copy kernels in and out)",
  options: {
    board: 'board whose SRAM and external level are used (src/costmodel/boards)',
    strategy: 'offset strategy per level, as plan-memory (default auto)',
    'time-limit': 'offset ILP budget in seconds (default 10)',
    'level-time-limit': 'level MIP budget in seconds (default: time-limit)',
    sections: "'true': put each external arena in a linker section .kiln_<level> (MCU); default false",
  },
  run(program: Program, ctx: PassContext) {
    const o = ctx.options;
    if (o.board === undefined) throw new KilnError('usage', 'place-levels needs {board=<name>}');
    const board = getBoard(o.board);
    const secs = (k: string): number | undefined => {
      if (o[k] === undefined) return undefined;
      const v = Number(o[k]);
      if (!Number.isFinite(v) || v < 0) throw new KilnError('usage', `place-levels: ${k} must be a number of seconds, not '${o[k]}'`);
      return v * 1000;
    };
    const strategy = o.strategy ?? 'auto';
    if (!(MEMORY_STRATEGIES as readonly string[]).includes(strategy)) throw new KilnError('usage', `place-levels: unknown strategy '${strategy}' (known: ${MEMORY_STRATEGIES.join(', ')})`);
    const timeLimitMs = secs('time-limit');
    const levelTimeLimitMs = secs('level-time-limit');
    const plan = ctx.results.get(MEMORY_PLAN) as MemoryPlan | undefined;
    if (!plan) throw new KilnError('usage', 'place-levels needs the plan of plan-memory: run plan-memory before it');
    const level = board.levels?.[0];
    if (!level) return false;
    const est = estimateFit(program, plan, board);
    if (est.sramBytes <= board.sram.size) return false;
    // SRAM left for the arena once I/O buffers, stack and runtime are counted (as the estimate does)
    const capacity = Math.floor((board.sram.size - (est.sramBytes - est.arenaBytes)) / 16) * 16;
    // I/O buffers and stack alone do not fit: the target's fit check reports that as for any board
    if (capacity <= 0) return false;
    const placed = placeLevels(program, {
      strategy: strategy as MemoryStrategy,
      ...(timeLimitMs !== undefined ? { timeLimitMs } : {}),
      ...(levelTimeLimitMs !== undefined ? { levelTimeLimitMs } : {}),
      order: plan.report.order,
      capacity,
      level,
      sections: o.sections === 'true',
    });
    // the pass manager carries this program object: take over the rewritten one in place
    Object.assign(program, placed.program);
    ctx.results.set(MEMORY_PLAN, placed.plan);
    ctx.log(`place-levels: ${placed.plan.levelReport.levels.map((l) => `${l.name} ${l.bytes} B`).join(', ')}; off-chip traffic ${placed.plan.levelReport.offChipTrafficBytes} B`);
    return true;
  },
});
