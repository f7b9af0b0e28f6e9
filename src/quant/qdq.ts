/**
 * The QDQ rewrite: a float model becomes the same graph with QuantizeLinear/DequantizeLinear pairs
 * on its activations and DequantizeLinear in front of quantized constants, the form onnxruntime's
 * quantizer writes and QDQ folding turns into integer kernels:
 * - layers (Conv, Gemm, MatMul with a constant weight): weight per-channel int8/int4, bias int32;
 *   a MatMul followed by the Add of a constant vector is one layer whose Add carries the bias;
 * - activations: every float tensor that a quantizable op reads or writes gets a Q/DQ pair, except
 *   a layer output read only by Relu/Clip (the activation folds into the output's saturation) and
 *   a MatMul output read only by its bias Add. Other ops (Softmax, …) stay float and read DQ outputs.
 */
import { KilnError } from '../ir/errors.js';
import { Module, Node, Value, type Graph } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { tensorType } from '../ir/types.js';
import { UniqueNames } from '../ir/names.js';
import { constantOf, inferModule } from '../ir/infer.js';
import { exportOnnx } from '../frontend/onnx/export.js';
import { importOnnxBytes } from '../frontend/onnx/import.js';
import { activationParams, quantizeBias, quantizeWeight, weightBytes, type ActParams, type ActType, type WeightBits } from './qparams.js';
import type { Range } from './ranges.js';

/** Ops whose float inputs and outputs are quantized (each has an integer form or moves data only). */
const QUANT_OPS = new Set([
  'Conv', 'Gemm', 'MatMul', 'Add', 'Mul', 'Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'MaxPool', 'AveragePool',
  'GlobalAveragePool', 'Concat', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze',
]);
/** Activations that fold into a layer's output saturation. */
const FUSED_ACTIVATIONS = new Set(['Relu', 'Clip']);

/** A layer with a constant weight: what per-channel quantization and mixed precision act on. */
export interface Layer {
  /** The node name (the weight-carrying node). */
  name: string;
  node: Node;
  weight: Value;
  /** The channel axis of the weight (output channels). */
  axis: number;
  channels: number;
  elements: number;
  /** Where the bias enters: the node and input index, and the constant. */
  bias: { node: Node; index: number; value: Value } | null;
  /** The float tensor the layer reads. */
  input: Value;
  /** The layer's last float tensor (bias Add's output for MatMul + Add). */
  output: Value;
}

function consumers(g: Graph): Map<Value, Node[]> {
  const m = new Map<Value, Node[]>();
  for (const n of g.nodes) for (const v of n.inputs) if (v) m.set(v, [...(m.get(v) ?? []), n]);
  return m;
}

const isFloat = (v: Value | null): boolean => {
  const t = v?.tensorType;
  return t !== null && t !== undefined && (t.dtype === 'f32' || t.dtype === 'f16' || t.dtype === 'bf16' || t.dtype === 'f64');
};
const isConst = (v: Value | null): boolean => v !== null && constantOf(v) !== null;

