/**
 * `kiln bench`: for each model folder (model.onnx + test_data_set_0), compile time, arena and weight
 * bytes, and the run time of the generated C (gcc -O3 -march=native, median of several timed
 * batches) next to onnxruntime-node, measured in the same run, both on the same number of threads:
 * one by default; with `threads` N the C is compiled with `--target-option threads=N` (OpenMP
 * parallel loops) and onnxruntime runs with N intra-op threads.
 * Numbers are reported, never asserted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { KilnError, isKilnError } from '../ir/errors.js';
import type { Tensor } from '../ir/tensor.js';
import { tensorToBytes } from '../ir/rawdata.js';
import { compileModel } from './compile.js';
import { dataSets, numbered, readInputs } from './testcase.js';
import type { Module } from '../ir/graph.js';
import { loadModel } from './load.js';
import { failureDetail } from '../backends/tools.js';

export interface BenchRow {
  model: string;
  status: 'ok' | 'unsupported' | 'error';
  message?: string;
  compileMs?: number;
  arenaBytes?: number;
  weightBytes?: number;
  kernels?: number;
  cMs?: number;
  ortMs?: number | null;
  /** cMs / ortMs (lower is better; 1 means as fast as onnxruntime). */
  ratio?: number | null;
}

export interface BenchOptions {
  /** Timed batches per measurement (the median is reported). */
  repeats?: number;
  /** Minimum wall time of one timed batch, in ms. */
  minBatchMs?: number;
  cflags?: string;
  /** Graph canonicalization and kernel fusion (default on; off to measure what they bring). */
  canonicalize?: boolean;
  fuse?: boolean;
  /** Threads of both the generated C (target option threads) and onnxruntime (intra-op); default 1. */
  threads?: number;
  /** Called once with the model folders found, before the first is measured. */
  onStart?: (folders: readonly string[]) => void;
  /** Called before each model folder is measured (index into the list given to onStart). */
  onModel?: (index: number, folder: string) => void;
  onRow?: (row: BenchRow) => void;
}

export const BENCH_CFLAGS = '-O3 -march=native -ffp-contract=fast -std=c99 -fno-strict-aliasing';

/** onnxruntime's tensor type names (node and web) for Kiln's element types. */
export const ORT_TYPES: Readonly<Record<string, string>> = { f32: 'float32', f64: 'float64', i8: 'int8', u8: 'uint8', i16: 'int16', u16: 'uint16', i32: 'int32', u32: 'uint32', i64: 'int64', u64: 'uint64', bool: 'bool' };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Model folders: dirs that contain model.onnx, or their children that do. */
export function findBenchModels(dirs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    if (fs.existsSync(path.join(d, 'model.onnx'))) out.push(d);
    else if (fs.existsSync(d) && fs.statSync(d).isDirectory()) {
      for (const c of fs.readdirSync(d).sort()) if (fs.existsSync(path.join(d, c, 'model.onnx'))) out.push(path.join(d, c));
    }
  }
  return out;
}

/** Per-inference time the harness prints after `-n N` runs ("kiln: N run(s), T us per inference …"). */
const HARNESS_TIME = /kiln: \d+ run\(s\), ([0-9.]+) us per inference/;

function timeHarness(dir: string, inputFiles: string[], opts: BenchOptions): number {
  // the harness times its own loop of n runs (clock_gettime around the calls only), so process
  // start-up and file I/O never enter the figure, however loaded the machine is
  const run = (n: number): number => {
    const out = execFileSync(path.join(dir, 'model'), ['-n', String(n), ...inputFiles, '-o', path.join(dir, 'bench_out')], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 600_000 }).toString();
    const m = HARNESS_TIME.exec(out);
    if (!m) throw new KilnError('runtime', `bench: the harness printed no time per inference (${out.trim().split('\n')[0] ?? 'no output'})`);
    return Number(m[1]) / 1000;
  };
  // grow n until one batch runs long enough for the clock and the scheduler's slices to average out
  let n = 1;
  while (n < 1e8 && run(n) * n < (opts.minBatchMs ?? 200)) n *= 4;
  const samples: number[] = [];
  for (let r = 0; r < (opts.repeats ?? 5); r++) samples.push(run(n));
  return median(samples);
}

