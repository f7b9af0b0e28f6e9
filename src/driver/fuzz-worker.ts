/**
 * Worker for `kiln fuzz`: runs one mutated input per message. Runs as a forked child process (IPC
 * through `process.send`) so that a fatal error of one input kills only this process; it also works
 * as a worker thread.
 */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { configureFuzzLimits, runOne } from './fuzz.js';

interface Job {
  file: string;
  seed: number;
  index: number;
}

const data = (process.env.KILN_WORKER_DATA ? JSON.parse(process.env.KILN_WORKER_DATA) : workerData) as { maxTensorBytes?: number } | null | undefined;
configureFuzzLimits(data?.maxTensorBytes);
const cache = new Map<string, Uint8Array>();

function handle(job: Job): unknown {
  let bytes = cache.get(job.file);
  if (!bytes) {
    bytes = new Uint8Array(fs.readFileSync(job.file));
    cache.set(job.file, bytes);
  }
  return { ...runOne(bytes, job.seed, job.index), file: job.file, index: job.index };
}

if (parentPort) {
  parentPort.on('message', (job: Job) => parentPort?.postMessage(handle(job)));
} else if (process.send) {
  process.on('message', (job: Job) => process.send?.(handle(job)));
  // the pool going away (IPC channel closed) ends this process
  process.on('disconnect', () => process.exit(0));
}