/** The layers of the main graph, in node order. */
export function findLayers(module: Module): Layer[] {
  const g = module.graph;
  const uses = consumers(g);
  const layers: Layer[] = [];
  for (const n of g.nodes) {
    if (n.domain !== '' || !['Conv', 'Gemm', 'MatMul'].includes(n.opType)) continue;
    const x = n.inputs[0] ?? null;
    const w = n.inputs[1] ?? null;
    const y = n.outputs[0] ?? null;
    if (!x || !w || !y || !isFloat(x) || !isFloat(w) || !isConst(w) || isConst(x)) continue;
    const wt = constantOf(w)!;
    let axis: number;
    if (n.opType === 'Conv') axis = 0;
    else if (n.opType === 'Gemm') axis = (n.attrs.get('transB')?.value ?? 0) === 1 ? 0 : 1;
    else axis = 1;
    if (wt.rank < 2 || (n.opType === 'MatMul' && wt.rank !== 2)) continue;
    if (n.opType === 'Gemm' && (n.attrs.get('transA')?.value ?? 0) !== 0) continue;
    const channels = wt.shape[axis]!;
    let bias: Layer['bias'] = null;
    let output = y;
    const b = n.opType === 'MatMul' ? null : (n.inputs[2] ?? null);
    if (b && isConst(b) && constantOf(b)!.rank === 1 && constantOf(b)!.size === channels) bias = { node: n, index: 2, value: b };
    if (n.opType === 'MatMul') {
      const us = uses.get(y) ?? [];
      const add = us.length === 1 && us[0]!.opType === 'Add' && us[0]!.domain === '' && !g.outputs.includes(y) ? us[0]! : null;
      const other = add ? add.inputs.find((v) => v !== y) ?? null : null;
      const ot = other ? constantOf(other) : null;
      if (add && other && ot && ot.rank === 1 && ot.size === channels && isFloat(other)) {
        bias = { node: add, index: add.inputs.indexOf(other), value: other };
        output = add.outputs[0]!;
      }
    }
    layers.push({ name: n.name, node: n, weight: w, axis, channels, elements: wt.size, bias, input: x, output });
  }
  return layers;
}

/**
 * The activation tensors that get a Q/DQ pair, in a deterministic order (graph inputs, then node
 * outputs in node order). The same list, by name, is what calibration observes.
 */
export function activationTensors(module: Module, layers: readonly Layer[]): Value[] {
  const g = module.graph;
  const uses = consumers(g);
  const skip = new Set<Value>();
  for (const l of layers) {
    if (l.output !== l.node.outputs[0]) skip.add(l.node.outputs[0]!); // MatMul output read by the bias Add
  }
  const layerOutputs = new Set(layers.map((l) => l.output));
  for (const v of layerOutputs) {
    const us = uses.get(v) ?? [];
    if (us.length === 1 && FUSED_ACTIVATIONS.has(us[0]!.opType) && !g.outputs.includes(v)) skip.add(v);
  }
  const wanted = new Set<Value>();
  for (const n of g.nodes) {
    if (n.domain !== '' || !QUANT_OPS.has(n.opType)) continue;
    const biasInputs = new Set(layers.filter((l) => l.bias?.node === n).map((l) => l.bias!.value));
    const weightInputs = new Set(layers.filter((l) => l.node === n).map((l) => l.weight));
    for (const v of [...n.inputs, ...n.outputs]) {
      if (!v || !isFloat(v) || isConst(v) || skip.has(v) || biasInputs.has(v) || weightInputs.has(v)) continue;
      wanted.add(v);
    }
  }
  const order = [...g.inputs, ...g.nodes.flatMap((n) => n.outputs.filter((v): v is Value => v !== null))];
  return order.filter((v) => wanted.has(v));
}

/** What to quantize how: weight width per layer, element type per activation tensor. */
export interface QuantPlan {
  weightBits: ReadonlyMap<string, WeightBits>;
  actType: ReadonlyMap<string, ActType>;
}

export interface QdqResult {
  module: Module;
  /** Activation tensor name → the name of its dequantized value in the new module. */
  dequantized: Map<string, string>;
  /** Activation tensor name → its parameters. */
  params: Map<string, ActParams>;
  /** Bytes of the layer weights as a kernel needs them: quantized values (int4 packed two per byte), per-channel float32 scales, int32 biases (their scales, in_scale × w_scale, are derived). */
  weightBytes: number;
  /** Bytes the same weights take in float32. */
  floatWeightBytes: number;
  /** Bias values saturated to int32. */
  clampedBias: number;
  /** Layers that could not be quantized, with the reason. */
  skipped: { layer: string; reason: string }[];
}

/** A deep copy through Kiln's own ONNX writer and reader (values, nodes and subgraphs all fresh). */
export function cloneModule(module: Module): Module {
  const m = importOnnxBytes(exportOnnx(module));
  inferModule(m);
  return m;
}

