/**
 * `kiln bench --target wgsl`: for each model folder, Kiln's WGSL (compiled by `kiln compile --target
 * wgsl`) next to onnxruntime-web's WebGPU execution provider, both run in one headless Chromium page
 * on the same adapter in the same run (SwiftShader on a machine without a GPU: a CPU emulation, so
 * only the ratio means anything). Every run uploads the inputs and reads the outputs back, on both
 * sides. The outputs of both are compared with the data set's expected outputs, so a fast wrong
 * answer shows. The page is served from 127.0.0.1 only; a request anywhere else is an error.
 * Numbers are reported, never asserted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { KilnError, isKilnError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import { fillFromBytes, tensorToBytes } from '../ir/rawdata.js';
import { readValueFile } from '../frontend/onnx/values.js';
import { benchInputs, findBenchModels, formatRatio, ORT_TYPES } from './bench.js';
import { compileModel } from './compile.js';
import { errorStats } from './compare.js';
import { numbered } from './testcase.js';
import { startLoopbackServer } from './loopback-server.js';

export interface WgslBenchRow {
  model: string;
  status: 'ok' | 'unsupported' | 'error';
  message?: string;
  compileMs?: number;
  kernels?: number;
  /** Median ms per inference (upload, dispatches, read-back). */
  kilnMs?: number;
  ortMs?: number | null;
  /** kilnMs / ortMs (lower is better). */
  ratio?: number | null;
  /** Largest |output - expected| over the outputs, for each side (null: not comparable). */
  kilnMaxAbsError?: number | null;
  ortMaxAbsError?: number | null;
  /** Why onnxruntime-web gave no time for this model. */
  ortMessage?: string;
}

export interface WgslBenchResult {
  browser: string;
  adapter: string;
  ort: string;
  rows: WgslBenchRow[];
}

export interface WgslBenchOptions {
  repeats?: number;
  /** Minimum wall time of one timed batch, in ms. */
  minBatchMs?: number;
  /** Chromium binary (default $KILN_CHROMIUM or /usr/bin/chromium). */
  chromium?: string;
  onStart?: (folders: readonly string[]) => void;
  onModel?: (index: number, folder: string) => void;
  onRow?: (row: WgslBenchRow) => void;
}

/** onnxruntime-web's tensor types: onnxruntime-node's, plus float16 (bit patterns, as Kiln stores them). */
const ORT_WEB_TYPES: Readonly<Record<string, string>> = { ...ORT_TYPES, f16: 'float16' };

/** What the page script gets for one model. */
interface PageJob {
  kilnModule: string;
  onnx: string;
  inputs: { name: string; ortType: string; dims: number[]; url: string }[];
  repeats: number;
  minBatchMs: number;
}

/** What the page script returns: times, and each output's bytes (base64) in Kiln's storage layout or onnxruntime's typed array. */
interface PageResult {
  kilnMs: number;
  kilnOutputs: string[];
  ortMs: number | null;
  ortOutputs: string[];
  ortMessage?: string;
}

/**
 * Runs in the page. Plain JS (serialised into the page); timing: two warm-up runs, then batches of
 * n runs with n doubled until a batch takes minBatchMs, median over `repeats` batches.
 */
const PAGE_SCRIPT = `async (job) => {
  const b64 = (v) => { const u = new Uint8Array(v.buffer, v.byteOffset, v.byteLength); let s = ''; for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000)); return btoa(s); };
  const time = async (f) => {
    await f(); await f();
    let n = 1;
    for (;;) { const t0 = performance.now(); for (let i = 0; i < n; i++) await f(); if (performance.now() - t0 >= job.minBatchMs || n >= 65536) break; n *= 2; }
    const xs = [];
    for (let r = 0; r < job.repeats; r++) { const t0 = performance.now(); for (let i = 0; i < n; i++) await f(); xs.push((performance.now() - t0) / n); }
    xs.sort((a, b) => a - b);
    return xs.length % 2 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2;
  };
  const bytes = await Promise.all(job.inputs.map(async (i) => new Uint8Array(await (await fetch(i.url)).arrayBuffer())));
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice();
  const kiln = await import(job.kilnModule);
  const model = await kiln.load(device);
  const kOut = await model.run(bytes);
  const kilnMs = await time(() => model.run(bytes));
  model.destroy();
  device.destroy();
  let ortMs = null, ortOutputs = [], ortMessage;
  try {
    const ort = await import('/ort/ort.webgpu.min.mjs');
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = '/ort/';
    const onnx = new Uint8Array(await (await fetch(job.onnx)).arrayBuffer());
    const session = await ort.InferenceSession.create(onnx, { executionProviders: ['webgpu'], graphOptimizationLevel: 'all' });
    const ctor = { float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array };
    const feeds = {};
    job.inputs.forEach((i, k) => { const C = ctor[i.ortType]; const b = bytes[k]; feeds[i.name] = new ort.Tensor(i.ortType, new C(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), i.dims); });
    const res = await session.run(feeds);
    ortOutputs = session.outputNames.map((n) => b64(res[n].data));
    ortMs = await time(() => session.run(feeds));
    await session.release();
  } catch (e) { ortMessage = String(e && e.message || e).split('\\n')[0].slice(0, 300); }
  return { kilnMs, kilnOutputs: kOut.map(b64), ortMs, ortOutputs, ortMessage };
}`;

