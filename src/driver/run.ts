/** `kiln run`: load, run on a target, write outputs, compare with expected ones. */
import { parsePipeline, runPipeline } from '../passes/pipeline.js';
import { passLevel } from '../passes/pass.js';
import '../passes/builtin.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../ir/errors.js';
import { encodeValue, readValueFile } from '../frontend/onnx/values.js';
import type { RtValue } from '../ir/tensor.js';
import { loadModel } from './load.js';
import { resolveTarget, runOnTarget } from './targets.js';
import { readInputs } from './testcase.js';
import { compareValues, DEFAULT_TOLERANCE } from './compare.js';
import { checkOutputFolder, writeOutputFolder, type OutputGuard } from './output.js';
import { errorStats, type Tolerance } from './compare.js';
import { isFloat, type DType } from '../ir/dtype.js';

export interface RunOptions {
  /** `name` or `name:value` (the target's first option). */
  target: string;
  /** Target option values, e.g. { board: 'stm32f446' }. */
  targetOptions?: Readonly<Record<string, string | undefined>>;
  inputs?: string[];
  expected?: string[];
  out?: string;
  /** Let --out write into the inputs' folder or an existing folder Kiln did not create. */
  force?: boolean;
  /** Graph passes run before the target (e.g. a plugin's pass), as a pipeline string. */
  passes?: string;
  /** Receives the passes' ctx.log messages (--verbose). */
  log?: (message: string) => void;
  /** Comparison tolerance (default rtol 1e-3, atol 1e-5). */
  rtol?: number;
  atol?: number;
}

/** Expands folders into their numbered `<prefix>N.pb` files. */
function expandPb(paths: readonly string[], prefix: string): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
      const files = fs.readdirSync(p).filter((f) => f.startsWith(prefix) && f.endsWith('.pb'));
      files.sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)));
      out.push(...files.map((f) => path.join(p, f)));
    } else out.push(p);
  }
  return out;
}

/** One output of `kiln run`, as `--json` prints it (every key always present; null when not applicable). */
export interface RunOutput {
  index: number;
  name: string;
  kind: 'tensor' | 'sequence' | 'none';
  dtype: string | null;
  shape: number[] | null;
  /** Whether an expected value was given for this output. */
  compared: boolean;
  /** true: within tolerance; false: mismatch; null: not compared. */
  match: boolean | null;
  /** The first difference when it does not match. */
  message: string | null;
  /** Where the output was written with --out. */
  file: string | null;
  /** Largest absolute / relative difference from the expected value (null when not compared or not numeric). */
  maxAbsError: number | null;
  maxRelError: number | null;
}

export interface RunResult {
  ok: boolean;
  /** The human-readable report. */
  text: string;
  model: string;
  target: string;
  outputs: RunOutput[];
  /** The target's one-line summary (e.g. the C target's build), if it gives one. */
  summary: string | null;
  /** The tolerance outputs were compared with. */
  rtol: number;
  atol: number;
}

/** The folders holding the inputs and expected outputs (--out may not write there without --force). */
function dataFolders(paths: readonly string[]): string[] {
  return paths.map((p) => (fs.existsSync(p) && fs.statSync(p).isDirectory() ? p : path.dirname(p)));
}

