/**
 * Memory plan of a kernel program: 'temp' buffers get offsets in one arena, constants are laid out
 * one after another in the weights blob.
 *
 * 1. Liveness (memory-liveness.ts): intervals per storage root in kernel steps (file order), with
 *    in-place reuse; buffers that share memory form blocks.
 * 2. Offsets for the blocks (memory-strategies.ts heuristics, memory-ilp.ts exact ILP with HiGHS).
 *
 * Strategy 'auto' (the default) runs every heuristic and keeps the smallest arena (ties: the order
 * of HEURISTICS). When that arena is above the live-set lower bound and a time budget is left, the
 * ILP is run, warm-started from it; its placement replaces the heuristic only when HiGHS **proves
 * optimality** and the arena is strictly smaller. A time-limited incumbent is reported but never
 * used, so the plan does not depend on how far the solver got in its budget (determinism: the same
 * program gives the same plan). Strategy 'ilp' uses the ILP's incumbent whenever it is smaller,
 * proven or not (reported with its status and gap).
 */
import { type KBuffer, type Program } from '../ir/kernel/types.js';
import { analyzeLiveness, alignUp, ARENA_ALIGN, bufferBytes, elementBytes, type Liveness } from './memory-liveness.js';
import { checkPlacement, HEURISTICS, liveLowerBound, runHeuristic, type HeuristicName, type MemItem, type Placement } from './memory-strategies.js';
import { solveMemoryIlp } from '../costmodel/memory-ilp.js';
import { KilnError } from '../ir/errors.js';
import { MEMORY_PLAN, type MemoryLayout, type MemoryReport, type SolverReport } from '../ir/kernel/layout.js';
import { definePass, numberOption, type PassContext } from './pass.js';

export { bufferBytes, elementBytes };

export type MemoryStrategy = 'auto' | HeuristicName | 'ilp';
export const MEMORY_STRATEGIES: readonly MemoryStrategy[] = ['auto', 'greedy-size', 'greedy-breadth', 'greedy-size-offset', 'first-fit', 'ilp'];

export interface PlanOptions {
  strategy?: MemoryStrategy;
  /** Budget of the ILP in milliseconds (default 10 000; 0 skips the ILP in 'auto'). */
  timeLimitMs?: number;
  /** In-place reuse (default true). */
  inPlace?: boolean;
  /** Liveness already computed for this program with the same `inPlace` (saves the analysis). */
  liveness?: Liveness;
  /** Kernel order of the program, for the report (default 'file'). */
  order?: 'file' | 'scheduled';
}

export type { SolverReport, MemoryReport };

/** The layout backends read (src/ir/kernel/layout.ts) plus what later memory passes reuse. */
export interface MemoryPlan extends MemoryLayout {
  liveness: Liveness;
  /** Offset of each block (liveness.blocks order). */
  blockOffsets: number[];
}

export const DEFAULT_ILP_MS = 10_000;

export function parseMemoryStrategy(s: string): MemoryStrategy {
  if (!(MEMORY_STRATEGIES as readonly string[]).includes(s)) throw new Error(`unknown memory strategy '${s}' (known: ${MEMORY_STRATEGIES.join(', ')})`);
  return s as MemoryStrategy;
}

