/**
 * `kiln bench --validate-costmodel`: the reuse-aware cost model (memory-model.ts, through
 * kernel-cost.ts) predicted against measurement on this host. Each (kernel, schedule) variant of
 * costmodel/variants.ts is rendered by the C backend as written, built with the bench flags and
 * timed through its harness (CPU time of the slope between batches of n and 3n runs, fastest of
 * several batches; the spread of the pairs is reported as the noise). Prints per variant predicted and measured time,
 * then Spearman's rank correlation and the median relative error; with model folders, whole-model
 * predicted vs measured time as well.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { KilnError } from '../ir/errors.js';
import type { Program } from '../ir/kernel/types.js';
import { bufferSize } from '../ir/kernel/types.js';
import { elementBytes, memoryLayoutOf } from '../ir/kernel/layout.js';
import { parseProgramText } from '../frontend/text/kernel-parser.js';
import { runPipeline } from '../passes/pipeline.js';
import { emitC } from '../backends/c/emit.js';
import { cCompiler, writeProject } from '../backends/c/run.js';
import { makeScratchDir } from '../backends/scratch.js';
import { commandFailure } from '../backends/tools.js';
import { compileModule, compileSettings, compileTarget } from './compile.js';
import { loadModel } from './load.js';
import { targetSteps } from './targets.js';
import { costTotals, kernelCosts } from '../costmodel/kernel-cost.js';
import { hostRoofline, type Roofline } from '../costmodel/roofline.js';
import { costModelVariants, type Variant } from '../costmodel/variants.js';
import { BENCH_CFLAGS, benchInputs, findBenchModels } from './bench.js';
import { tensorToBytes } from '../ir/rawdata.js';
import '../passes/builtin.js';

export interface ValidateOptions {
  /** Host profile name or file (default: the default host profile). */
  host?: string;
  cflags?: string;
  /** Timed pairs per measurement (default 5). */
  repeats?: number;
  /** Minimum extra time the 3n batch takes over the n batch, in ms (default 60). */
  minBatchMs?: number;
  /** A few tiny variants (tests). */
  small?: boolean;
  /** Measure the variants (default true); false: only the model folders. */
  variants?: boolean;
  /** Model folders for whole-model predicted vs measured. */
  models?: readonly string[];
  onRow?: (row: ValidateRow) => void;
  onStart?: (total: number) => void;
  onModel?: (folder: string) => void;
}

export interface ValidateRow {
  family: string;
  schedule: string;
  kernels: number;
  predictedMs: number;
  /** The old model (every access from the roofline bandwidth, every op at the vector peak). */
  naiveMs: number;
  measuredMs: number;
  /** (max - min) of the per-pair slopes over the estimate. */
  noise: number;
  /** |predicted - measured| / measured. */
  relError: number;
  bound: string;
}

export interface ModelRow {
  model: string;
  predictedMs: number;
  measuredMs: number;
  noise: number;
  relError: number;
}

export interface ValidateResult {
  profile: string;
  cflags: string;
  rows: ValidateRow[];
  spearman: number;
  /** Spearman of the old model over the same variants. */
  naiveSpearman: number;
  medianRelError: number;
  medianNoise: number;
  models: ModelRow[];
}

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Ranks with ties averaged. */
function ranks(xs: readonly number[]): number[] {
  const idx = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    for (let k = i; k <= j; k++) r[idx[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation: Pearson's correlation of the ranks (ties averaged). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length < 2) return NaN;
  const ra = ranks(a);
  const rb = ranks(b);
  const ma = ra.reduce((s, x) => s + x, 0) / ra.length;
  const mb = rb.reduce((s, x) => s + x, 0) / rb.length;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i]! - ma) * (rb[i]! - mb);
    da += (ra[i]! - ma) ** 2;
    db += (rb[i]! - mb) ** 2;
  }
  return da > 0 && db > 0 ? num / Math.sqrt(da * db) : NaN;
}

/**
 * A tiny POSIX wrapper that runs a command and prints the CPU time (user + system, µs) it used:
 * on a machine shared with other work, wall time counts the time slices others get; CPU time does not.
 */
