/** `kiln fuzz`: mutated corpus models through the pipeline in a worker pool with a per-input time limit. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findCases } from './conformance.js';
import { runPool } from './pool.js';
import { maxTensorBytes } from '../ir/tensor.js';
import { FUZZ_MAX_TENSOR_BYTES, mutate } from './fuzz.js';
import type { FuzzResult, FuzzSummary } from './fuzz.js';

export interface FuzzOptions {
  count: number;
  seed: number;
  jobs?: number;
  timeoutMs?: number;
  filter?: string;
  /** Tensor byte limit inside the fuzz workers (default 64 MiB, never above the global limit). */
  maxTensorBytes?: number;
  /** Called once with the number of inputs, before the first one runs. */
  onStart?: (total: number) => void;
  onProgress?: (done: number, total: number) => void;
}

type Row = FuzzResult & { file: string; index: number; hang?: boolean };

/** The mutation of a job whose worker never answered (hang, dead process), for the report. */
function mutationOf(j: { file: string; seed: number; index: number }): string {
  try {
    return mutate(new Uint8Array(fs.readFileSync(j.file)), j.seed, j.index).kind;
  } catch {
    return 'unknown mutation';
  }
}

export async function runFuzz(dir: string, opts: FuzzOptions): Promise<FuzzSummary> {
  const corpus = findCases(dir, opts.filter).map((c) => path.join(c, 'model.onnx'));
  const jobs = Array.from({ length: corpus.length ? opts.count : 0 }, (_, index) => ({ file: corpus[index % corpus.length]!, seed: opts.seed, index }));
  const timeout = opts.timeoutMs ?? 10_000;
  opts.onStart?.(jobs.length);
  const rows = await runPool<(typeof jobs)[number], Row>(new URL('./fuzz-worker.js', import.meta.url), jobs, {
    workers: opts.jobs ?? os.availableParallelism(),
    // child processes: an input that kills V8 (out of memory, abort) is a crash of that input only
    mode: 'process',
    maxHeapMb: 1024,
    workerData: { maxTensorBytes: Math.min(opts.maxTensorBytes ?? FUZZ_MAX_TENSOR_BYTES, maxTensorBytes) },
    timeoutMs: timeout,
    onTimeout: (j) => ({ outcome: 'crash', kind: mutationOf(j), message: `no result within ${timeout} ms`, file: j.file, index: j.index, hang: true }),
    onCrash: (j, message) => ({ outcome: 'crash', kind: mutationOf(j), message, file: j.file, index: j.index }),
    onProgress: opts.onProgress,
  });
  const findings = rows.filter((r) => r.outcome === 'crash');
  return {
    seed: opts.seed,
    total: rows.length,
    ok: rows.filter((r) => r.outcome === 'ok').length,
    refused: rows.filter((r) => r.outcome === 'refused').length,
    crashes: findings.filter((r) => !r.hang).length,
    hangs: findings.filter((r) => r.hang).length,
    findings: findings.map((r) => ({ file: r.file, index: r.index, kind: r.kind, outcome: r.hang ? 'hang' : 'crash', message: r.message })),
  };
}