async function timeOrt(modelFile: string, names: string[], inputs: Tensor[], opts: BenchOptions): Promise<number | null> {
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch {
    return null;
  }
  const session = await ort.InferenceSession.create(modelFile, { intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
  inputs.forEach((t, i) => {
    const ty = ORT_TYPES[t.dtype];
    if (!ty) throw new KilnError('unsupported', `onnxruntime feed of element type ${t.dtype}`);
    feeds[names[i]!] = new ort.Tensor(ty as 'float32', t.data as Float32Array, [...t.shape]);
  });
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    await session.run(feeds);
    return performance.now() - t0;
  };
  const single = await once();
  const n = Math.max(1, Math.ceil((opts.minBatchMs ?? 300) / Math.max(0.01, single)));
  const samples: number[] = [];
  for (let r = 0; r < (opts.repeats ?? 5); r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await session.run(feeds);
    samples.push((performance.now() - t0) / n);
  }
  await session.release();
  return median(samples);
}

export interface BenchInputs {
  readonly module: Module;
  /** The data set the inputs come from (test_data_set_0). */
  readonly set: string;
  /** The fed graph inputs (defaults left out), in graph order. */
  readonly feedValues: readonly { name: string; t: Tensor }[];
  readonly shapes: ReadonlyMap<string, readonly number[]>;
}

/** A bench folder's model and the inputs of its first data set. */
export function benchInputs(folder: string): BenchInputs {
  const sets = dataSets(folder);
  if (sets.length === 0) throw new KilnError('usage', `${folder} has no test_data_set_0 to take input shapes from`);
  const module = loadModel(path.join(folder, 'model.onnx'));
  const inputs = readInputs(module, numbered(sets[0]!, 'input_'));
  const feedValues = module.graph.inputs.flatMap((v, i) => (v.init && inputs[i] === undefined ? [] : [{ name: v.name, t: inputs[i] as Tensor }]));
  const shapes = new Map(feedValues.map((f) => [f.name, f.t.shape] as [string, readonly number[]]));
  return { module, set: sets[0]!, feedValues, shapes };
}

export async function benchModel(folder: string, opts: BenchOptions = {}): Promise<BenchRow> {
  const model = path.basename(folder);
  const modelFile = path.join(folder, 'model.onnx');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-'));
  try {
    const { feedValues, shapes } = benchInputs(folder);
    const out = path.join(work, 'c');
    const threads = opts.threads ?? 1;
    const compiled = compileModel(modelFile, { target: 'c', out, inputShapes: shapes, canonicalize: opts.canonicalize ?? true, fuse: opts.fuse ?? true, ...(threads > 1 ? { targetOptions: { threads: String(threads) } } : {}) });
    execFileSync('make', ['-s', '-C', out, `CFLAGS=${opts.cflags ?? BENCH_CFLAGS}`], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    const inputFiles = feedValues.map((f, i) => {
      const p = path.join(work, `in${i}.bin`);
      fs.writeFileSync(p, tensorToBytes(f.t, false));
      return p;
    });
    const cMs = timeHarness(out, inputFiles, opts);
    const ortMs = await timeOrt(modelFile, feedValues.map((f) => f.name), feedValues.map((f) => f.t), opts);
    return {
      model,
      status: 'ok',
      compileMs: Math.round(compiled.ms),
      arenaBytes: compiled.report.arenaBytes,
      weightBytes: compiled.report.weightBytes,
      kernels: compiled.report.kernels,
      cMs,
      ortMs,
      ratio: ortMs ? cMs / ortMs : null,
    };
  } catch (e) {
    if (isKilnError(e)) return { model, status: e.code === 'unsupported' ? 'unsupported' : 'error', message: e.oneLine() };
    return { model, status: 'error', message: failureDetail(e) };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export async function runBench(dirs: readonly string[], opts: BenchOptions = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const folders = findBenchModels(dirs);
  opts.onStart?.(folders);
  for (const [i, f] of folders.entries()) {
    opts.onModel?.(i, f);
    const row = await benchModel(f, opts);
    opts.onRow?.(row);
    rows.push(row);
  }
  return rows;
}

/** Three significant digits, so a tiny ratio never reads 0.00 (0.00312). */
export function formatRatio(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 0.01 ? x.toFixed(2) : x === 0 ? '0' : x.toPrecision(3);
}

export function formatBenchRow(r: BenchRow): string {
  if (r.status !== 'ok') return `${r.model.padEnd(20)} ${r.status}: ${r.message ?? ''}`;
  const ms = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x >= 100 ? x.toFixed(1) : x.toPrecision(3));
  return `${r.model.padEnd(20)} ${String(r.compileMs).padStart(8)} ${String(r.arenaBytes).padStart(12)} ${String(r.weightBytes).padStart(12)} ${ms(r.cMs).padStart(10)} ${ms(r.ortMs).padStart(10)} ${r.ratio === null || r.ratio === undefined ? '     —' : `${formatRatio(r.ratio)}x`.padStart(7)}`;
}

export const BENCH_HEADER = `${'model'.padEnd(20)} ${'compile'.padStart(8)} ${'arena B'.padStart(12)} ${'weights B'.padStart(12)} ${'C ms'.padStart(10)} ${'ORT ms'.padStart(10)} ${'C/ORT'.padStart(7)}`;
