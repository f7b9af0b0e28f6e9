/** One ONNX backend test case folder: model.onnx plus test_data_set_N folders of input_N.pb / output_N.pb. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError, isKilnError } from '../ir/errors.js';
import type { Module, Value } from '../ir/graph.js';
import type { RtValue } from '../ir/tensor.js';
import { readValueFile } from '../frontend/onnx/values.js';
import { loadModel } from './load.js';
import { verifyModule } from '../ir/verify.js';
import { compareValues, DEFAULT_TOLERANCE } from './compare.js';
import { resolveTarget, runOnTarget } from './targets.js';
import { checkInputs } from '../ir/check-values.js';

export type CaseStatus = 'pass' | 'fail' | 'error' | 'unsupported';

export interface CaseResult {
  name: string;
  folder: string;
  family: string;
  status: CaseStatus;
  message: string;
  ms: number;
}

/** The graph inputs a caller supplies: those without a default when the data set omits defaults. */
export function feedInputs(module: Module, count: number): Value[] {
  const all = module.graph.inputs;
  if (count === all.length) return all;
  return all.filter((v) => v.init === null);
}

export function dataSets(caseDir: string): string[] {
  return fs
    .readdirSync(caseDir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => path.join(caseDir, d));
}

/** `input_N.pb` / `output_N.pb` files of a data set folder, in N order. */
export function numbered(dir: string, prefix: 'input_' | 'output_'): string[] {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.pb'));
  return files.sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3))).map((f) => path.join(dir, f));
}

/** Reads a data set's inputs in graph-input order (undefined where a default is used). */
export function readInputs(module: Module, files: readonly string[]): (RtValue | undefined)[] {
  const feed = feedInputs(module, files.length);
  if (feed.length !== files.length) {
    throw new KilnError('usage', `model takes ${feed.length} inputs, ${files.length} given`);
  }
  const byValue = new Map<Value, RtValue>();
  feed.forEach((v, i) => byValue.set(v, readValueFile(files[i]!, v.type)));
  const inputs = module.graph.inputs.map((v) => byValue.get(v));
  checkInputs(module.graph, inputs);
  return inputs;
}

/** Family of a case: the model op whose name best matches the case name. */
export function caseFamily(caseName: string, module: Module | null): string {
  const flat = caseName.replace(/^test_/, '').replace(/_/g, '').toLowerCase();
  let best = '';
  if (module) {
    for (const n of module.graph.nodes) {
      const op = n.opType.toLowerCase();
      if (flat.startsWith(op) && op.length > best.length) best = n.opType;
    }
    if (!best) best = module.graph.nodes.find((n) => n.opType !== 'Constant')?.opType ?? '';
  }
  return best || caseName.replace(/^test_/, '').split('_')[0]!;
}

export async function runCase(caseDir: string, targetName: string, targetOptions: Readonly<Record<string, string>> = {}): Promise<CaseResult> {
  const name = path.basename(caseDir);
  const folder = path.basename(path.dirname(caseDir));
  const t0 = performance.now();
  let module: Module | null = null;
  const done = (status: CaseStatus, message: string): CaseResult => ({
    name, folder, family: caseFamily(name, module), status, message, ms: Math.round(performance.now() - t0),
  });
  try {
    module = loadModel(path.join(caseDir, 'model.onnx'));
    verifyModule(module);
    const target = resolveTarget(targetName, targetOptions);
    const sets = dataSets(caseDir);
    if (sets.length === 0) return done('error', 'case has no test_data_set_*');
    for (const [k, set] of sets.entries()) {
      // compiled targets specialize the module to the inputs' shapes in place: each data set
      // after the first gets a fresh copy, so sets with other shapes (another batch) run too
      if (k > 0) module = loadModel(path.join(caseDir, 'model.onnx'));
      const inputs = readInputs(module, numbered(set, 'input_'));
      const expectedFiles = numbered(set, 'output_');
      const { outputs } = await runOnTarget(target, module, inputs);
      if (outputs.length !== expectedFiles.length) return done('fail', `${outputs.length} outputs, expected ${expectedFiles.length}`);
      for (let i = 0; i < outputs.length; i++) {
        const declared = module.graph.outputs[i]!;
        const expected = readValueFile(expectedFiles[i]!, declared.type);
        const diff = compareValues(outputs[i]!, expected, DEFAULT_TOLERANCE);
        if (diff) return done('fail', `output ${i} ('${declared.name}'): ${diff}`);
      }
    }
    return done('pass', '');
  } catch (e) {
    if (isKilnError(e)) return done(e.code === 'unsupported' ? 'unsupported' : 'error', e.oneLine());
    const err = e as Error;
    return done('error', `internal error: ${err?.message ?? String(e)}`);
  }
}
