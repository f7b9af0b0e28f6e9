/** Worker thread for `kiln fuzz`: runs one mutated input per message. */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { configureFuzzLimits, runOne } from './fuzz.js';

interface Job {
  file: string;
  seed: number;
  index: number;
}

configureFuzzLimits((workerData as { maxTensorBytes?: number } | undefined)?.maxTensorBytes);
const cache = new Map<string, Uint8Array>();

parentPort?.on('message', (job: Job) => {
  let bytes = cache.get(job.file);
  if (!bytes) {
    bytes = new Uint8Array(fs.readFileSync(job.file));
    cache.set(job.file, bytes);
  }
  parentPort?.postMessage({ ...runOne(bytes, job.seed, job.index), file: job.file, index: job.index });
});
