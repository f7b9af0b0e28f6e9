/**
 * `kiln quantize`: calibrates a float model on the reference interpreter, writes its QDQ form
 * (.onnx through Kiln's ONNX writer, or .kir) and measures it against the float model on the
 * calibration set and a held-back set. The quantization itself lives in src/quant.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { printModule } from '../ir/print.js';
import { exportOnnx } from '../frontend/onnx/export.js';
import { getDevice } from '../costmodel/devices.js';
import { calibrate, type Calibration, type DataSet } from '../quant/calibrate.js';
import { evaluate, type Accuracy } from '../quant/evaluate.js';
import { chooseMixed, type Budget, type LayerSensitivity } from '../quant/mixed.js';
import { activationTensors, buildQdq, findLayers, type QdqResult, type QuantPlan } from '../quant/qdq.js';
import type { ActType, WeightBits } from '../quant/qparams.js';
import type { CalibrationMethod } from '../quant/ranges.js';
import { loadModel } from './load.js';
import { readTensorFile } from './convert.js';
import { checkOutputFile, writeFileAtomic } from './output.js';

export type QuantScheme = 'int8' | 'int16x8' | 'mixed';
export const QUANT_SCHEMES: readonly QuantScheme[] = ['int8', 'int16x8', 'mixed'];

export interface QuantizeOptions {
  out: string;
  calibration: string;
  holdout?: string;
  method: CalibrationMethod;
  percentile?: number;
  scheme: QuantScheme;
  /** 8-bit activation type: 'i8' (default) or 'u8'. */
  activations?: 'i8' | 'u8';
  budget?: Budget;
  device?: string;
  force?: boolean;
}

export interface AccuracyReport {
  outputs: { name: string; sqnrDb: number | null; top1Agreement: number | null }[];
  layers: { tensor: string; producer: string; dtype: string; sqnrDb: number | null }[];
  dataSets: number;
}

export interface QuantizeReport {
  model: string;
  out: string;
  scheme: QuantScheme;
  method: CalibrationMethod;
  activations: ActType;
  layers: { name: string; weightBits: WeightBits; activation: string | null; activationType: ActType | null }[];
  weightBytes: number;
  floatWeightBytes: number;
  clampedBias: number;
  skipped: { layer: string; reason: string }[];
  calibration: AccuracyReport;
  holdout: AccuracyReport | null;
  /** Where the held-back set came from: the --holdout folder, every fifth calibration set, or none. */
  holdoutSource: string;
  mixed: {
    budget: Budget;
    baseline: { sqnrDb: number | null; top1Agreement: number | null; weightBytes: number };
    solver: string;
    solverBudgetDb: number;
    sensitivity: LayerSensitivity[];
  } | null;
  device: { name: string; flashBytes: number | null; fits: boolean | null } | null;
}

const numbered = (files: string[], prefix: string): string[] =>
  files
    .filter((f) => f.startsWith(prefix) && /\.(pb|npy)$/.test(f))
    .sort((a, b) => Number(a.slice(prefix.length).replace(/\.\w+$/, '')) - Number(b.slice(prefix.length).replace(/\.\w+$/, '')));

function readDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KilnError('io', `cannot read '${dir}': ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : code ?? 'error'}`);
  }
}

/** One data set's input files, checked against the model's inputs. */
function loadSet(module: Module, files: readonly string[], where: string): DataSet {
  const feed = module.graph.inputs.filter((v) => v.init === null);
  if (files.length !== feed.length) throw new KilnError('usage', `${where}: the model takes ${feed.length} inputs, ${files.length} given`);
  const byValue = new Map(feed.map((v, i) => {
    const { tensor } = readTensorFile(files[i]!);
    const t = v.tensorType;
    if (t && tensor.dtype !== t.dtype) throw new KilnError('usage', `${files[i]}: ${tensor.dtype} data for input '${v.name}' of type ${t.dtype}`);
    if (t?.shape && (t.shape.length !== tensor.rank || t.shape.some((d, k) => typeof d === 'number' && d !== tensor.shape[k]))) {
      throw new KilnError('usage', `${files[i]}: shape [${tensor.shape.join(',')}] for input '${v.name}' of shape [${t.shape.map((d) => d ?? '?').join(',')}]`);
    }
    return [v, tensor] as const;
  }));
  return module.graph.inputs.map((v) => byValue.get(v));
}

/**
 * The data sets in a folder: its test_data_set_* folders (inputs input_N.pb/.npy), or its own
 * input_N files (one set), or, for a one-input model, every .pb/.npy file in it (one set each).
 */
