#!/usr/bin/env node
// Builds the bundled sample models with Kiln's own ONNX writer (deterministic weights) and their
// expected outputs with onnxruntime-node. Run after `npm run build`: node samples/build-samples.mjs
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Graph, Module, Node, Value, Tensor, tensorType, exportOnnx, encodeTensor } from '../dist/index.js';

const here = path.dirname(new URL(import.meta.url).pathname);

/** Deterministic pseudo-random numbers in [-1, 1) (LCG), so samples are reproducible. */
function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function constant(name, shape, rand, scale) {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Value(name, tensorType('f32', shape));
  v.init = Tensor.from('f32', shape, Array.from({ length: n }, () => rand() * scale));
  return v;
}

function mlp() {
  const rand = lcg(42);
  const x = new Value('input', tensorType('f32', [1, 16]));
  const w1 = constant('fc1.weight', [16, 32], rand, 0.25);
  const b1 = constant('fc1.bias', [32], rand, 0.1);
  const w2 = constant('fc2.weight', [32, 10], rand, 0.25);
  const b2 = constant('fc2.bias', [10], rand, 0.1);
  const vals = {};
  const nodes = [];
  const op = (type, name, inputs, outName, attrs = new Map()) => {
    const out = new Value(outName, null);
    const n = new Node(type, '', name, inputs, [out], attrs);
    out.producer = n;
    nodes.push(n);
    vals[outName] = out;
    return out;
  };
  const h = op('MatMul', 'fc1/matmul', [x, w1], 'fc1.mm');
  const hb = op('Add', 'fc1/add', [h, b1], 'fc1.out');
  const r = op('Relu', 'relu1', [hb], 'relu1.out');
  const o = op('MatMul', 'fc2/matmul', [r, w2], 'fc2.mm');
  const ob = op('Add', 'fc2/add', [o, b2], 'logits');
  const p = op('Softmax', 'softmax', [ob], 'probs', new Map([['axis', { kind: 'int', value: -1 }]]));
  p.type = tensorType('f32', [1, 10]);
  const g = new Graph('mlp', [x], [p], nodes, [w1, b1, w2, b2]);
  const inputs = [Tensor.from('f32', [1, 16], Array.from({ length: 16 }, () => rand()))];
  return { name: 'mlp', module: new Module(g, new Map([['', 13]]), 8, 'kiln-samples'), inputs };
}

async function expectedWithOnnxRuntime(modelPath, module, inputs) {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const feeds = {};
  module.graph.inputs.forEach((v, i) => {
    feeds[v.name] = new ort.Tensor('float32', Float32Array.from(inputs[i].data), [...inputs[i].shape]);
  });
  const result = await session.run(feeds);
  return module.graph.outputs.map((v) => Tensor.from('f32', [...result[v.name].dims], Array.from(result[v.name].data)));
}

for (const sample of [mlp()]) {
  const dir = path.join(here, sample.name);
  const data = path.join(dir, 'test_data_set_0');
  fs.mkdirSync(data, { recursive: true });
  const modelPath = path.join(dir, 'model.onnx');
  fs.writeFileSync(modelPath, exportOnnx(sample.module));
  sample.inputs.forEach((t, i) => fs.writeFileSync(path.join(data, `input_${i}.pb`), encodeTensor(t, sample.module.graph.inputs[i].name)));
  const outputs = await expectedWithOnnxRuntime(modelPath, sample.module, sample.inputs);
  outputs.forEach((t, i) => fs.writeFileSync(path.join(data, `output_${i}.pb`), encodeTensor(t, sample.module.graph.outputs[i].name)));
  console.log(`wrote ${path.relative(process.cwd(), dir)} (expected outputs from onnxruntime-node)`);
}