/** Ops whose semantics do not change between opset 13 and 21 (only types were added). */
const STABLE_13_TO_21 = new Set([
  ...QUANT_OPS, 'QuantizeLinear', 'DequantizeLinear', 'Softmax', 'LogSoftmax', 'Tanh', 'Identity', 'Sub', 'Div',
  'GlobalMaxPool', 'Exp', 'Sqrt', 'Neg', 'Abs', 'Shape', 'Gather', 'Slice', 'Cast', 'Constant', 'ReduceMean',
]);

/** Raises the default-domain opset to `min` where every op keeps its meaning; refuses otherwise. */
function raiseOpset(m: Module, min: number, why: string): void {
  const cur = m.opsets.get('') ?? 0;
  if (cur >= min) return;
  if (cur < 13) throw new KilnError('unsupported', `quantize needs opset 13 or later (per-channel DequantizeLinear); the model imports opset ${cur}`);
  const changed = m.graph.nodes.find((n) => n.domain === '' && !STABLE_13_TO_21.has(n.opType));
  if (changed) throw new KilnError('unsupported', `${why} needs opset ${min}; the model is at opset ${cur} and Kiln does not raise it across op ${changed.opType}`, { node: changed.name, op: changed.opType });
  m.opsets.set('', min);
}

/**
 * Builds the QDQ model for `plan` from the float model and the calibrated ranges (by tensor name);
 * `ranges16` are the ranges used for int16 activations (min/max: int16 has the levels to keep outliers).
 */
