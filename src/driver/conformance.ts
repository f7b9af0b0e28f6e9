/**
 * `kiln conformance`: runs ONNX backend test cases on a target with a pool of worker threads, a time
 * limit per case (a hung case is an error, not a hung run), and summaries per folder and op family.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { KilnError } from '../ir/errors.js';
import type { CaseResult, CaseStatus } from './testcase.js';

export interface ConformanceOptions {
  target: string;
  filter?: string;
  jobs?: number;
  /** Per-case time limit in milliseconds. */
  caseTimeoutMs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ConformanceReport {
  target: string;
  total: number;
  passed: number;
  failed: number;
  errored: number;
  unsupported: number;
  cases: { name: string; folder: string; family: string; status: CaseStatus; message: string; ms: number }[];
}

/** Case folders under dir: dir itself if it is a case, its children, or its grandchildren. */
export function findCases(dir: string, filter?: string): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new KilnError('io', `'${dir}' is not a folder`);
  const isCase = (d: string): boolean => fs.existsSync(path.join(d, 'model.onnx'));
  let cases: string[];
  if (isCase(dir)) cases = [dir];
  else {
    cases = [];
    for (const child of fs.readdirSync(dir).sort()) {
      const c = path.join(dir, child);
      if (!fs.statSync(c).isDirectory()) continue;
      if (isCase(c)) cases.push(c);
      else for (const g of fs.readdirSync(c).sort()) if (isCase(path.join(c, g))) cases.push(path.join(c, g));
    }
  }
  return filter ? cases.filter((c) => path.basename(c).includes(filter)) : cases;
}

export async function runConformance(dir: string, opts: ConformanceOptions): Promise<ConformanceReport> {
  const cases = findCases(dir, opts.filter);
  const jobs = Math.max(1, Math.min(opts.jobs ?? os.availableParallelism(), cases.length || 1));
  const timeout = opts.caseTimeoutMs ?? 30_000;
  const results: CaseResult[] = new Array(cases.length);
  const workerFile = new URL('./conformance-worker.js', import.meta.url);
  let next = 0;
  let finished = 0;

  await new Promise<void>((resolve) => {
    if (cases.length === 0) {
      resolve();
      return;
    }
    const startWorker = (): void => {
      const w = new Worker(workerFile);
      let current = -1;
      let timer: NodeJS.Timeout | null = null;
      const feed = (): void => {
        if (next >= cases.length) {
          void w.terminate();
          return;
        }
        current = next++;
        timer = setTimeout(() => {
          record(current, { status: 'error', message: `timed out after ${timeout} ms` });
          void w.terminate().then(() => startWorker());
        }, timeout);
        w.postMessage({ caseDir: cases[current], target: opts.target });
      };
      const record = (i: number, r: Partial<CaseResult> & { status: CaseStatus; message: string }): void => {
        if (timer) clearTimeout(timer);
        timer = null;
        const name = path.basename(cases[i]!);
        results[i] = { name, folder: path.basename(path.dirname(cases[i]!)), family: name, ms: timeout, ...r };
        finished++;
        opts.onProgress?.(finished, cases.length);
        if (finished === cases.length) resolve();
      };
      w.on('message', (r: CaseResult) => {
        record(current, r);
        feed();
      });
      w.on('error', (e) => {
        if (current >= 0 && results[current] === undefined) record(current, { status: 'error', message: `worker crashed: ${e.message}` });
        startWorker();
      });
      feed();
    };
    for (let i = 0; i < jobs; i++) startWorker();
  });

  const count = (s: CaseStatus): number => results.filter((r) => r.status === s).length;
  return {
    target: opts.target,
    total: results.length,
    passed: count('pass'),
    failed: count('fail'),
    errored: count('error'),
    unsupported: count('unsupported'),
    cases: results.map((r) => ({ name: r.name, folder: r.folder, family: r.family, status: r.status, message: r.message, ms: r.ms })),
  };
}

/** Per-group pass counts, as printed by the CLI. */
export function summarize(report: ConformanceReport, key: 'folder' | 'family'): { group: string; passed: number; total: number }[] {
  const groups = new Map<string, { passed: number; total: number }>();
  for (const c of report.cases) {
    const g = groups.get(c[key]) ?? { passed: 0, total: 0 };
    g.total++;
    if (c.status === 'pass') g.passed++;
    groups.set(c[key], g);
  }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([group, v]) => ({ group, ...v }));
}
