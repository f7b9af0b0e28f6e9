/**
 * A pool of workers running independent jobs with a time limit per job. A job that outruns its
 * limit is recorded through `onTimeout` and its worker replaced, so one hung case never hangs a
 * whole run. Results come back in job order.
 *
 * Two kinds of worker: threads (`worker_threads`, cheap, used by `kiln conformance`) and child
 * processes (`child_process.fork`, used by `kiln fuzz`). A thread shares the process with the
 * pool: a fatal V8 error in it (out of memory in some allocation paths, an abort) takes the whole
 * run down with it. A child process dies alone; the pool records that job as a crash and forks a
 * fresh child, so one hostile input never ends a long run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export interface PoolOptions<J, R> {
  workers: number;
  /** `thread` (default): worker threads; `process`: forked child processes that may die alone. */
  mode?: 'thread' | 'process';
  /** Heap limit per worker: a job that exceeds it is a crash of that job, not of the run. */
  maxHeapMb?: number;
  /** Data given to each worker at start (`workerData` for a thread, `KILN_WORKER_DATA` JSON for a process). */
  workerData?: unknown;
  timeoutMs: number;
  /** A job's own limit (e.g. scaled with its size); timeoutMs when absent. */
  timeoutFor?: (job: J) => number;
  onTimeout: (job: J) => R;
  onCrash: (job: J, message: string) => R;
  onProgress?: (done: number, total: number) => void;
}

/** The common face of a thread and a child process for the pool. */
interface Handle<J, R> {
  send(job: J): void;
  kill(): Promise<void>;
  onMessage(fn: (r: R) => void): void;
  /** Called once when the worker fails or dies outside `kill`. */
  onDeath(fn: (message: string) => void): void;
}

function threadHandle<J, R>(file: URL, opts: PoolOptions<J, R>): Handle<J, R> {
  const w = new Worker(file, { workerData: opts.workerData, resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 4096 } });
  let killed = false;
  return {
    send: (job) => w.postMessage(job),
    kill: async () => {
      killed = true;
      await w.terminate();
    },
    onMessage: (fn) => w.on('message', fn),
    onDeath: (fn) => {
      w.on('error', (e) => {
        if (!killed) fn(e.message);
      });
    },
  };
}

function processHandle<J, R>(file: URL, opts: PoolOptions<J, R>): Handle<J, R> {
  const execArgv = [`--max-old-space-size=${opts.maxHeapMb ?? 4096}`];
  const env = { ...process.env, KILN_WORKER_DATA: JSON.stringify(opts.workerData ?? null) };
  const child: ChildProcess = fork(fileURLToPath(file), [], { execArgv, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let killed = false;
  let dead = false;
  // keep the end of stderr: a fatal V8 error prints its reason there before the process aborts
  let stderrTail = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-4000);
  });
  let onDeath: (message: string) => void = () => {};
  const die = (message: string): void => {
    if (dead) return;
    dead = true;
    if (!killed) onDeath(message);
  };
  child.on('error', (e) => die(`worker process error: ${e.message}`));
  child.on('exit', (code, signal) => {
    const lines = stderrTail.split('\n').map((l) => l.trim()).filter(Boolean);
    const reason = lines.find((l) => /fatal|out of memory|heap limit|Aborted|RangeError|Error/i.test(l)) ?? lines[lines.length - 1] ?? '';
    die(`worker process died (${signal ? `signal ${signal}` : `exit code ${code}`})${reason ? `: ${reason.slice(0, 300)}` : ''}`);
  });
  return {
    send: (job) => {
      if (!dead) child.send(job as object);
    },
    kill: () =>
      new Promise<void>((resolve) => {
        killed = true;
        if (dead || child.exitCode !== null || child.signalCode !== null) {
          dead = true;
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
    onMessage: (fn) => child.on('message', (m) => fn(m as R)),
    onDeath: (fn) => {
      onDeath = fn;
    },
  };
}

export async function runPool<J, R>(workerFile: URL, jobs: readonly J[], opts: PoolOptions<J, R>): Promise<R[]> {
  const results: R[] = new Array(jobs.length);
  if (jobs.length === 0) return results;
  const workers = Math.max(1, Math.min(opts.workers, jobs.length));
  let next = 0;
  let finished = 0;
  await new Promise<void>((resolve) => {
    const startWorker = (): void => {
      const w = opts.mode === 'process' ? processHandle<J, R>(workerFile, opts) : threadHandle<J, R>(workerFile, opts);
      let current = -1;
      let timer: NodeJS.Timeout | null = null;
      let retired = false;
      const record = (i: number, r: R): void => {
        if (timer) clearTimeout(timer);
        timer = null;
        if (results[i] !== undefined) return;
        results[i] = r;
        finished++;
        opts.onProgress?.(finished, jobs.length);
        if (finished === jobs.length) resolve();
      };
      const retire = (): void => {
        if (retired) return;
        retired = true;
        if (timer) clearTimeout(timer);
        timer = null;
      };
      const feed = (): void => {
        if (next >= jobs.length) {
          retire();
          void w.kill();
          return;
        }
        current = next++;
        const job = jobs[current]!;
        const mine = current;
        timer = setTimeout(() => {
          if (retired) return;
          retire();
          record(mine, opts.onTimeout(job));
          void w.kill().then(startWorker);
        }, opts.timeoutFor?.(job) ?? opts.timeoutMs);
        w.send(job);
      };
      w.onMessage((r) => {
        if (retired) return;
        record(current, r);
        feed();
      });
      w.onDeath((message) => {
        if (retired) return;
        retire();
        if (current >= 0) record(current, opts.onCrash(jobs[current]!, message));
        void w.kill().then(() => {
          if (next < jobs.length) startWorker();
        });
      });
      feed();
    };
    for (let i = 0; i < workers; i++) startWorker();
  });
  return results;
}
