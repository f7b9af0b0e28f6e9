/** Worker thread for `kiln conformance`: runs the cases it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { runCase } from './testcase.js';

interface Job {
  caseDir: string;
  target: string;
}

parentPort?.on('message', (job: Job) => {
  void runCase(job.caseDir, job.target).then((r) => parentPort?.postMessage(r));
});
