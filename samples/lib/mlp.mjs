// The original two-layer MLP sample (16 → 32 → 10, softmax), written node by node.
import { Graph, Module, Node, Value, Tensor, tensorType } from '../../dist/index.js';
import { lcg } from './builder.mjs';

function constant(name, shape, rand, scale) {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Value(name, tensorType('f32', shape));
  v.init = Tensor.from('f32', shape, Array.from({ length: n }, () => rand() * scale));
  return v;
}

export function mlp() {
  const rand = lcg(42);
  const x = new Value('input', tensorType('f32', [1, 16]));
  const w1 = constant('fc1.weight', [16, 32], rand, 0.25);
  const b1 = constant('fc1.bias', [32], rand, 0.1);
  const w2 = constant('fc2.weight', [32, 10], rand, 0.25);
  const b2 = constant('fc2.bias', [10], rand, 0.1);
  const nodes = [];
  const op = (type, name, inputs, outName, attrs = new Map()) => {
    const out = new Value(outName, null);
    const n = new Node(type, '', name, inputs, [out], attrs);
    out.producer = n;
    nodes.push(n);
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
  const parameters = 16 * 32 + 32 + 32 * 10 + 10;
  return { name: 'mlp', module: new Module(g, new Map([['', 13]]), 8, 'kiln-samples'), inputs, parameters };
}
