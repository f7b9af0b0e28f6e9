/**
 * Differential checks against onnxruntime-node (the reference oracle) on models whose weights are
 * random, where the ONNX test data's uniform weights cannot tell implementations apart: the
 * interpreter, the lowered kernels and the generated C must all agree with onnxruntime.
 */
import { describe, expect, it } from 'vitest';
import { importOnnxBytes } from '../src/frontend/onnx/import.js';
import { inferModule } from '../src/ir/infer.js';
import { interpret } from '../src/ir/interp/interpreter.js';
import { Tensor } from '../src/ir/tensor.js';
import { compareTensors } from '../src/driver/compare.js';
import { resolveTarget, runOnTarget } from '../src/driver/targets.js';
import { FLOAT, floatTensor, modelBytes, node, vi } from './helpers/onnx-builder.js';
import '../src/ir/ops/index.js';

let ort: typeof import('onnxruntime-node') | null = null;
try {
  ort = await import('onnxruntime-node');
} catch {
  console.log('skipped: onnxruntime-node not installed');
}

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

const values = (n: number, r: () => number, scale = 0.5): number[] => Array.from({ length: n }, () => r() * scale);

interface Case {
  name: string;
  bytes: Uint8Array;
  inputs: { name: string; shape: number[]; data: number[] }[];
}

function recurrent(op: 'RNN' | 'GRU' | 'LSTM', attrs: Record<string, unknown>[], seed: number): Case {
  const r = rand(seed);
  const gates = op === 'RNN' ? 1 : op === 'GRU' ? 3 : 4;
  const [T, B, I, H] = [5, 2, 3, 4];
  const W = floatTensor('W', [1, gates * H, I], values(gates * H * I, r));
  const R = floatTensor('R', [1, gates * H, H], values(gates * H * H, r));
  const Bias = floatTensor('B', [1, 2 * gates * H], values(2 * gates * H, r, 0.1));
  return {
    name: `${op} ${JSON.stringify(attrs.map((a) => [a.name, a.i ?? a.s]))}`,
    bytes: modelBytes({
      opset: 14,
      nodes: [node(op, ['X', 'W', 'R', 'B'], ['Y', 'Y_h'], { name: 'rec', attribute: [{ name: 'hidden_size', type: 2, i: H }, ...attrs] })],
      inputs: [vi('X', FLOAT, [T, B, I])],
      outputs: [vi('Y', FLOAT, [T, 1, B, H]), vi('Y_h', FLOAT, [1, B, H])],
      initializers: [W, R, Bias],
    }),
    inputs: [{ name: 'X', shape: [T, B, I], data: values(T * B * I, r, 1) }],
  };
}

const cases: Case[] = [
  recurrent('RNN', [], 1),
  recurrent('GRU', [], 2),
  recurrent('GRU', [{ name: 'linear_before_reset', type: 2, i: 1 }], 3),
  recurrent('LSTM', [], 4),
];

describe.skipIf(ort === null)('agreement with onnxruntime on random weights', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const session = await ort!.InferenceSession.create(c.bytes, { intraOpNumThreads: 1 });
      const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
      for (const i of c.inputs) feeds[i.name] = new ort!.Tensor('float32', Float32Array.from(i.data), i.shape);
      const ref = await session.run(feeds);
      const expected = session.outputNames.map((n) => Tensor.from('f32', [...ref[n]!.dims], Array.from(ref[n]!.data as Float32Array)));
      const inputs = c.inputs.map((i) => Tensor.from('f32', i.shape, i.data));
      const tol = { rtol: 1e-4, atol: 1e-5 };
      for (const target of ['interp', 'kernel', 'c']) {
        const m = importOnnxBytes(c.bytes);
        inferModule(m);
        const outs = (target === 'interp' ? interpret(m, inputs) : (await runOnTarget(resolveTarget(target), m, inputs)).outputs) as Tensor[];
        outs.forEach((o, k) => expect(compareTensors(o, expected[k]!, tol), `${target} output ${k}`).toBeNull());
      }
    });
  }
});