export function buildQdq(float: Module, plan: QuantPlan, ranges: ReadonlyMap<string, Range>, ranges16: ReadonlyMap<string, Range>): QdqResult {
  const m = cloneModule(float);
  const g = m.graph;
  const layers = findLayers(m);
  const acts = activationTensors(m, layers);
  const names = new UniqueNames(g);
  const needs21 = [...plan.actType.values()].includes('i16') || [...plan.weightBits.values()].includes(4);
  raiseOpset(m, needs21 ? 21 : 13, needs21 ? 'int16 activations or int4 weights' : 'per-channel weights');

  const params = new Map<string, ActParams>();
  for (const v of acts) {
    const dt = plan.actType.get(v.name) ?? 'i8';
    const r = (dt === 'i16' ? ranges16 : ranges).get(v.name);
    if (!r) throw new KilnError('runtime', `no calibration range for tensor '${v.name}'`, { tensor: v.name });
    params.set(v.name, activationParams(r, dt));
  }

  const before = new Map<Node | null, Node[]>(); // constant DQ nodes to place before a node
  const after = new Map<Node | null, Node[]>(); // activation Q/DQ after a producer (null: graph inputs)
  const newInits: Value[] = [];
  const constant = (base: string, t: Tensor): Value => {
    const v = new Value(names.fresh(base), tensorType(t.dtype, [...t.shape]));
    v.init = t;
    newInits.push(v);
    return v;
  };
  const dqNode = (base: string, x: Value, scale: Value, zp: Value | null, shape: readonly number[], axis: number | null): Node => {
    const out = new Value(names.fresh(`${base}_dequantized`), tensorType('f32', [...shape]));
    const attrs = new Map(axis === null ? [] : [['axis', { kind: 'int' as const, value: axis }]]);
    const n = new Node('DequantizeLinear', '', names.fresh(`${base}_DequantizeLinear`), zp ? [x, scale, zp] : [x, scale], [out], attrs);
    out.producer = n;
    return n;
  };
  const place = (map: Map<Node | null, Node[]>, key: Node | null, n: Node): void => {
    map.set(key, [...(map.get(key) ?? []), n]);
  };

  let qBytes = 0;
  let fBytes = 0;
  let clampedBias = 0;
  const skipped: QdqResult['skipped'] = [];
  const dropped = new Set<Value>();
  for (const l of layers) {
    const bits = plan.weightBits.get(l.name) ?? 8;
    const w = constantOf(l.weight)!;
    fBytes += 4 * l.elements + (l.bias ? 4 * l.channels : 0);
    const inParams = params.get(l.input.name);
    const qw = quantizeWeight(w, l.axis, bits);
    const wq = constant(`${l.weight.name}_quantized`, qw.q);
    const ws = constant(`${l.weight.name}_scale`, new Tensor('f32', [l.channels], qw.scales));
    // symmetric: no zero point (DequantizeLinear's default is 0 of the input's type)
    const wdq = dqNode(l.weight.name, wq, ws, null, w.shape, l.axis);
    l.node.inputs[1] = wdq.outputs[0]!;
    place(before, l.node, wdq);
    dropped.add(l.weight);
    qBytes += weightBytes(l.elements, l.channels, bits);
    if (l.bias) {
      if (!inParams) {
        skipped.push({ layer: l.name, reason: `bias stays float: input '${l.input.name}' is not quantized` });
        qBytes += 4 * l.channels;
        continue;
      }
      const qb = quantizeBias(constantOf(l.bias.value)!, inParams.scale, qw.scales);
      clampedBias += qb.clamped;
      const bq = constant(`${l.bias.value.name}_quantized`, qb.q);
      const bs = constant(`${l.bias.value.name}_scale`, new Tensor('f32', [l.channels], qb.scales));
      const bdq = dqNode(l.bias.value.name, bq, bs, null, [l.channels], 0);
      l.bias.node.inputs[l.bias.index] = bdq.outputs[0]!;
      place(before, l.bias.node, bdq);
      dropped.add(l.bias.value);
      qBytes += 4 * l.channels; // int32 values; the bias scales in the file are in_scale × w_scale, which a kernel derives
    }
  }

  const dequantized = new Map<string, string>();
  const uses = consumers(g);
  for (const v of acts) {
    const p = params.get(v.name)!;
    const shape = v.tensorType?.shape ?? null;
    const isOutput = g.outputs.indexOf(v);
    const origName = v.name;
    const s = constant(`${origName}_scale`, Tensor.from('f32', [], [p.scale]));
    const z = constant(`${origName}_zero_point`, Tensor.from(p.dtype, [], [p.zeroPoint]));
    const q = new Value(names.fresh(`${origName}_quantized`), tensorType(p.dtype, shape));
    const qn = new Node('QuantizeLinear', '', names.fresh(`${origName}_QuantizeLinear`), [v, s, z], [q]);
    q.producer = qn;
    const dq = new Value(names.fresh(`${origName}_dequantized`), tensorType('f32', shape));
    const dqn = new Node('DequantizeLinear', '', names.fresh(`${origName}_DequantizeLinear`), [q, s, z], [dq]);
    dq.producer = dqn;
    for (const c of uses.get(v) ?? []) c.inputs = c.inputs.map((x) => (x === v ? dq : x));
    if (isOutput >= 0) {
      // the model's output keeps its name: the float value before quantization is renamed
      const pre = names.fresh(`${origName}_prequant`);
      v.name = pre;
      dq.name = origName;
      g.outputs[isOutput] = dq;
    }
    place(after, v.producer, qn);
    place(after, v.producer, dqn);
    dequantized.set(origName, dq.name);
  }

  const nodes: Node[] = [...(after.get(null) ?? [])];
  for (const n of g.nodes) {
    nodes.push(...(before.get(n) ?? []), n, ...(after.get(n) ?? []));
  }
  g.nodes = nodes;
  const stillUsed = new Set(nodes.flatMap((n) => n.inputs).filter((v): v is Value => v !== null));
  g.initializers = [...g.initializers.filter((v) => !dropped.has(v) || stillUsed.has(v)), ...newInits];
  g.inputs = g.inputs.filter((v) => !(v.init && dropped.has(v) && !stillUsed.has(v)));
  inferModule(m);
  return { module: m, dequantized, params, weightBytes: qBytes, floatWeightBytes: fBytes, clampedBias, skipped };
}
