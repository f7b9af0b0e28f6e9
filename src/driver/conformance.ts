/**
 * `kiln conformance`: runs ONNX backend test cases on a target in a worker pool (a time limit per
 * case: a hung case is an error, not a hung run), with summaries per folder and op family.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPool } from './pool.js';
import { KilnError } from '../ir/errors.js';
import { maxTensorBytes } from '../ir/tensor.js';
import type { CaseResult, CaseStatus } from './testcase.js';
import { loadedPluginFiles } from './plugins.js';
import { resolveTarget } from './targets.js';
import { loadModel } from './load.js';
import { nodeMacs } from '../ir/macs.js';
import { specializeShapes } from '../passes/specialize.js';

export interface ConformanceOptions {
  /** `name` or `name:value` (the target's first option). */
  target: string;
  /** Other target options (`--target-option key=value`). */
  targetOptions?: Readonly<Record<string, string>>;
  filter?: string;
  /** Only every nth case in name order (after the filter): a fixed, deterministic sample. */
  every?: number;
  jobs?: number;
  /** Per-case time limit in milliseconds. */
  caseTimeoutMs?: number;
  /** Called once with the number of cases, before the first one runs. */
  onStart?: (total: number) => void;
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

/** Longest limit a scaled case gets (a limit still holds for a hung case). */
const MAX_CASE_MS = 30 * 60_000;
/** Model files smaller than this get the base limit without being looked at (every ONNX node test). */
const SCALE_FROM_BYTES = 1 << 20;

/**
 * A case's time limit: the base for small models, plus time per multiply-accumulate (the
 * interpreter and the unoptimized C run) and per weight byte (gcc compiles the weights in, and
 * loading them), so a 224x224 CNN gets a verdict with the defaults instead of timing out.
 */
export function caseTimeoutMs(baseMs: number, size: { macs: number; weightBytes: number }): number {
  const perGmac = 60_000;
  const perMb = 2_000;
  const ms = baseMs + (size.macs / 1e9) * perGmac + (size.weightBytes / 1e6) * perMb;
  return Math.round(Math.min(MAX_CASE_MS, Math.max(baseMs, ms)));
}

/** MACs (shapes from the first data set's declared inputs) and weight bytes of a case's model. */
function caseSize(caseDir: string): { macs: number; weightBytes: number } {
  const file = path.join(caseDir, 'model.onnx');
  const bytes = fs.statSync(file).size;
  if (bytes < SCALE_FROM_BYTES) return { macs: 0, weightBytes: bytes };
  try {
    const m = loadModel(file);
    try {
      specializeShapes(m, new Map());
    } catch {
      // dynamic input dims: MACs from whatever shapes are static
    }
    return { macs: m.graph.nodes.reduce((a, n) => a + nodeMacs(n), 0), weightBytes: bytes };
  } catch {
    return { macs: 0, weightBytes: bytes };
  }
}

export async function runConformance(dir: string, opts: ConformanceOptions): Promise<ConformanceReport> {
  // a usage error (unknown target, bad option) once, before any worker starts
  const target = resolveTarget(opts.target, opts.targetOptions);
  const every = opts.every ?? 1;
  if (!Number.isInteger(every) || every < 1) throw new KilnError('usage', `--every takes a whole number of at least 1, not '${opts.every}'`);
  const cases = findCases(dir, opts.filter).filter((_, i) => i % every === 0);
  const timeout = opts.caseTimeoutMs ?? 30_000;
  const limits = new Map(cases.map((c) => [c, caseTimeoutMs(timeout, caseSize(c))]));
  opts.onStart?.(cases.length);
  const failed = (caseDir: string, message: string): CaseResult => {
    const name = path.basename(caseDir);
    return { name, folder: path.basename(path.dirname(caseDir)), family: name, status: 'error', message, ms: timeout };
  };
  // every case's build folder goes under one root removed at the end: a case stopped at its time
  // limit cannot clean up after itself
  const scratchRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-conformance-'));
  let results: CaseResult[];
  try {
    results = await runPool<{ caseDir: string; target: string; options: Record<string, string> }, CaseResult>(
      new URL('./conformance-worker.js', import.meta.url),
      cases.map((caseDir) => ({ caseDir, target: opts.target, options: { ...opts.targetOptions } })),
      {
        // a runtime that cannot live in several threads of one process (Dawn) gets one worker
        workers: target.def.capabilities.oneThread ? 1 : opts.jobs ?? os.availableParallelism(),
        // worker threads have their own module state: hand them the tensor byte limit and the plugins
        workerData: { maxTensorBytes, plugins: loadedPluginFiles(), scratchRoot },
        timeoutMs: timeout,
        timeoutFor: (job) => limits.get(job.caseDir) ?? timeout,
        onTimeout: (job) => failed(job.caseDir, `timed out after ${limits.get(job.caseDir) ?? timeout} ms`),
        onCrash: (job, message) => failed(job.caseDir, `worker crashed: ${message}`),
        onProgress: opts.onProgress,
      },
    );
  } finally {
    fs.rmSync(scratchRoot, { recursive: true, force: true });
  }

  const count = (s: CaseStatus): number => results.filter((r) => r.status === s).length;
  return {
    target: target.label,
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
