// A tiny graph-building DSL over Kiln's public API, used to write the sample models.
//
// Every op takes and returns a `T` ({ v: Value, shape: number[] }); shapes are tracked here so that
// weight shapes and fan-ins can be computed while building. Weights come from a seeded LCG with
// He-style scales, so the same builder call always gives byte-identical ONNX.
import { Graph, Module, Node, Value, Tensor, tensorType } from '../../dist/index.js';

/** Deterministic pseudo-random numbers in [-1, 1) (LCG), so samples are reproducible. */
export function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

const prod = (a) => a.reduce((x, y) => x * y, 1);
const pair = (k) => (Array.isArray(k) ? k : [k, k]);
const int = (value) => ({ kind: 'int', value });
const ints = (value) => ({ kind: 'ints', value });
const float = (value) => ({ kind: 'float', value });

export class Builder {
  /**
   * @param {string} name graph name
   * @param {{ seed?: number, opset?: number, foldBn?: boolean }} opts foldBn: fold conv+BN into
   *   the conv's weights/bias instead of emitting BatchNormalization nodes.
   */
  constructor(name, { seed = 1, opset = 13, foldBn = false } = {}) {
    this.name = name;
    this.rand = lcg(seed);
    this.opset = opset;
    this.foldBn = foldBn;
    this.nodes = [];
    this.inputs = [];
    this.initializers = [];
    this.counts = new Map();
  }

  /** A fresh name `${base}${n}` (n counts per base). */
  uniq(base) {
    const n = (this.counts.get(base) ?? 0) + 1;
    this.counts.set(base, n);
    return `${base}${n}`;
  }

  // ------------------------------------------------------------------ values and constants

  input(name, shape) {
    const v = new Value(name, tensorType('f32', shape));
    this.inputs.push(v);
    return { v, shape: [...shape] };
  }

  /** Values uniform in [-scale, scale) from the seeded generator. */
  randArray(n, scale, offset = 0) {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = offset + this.rand() * scale;
    return a;
  }

  /** An f32 initializer from a Float32Array. */
  param(name, shape, data) {
    const v = new Value(name, tensorType('f32', shape));
    v.init = new Tensor('f32', [...shape], data);
    this.initializers.push(v);
    return { v, shape: [...shape] };
  }

  /** An int64 initializer (shapes for Reshape etc.). */
  i64(name, values) {
    const v = new Value(name, tensorType('i64', [values.length]));
    v.init = Tensor.from('i64', [values.length], values.map((x) => BigInt(x)));
    this.initializers.push(v);
    return { v, shape: [values.length] };
  }

  /** Weights with variance 2/fanIn (He init for ReLU nets) drawn uniformly. */
  he(name, shape, fanIn, gain = 2) {
    return this.param(name, shape, this.randArray(prod(shape), Math.sqrt((3 * gain) / fanIn)));
  }

  /** Emits a node with one output whose shape is `shape`. */
  op(opType, inputs, shape, attrs = {}, name = this.uniq(opType.toLowerCase())) {
    const out = new Value(`${name}.out`, null);
    const n = new Node(opType, '', name, inputs.map((t) => (t === null ? null : t.v)), [out], new Map(Object.entries(attrs)));
    out.producer = n;
    this.nodes.push(n);
    return { v: out, shape };
  }

  // ------------------------------------------------------------------ convolution family

