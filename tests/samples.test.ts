/** The committed sample models: the interpreter matches onnxruntime's outputs, and rebuilding is deterministic. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { runCommand } from '../src/driver/run.js';
import { hasTool } from './helpers/onnx-builder.js';
import { readOnnxFile } from '../src/frontend/onnx/import.js';
import { inferModule } from '../src/ir/infer.js';

const samplesDir = path.resolve('samples');
const sampleNames = fs
  .readdirSync(samplesDir)
  .filter((d) => fs.existsSync(path.join(samplesDir, d, 'model.onnx')))
  .sort();

interface Sample {
  name: string;
  module: unknown;
  parameters: number;
}
interface SampleLib {
  SAMPLES: Record<string, () => Sample>;
}
interface DistLib {
  exportOnnx(m: unknown): Uint8Array;
}

// The builder imports the compiled API from dist/ (as `npm test` builds it first).
const haveDist = fs.existsSync(path.resolve('dist/index.js'));
const importLib = async (): Promise<[SampleLib, DistLib]> => [
  (await import(path.join(samplesDir, 'lib', 'index.mjs'))) as SampleLib,
  (await import(path.resolve('dist/index.js'))) as DistLib,
];

describe('samples', () => {
  it('has the bundled samples', () => {
    expect(sampleNames).toEqual(expect.arrayContaining(['ad-autoencoder', 'kws-dscnn', 'mlp', 'resnet8', 'transformer-block', 'vww-mobilenet']));
  });

  // `kiln run <model> --inputs <dir>` in-process (the CLI wrapper itself is covered by cli.test.ts)
  it.each(sampleNames)('%s: the interpreter matches the committed expected outputs', async (name) => {
    const dir = path.join(samplesDir, name);
    const r = await runCommand(path.join(dir, 'model.onnx'), { target: 'interp', inputs: [path.join(dir, 'test_data_set_0')] });
    expect(r.ok, r.text).toBe(true);
    const compares = r.text.split('\n').filter((l) => l.startsWith('compare output'));
    expect(compares.length).toBeGreaterThan(0);
    for (const l of compares) expect(l).toMatch(/: ok( \(max abs error [^)]*\))?$/);
  });

  it.runIf(haveDist)('building a sample twice gives byte-identical ONNX, equal to the committed file', async () => {
    const [lib, dist] = await importLib();
    for (const [name, build] of Object.entries(lib.SAMPLES)) {
      const a = dist.exportOnnx(build().module);
      const b = dist.exportOnnx(build().module);
      expect(Buffer.from(a).equals(Buffer.from(b)), `${name} rebuilt differently`).toBe(true);
      const committed = fs.readFileSync(path.join(samplesDir, name, 'model.onnx'));
      expect(committed.equals(Buffer.from(a)), `${name}: samples/${name}/model.onnx is stale; run node samples/build-samples.mjs`).toBe(true);
    }
  });

  it.runIf(haveDist)('committed samples stay small', async () => {
    const [lib] = await importLib();
    for (const [name, build] of Object.entries(lib.SAMPLES)) {
      expect(build().parameters, name).toBeLessThan(300_000);
      expect(fs.statSync(path.join(samplesDir, name, 'model.onnx')).size, name).toBeLessThan(2 << 20);
    }
  });
});

// int8 deployments of the MLPerf Tiny models (quantized-operator ONNX with com.microsoft QLinearAdd /
// QLinearGlobalAveragePool): the generated C must match onnxruntime's outputs as the interpreter does.
const int8Samples = sampleNames.filter((n) => n.endsWith('-int8'));
const haveCc = hasTool('cc');
if (!haveCc) console.log('skipped: cc not installed');

describe('int8 samples', () => {
  it('has the int8 MLPerf Tiny samples', () => {
    expect(int8Samples).toEqual(['ad-autoencoder-int8', 'kws-dscnn-int8', 'resnet8-int8', 'vww-mobilenet-int8']);
  });

  // every tensor but the final dequantized output (and its softmax) is int8 (or an int32 bias)
  it.each(int8Samples)('%s: int8 input and int8 activations throughout', (name) => {
    const m = readOnnxFile(path.join(samplesDir, name, 'model.onnx'));
    inferModule(m);
    expect(m.graph.inputs.map((v) => v.tensorType?.dtype)).toEqual(['i8']);
    const nodes = m.graph.nodes;
    const tail = nodes.findIndex((n) => n.opType === 'DequantizeLinear');
    expect(tail).toBe(nodes.length - (nodes[nodes.length - 1]!.opType === 'Softmax' ? 2 : 1));
    for (const n of nodes.slice(0, tail)) {
      expect(n.outputs.map((v) => v?.tensorType?.dtype), `${n.name} (${n.opType})`).toEqual(['i8']);
      expect(['QLinearConv', 'QLinearMatMul', 'QLinearAdd', 'QLinearGlobalAveragePool', 'Flatten']).toContain(n.opType);
    }
    const weights = m.graph.initializers.filter((v) => (v.init?.size ?? 0) > 1 && v.name.endsWith('.weight'));
    expect(weights.length).toBeGreaterThan(0);
    for (const w of weights) expect(w.init!.dtype, w.name).toBe('i8');
  });

  it.runIf(haveCc).each(int8Samples)('%s: generated C matches the committed expected outputs', async (name) => {
    const dir = path.join(samplesDir, name);
    const r = await runCommand(path.join(dir, 'model.onnx'), { target: 'c', inputs: [path.join(dir, 'test_data_set_0')] });
    expect(r.ok, r.text).toBe(true);
    const compares = r.text.split('\n').filter((l) => l.startsWith('compare output'));
    expect(compares.length).toBeGreaterThan(0);
    for (const l of compares) expect(l).toMatch(/: ok( \(max abs error [^)]*\))?$/);
  });
});
