/**
 * MatMul and Gemm large enough for a full register tile go through the tiled panel of
 * perf-gemm.ts (a constant transB weight transposed at compile time): the generated C must agree
 * with the reference interpreter on ragged rows and columns, batches, alpha/beta/C and transA.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeValue } from '../src/frontend/onnx/values.js';
import { Tensor } from '../src/ir/tensor.js';
import { FLOAT, floatTensor, hasTool, kiln, node, tempDir, vi, writeModel, type ModelSpec } from './helpers/onnx-builder.js';

const haveCc = hasTool(process.env.CC ?? 'cc');
if (!haveCc) console.log('skipped: cc not installed');

/** Deterministic values in [-1, 1) that are not all alike. */
const wave = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 0.9);

/** The model's C output against the interpreter's on the given inputs (exit code 0 when they agree). */
function cAgrees(spec: ModelSpec, inputs: Tensor[]): { code: number; stderr: string; stdout: string } {
  const dir = tempDir();
  const model = writeModel(dir, spec);
  const files = inputs.map((t, i) => {
    const f = path.join(dir, `in${i}.pb`);
    fs.writeFileSync(f, encodeValue(t, null));
    return f;
  });
  const ref = kiln(['run', model, '-t', 'interp', '--inputs', ...files, '--out', path.join(dir, 'ref')]);
  expect(ref.code, ref.stderr).toBe(0);
  return kiln(['run', model, '-t', 'c', '--inputs', ...files, '--expected', path.join(dir, 'ref'), '--rtol', '1e-5']);
}

describe.skipIf(!haveCc)('tiled MatMul and Gemm', () => {
  // 20 rows (two and a half row tiles), 70 columns (two full column tiles and a narrower one)
  const [M, K, N] = [20, 37, 70];

  it('Gemm with a constant transB weight, bias, alpha and beta', () => {
    const r = cAgrees(
      {
        nodes: [node('Gemm', ['x', 'w', 'b'], ['y'], { attribute: [{ name: 'transB', type: 2, i: 1 }, { name: 'alpha', type: 1, f: 0.5 }, { name: 'beta', type: 1, f: 2 }] })],
        inputs: [vi('x', FLOAT, [M, K])],
        outputs: [vi('y', FLOAT, [M, N])],
        initializers: [floatTensor('w', [N, K], wave(N * K, 1)), floatTensor('b', [N], wave(N, 2))],
      },
      [Tensor.from('f32', [M, K], wave(M * K, 3))],
    );
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });

  it('Gemm with transA and a variable B', () => {
    const r = cAgrees(
      {
        nodes: [node('Gemm', ['x', 'w'], ['y'], { attribute: [{ name: 'transA', type: 2, i: 1 }] })],
        inputs: [vi('x', FLOAT, [K, M]), vi('w', FLOAT, [K, N])],
        outputs: [vi('y', FLOAT, [M, N])],
      },
      [Tensor.from('f32', [K, M], wave(M * K, 4)), Tensor.from('f32', [K, N], wave(K * N, 5))],
    );
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });

  it('batched MatMul with a broadcast constant B', () => {
    const r = cAgrees(
      {
        nodes: [node('MatMul', ['x', 'w'], ['y'])],
        inputs: [vi('x', FLOAT, [2, M, K])],
        outputs: [vi('y', FLOAT, [2, M, N])],
        initializers: [floatTensor('w', [K, N], wave(K * N, 6))],
      },
      [Tensor.from('f32', [2, M, K], wave(2 * M * K, 7))],
    );
    expect(r.code, r.stderr + r.stdout).toBe(0);
  });
});
