/**
 * Exact offset assignment as a mixed-integer program, solved with HiGHS (the `highs` package,
 * WebAssembly).
 *
 * Variables, in units of the arena alignment: an offset x_i ∈ [0, H − s_i] per item, the arena
 * A ∈ [LB, H] (H: the best heuristic's arena, an upper bound; LB: the live-set lower bound), and for
 * every pair of items that overlap in time a binary z_ij (1: i lies below j):
 *   x_i + s_i ≤ x_j + H·(1 − z_ij),   x_j + s_j ≤ x_i + H·z_ij,   A ≥ x_i + s_i;   minimize A.
 * Only time-overlapping pairs get constraints, so large graphs stay sparse. The mirror symmetry
 * (x ↦ A − x − s) is broken by fixing the order of one pair. The heuristic placement is passed as a
 * start solution.
 *
 * HiGHS runs through highs.ts (a worker thread with a hard time limit; 'unavailable' when the
 * package cannot be loaded, and the caller keeps its heuristic).
 */
import type { MemItem, Placement } from '../passes/memory-strategies.js';
import { runHighs, type MipModel } from './highs.js';

export interface IlpResult {
  /** HiGHS model status ('optimal', 'timeLimit', …), or 'unavailable' / 'timeout' / 'error'. */
  status: string;
  /** Placement of the incumbent (absent when none was returned). */
  placement?: Placement;
  /** Proven relative gap (incumbent − dual bound) / incumbent; 0 when optimal. */
  gap: number | null;
  /** Best proven lower bound on the arena, bytes. */
  bound: number | null;
  ms: number;
  message?: string;
  /** Size of the model. */
  columns: number;
  rows: number;
}

export interface IlpOptions {
  timeLimitMs: number;
  /** Upper bound and start solution (bytes). */
  start: Placement;
  lowerBound: number;
  /** Alignment unit; all sizes are multiples of it. */
  unit: number;
}

/** Builds the model (CSR rows) for items with positive size. */
function buildModel(items: readonly MemItem[], opts: IlpOptions): { model: MipModel; start: number[]; pairs: [number, number][]; cols: number; rows: number } {
  const u = opts.unit;
  const n = items.length;
  const H = Math.round(opts.start.arena / u);
  const s = items.map((it) => Math.round(it.size / u));
  const order = items.map((_, i) => i).sort((a, b) => items[a]!.first - items[b]!.first || a - b);
  const pairs: [number, number][] = [];
  for (let x = 0; x < n; x++) {
    const i = order[x]!;
    for (let y = x + 1; y < n; y++) {
      const j = order[y]!;
      if (items[j]!.first > items[i]!.last) break;
      pairs.push(i < j ? [i, j] : [j, i]);
    }
  }
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  // columns: x_0..x_{n-1}, A, z_0..z_{p-1}
  const cols = n + 1 + pairs.length;
  const colCost = new Array<number>(cols).fill(0);
  colCost[n] = 1;
  const colLower = new Array<number>(cols).fill(0);
  const colUpper = new Array<number>(cols).fill(1);
  for (let i = 0; i < n; i++) colUpper[i] = H - s[i]!;
  colLower[n] = Math.ceil(opts.lowerBound / u);
  colUpper[n] = H;
  const x0 = opts.start.offsets.map((o) => Math.round(o / u));
  const start = [...x0, H, ...pairs.map(([i, j]) => (x0[i]! < x0[j]! || (x0[i] === x0[j] && s[i]! === 0) ? 1 : 0))];
  // mirror symmetry: the first pair keeps the start's order
  if (pairs.length > 0) colLower[n + 1] = colUpper[n + 1] = start[n + 1]!;
  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const rowLower: number[] = [];
  const rowUpper: number[] = [];
  const row = (entries: [number, number][], lo: number, hi: number): void => {
    for (const [c, v] of entries.sort((a, b) => a[0] - b[0])) {
      indices.push(c);
      values.push(v);
    }
    starts.push(indices.length);
    rowLower.push(lo);
    rowUpper.push(hi);
  };
  const inf = 1e30;
  for (let i = 0; i < n; i++) row([[i, -1], [n, 1]], s[i]!, inf);
  pairs.forEach(([i, j], p) => {
    const z = n + 1 + p;
    row([[i, 1], [j, -1], [z, H]], -inf, H - s[i]!);
    row([[j, 1], [i, -1], [z, -H]], -inf, -s[j]!);
  });
  const integrality = new Array<number>(cols).fill(0);
  for (let p = 0; p < pairs.length; p++) integrality[n + 1 + p] = 1;
  const model = {
    numCols: cols,
    numRows: rowLower.length,
    colCost,
    colLower,
    colUpper,
    rowLower: rowLower.map((v) => (v <= -inf ? -Infinity : v)),
    rowUpper: rowUpper.map((v) => (v >= inf ? Infinity : v)),
    matrix: { format: 'csr' as const, numRows: rowLower.length, numCols: cols, starts, indices, values },
    integrality,
  };
  return { model, start, pairs, cols, rows: rowLower.length };
}

/** Solves the offset ILP within opts.timeLimitMs (wall clock, worker start included). */
export function solveMemoryIlp(items: readonly MemItem[], opts: IlpOptions): IlpResult {
  const t0 = performance.now();
  const pos = items.map((_, i) => i).filter((i) => items[i]!.size > 0);
  const sub = pos.map((i) => items[i]!);
  const subStart: Placement = { offsets: pos.map((i) => opts.start.offsets[i]!), arena: opts.start.arena };
  const built = buildModel(sub, { ...opts, start: subStart });
  const base = { columns: built.cols, rows: built.rows };
  const elapsed = (): number => performance.now() - t0;
  const a = runHighs(built.model, built.start, Math.max(1, opts.timeLimitMs - elapsed()), 'solving memory ILP');
  const ms = elapsed();
  if (a.status === 'unavailable' || a.status === 'timeout' || a.status === 'error') return { status: a.status, gap: null, bound: null, ms, ...(a.message ? { message: a.message } : {}), ...base };
  const u = opts.unit;
  let placement: Placement | undefined;
  if (a.colValue) {
    const offsets = new Array<number>(items.length).fill(0);
    pos.forEach((i, k) => (offsets[i] = Math.round(a.colValue![k]!) * u));
    const arena = Math.max(0, ...items.map((it, i) => offsets[i]! + it.size));
    placement = { offsets, arena };
  }
  const bound = a.bound !== null ? Math.ceil(a.bound - 1e-6) * u : null;
  const arena = placement?.arena ?? opts.start.arena;
  const optimal = a.status === 'optimal';
  const gap = optimal ? 0 : bound !== null && arena > 0 ? Math.max(0, (arena - bound) / arena) : a.gap;
  return { status: a.status, placement, gap, bound: optimal ? arena : bound, ms, ...base };
}
