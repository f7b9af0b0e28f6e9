/**
 * Runs one mixed-integer program with HiGHS (the `highs` package, WebAssembly) in a worker thread
 * while the caller waits synchronously (Atomics.wait): the compiler's planning stays synchronous
 * and the time budget is enforced from outside too — a worker that does not answer in time is
 * terminated ('timeout'). When the package cannot be loaded the answer is 'unavailable' and the
 * caller keeps its heuristic. On a terminal a spinner shows that the solver runs.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** A model in HiGHS' column-wise form with CSR rows; infinite row bounds are ±Infinity. */
export interface MipModel {
  numCols: number;
  numRows: number;
  colCost: number[];
  colLower: number[];
  colUpper: number[];
  rowLower: number[];
  rowUpper: number[];
  matrix: { format: 'csr'; numRows: number; numCols: number; starts: number[]; indices: number[]; values: number[] };
  integrality: number[];
}

export interface HighsAnswer {
  /** HiGHS model status ('optimal', 'timeLimit', …), or 'unavailable' / 'timeout' / 'error'. */
  status: string;
  /** The incumbent's column values (null when HiGHS has none). */
  colValue: number[] | null;
  /** Best proven dual bound of the objective. */
  bound: number | null;
  /** HiGHS' own relative gap. */
  gap: number | null;
  message?: string;
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
      if (left <= 0.02) { finish({ ok: true, status: 'timeLimit', colValue: null, bound: null, gap: null }); return; }
      m.options.set({ ...options, time_limit: left });
      const mm = model.matrix;
      m.passModel({ ...model, rowLower: Float64Array.from(model.rowLower), rowUpper: Float64Array.from(model.rowUpper), matrix: { ...mm, starts: Int32Array.from(mm.starts), indices: Int32Array.from(mm.indices), values: Float64Array.from(mm.values) } });
      if (start) { try { m.setSolution({ colValue: Float64Array.from(start) }); } catch (e) { /* a rejected start only loses the warm start */ } }
      m.run();
      const code = m.getModelStatus();
      const names = highs.constants.modelStatus;
      const status = Object.keys(names).find((k) => names[k] === code) || String(code);
      const info = (n) => { try { const v = Number(m.info.get(n)); return Number.isFinite(v) ? v : null; } catch (e) { return null; } };
      const colValue = info('primal_solution_status') === 2 ? Array.from(m.getSolution().colValue) : null;
      finish({ ok: true, status, colValue, bound: info('mip_dual_bound'), gap: info('mip_gap') });
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

/** A progress line the caller draws while a solve blocks (the CLI's spinner); null: none. */
export interface SolverProgress {
  tick(): void;
  done(): void;
}

let solverProgress: (label: string) => SolverProgress | null = () => null;

/** Installs how solver waits show progress (the CLI passes its progress line in; default: none). */
export function setSolverProgress(factory: (label: string) => SolverProgress | null): void {
  solverProgress = factory;
}

/**
 * Blocks until the worker raises the flag or `ms` pass. With a progress line (a terminal, see
 * driver/progress.ts) it wakes every 100 ms to redraw it: the main thread is blocked, but a write
 * to a TTY is synchronous, so the line still moves.
 */
function waitForSolver(flag: Int32Array, ms: number, label: string): void {
  const progress = solverProgress(label);
  if (!progress) {
    Atomics.wait(flag, 0, 0, ms);
    return;
  }
  const end = performance.now() + ms;
  try {
    for (let left = ms; left > 0 && Atomics.wait(flag, 0, 0, Math.min(100, left)) === 'timed-out'; left = end - performance.now()) progress.tick();
  } finally {
    progress.done();
  }
}

/** Solves `model` (minimize) within `timeLimitMs` of wall clock, worker start included. */
export function runHighs(model: MipModel, start: number[] | null, timeLimitMs: number, label = 'solving ILP'): HighsAnswer {
  const t0 = performance.now();
  const path = resolveHighs();
  if (!path) return { status: 'unavailable', colValue: null, bound: null, gap: null, message: 'the highs package is not installed' };
  // HiGHS stops itself a little before the caller stops waiting (result transfer, solution query)
  const budgetMs = Math.max(20, timeLimitMs - Math.min(250, 0.1 * timeLimitMs));
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
        model,
        start,
        options: { output_flag: false, random_seed: 0, mip_rel_gap: 0, mip_abs_gap: 0.5 },
        deadline: Date.now() + budgetMs,
      },
      transferList: [port2],
    });
  } catch (e) {
    return { status: 'unavailable', colValue: null, bound: null, gap: null, message: (e as Error).message };
  }
  worker.unref();
  waitForSolver(flag, Math.max(1, timeLimitMs - (performance.now() - t0)), label);
  const msg = receiveMessageOnPort(port1)?.message as
    | { ok: true; status: string; colValue: number[] | null; bound: number | null; gap: number | null }
    | { ok: false; error: string }
    | undefined;
  void worker.terminate();
  port1.close();
  if (!msg) return { status: 'timeout', colValue: null, bound: null, gap: null, message: 'HiGHS did not answer within the time limit' };
  if (!msg.ok) return { status: /find|resolve|load|wasm/i.test(msg.error) ? 'unavailable' : 'error', colValue: null, bound: null, gap: null, message: msg.error };
  return { status: msg.status, colValue: msg.colValue, bound: msg.bound, gap: msg.gap };
}