  /** TF-style 'same' pads [top, left, bottom, right] (extra padding at the end). */
  static samePads(inHW, k, stride, dil = [1, 1]) {
    const pb = [];
    const pe = [];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(inHW[i] / stride[i]);
      const total = Math.max((out - 1) * stride[i] + (k[i] - 1) * dil[i] + 1 - inHW[i], 0);
      pb.push(Math.floor(total / 2));
      pe.push(total - Math.floor(total / 2));
    }
    return [pb[0], pb[1], pe[0], pe[1]];
  }

  static resolvePads(pad, inHW, k, stride) {
    if (pad === 'same') return Builder.samePads(inHW, k, stride);
    if (typeof pad === 'number') return [pad, pad, pad, pad];
    if (pad.length === 2) return [pad[0], pad[1], pad[0], pad[1]];
    return pad;
  }

  static windowOut(inHW, k, stride, pads, ceil = false) {
    return [0, 1].map((i) => {
      const span = inHW[i] + pads[i] + pads[i + 2] - k[i];
      let o = (ceil ? Math.ceil(span / stride[i]) : Math.floor(span / stride[i])) + 1;
      // ONNX/PyTorch: the last window must start inside the (left-padded) input
      if (ceil && (o - 1) * stride[i] >= inHW[i] + pads[i]) o--;
      return o;
    });
  }

  /**
   * 2-D convolution (NCHW). opts: stride, pad ('same' | n | [ph, pw] | [t, l, b, r]), group,
   * bias (default true), bn (true: followed by batch norm — a node, or folded when foldBn),
   * act ('relu' | null), name, gain (weight variance gain, default 2).
   */
  conv(x, outC, k, opts = {}) {
    const { stride = 1, pad = 'same', group = 1, bn = false, act = null, gain = 2 } = opts;
    const name = opts.name ?? this.uniq('conv');
    const kk = pair(k);
    const ss = pair(stride);
    const [n, inC, h, w] = x.shape;
    const pads = Builder.resolvePads(pad, [h, w], kk, ss);
    const [oh, ow] = Builder.windowOut([h, w], kk, ss, pads);
    const fanIn = (inC / group) * kk[0] * kk[1];
    const wShape = [outC, inC / group, kk[0], kk[1]];
    const wData = this.randArray(prod(wShape), Math.sqrt((3 * gain) / fanIn));
    let bData = opts.bias === false || (bn && !this.foldBn) ? null : this.randArray(outC, 0.05);
    if (bn && this.foldBn) {
      bData ??= new Float32Array(outC);
      // fold y = gamma * (conv + b - mean) / sqrt(var + eps) + beta into the weights and bias
      const p = this.bnParams(outC);
      const per = prod(wShape.slice(1));
      for (let c = 0; c < outC; c++) {
        const s = p.gamma[c] / Math.sqrt(p.var[c] + p.eps);
        for (let i = 0; i < per; i++) wData[c * per + i] *= s;
        bData[c] = p.beta[c] + (bData[c] - p.mean[c]) * s;
      }
    }
    const wt = this.param(`${name}.weight`, wShape, wData);
    const bt = bData ? this.param(`${name}.bias`, [outC], bData) : null;
    const attrs = { kernel_shape: ints(kk), strides: ints(ss), pads: ints(pads) };
    if (group !== 1) attrs.group = int(group);
    let y = this.op('Conv', bt ? [x, wt, bt] : [x, wt], [n, outC, oh, ow], attrs, name);
    if (bn && !this.foldBn) y = this.bn(y, { name: `${name}.bn` });
    if (act === 'relu') y = this.relu(y);
    return y;
  }

  /** Depthwise convolution (group = channels). */
  dwconv(x, k, opts = {}) {
    return this.conv(x, x.shape[1], k, { ...opts, group: x.shape[1], name: opts.name ?? this.uniq('dwconv') });
  }

  /** BatchNormalization statistics that keep activations O(1). */
  bnParams(c, gammaScale = 1) {
    return {
      gamma: this.randArray(c, 0.2 * gammaScale, gammaScale),
      beta: this.randArray(c, 0.1),
      mean: this.randArray(c, 0.1),
      var: this.randArray(c, 0.25, 1),
      eps: 1e-5,
    };
  }

  /** A real BatchNormalization node (inference mode) over axis 1. */
  bn(x, opts = {}) {
    const name = opts.name ?? this.uniq('bn');
    const c = x.shape[1];
    const p = this.bnParams(c, opts.gammaScale ?? 1);
    const ins = [
      x,
      this.param(`${name}.scale`, [c], p.gamma),
      this.param(`${name}.bias`, [c], p.beta),
      this.param(`${name}.mean`, [c], p.mean),
      this.param(`${name}.var`, [c], p.var),
    ];
    return this.op('BatchNormalization', ins, [...x.shape], { epsilon: float(p.eps) }, name);
  }

  // ------------------------------------------------------------------ pooling

  pool(kind, x, k, { stride = k, pad = 0, ceil = false, name } = {}) {
    const kk = pair(k);
    const ss = pair(stride);
    const [n, c, h, w] = x.shape;
    const pads = Builder.resolvePads(pad, [h, w], kk, ss);
    const [oh, ow] = Builder.windowOut([h, w], kk, ss, pads, ceil);
    const attrs = { kernel_shape: ints(kk), strides: ints(ss), pads: ints(pads) };
    if (ceil) attrs.ceil_mode = int(1);
    return this.op(kind, [x], [n, c, oh, ow], attrs, name);
  }

  maxpool(x, k, opts) {
    return this.pool('MaxPool', x, k, opts);
  }

  avgpool(x, k, opts) {
    return this.pool('AveragePool', x, k, opts);
  }

  globalAvgPool(x) {
    return this.op('GlobalAveragePool', [x], [x.shape[0], x.shape[1], 1, 1]);
  }

  /** Local response normalization (GoogLeNet). */
  lrn(x, size = 5, alpha = 1e-4, beta = 0.75, bias = 1) {
    return this.op('LRN', [x], [...x.shape], { size: int(size), alpha: float(alpha), beta: float(beta), bias: float(bias) });
  }

  // ------------------------------------------------------------------ dense layers

  /** Fully connected layer as Gemm (weight [out, in], transB=1, as PyTorch exports it). */
  gemm(x, outF, { name = this.uniq('fc'), gain = 2 } = {}) {
    const inF = x.shape[1];
    const wt = this.he(`${name}.weight`, [outF, inF], inF, gain);
    const bt = this.param(`${name}.bias`, [outF], this.randArray(outF, 0.05));
    return this.op('Gemm', [x, wt, bt], [x.shape[0], outF], { transB: int(1) }, name);
  }

  /** x @ W (+ b) with a weight [in, out] over the last axis, as MatMul and Add nodes. */
  linear(x, outF, { name = this.uniq('linear'), gain = 2, bias = true } = {}) {
    const inF = x.shape[x.shape.length - 1];
    const wt = this.he(`${name}.weight`, [inF, outF], inF, gain);
    const shape = [...x.shape.slice(0, -1), outF];
    let y = this.op('MatMul', [x, wt], shape, {}, `${name}/matmul`);
    if (bias) y = this.op('Add', [y, this.param(`${name}.bias`, [outF], this.randArray(outF, 0.05))], shape, {}, `${name}/add`);
    return y;
  }

  /** MatMul of two activations (batched, numpy semantics on the leading axes). */
  matmul(a, b) {
    const lead = a.shape.slice(0, -2).map((d, i) => Math.max(d, b.shape.slice(0, -2)[i] ?? 1));
    return this.op('MatMul', [a, b], [...lead, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]]);
  }

  // ------------------------------------------------------------------ elementwise and shape

  relu(x) {
    return this.op('Relu', [x], [...x.shape]);
  }

  /** min(max(x, lo), hi) as Clip with its bounds as scalar inputs (opset >= 11). */
  clip(x, lo, hi) {
    return this.op('Clip', [x, this.scalar(lo), this.scalar(hi)], [...x.shape]);
  }

  /** ReLU6 (MobileNetV2): Clip(x, 0, 6). */
  relu6(x) {
    return this.clip(x, 0, 6);
  }

  static broadcast(a, b) {
    const r = Math.max(a.length, b.length);
    const pa = [...Array(r - a.length).fill(1), ...a];
    const pb = [...Array(r - b.length).fill(1), ...b];
    return pa.map((d, i) => (d === 1 ? pb[i] : d));
  }

  binary(opType, a, b) {
    return this.op(opType, [a, b], Builder.broadcast(a.shape, b.shape));
  }

  add(a, b) {
    return this.binary('Add', a, b);
  }

  mul(a, b) {
    return this.binary('Mul', a, b);
  }

  div(a, b) {
    return this.binary('Div', a, b);
  }

  /** A scalar f32 constant as an initializer. */
  scalar(value, name = this.uniq('const')) {
    return this.param(name, [], Float32Array.of(value));
  }

  /** GELU written with Erf: 0.5 * x * (1 + erf(x / sqrt(2))). */
  gelu(x) {
    const e = this.op('Erf', [this.div(x, this.scalar(Math.SQRT2))], [...x.shape]);
    return this.mul(this.mul(x, this.add(e, this.scalar(1))), this.scalar(0.5));
  }

  concat(xs, axis = 1) {
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((s, t) => s + t.shape[axis], 0);
    return this.op('Concat', xs, shape, { axis: int(axis) });
  }

  softmax(x, axis = -1) {
    return this.op('Softmax', [x], [...x.shape], { axis: int(axis) });
  }

  /** LayerNormalization over the last axis (opset >= 17). */
  layernorm(x, { name = this.uniq('ln') } = {}) {
    const d = x.shape[x.shape.length - 1];
    const g = this.param(`${name}.weight`, [d], this.randArray(d, 0.1, 1));
    const b = this.param(`${name}.bias`, [d], this.randArray(d, 0.05));
    return this.op('LayerNormalization', [x, g, b], [...x.shape], { axis: int(-1), epsilon: float(1e-5) }, name);
  }

  flatten(x, axis = 1) {
    return this.op('Flatten', [x], [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))], { axis: int(axis) });
  }

  reshape(x, shape) {
    return this.op('Reshape', [x, this.i64(this.uniq('shape'), shape)], [...shape]);
  }

  transpose(x, perm) {
    return this.op('Transpose', [x], perm.map((p) => x.shape[p]), { perm: ints(perm) });
  }

  // ------------------------------------------------------------------ finishing

  /** The module with `outputs` as graph outputs (their types declared). */
  finish(outputs, { names } = {}) {
    outputs.forEach((t, i) => {
      t.v.type = tensorType('f32', t.shape);
      if (names?.[i]) t.v.name = names[i];
    });
    const g = new Graph(this.name, this.inputs, outputs.map((t) => t.v), this.nodes, this.initializers);
    return new Module(g, new Map([['', this.opset]]), 8, 'kiln-samples');
  }

  /** Number of f32 parameters (initializer elements). */
  get parameterCount() {
    return this.initializers.filter((v) => v.init.dtype === 'f32').reduce((s, v) => s + v.init.size, 0);
  }

  /** Deterministic inputs for each graph input, uniform in [-1, 1). */
  sampleInputs() {
    return this.inputs.map((v) => {
      const shape = v.type.shape;
      return new Tensor('f32', [...shape], this.randArray(prod(shape), 1));
    });
  }
}

/** The sample record the driver script writes: name, module, inputs and parameter count. */
export function sample(name, b, outputs, opts) {
  const module = b.finish(outputs, opts);
  return { name, module, inputs: b.sampleInputs(), parameters: b.parameterCount };
}
