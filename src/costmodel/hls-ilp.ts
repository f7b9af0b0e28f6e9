/**
 * The folding ILP of the HLS target: one binary per (kernel, fold factor), exactly one per kernel;
 * a continuous T at least every chosen kernel's cycles (a dataflow design's interval is its slowest
 * layer); DSP, BRAM18K, LUT and FF sums within the budget. Minimizes T. Afterwards every kernel is
 * folded back to its smallest factor that still keeps up with T (the ILP does not care about
 * resources below the budget; the design should not spend them for nothing).
 */
import { runHighs, type MipModel } from './highs.js';
import { RESOURCE_NAMES, addResources, type KernelModel, type Resources } from './hls-cost.js';

export interface FoldSolution {
  /** Index into each kernel's points. */
  choice: number[];
  /** 'trivial' (every kernel at its largest factor fits), HiGHS' status, or 'greedy' (HiGHS unavailable). */
  status: string;
  gap: number | null;
  /** The design's interval: the slowest kernel's cycles. */
  ii: number;
}

export function usage(models: readonly KernelModel[], choice: readonly number[], base: Resources): Resources {
  return models.reduce((r, m, i) => addResources(r, m.points[choice[i]!]!.res), base);
}

export function overBudget(r: Resources, budget: Resources): keyof Resources | null {
  for (const n of RESOURCE_NAMES) if (r[n] > budget[n]) return n;
  return null;
}

export const intervalOf = (models: readonly KernelModel[], choice: readonly number[]): number => models.reduce((t, m, i) => Math.max(t, m.points[choice[i]!]!.cycles), 0);
export const latencyOf = (models: readonly KernelModel[], choice: readonly number[]): number => models.reduce((t, m, i) => t + m.points[choice[i]!]!.cycles, 0);

/** Smallest factor of each kernel whose cycles stay within t. */
function foldBack(models: readonly KernelModel[], choice: readonly number[], t: number): number[] {
  return models.map((m, i) => {
    const j = m.points.findIndex((p) => p.cycles <= t);
    return j >= 0 && j < choice[i]! ? j : choice[i]!;
  });
}

/** Greedy fallback: repeatedly widen the slowest kernel while the design fits. */
function greedy(models: readonly KernelModel[], base: Resources, budget: Resources): number[] {
  const choice = models.map(() => 0);
  for (;;) {
    let worst = -1;
    for (let i = 0; i < models.length; i++) if (worst < 0 || models[i]!.points[choice[i]!]!.cycles > models[worst]!.points[choice[worst]!]!.cycles) worst = i;
    if (worst < 0 || choice[worst]! + 1 >= models[worst]!.points.length) return choice;
    const next = [...choice];
    next[worst]!++;
    if (overBudget(usage(models, next, base), budget)) return choice;
    choice[worst]!++;
  }
}

/**
 * `dataflow`: minimize the interval (slowest layer); otherwise (a sequential design) the latency,
 * the sum of the layers' cycles.
 */
export function solveFolding(models: readonly KernelModel[], base: Resources, budget: Resources, timeLimitMs: number, dataflow = true): FoldSolution {
  const widest = models.map((m) => m.points.length - 1);
  if (!overBudget(usage(models, widest, base), budget)) {
    const choice = dataflow ? foldBack(models, widest, intervalOf(models, widest)) : widest;
    return { choice, status: 'trivial', gap: 0, ii: intervalOf(models, choice) };
  }
  // columns: x[k][f]… then T
  const cols: { k: number; f: number }[] = [];
  models.forEach((m, k) => m.points.forEach((_, f) => cols.push({ k, f })));
  const nT = cols.length;
  const numCols = nT + 1;
  const rows: { idx: number[]; val: number[]; lo: number; hi: number }[] = [];
  models.forEach((m, k) => {
    const idx = cols.map((c, j) => (c.k === k ? j : -1)).filter((j) => j >= 0);
    rows.push({ idx, val: idx.map(() => 1), lo: 1, hi: 1 });
    // T ≥ cycles of the chosen point
    rows.push({ idx: [...idx, nT], val: [...idx.map((j) => -m.points[cols[j]!.f]!.cycles), 1], lo: 0, hi: Infinity });
  });
  for (const n of RESOURCE_NAMES) {
    const idx: number[] = [];
    const val: number[] = [];
    cols.forEach((c, j) => {
      const v = models[c.k]!.points[c.f]!.res[n];
      if (v !== 0) {
        idx.push(j);
        val.push(v);
      }
    });
    rows.push({ idx, val, lo: -Infinity, hi: budget[n] - base[n] });
  }
  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  for (const r of rows) {
    indices.push(...r.idx);
    values.push(...r.val);
    starts.push(indices.length);
  }
  const maxT = models.reduce((t, m) => Math.max(t, ...m.points.map((p) => p.cycles)), 0);
  const model: MipModel = {
    numCols,
    numRows: rows.length,
    colCost: dataflow ? [...cols.map(() => 0), 1] : [...cols.map((c) => models[c.k]!.points[c.f]!.cycles), 0],
    colLower: [...cols.map(() => 0), 0],
    colUpper: [...cols.map(() => 1), maxT],
    rowLower: rows.map((r) => r.lo),
    rowUpper: rows.map((r) => r.hi),
    matrix: { format: 'csr', numRows: rows.length, numCols, starts, indices, values },
    integrality: [...cols.map(() => 1), 0],
  };
  // warm start: the greedy folding (always feasible when the all-folded design fits)
  const g = greedy(models, base, budget);
  const start = [...cols.map((c) => (g[c.k] === c.f ? 1 : 0)), intervalOf(models, g)];
  const ans = runHighs(model, start, timeLimitMs, 'choosing HLS folding (ILP)');
  let choice = g;
  if (ans.colValue) {
    const picked = models.map((m, k) => {
      let best = 0;
      let bv = -1;
      cols.forEach((c, j) => {
        if (c.k === k && ans.colValue![j]! > bv) {
          bv = ans.colValue![j]!;
          best = c.f;
        }
      });
      return best;
    });
    const better = dataflow ? intervalOf(models, picked) <= intervalOf(models, g) : latencyOf(models, picked) <= latencyOf(models, g);
    if (!overBudget(usage(models, picked, base), budget) && better) choice = picked;
  }
  if (dataflow) choice = foldBack(models, choice, intervalOf(models, choice));
  const status = ans.colValue ? ans.status : ans.status === 'unavailable' ? 'greedy' : `${ans.status} (greedy)`;
  return { choice, status, gap: ans.colValue ? ans.gap : null, ii: dataflow ? intervalOf(models, choice) : latencyOf(models, choice) };
}
