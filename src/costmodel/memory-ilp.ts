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
 * HiGHS runs in a worker thread while the caller waits synchronously (Atomics.wait), so planning
 * stays synchronous and the time budget is enforced from outside too: when the worker does not
 * answer within the budget (plus a small grace) it is terminated and the result is 'timeout'.
 * When the package cannot be loaded, the result says so ('unavailable') and the caller keeps its
 * heuristic.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MemItem, Placement } from '../passes/memory-strategies.js';

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

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { highsPath, port, flag, model, start, options, deadline } = workerData;
const fl = new Int32Array(flag);
const finish = (msg) => { port.postMessage(msg); Atomics.store(fl, 0, 1); Atomics.notify(fl, 0); };
(async () => {
  try {
    const mod = require(highsPath);
    const highs = await (mod.default || mod)();
    const m = highs.createModel();
    try {
      // the budget counts from the caller's start: loading the runtime used part of it
      const left = (deadline - Date.now()) / 1000;
      if (left <= 0.02) { finish({ ok: true, status: 'timeLimit', colValue: null, obj: null, bound: null, gap: null }); return; }
      m.options.set({ ...options, time_limit: left });
      m.passModel({ ...model, matrix: { ...model.matrix, starts: Int32Array.from(model.matrix.starts), indices: Int32Array.from(model.matrix.indices), values: Float64Array.from(model.matrix.values) } });
      if (start) { try { m.setSolution({ colValue: Float64Array.from(start) }); } catch (e) { /* a rejected start only loses the warm start */ } }
      m.run();
      const code = m.getModelStatus();
      const names = highs.constants.modelStatus;
      const status = Object.keys(names).find((k) => names[k] === code) || String(code);
      const info = (n) => { try { const v = Number(m.info.get(n)); return Number.isFinite(v) ? v : null; } catch (e) { return null; } };
      let colValue = null;
      if (info('primal_solution_status') === 2) colValue = Array.from(m.getSolution().colValue);
      finish({ ok: true, status, colValue, obj: info('objective_function_value'), bound: info('mip_dual_bound'), gap: info('mip_gap') });
    } finally { m.dispose(); }
  } catch (e) {
    finish({ ok: false, error: String((e && e.message) || e) });
  }
})();
`;

let highsPath: string | null | undefined;
function resolveHighs(): string | null {
  if (highsPath === undefined) {
    try {
      highsPath = createRequire(import.meta.url).resolve('highs');
    } catch {
      highsPath = null;
    }
  }
  return highsPath;
}

/** Builds the model (CSR rows) for items with positive size. */
function buildModel(items: readonly MemItem[], opts: IlpOptions): { model: Record<string, unknown>; start: number[]; pairs: [number, number][]; cols: number; rows: number } {
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
    matrix: { format: 'csr', numRows: rowLower.length, numCols: cols, starts, indices, values },
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
  const path = resolveHighs();
  if (!path) return { status: 'unavailable', gap: null, bound: null, ms: elapsed(), message: 'the highs package is not installed', ...base };
  // HiGHS stops itself a little before the caller stops waiting (result transfer, solution query)
  const budgetMs = Math.max(20, opts.timeLimitMs - elapsed() - Math.min(250, 0.1 * opts.timeLimitMs));
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  const { port1, port2 } = new MessageChannel();
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        highsPath: path,
        port: port2,
        flag: shared,
        model: built.model,
        start: built.start,
        options: { output_flag: false, random_seed: 0, mip_rel_gap: 0, mip_abs_gap: 0.5 },
        deadline: Date.now() + budgetMs,
      },
      transferList: [port2],
    });
  } catch (e) {
    return { status: 'unavailable', gap: null, bound: null, ms: elapsed(), message: (e as Error).message, ...base };
  }
  worker.unref();
  const wait = Math.max(1, opts.timeLimitMs - elapsed());
  Atomics.wait(flag, 0, 0, wait);
  const msg = receiveMessageOnPort(port1)?.message as
    | { ok: true; status: string; colValue: number[] | null; obj: number | null; bound: number | null; gap: number | null }
    | { ok: false; error: string }
    | undefined;
  void worker.terminate();
  port1.close();
  const ms = elapsed();
  if (!msg) return { status: 'timeout', gap: null, bound: null, ms, message: 'HiGHS did not answer within the time limit', ...base };
  if (!msg.ok) return { status: /find|resolve|load|wasm/i.test(msg.error) ? 'unavailable' : 'error', gap: null, bound: null, ms, message: msg.error, ...base };
  const u = opts.unit;
  let placement: Placement | undefined;
  if (msg.colValue) {
    const offsets = new Array<number>(items.length).fill(0);
    pos.forEach((i, k) => (offsets[i] = Math.round(msg.colValue![k]!) * u));
    const arena = Math.max(0, ...items.map((it, i) => offsets[i]! + it.size));
    placement = { offsets, arena };
  }
  const bound = msg.bound !== null ? Math.ceil(msg.bound - 1e-6) * u : null;
  const arena = placement?.arena ?? opts.start.arena;
  const optimal = msg.status === 'optimal';
  const gap = optimal ? 0 : bound !== null && arena > 0 ? Math.max(0, (arena - bound) / arena) : msg.gap;
  return { status: msg.status, placement, gap, bound: optimal ? arena : bound, ms, ...base };
}
