/**
 * A pool of worker threads running independent jobs with a time limit per job. A job that outruns
 * its limit is recorded through `onTimeout` and its worker replaced, so one hung case never hangs a
 * whole run. Results come back in job order.
 */
import { Worker } from 'node:worker_threads';

export interface PoolOptions<J, R> {
  workers: number;
  /** Heap limit per worker: a job that exceeds it is a crash of that job, not of the run. */
  maxHeapMb?: number;
  timeoutMs: number;
  onTimeout: (job: J) => R;
  onCrash: (job: J, message: string) => R;
  onProgress?: (done: number, total: number) => void;
}

export async function runPool<J, R>(workerFile: URL, jobs: readonly J[], opts: PoolOptions<J, R>): Promise<R[]> {
  const results: R[] = new Array(jobs.length);
  if (jobs.length === 0) return results;
  const workers = Math.max(1, Math.min(opts.workers, jobs.length));
  let next = 0;
  let finished = 0;
  await new Promise<void>((resolve) => {
    const startWorker = (): void => {
      const w = new Worker(workerFile, { resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 4096 } });
      let current = -1;
      let timer: NodeJS.Timeout | null = null;
      const record = (i: number, r: R): void => {
        if (timer) clearTimeout(timer);
        timer = null;
        if (results[i] !== undefined) return;
        results[i] = r;
        finished++;
        opts.onProgress?.(finished, jobs.length);
        if (finished === jobs.length) resolve();
      };
      const feed = (): void => {
        if (next >= jobs.length) {
          void w.terminate();
          return;
        }
        current = next++;
        const job = jobs[current]!;
        const mine = current;
        timer = setTimeout(() => {
          record(mine, opts.onTimeout(job));
          void w.terminate().then(startWorker);
        }, opts.timeoutMs);
        w.postMessage(job);
      };
      w.on('message', (r: R) => {
        record(current, r);
        feed();
      });
      w.on('error', (e) => {
        if (current >= 0) record(current, opts.onCrash(jobs[current]!, e.message));
        startWorker();
      });
      feed();
    };
    for (let i = 0; i < workers; i++) startWorker();
  });
  return results;
}