const ADAPTER_SCRIPT = `async () => { const a = await navigator.gpu?.requestAdapter(); if (!a) return null; const i = a.info || {}; return [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'unknown adapter'; }`;

function chromiumPath(opts: WgslBenchOptions): string {
  const p = opts.chromium ?? process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(p)) throw new KilnError('unsupported', `kiln bench --target wgsl needs Chromium: ${p} not found (apt-get install --no-install-recommends chromium, or set KILN_CHROMIUM)`);
  return p;
}

/** The folder of onnxruntime-web's browser builds, or a one-line refusal. */
function ortWebDist(): { dir: string; version: string } {
  try {
    // the package exports no ./package.json: find its folder from the main entry (dist/…)
    const dir = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
    const pkg = path.join(dir, '..', 'package.json');
    return { dir, version: (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version };
  } catch {
    throw new KilnError('unsupported', 'kiln bench --target wgsl needs the onnxruntime-web package (a dev dependency of Kiln: npm install onnxruntime-web)');
  }
}

function fromBase64(dtype: Tensor['dtype'], shape: readonly number[], b64: string): Tensor {
  const bytes = Buffer.from(b64, 'base64');
  const t = Tensor.zeros(dtype, shape);
  fillFromBytes(t, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), false);
  return t;
}

/** Worst max-abs error over the outputs, or null when any output is not comparable. */
function worstError(outputs: readonly Tensor[], expected: readonly Tensor[]): number | null {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = outputs[i];
    if (!a) return null;
    const e = errorStats(a, expected[i]!).maxAbsError;
    if (e === null) return null;
    worst = Math.max(worst, e);
  }
  return worst;
}

