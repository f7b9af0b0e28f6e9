/** The CLI's happy paths, as a user runs them. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readValueFile, encodeValue } from '../src/frontend/onnx/values.js';
import { Tensor } from '../src/ir/tensor.js';
import { kiln, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';

const sample = path.resolve('samples/mlp');

describe('kiln run', () => {
  it('runs the bundled sample and matches onnxruntime', () => {
    const r = kiln(['run', path.join(sample, 'model.onnx'), '--inputs', path.join(sample, 'test_data_set_0')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/compare output 0 'probs': ok/);
  });

  it('writes outputs as .pb that decode to the printed values', () => {
    const out = path.join(tempDir(), 'out');
    const r = kiln(['run', path.join(sample, 'model.onnx'), '--inputs', path.join(sample, 'test_data_set_0', 'input_0.pb'), '--out', out]);
    expect(r.code).toBe(0);
    const t = readValueFile(path.join(out, 'output_0.pb'), null) as Tensor;
    expect(t.shape).toEqual([1, 10]);
    const sum = t.toNumbers().reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 5);
  });

  it('exits 1 and says MISMATCH when the expected output differs', () => {
    const dir = tempDir();
    const wrong = Tensor.from('f32', [1, 10], new Array(10).fill(0.1));
    fs.writeFileSync(path.join(dir, 'output_0.pb'), encodeValue(wrong, null));
    const r = kiln(['run', path.join(sample, 'model.onnx'), '--inputs', path.join(sample, 'test_data_set_0', 'input_0.pb'), '--expected', path.join(dir, 'output_0.pb')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/MISMATCH at \d+: .* expected 0\.1/);
  });
});

describe('kiln inspect', () => {
  it('reports ops, bytes and MACs', () => {
    const r = kiln(['inspect', path.join(sample, 'model.onnx'), '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as { ops: Record<string, { count: number; macs: number }>; parameterBytes: number; totalMacs: number };
    expect(info.ops.MatMul!.count).toBe(2);
    // 16x32 + 32 + 32x10 + 10 float32 parameters
    expect(info.parameterBytes).toBe((16 * 32 + 32 + 32 * 10 + 10) * 4);
    expect(info.ops.MatMul!.macs).toBe(16 * 32 + 32 * 10);
    // MACs only for multiply-accumulate ops; the peak live set, not the sum of every activation
    expect(Object.entries(info.ops).filter(([op]) => op !== 'MatMul' && op !== 'Gemm').every(([, e]) => e.macs === 0)).toBe(true);
    const acts = JSON.parse(r.stdout) as { peakActivationBytes: number; totalActivationBytes: number };
    expect(acts.peakActivationBytes).toBeGreaterThan(0);
    expect(acts.peakActivationBytes).toBeLessThan(acts.totalActivationBytes);
  });
});

describe.skipIf(!fs.existsSync(ONNX_TESTS))('kiln conformance', () => {
  it('writes the JSON report with the documented fields', () => {
    const out = path.join(tempDir(), 'r.json');
    const r = kiln(['conformance', path.join(ONNX_TESTS, 'node'), '--filter', 'test_add', '--json', out, '--jobs', '1', '--families']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/per op family:/);
    expect(r.stdout).toMatch(/target interp: \d+ passed/);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, unknown> & { cases: Record<string, unknown>[] };
    for (const k of ['target', 'total', 'passed', 'failed', 'errored', 'unsupported', 'cases']) expect(report).toHaveProperty(k);
    expect(report.cases.length).toBe(report.total);
    for (const c of report.cases) {
      expect(c.name).toMatch(/^test_add/);
      expect(['pass', 'fail', 'error', 'unsupported']).toContain(c.status);
    }
  });
});