export async function runCommand(modelFile: string, opts: RunOptions): Promise<RunResult> {
  const guard: OutputGuard = { models: [modelFile], inputs: dataFolders([...(opts.inputs ?? []), ...(opts.expected ?? [])]), force: opts.force ?? false };
  if (opts.out) checkOutputFolder(opts.out, guard);
  const module = loadModel(modelFile);
  const target = resolveTarget(opts.target, opts.targetOptions);
  if (opts.passes) {
    const steps = parsePipeline(opts.passes);
    const notGraph = steps.find((st) => passLevel(st.pass) !== 'graph');
    if (notGraph) throw new KilnError('usage', `kiln run --passes takes graph passes; '${notGraph.pass.name}' is a ${passLevel(notGraph.pass)} pass (targets lower the model themselves)`);
    runPipeline({ level: 'graph', module }, steps, { verifyEach: true, ...(opts.log ? { log: opts.log } : {}) });
  }
  const inputFiles = expandPb(opts.inputs ?? [], 'input_');
  const inputs = readInputs(module, inputFiles);
  const ran = await runOnTarget(target, module, inputs);
  const outputs: RtValue[] = ran.outputs;
  const lines: string[] = [];
  const rows: RunOutput[] = outputs.map((v, i) => ({
    index: i,
    name: module.graph.outputs[i]!.name,
    kind: v.kind,
    dtype: v.kind === 'tensor' ? v.dtype : null,
    shape: v.kind === 'tensor' ? [...v.shape] : null,
    compared: false,
    match: null,
    message: null,
    file: null,
    maxAbsError: null,
    maxRelError: null,
  }));
  outputs.forEach((v, i) => lines.push(`output ${i} '${module.graph.outputs[i]!.name}': ${describe(v)}`));
  const summary = ran.summary;
  if (summary) lines.push(summary);
  let ok = true;
  const tol: Tolerance = { rtol: opts.rtol ?? DEFAULT_TOLERANCE.rtol, atol: opts.atol ?? DEFAULT_TOLERANCE.atol };
  for (const [k, x] of Object.entries(tol)) if (!(Number.isFinite(x) && x >= 0)) throw new KilnError('usage', `--${k} wants a non-negative number, got ${x}`);
  let expectedFiles = expandPb(opts.expected ?? [], 'output_');
  if (opts.expected === undefined && opts.inputs?.length === 1 && fs.existsSync(opts.inputs[0]!) && fs.statSync(opts.inputs[0]!).isDirectory()) {
    expectedFiles = expandPb(opts.inputs, 'output_');
  }
  if (expectedFiles.length > 0) {
    if (expectedFiles.length !== outputs.length) throw new KilnError('usage', `model has ${outputs.length} outputs, ${expectedFiles.length} expected values given`);
    outputs.forEach((v, i) => {
      const declared = module.graph.outputs[i]!;
      const expected = readValueFile(expectedFiles[i]!, declared.type);
      const diff = compareValues(v, expected, tol);
      if (diff) ok = false;
      const stats = errorStats(v, expected);
      Object.assign(rows[i]!, { compared: true, match: diff === null, message: diff, ...stats });
      const errs = stats.maxAbsError === null ? '' : ` (max abs error ${fmtStat(stats.maxAbsError)}, max rel error ${fmtStat(stats.maxRelError!)})`;
      lines.push(`compare output ${i} '${declared.name}': ${diff ? `MISMATCH ${diff}` : 'ok'}${errs}`);
    });
  }
  // written after the comparison: with --force the outputs may replace the expected files
  if (opts.out) {
    const files = new Map<string, Uint8Array>();
    outputs.forEach((v, i) => {
      files.set(`output_${i}.pb`, encodeValue(v, module.graph.outputs[i]!.type, module.graph.outputs[i]!.name));
      rows[i]!.file = path.join(opts.out!, `output_${i}.pb`);
    });
    writeOutputFolder(opts.out, files, guard);
    lines.push(`wrote ${outputs.length} outputs to ${opts.out}`);
  }
  return { ok, text: `${lines.join('\n')}\n`, model: modelFile, target: target.label, outputs: rows, summary: summary ?? null, rtol: tol.rtol, atol: tol.atol };
}

function describe(v: RtValue): string {
  if (v.kind === 'none') return 'empty optional';
  if (v.kind === 'sequence') return `sequence of ${v.items.length}`;
  const head = Array.from({ length: Math.min(v.size, 8) }, (_, i) => formatElement(v.dtype, v.get(i)));
  return `${v.dtype}[${v.shape.join('x')}] ${head.join(' ')}${v.size > 8 ? ' …' : ''}`;
}

/** Significant digits a float type holds (enough to tell neighbouring values apart, about). */
function floatDigits(dt: DType): number {
  if (dt === 'f64') return 17;
  if (dt === 'f32') return 9;
  if (dt === 'f16') return 4;
  if (dt === 'bf16') return 3;
  return 2; // float8 / float4
}

/** An element as the type holds it: floats to the type's precision, without trailing zeros. */
function formatElement(dt: DType, x: unknown): string {
  if (typeof x !== 'number' || !isFloat(dt) || !Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(floatDigits(dt))));
}

function fmtStat(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(3))) : String(x);
}