export async function runWgslBench(dirs: readonly string[], opts: WgslBenchOptions = {}): Promise<WgslBenchResult> {
  const executablePath = chromiumPath(opts);
  const ortDist = ortWebDist();
  const puppeteer = await import('puppeteer-core').then(
    (m) => m.default,
    () => {
      throw new KilnError('unsupported', 'kiln bench --target wgsl needs the puppeteer-core package (a dev dependency of Kiln)');
    },
  );
  const folders = findBenchModels(dirs);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-wgsl-'));
  const server = await startLoopbackServer({ folders: new Map([['/ort/', ortDist.dir], ['/w/', work]]), pages: new Map([['/', '<!doctype html><meta charset="utf-8"><title>kiln bench wgsl</title>']]) });
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--headless=new', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'],
  });
  const offLoopback: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('request', (r) => {
      if (!r.url().startsWith(`${server.origin}/`) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) offLoopback.push(r.url());
    });
    await page.goto(`${server.origin}/`);
    const adapter = (await page.evaluate(`(${ADAPTER_SCRIPT})()`)) as string | null;
    if (!adapter) throw new KilnError('unsupported', 'Chromium offers no WebGPU adapter here (navigator.gpu.requestAdapter() gave null)');
    const rows: WgslBenchRow[] = [];
    opts.onStart?.(folders);
    for (const [i, folder] of folders.entries()) {
      opts.onModel?.(i, folder);
      const row = await benchOne(page, folder, path.join(work, String(i)), `/w/${i}`, opts);
      if (offLoopback.length > 0) throw new KilnError('runtime', `the bench page requested ${offLoopback[0]}, which is not on loopback`);
      opts.onRow?.(row);
      rows.push(row);
    }
    return { browser: await browser.version(), adapter, ort: `onnxruntime-web ${ortDist.version} (webgpu execution provider)`, rows };
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function benchOne(page: import('puppeteer-core').Page, folder: string, dir: string, url: string, opts: WgslBenchOptions): Promise<WgslBenchRow> {
  const model = path.basename(folder);
  try {
    const { module, set, feedValues, shapes } = benchInputs(folder);
    const compiled = compileModel(path.join(folder, 'model.onnx'), { target: 'wgsl', out: path.join(dir, 'kiln'), inputShapes: shapes });
    fs.copyFileSync(path.join(folder, 'model.onnx'), path.join(dir, 'model.onnx'));
    const inputs = feedValues.map((f, k) => {
      const ortType = ORT_WEB_TYPES[f.t.dtype];
      if (!ortType) throw new KilnError('unsupported', `input '${f.name}' of element type ${f.t.dtype} has no onnxruntime-web tensor type`);
      fs.writeFileSync(path.join(dir, `in${k}.bin`), tensorToBytes(f.t, false));
      return { name: f.name, ortType, dims: [...f.t.shape], url: `${url}/in${k}.bin` };
    });
    const job: PageJob = { kilnModule: `${url}/kiln/model.js`, onnx: `${url}/model.onnx`, inputs, repeats: opts.repeats ?? 5, minBatchMs: opts.minBatchMs ?? 200 };
    const r = (await page.evaluate(`(${PAGE_SCRIPT})(${JSON.stringify(job)})`)) as PageResult;
    const expectedFiles = numbered(set, 'output_');
    const expected = module.graph.outputs.map((v, i) => {
      const e = expectedFiles[i] ? readValueFile(expectedFiles[i]!, v.type) : undefined;
      if (!e || e.kind !== 'tensor') throw new KilnError('usage', `${folder}: output ${i} ('${v.name}') has no expected tensor in ${set}`);
      return e;
    });
    const decode = (outs: readonly string[]): Tensor[] => outs.map((b, i) => fromBase64(expected[i]!.dtype, expected[i]!.shape, b));
    return {
      model,
      status: 'ok',
      compileMs: Math.round(compiled.ms),
      kernels: compiled.report.kernels,
      kilnMs: r.kilnMs,
      ortMs: r.ortMs,
      ratio: r.ortMs ? r.kilnMs / r.ortMs : null,
      kilnMaxAbsError: worstError(decode(r.kilnOutputs), expected),
      ortMaxAbsError: r.ortMs === null ? null : worstError(decode(r.ortOutputs), expected),
      ...(r.ortMessage ? { ortMessage: r.ortMessage } : {}),
    };
  } catch (e) {
    if (isKilnError(e)) return { model, status: e.code === 'unsupported' ? 'unsupported' : 'error', message: e.oneLine() };
    return { model, status: 'error', message: String((e as Error)?.message ?? e).split('\n')[0] };
  }
}

export const WGSL_BENCH_HEADER = `${'model'.padEnd(20)} ${'compile'.padStart(8)} ${'kernels'.padStart(8)} ${'Kiln ms'.padStart(10)} ${'ORT-web ms'.padStart(11)} ${'Kiln/ORT'.padStart(9)} ${'Kiln err'.padStart(9)} ${'ORT err'.padStart(9)}`;

export function formatWgslBenchRow(r: WgslBenchRow): string {
  if (r.status !== 'ok') return `${r.model.padEnd(20)} ${r.status}: ${r.message ?? ''}`;
  const ms = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x >= 100 ? x.toFixed(1) : x.toPrecision(3));
  const err = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x === 0 ? '0' : x.toExponential(1));
  const line = `${r.model.padEnd(20)} ${String(r.compileMs).padStart(8)} ${String(r.kernels).padStart(8)} ${ms(r.kilnMs).padStart(10)} ${ms(r.ortMs).padStart(11)} ${(r.ratio === null || r.ratio === undefined ? '—' : `${formatRatio(r.ratio)}x`).padStart(9)} ${err(r.kilnMaxAbsError).padStart(9)} ${err(r.ortMaxAbsError).padStart(9)}`;
  return r.ortMessage ? `${line}  (onnxruntime-web: ${r.ortMessage})` : line;
}