const CPUTIME_C = `#define _DEFAULT_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  pid_t p = fork();
  if (p < 0) return 1;
  if (p == 0) { execv(argv[1], argv + 1); _exit(127); }
  int st = 0;
  struct rusage ru;
  if (wait4(p, &st, 0, &ru) < 0) return 1;
  printf("%ld\\n", (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
`;

function buildCpuTimer(dir: string): string {
  fs.writeFileSync(path.join(dir, 'cputime.c'), CPUTIME_C);
  execFileSync(cCompiler(), ['-O1', '-o', 'cputime', 'cputime.c'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  return path.join(dir, 'cputime');
}

/**
 * Times a built harness: ms per run from the slope between batches of n and 3n runs (start-up and
 * file I/O cancel), in CPU time of the child when the timer is there (other sessions' time slices
 * do not count), else wall time. Each batch size keeps its fastest batch; the noise is the spread of
 * the per-pair slopes over that estimate.
 */
function timeRuns(exe: string, args: string[], opts: ValidateOptions, timer: string | null): { ms: number; noise: number } {
  const run = (n: number): number => {
    if (timer) {
      // the harness's own output comes first; the timer's figure is the last line
      const lines = execFileSync(timer, [exe, '-n', String(n), ...args], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 600_000 }).toString().trim().split('\n');
      return Number(lines[lines.length - 1]) / 1000;
    }
    const t0 = performance.now();
    execFileSync(exe, ['-n', String(n), ...args], { stdio: 'ignore', timeout: 600_000 });
    return performance.now() - t0;
  };
  let n = 1;
  while (n < 1e8 && run(3 * n) - run(n) < (opts.minBatchMs ?? 80)) n *= 4;
  const small: number[] = [];
  const big: number[] = [];
  for (let r = 0; r < (opts.repeats ?? 5); r++) {
    small.push(run(n));
    big.push(run(3 * n));
  }
  const ms = Math.max(0, (Math.min(...big) - Math.min(...small)) / (2 * n));
  const pairs = small.map((s, i) => (big[i]! - s) / (2 * n));
  return { ms, noise: ms > 0 ? (Math.max(...pairs) - Math.min(...pairs)) / ms : 0 };
}

/** Renders a kernel-level program with the C backend, builds it and times it. */
function measureProgram(program: Program, dir: string, cflags: string, opts: ValidateOptions, timer: string | null): { ms: number; noise: number } {
  const target = compileTarget({ target: 'c' });
  const results = new Map<string, unknown>();
  runPipeline({ level: 'kernel', program }, targetSteps(target, compileSettings({})), { results });
  const project = emitC(program, 'v', memoryLayoutOf(results, 'c'));
  writeProject(dir, project);
  try {
    execFileSync(cCompiler(), [...cflags.split(/\s+/).filter(Boolean), '-o', 'model', 'main.c', 'model.c', 'weights.s', '-lm'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  } catch (e) {
    throw commandFailure('validate-costmodel: C compile', e, { tool: cCompiler(), timeoutMs: 120_000 });
  }
  const args = program.inputs.map((b, i) => {
    const f = path.join(dir, `in${i}.bin`);
    const n = bufferSize(b) * elementBytes(b.dtype);
    const data = new Float32Array(Math.ceil(n / 4)).fill(0.5);
    fs.writeFileSync(f, new Uint8Array(data.buffer, 0, n));
    return f;
  });
  return timeRuns(path.join(dir, 'model'), [...args, '-o', path.join(dir, 'out')], opts, timer);
}

function predictMs(program: Program, roof: Roofline): { ms: number; naiveMs: number; bound: string } {
  const costs = kernelCosts(program, roof);
  const t = costTotals(costs);
  const bounds = [...new Set(costs.map((c) => c.reuse?.bound ?? c.bound))];
  return { ms: (t.reuseSeconds ?? t.estSeconds) * 1000, naiveMs: t.estSeconds * 1000, bound: bounds.join('+') };
}

export function validateCostModel(opts: ValidateOptions = {}): ValidateResult {
  const roof = hostRoofline(opts.host);
  const cflags = opts.cflags ?? BENCH_CFLAGS;
  const variants: Variant[] = opts.variants === false ? [] : costModelVariants(opts.small ?? false);
  opts.onStart?.(variants.length);
  const rows: ValidateRow[] = [];
  const root = makeScratchDir('kiln-validate-');
  try {
    let timer: string | null = null;
    try {
      timer = buildCpuTimer(root);
    } catch {
      // no POSIX wait4: wall time
    }
    variants.forEach((v, i) => {
      const program = parseProgramText(v.kir, `${v.family} ${v.schedule}`);
      const p = predictMs(program, roof);
      const dir = path.join(root, String(i));
      const m = measureProgram(parseProgramText(v.kir, `${v.family} ${v.schedule}`), dir, cflags, opts, timer);
      fs.rmSync(dir, { recursive: true, force: true });
      const row: ValidateRow = { family: v.family, schedule: v.schedule, kernels: program.kernels.length, predictedMs: p.ms, naiveMs: p.naiveMs, measuredMs: m.ms, noise: m.noise, relError: m.ms > 0 ? Math.abs(p.ms - m.ms) / m.ms : NaN, bound: p.bound };
      opts.onRow?.(row);
      rows.push(row);
    });
    const models: ModelRow[] = [];
    for (const folder of findBenchModels(opts.models ?? [])) {
      opts.onModel?.(folder);
      const dir = path.join(root, `m-${models.length}`);
      const { feedValues, shapes } = benchInputs(folder);
      const file = path.join(folder, 'model.onnx');
      const compiled = compileModule(loadModel(file), file, { target: 'c', inputShapes: shapes, targetOptions: opts.host !== undefined ? { host: opts.host } : {} });
      fs.mkdirSync(dir, { recursive: true });
      for (const [name, data] of compiled.fileData) fs.writeFileSync(path.join(dir, name), data);
      execFileSync('make', ['-s', '-C', dir, `CFLAGS=${cflags}`], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
      const inputs = feedValues.map((f, i) => {
        const p = path.join(dir, `in${i}.bin`);
        fs.writeFileSync(p, tensorToBytes(f.t, false));
        return p;
      });
      const m = timeRuns(path.join(dir, 'model'), [...inputs, '-o', path.join(dir, 'out')], opts, timer);
      const p = predictMs(compiled.program, roof);
      models.push({ model: path.basename(folder), predictedMs: p.ms, measuredMs: m.ms, noise: m.noise, relError: m.ms > 0 ? Math.abs(p.ms - m.ms) / m.ms : NaN });
    }
    return {
      profile: roof.name,
      cflags,
      rows,
      spearman: spearman(rows.map((r) => r.predictedMs), rows.map((r) => r.measuredMs)),
      naiveSpearman: spearman(rows.map((r) => r.naiveMs), rows.map((r) => r.measuredMs)),
      medianRelError: median(rows.map((r) => r.relError)),
      medianNoise: median(rows.map((r) => r.noise)),
      models,
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(1) : x >= 0.001 ? x.toPrecision(3) : x.toExponential(2));

export const VALIDATE_HEADER = `${'variant'.padEnd(34)} ${'predicted ms'.padStart(12)} ${'measured ms'.padStart(12)} ${'noise'.padStart(6)} ${'error'.padStart(7)}  bound`;

export function formatValidateRow(r: ValidateRow): string {
  return `${`${r.family} ${r.schedule}`.padEnd(34)} ${fmt(r.predictedMs).padStart(12)} ${fmt(r.measuredMs).padStart(12)} ${`${(100 * r.noise).toFixed(0)}%`.padStart(6)} ${`${(100 * r.relError).toFixed(0)}%`.padStart(7)}  ${r.bound}`;
}

export function formatValidateSummary(v: ValidateResult): string[] {
  const lines = [
    `${v.rows.length} variants on profile ${v.profile}: Spearman ${v.spearman.toFixed(3)} (the access-count roofline: ${v.naiveSpearman.toFixed(3)}), median relative error ${(100 * v.medianRelError).toFixed(0)}%, median noise (spread of the timed pairs) ${(100 * v.medianNoise).toFixed(0)}%`,
  ];
  for (const m of v.models) lines.push(`model ${m.model.padEnd(22)} predicted ${fmt(m.predictedMs).padStart(9)} ms  measured ${fmt(m.measuredMs).padStart(9)} ms  error ${(100 * m.relError).toFixed(0)}%  noise ${(100 * m.noise).toFixed(0)}%`);
  return lines;
}
