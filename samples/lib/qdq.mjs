// The QDQ twin of a QOperator int8 sample (see qbuilder.mjs): the same weights, scales and zero
// points, written the way onnxruntime's quantizer writes QDQ models: each QLinear op becomes
// DequantizeLinear of its integer operands → the float op → QuantizeLinear. Weights stay int8
// initializers behind a per-channel DequantizeLinear; a QLinearConv bias is an int32 initializer
// behind DequantizeLinear with scale x_scale × w_scale[c]. A convolution whose output zero point is
// -128 (ReLU as saturation) gets an explicit Relu, as a float model has it. Kiln's fold-qdq pass
// turns the groups back into the QLinear ops; the test compares the two compiled programs.
import { Graph, Module, Node, Value, Tensor, tensorType } from '../../dist/index.js';

const MS = 'com.microsoft';

export function qdqTwin(sample, name) {
  const g = sample.module.graph;
  const nodes = [];
  const inits = [...g.initializers];
  let counter = 0;
  const fresh = (base) => `${base}#${++counter}`;
  const floatValue = (base, shape) => new Value(fresh(base), tensorType('f32', shape));
  const shapeOf = (v) => [...v.tensorType.shape];
  const add = (op, ins, outs, attrs = new Map(), nodeName = fresh(op.toLowerCase())) => {
    const n = new Node(op, '', nodeName, ins, outs, attrs);
    for (const o of outs) o.producer = n;
    nodes.push(n);
    return n;
  };
  const dq = (x, scale, zp, axis) => {
    const y = floatValue(`${x.name}.dq`, shapeOf(x));
    add('DequantizeLinear', zp ? [x, scale, zp] : [x, scale], [y], axis === undefined ? new Map() : new Map([['axis', { kind: 'int', value: axis }]]));
    return y;
  };
  const q = (xf, scale, zp, y) => add('QuantizeLinear', [xf, scale, zp], [y]);
  for (const n of g.nodes) {
    const i = n.inputs;
    const out = n.outputs[0];
    if (n.opType === 'QLinearConv') {
      const [x, xs, xz, w, ws, wz, ys, yz, b] = i;
      const wf = dq(w, ws, wz, 0);
      const ins = [dq(x, xs, xz), wf];
      if (b) {
        const xsv = xs.init.num(0);
        const bs = new Value(`${n.name}.bias_scale`, tensorType('f32', [ws.init.size]));
        bs.init = Tensor.from('f32', [ws.init.size], Float32Array.from(ws.init.toNumbers(), (s) => xsv * s));
        inits.push(bs);
        ins.push(dq(b, bs, null, 0));
      }
      let yf = floatValue(`${n.name}.out`, shapeOf(out));
      add('Conv', ins, [yf], new Map(n.attrs), n.name);
      if (yz.init.num(0) === -128) {
        const r = floatValue(`${n.name}.relu`, shapeOf(out));
        add('Relu', [yf], [r]);
        yf = r;
      }
      q(yf, ys, yz, out);
    } else if (n.opType === 'QLinearMatMul') {
      const [a, as, az, b, bs, bz, ys, yz] = i;
      const yf = floatValue(`${n.name}.out`, shapeOf(out));
      add('MatMul', [dq(a, as, az), dq(b, bs, bz, bs.init.size > 1 ? 1 : undefined)], [yf], new Map(), n.name);
      q(yf, ys, yz, out);
    } else if (n.opType === 'QLinearAdd' && n.domain === MS) {
      const [a, as, az, b, bs, bz, ys, yz] = i;
      const yf = floatValue(`${n.name}.out`, shapeOf(out));
      add('Add', [dq(a, as, az), dq(b, bs, bz)], [yf], new Map(), n.name);
      q(yf, ys, yz, out);
    } else if (n.opType === 'QLinearGlobalAveragePool' && n.domain === MS) {
      const [x, xs, xz, ys, yz] = i;
      const yf = floatValue(`${n.name}.out`, shapeOf(out));
      add('GlobalAveragePool', [dq(x, xs, xz)], [yf], new Map(), n.name);
      q(yf, ys, yz, out);
    } else {
      nodes.push(n);
    }
  }
  const graph = new Graph(g.name.replace(/_int8$/, '_qdq'), g.inputs, g.outputs, nodes, inits);
  const module = new Module(graph, new Map([['', 13]]), 8, 'kiln-samples');
  return { ...sample, name, module };
}
