/** Worker thread for `kiln conformance`: runs the cases it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { setMaxTensorBytes } from '../ir/tensor.js';
import { runCase } from './testcase.js';

interface Job {
  caseDir: string;
  target: string;
}

const limit = (workerData as { maxTensorBytes?: number } | null | undefined)?.maxTensorBytes;
if (limit !== undefined) setMaxTensorBytes(limit);

parentPort?.on('message', (job: Job) => {
  void runCase(job.caseDir, job.target).then((r) => parentPort?.postMessage(r));
});
