/** Worker thread for `kiln conformance`: runs the cases it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { setMaxTensorBytes } from '../ir/tensor.js';
import { loadPlugin } from '../index.js';
import { runCase } from './testcase.js';
import { setScratchRoot } from '../backends/scratch.js';

interface Job {
  caseDir: string;
  target: string;
  options: Record<string, string>;
}

const data = workerData as { maxTensorBytes?: number; plugins?: string[]; scratchRoot?: string } | null | undefined;
if (data?.maxTensorBytes !== undefined) setMaxTensorBytes(data.maxTensorBytes);
setScratchRoot(data?.scratchRoot);

// plugins the main thread loaded (their passes, ops and targets) are registered here too
const ready = (async () => {
  for (const p of data?.plugins ?? []) await loadPlugin(p);
})();

parentPort?.on('message', (job: Job) => {
  void ready
    .then(() => runCase(job.caseDir, job.target, job.options))
    .catch((e: unknown) => ({ name: job.caseDir, folder: '', family: '', status: 'error' as const, message: `cannot load plugins: ${(e as Error).message}`, ms: 0 }))
    .then((r) => parentPort?.postMessage(r));
});