export function readDataSets(module: Module, dir: string): DataSet[] {
  const entries = readDir(dir);
  const sets = entries.filter((e) => e.isDirectory() && e.name.startsWith('test_data_set_')).map((e) => e.name).sort((a, b) => Number(a.slice(14)) - Number(b.slice(14)));
  if (sets.length > 0) {
    return sets.map((s) => {
      const d = path.join(dir, s);
      return loadSet(module, numbered(fs.readdirSync(d), 'input_').map((f) => path.join(d, f)), d);
    });
  }
  const files = entries.filter((e) => e.isFile()).map((e) => e.name);
  const inputs = numbered(files, 'input_');
  if (inputs.length > 0) return [loadSet(module, inputs.map((f) => path.join(dir, f)), dir)];
  const any = files.filter((f) => /\.(pb|npy)$/.test(f)).sort();
  if (any.length === 0) throw new KilnError('usage', `${dir}: no test_data_set_* folders, input_N.pb/.npy or .pb/.npy files`);
  return any.map((f) => loadSet(module, [path.join(dir, f)], path.join(dir, f)));
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

function accuracyReport(a: Accuracy): AccuracyReport {
  return {
    dataSets: a.dataSets,
    outputs: a.outputs.map((o) => ({ name: o.name, sqnrDb: finite(o.sqnrDb), top1Agreement: o.top1Agreement })),
    layers: a.layers.map((l) => ({ ...l, sqnrDb: finite(l.sqnrDb) })),
  };
}

function parseBudgetDefault(opts: QuantizeOptions): Budget {
  return opts.budget ?? { kind: 'sqnr-drop', db: 3 };
}

export interface QuantizeOutcome {
  report: QuantizeReport;
  result: QdqResult;
  /** The quantized model's outputs on the held-back set (per data set), for callers with labels. */
  holdoutOutputs: Accuracy['quantOutputs'] | null;
}

export function quantizeModel(modelFile: string, opts: QuantizeOptions): QuantizeOutcome {
  const ext = path.extname(opts.out).toLowerCase();
  if (ext !== '.onnx' && ext !== '.kir') throw new KilnError('usage', `-o ${opts.out}: the output must be a .onnx or .kir file`);
  checkOutputFile(opts.out, { models: [modelFile] });
  if (fs.existsSync(opts.out) && !opts.force) throw new KilnError('io', `${opts.out} exists; pass --force to replace it`);
  if (opts.budget && opts.scheme !== 'mixed') throw new KilnError('usage', `--max-sqnr-drop/--max-top1-drop apply to --scheme mixed, not ${opts.scheme}`);
  const device = opts.device !== undefined ? getDevice(opts.device) : null;
  const float = loadModel(modelFile);
  let calib = readDataSets(float, opts.calibration);
  let held: DataSet[] = [];
  let holdoutSource = 'none (one calibration data set; pass --holdout)';
  if (opts.holdout !== undefined) {
    held = readDataSets(float, opts.holdout);
    holdoutSource = opts.holdout;
  } else if (calib.length >= 2) {
    held = calib.filter((_, i) => i % 5 === 4 || (calib.length < 5 && i === calib.length - 1));
    calib = calib.filter((x) => !held.includes(x));
    holdoutSource = `${held.length} of the calibration data sets (every fifth, or the last), not used to calibrate`;
  }
  const layers = findLayers(float);
  const acts = activationTensors(float, layers).map((v) => v.name);
  if (layers.length === 0 && acts.length === 0) throw new KilnError('unsupported', `${modelFile}: nothing to quantize (no Conv/Gemm/MatMul with a constant weight, no quantizable activation)`);
  const cal: Calibration = calibrate(float, calib, acts, { method: opts.method, ...(opts.percentile !== undefined ? { percentile: opts.percentile } : {}) });
  const act8: ActType = opts.activations ?? 'i8';
  const actType: ActType = opts.scheme === 'int16x8' ? 'i16' : act8;

  let plan: QuantPlan;
  let result: QdqResult;
  let calAcc: Accuracy;
  let mixed: QuantizeReport['mixed'] = null;
  if (opts.scheme === 'mixed') {
    const budget = parseBudgetDefault(opts);
    const m = chooseMixed(float, cal, calib, { budget, actType: act8 });
    ({ plan, result } = m);
    calAcc = m.accuracy;
    mixed = { budget, baseline: { ...m.baseline, sqnrDb: finite(m.baseline.sqnrDb) }, solver: m.solver, solverBudgetDb: m.solverBudgetDb, sensitivity: m.sensitivity };
  } else {
    plan = { weightBits: new Map(layers.map((l) => [l.name, 8 as WeightBits])), actType: new Map(acts.map((n) => [n, actType])) };
    result = buildQdq(float, plan, cal.ranges, cal.minMax);
    calAcc = evaluate(float, result, calib);
  }
  const holdAcc = held.length > 0 ? evaluate(float, result, held) : null;

  const text = ext === '.onnx' ? exportOnnx(result.module) : printModule(result.module);
  writeFileAtomic(opts.out, text, { models: [modelFile] });

  const layerActs = new Map(mixed?.sensitivity.map((s) => [s.layer, s.activation]) ?? []);
  const flash = device && device.kind === 'mcu' ? device.flash.size : null;
  const report: QuantizeReport = {
    model: modelFile,
    out: opts.out,
    scheme: opts.scheme,
    method: opts.method,
    activations: actType,
    layers: layers.map((l) => {
      const a = layerActs.get(l.name) ?? null;
      return { name: l.name, weightBits: plan.weightBits.get(l.name) ?? 8, activation: a, activationType: a ? plan.actType.get(a) ?? null : null };
    }),
    weightBytes: result.weightBytes,
    floatWeightBytes: result.floatWeightBytes,
    clampedBias: result.clampedBias,
    skipped: result.skipped,
    calibration: accuracyReport(calAcc),
    holdout: holdAcc ? accuracyReport(holdAcc) : null,
    holdoutSource,
    mixed,
    device: device ? { name: device.name, flashBytes: flash, fits: flash === null ? null : result.weightBytes <= flash } : null,
  };
  return { report, result, holdoutOutputs: holdAcc?.quantOutputs ?? null };
}

const db = (x: number | null): string => (x === null ? 'inf' : x.toFixed(1));
const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

/** The human report: a summary, per-layer SQNR on both sets, outputs with top-1 agreement. */
export function formatQuantizeReport(r: QuantizeReport): string {
  const lines: string[] = [];
  lines.push(`wrote ${r.out}: scheme ${r.scheme}, calibration ${r.method}, activations ${r.activations}`);
  lines.push(`weights ${r.weightBytes} B (float ${r.floatWeightBytes} B, ${(r.weightBytes / Math.max(1, r.floatWeightBytes)).toFixed(3)}x)`);
  if (r.clampedBias > 0) lines.push(`warning: ${r.clampedBias} bias values saturated to int32`);
  for (const s of r.skipped) lines.push(`note: ${s.layer}: ${s.reason}`);
  if (r.device) lines.push(`device ${r.device.name}: ${r.device.flashBytes === null ? 'no flash figure' : `weights ${r.device.fits ? 'fit' : 'do not fit'} its ${r.device.flashBytes} B of flash`}`);
  if (r.mixed) {
    const b = r.mixed.budget;
    lines.push(`mixed precision under ${b.kind === 'sqnr-drop' ? `an SQNR drop of ${b.db} dB` : `a top-1 drop of ${b.percent}%`} (int8 baseline: output SQNR ${db(r.mixed.baseline.sqnrDb)} dB, weights ${r.mixed.baseline.weightBytes} B); ${r.mixed.solver}`);
    lines.push('layer                     weights  activation      int4 SQNR  int16 SQNR');
    for (const s of r.mixed.sensitivity) {
      const l = r.layers.find((x) => x.name === s.layer)!;
      lines.push(`${s.layer.padEnd(25)} int${String(l.weightBits).padEnd(4)} ${(l.activationType ?? '-').padEnd(15)} ${db(finite(s.int4SqnrDb)).padStart(9)}  ${(s.int16SqnrDb === null ? '-' : db(finite(s.int16SqnrDb))).padStart(10)}`);
    }
  }
  lines.push(`per-layer SQNR (dB) on calibration (${r.calibration.dataSets} sets)${r.holdout ? ` and held-back (${r.holdout.dataSets} sets)` : ''}:`);
  lines.push(`  ${'tensor'.padEnd(28)} ${'producer'.padEnd(20)} type  calib  held-back`);
  r.calibration.layers.forEach((l, i) => {
    const h = r.holdout?.layers[i];
    lines.push(`  ${l.tensor.padEnd(28)} ${(l.producer || '(input)').padEnd(20)} ${l.dtype.padEnd(4)} ${db(l.sqnrDb).padStart(6)} ${h ? db(h.sqnrDb).padStart(10) : '         -'}`);
  });
  r.calibration.outputs.forEach((o, i) => {
    const h = r.holdout?.outputs[i];
    lines.push(`output '${o.name}': SQNR ${db(o.sqnrDb)} dB calib${h ? `, ${db(h.sqnrDb)} dB held-back` : ''}${o.top1Agreement !== null ? `; top-1 agreement ${pct(o.top1Agreement)} calib${h ? `, ${pct(h.top1Agreement)} held-back` : ''}` : ''}`);
  });
  lines.push(`held-back set: ${r.holdoutSource}`);
  return `${lines.join('\n')}\n`;
}