/** Offsets for a set of items with a strategy; the result is checked for overlaps. */
export function placeItems(items: readonly MemItem[], opts: PlanOptions = {}): { placement: Placement; report: Omit<MemoryReport, 'order' | 'blocks' | 'buffers' | 'inPlace'> } {
  const strategy = opts.strategy ?? 'auto';
  const timeLimitMs = opts.timeLimitMs ?? DEFAULT_ILP_MS;
  const lowerBoundBytes = liveLowerBound(items);
  const strategies: Record<string, number> = {};
  const results = new Map<HeuristicName, Placement>();
  for (const h of HEURISTICS) {
    const p = runHeuristic(h, items);
    checkPlacement(items, p);
    results.set(h, p);
    strategies[h] = p.arena;
  }
  let bestName: HeuristicName = 'greedy-size';
  for (const h of HEURISTICS) if (results.get(h)!.arena < results.get(bestName)!.arena) bestName = h;
  let placement = strategy === 'auto' || strategy === 'ilp' ? results.get(bestName)! : results.get(strategy)!;
  let chosen: string = strategy === 'auto' || strategy === 'ilp' ? bestName : strategy;
  let solver: SolverReport = { status: 'not run', gap: null, ms: 0 };
  const runIlp = strategy === 'ilp' || (strategy === 'auto' && timeLimitMs > 0);
  if (runIlp) {
    const start = results.get(bestName)!;
    if (start.arena <= lowerBoundBytes) {
      solver = { status: 'optimal', gap: 0, ms: 0, bound: lowerBoundBytes, arenaBytes: start.arena, message: 'heuristic meets the live-set lower bound' };
      strategies.ilp = start.arena;
    } else if (timeLimitMs <= 0) {
      solver = { status: 'not run', gap: null, ms: 0, message: 'no time budget' };
    } else {
      const r = solveMemoryIlp(items, { timeLimitMs, start, lowerBound: lowerBoundBytes, unit: ARENA_ALIGN });
      let valid = r.placement;
      if (valid) {
        try {
          checkPlacement(items, valid);
        } catch {
          valid = undefined;
        }
      }
      const ilpArena = valid ? Math.min(valid.arena, start.arena) : null;
      solver = { status: r.status, gap: r.gap, ms: Math.round(r.ms), bound: r.bound, arenaBytes: ilpArena };
      if (r.message) solver.message = r.status === 'unavailable' ? `${r.message}; kept the best heuristic` : r.message;
      if (ilpArena !== null) strategies.ilp = ilpArena;
      const better = valid !== undefined && valid.arena < start.arena;
      if (better && (strategy === 'ilp' || r.status === 'optimal')) {
        placement = valid!;
        chosen = 'ilp';
      } else if (strategy === 'ilp' && r.status === 'optimal') chosen = 'ilp';
    }
  }
  return { placement, report: { arenaBytes: placement.arena, lowerBoundBytes, strategy: chosen, strategies, solver } };
}

export function planMemory(program: Program, opts: PlanOptions = {}): MemoryPlan {
  const liveness = opts.liveness ?? analyzeLiveness(program, { inPlace: opts.inPlace });
  const items: MemItem[] = liveness.blocks.map((b) => ({ id: b.id, size: b.size, first: b.first, last: b.last }));
  const { placement, report } = placeItems(items, opts);
  const arenaOffset = new Map<KBuffer, number>();
  liveness.blocks.forEach((b, i) => {
    for (const m of b.members) arenaOffset.set(m.buf, placement.offsets[i]! + m.rel);
  });
  const blobOffset = new Map<KBuffer, number>();
  let blobBytes = 0;
  for (const b of program.buffers) {
    if (b.role !== 'const' || b.viewOf) continue;
    blobOffset.set(b, blobBytes);
    blobBytes = alignUp(blobBytes + bufferBytes(b));
  }
  return {
    arenaOffset,
    arenaBytes: placement.arena,
    blobOffset,
    blobBytes,
    shared: liveness.shared,
    liveness,
    blockOffsets: placement.offsets,
    report: {
      ...report,
      order: opts.order ?? 'file',
      blocks: liveness.blocks.length,
      buffers: liveness.blocks.reduce((a, b) => a + b.members.length, 0),
      inPlace: liveness.aliases.length,
    },
  };
}

/**
 * `plan-memory`: assigns every arena buffer its offset (KBuffer.offset, level 'arena'), so dumps
 * show the plan; leaves the MemoryPlan in ctx.results('memory-plan') (MEMORY_PLAN) for the backends.
 */
export const planMemoryPass = definePass({
  name: 'plan-memory',
  level: 'kernel',
  description: 'compute buffer lifetimes (with in-place reuse) and assign arena offsets',
  options: {
    strategy: `${MEMORY_STRATEGIES.join(' | ')} (default auto: the best heuristic, then the ILP)`,
    'time-limit': 'ILP budget in seconds (default 10)',
  },
  run(program: Program, ctx: PassContext) {
    const strategy = ctx.options.strategy ?? 'auto';
    if (!(MEMORY_STRATEGIES as readonly string[]).includes(strategy)) throw new KilnError('usage', `plan-memory: unknown strategy '${strategy}' (known: ${MEMORY_STRATEGIES.join(', ')})`);
    const secs = numberOption('plan-memory', ctx, 'time-limit', { dflt: DEFAULT_ILP_MS / 1000, min: 0 });
    // the node order `lower` kept, for the report
    const order = (ctx.results.get('lowering') as { order?: 'file' | 'scheduled' } | undefined)?.order ?? 'file';
    const plan = planMemory(program, { strategy: strategy as MemoryStrategy, timeLimitMs: secs * 1000, order });
    for (const [buf, off] of plan.arenaOffset) {
      if (buf.viewOf) continue;
      buf.level = 'arena';
      buf.offset = off;
    }
    ctx.results.set(MEMORY_PLAN, plan);
    ctx.log(`plan-memory: arena ${plan.arenaBytes} B (lower bound ${plan.report.lowerBoundBytes} B, ${plan.report.strategy})`);
  },
});
