/** The committed sample models: the interpreter matches onnxruntime's outputs, and rebuilding is deterministic. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { runCommand } from '../src/driver/run.js';

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
    for (const l of compares) expect(l).toMatch(/: ok$/);
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
