// A graph-building DSL for int8 models in ONNX's quantized-operator form (what onnxruntime's
// quantizer calls the QOperator format): int8 activations in memory, QLinearConv / QLinearMatMul
// with int8 weights (per-channel scales) and int32 biases, com.microsoft QLinearAdd and
// QLinearGlobalAveragePool, and a DequantizeLinear at the end.
//
// Weights come from the same seeded LCG and He-style scales as builder.mjs, with BatchNormalization
// folded in (as int8 deployments have it). Activation scales are calibrated on the sample input:
// each node is evaluated with Kiln's interpreter as it is added, and the next scale is chosen from
// the real range of its output. ReLU is the saturation at a zero point of -128.
//
// Every scale is a power of two. Requantization is then a multiplication by a power of two, exact in
// f32 and f64 alike, so onnxruntime (f32 arithmetic), Kiln's interpreter and generated C (f64) and
// the Cortex-M build agree bit for bit; with arbitrary scales they may differ by one step where a
// value lies within an f32 rounding error of a half-way point, and the difference propagates.
import { Graph, Module, Node, Value, Tensor, tensorType, interpret } from '../../dist/index.js';
import { Builder, lcg } from './builder.mjs';

const MS = 'com.microsoft';
const prod = (a) => a.reduce((x, y) => x * y, 1);
const pair = (k) => (Array.isArray(k) ? k : [k, k]);
const ints = (value) => ({ kind: 'ints', value });
const int = (value) => ({ kind: 'int', value });

/** Round half to even (as ONNX quantization does). */
function rne(x) {
  const f = Math.floor(x);
  const d = x - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** The smallest power of two s with maxAbs / s <= qmax. */
function pow2Scale(maxAbs, qmax) {
  if (!(maxAbs > 0)) return 2 ** -7;
  return 2 ** Math.ceil(Math.log2(maxAbs / qmax));
}

export class QBuilder {
  /** @param {string} name graph name; @param {{ seed?: number }} opts */
  constructor(name, { seed = 1 } = {}) {
    this.name = name;
    this.rand = lcg(seed);
    this.nodes = [];
    this.inputs = [];
    this.inputData = [];
    this.initializers = [];
    this.counts = new Map();
    this.params = 0;
  }

  uniq(base) {
    const n = (this.counts.get(base) ?? 0) + 1;
    this.counts.set(base, n);
    return `${base}${n}`;
  }

  randArray(n, scale, offset = 0) {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = offset + this.rand() * scale;
    return a;
  }

  /** An initializer; `weight` counts it as a model parameter. */
  init(name, dtype, shape, values, weight = false) {
    const v = new Value(name, tensorType(dtype, shape));
    v.init = Tensor.from(dtype, [...shape], values);
    this.initializers.push(v);
    if (weight) this.params += prod(shape);
    return v;
  }

  f32(name, value) {
    return this.init(name, 'f32', [], [value]);
  }

  i8(name, value) {
    return this.init(name, 'i8', [], [value]);
  }

  /** An int8 graph input with scale 2^-7 (values in [-1, 1)) and uniform random sample data. */
  input(name, shape, scale = 2 ** -7) {
    const v = new Value(name, tensorType('i8', shape));
    this.inputs.push(v);
    const data = new Tensor('i8', [...shape], Int8Array.from({ length: prod(shape) }, () => Math.floor((this.rand() + 1) * 128)));
    this.inputData.push(data);
    return { v, shape: [...shape], scale, zp: 0, data };
  }

  /**
   * Adds a node and evaluates it on its inputs' sample data with Kiln's interpreter (one node at a
   * time, so the whole build costs one inference). `ins` are activations ({ v, data }) or
   * initializer Values; null for an omitted input.
   */
  node(opType, ins, outDtype, outShape, attrs = {}, { domain = '', name = this.uniq(opType.toLowerCase()) } = {}) {
    const out = new Value(`${name}.out`, tensorType(outDtype, outShape));
    const n = new Node(opType, domain, name, ins.map((t) => (t === null ? null : t.v ?? t)), [out], new Map(Object.entries(attrs)));
    out.producer = n;
    this.nodes.push(n);
    return { v: out, shape: [...outShape], data: this.evaluate(opType, domain, ins, outDtype, outShape, attrs) };
  }

  evaluate(opType, domain, ins, outDtype, outShape, attrs = {}) {
    const gIn = [];
    const feeds = [];
    const inits = [];
    const vals = ins.map((t, i) => {
      if (t === null) return null;
      if (t instanceof Value) {
        const v = new Value(`c${i}`, t.type);
        v.init = t.init;
        inits.push(v);
        return v;
      }
      const v = new Value(`a${i}`, tensorType(t.data.dtype, t.shape));
      gIn.push(v);
      feeds.push(t.data);
      return v;
    });
    const out = new Value('y', tensorType(outDtype, outShape));
    const n = new Node(opType, domain, 'n', vals, [out], new Map(Object.entries(attrs)));
    out.producer = n;
    const m = new Module(new Graph('eval', gIn, [out], [n], inits), new Map([['', 13], [MS, 1]]), 8, 'kiln-samples');
    return interpret(m, feeds)[0];
  }

  /** Output scale and zero point for real values `real`: ReLU outputs use [-128, 127] for [0, 255 s]. */
  static outQuant(real, relu) {
    let mx = 0;
    for (const r of real) mx = Math.max(mx, relu ? r : Math.abs(r));
    return relu ? { scale: pow2Scale(mx, 255), zp: -128 } : { scale: pow2Scale(mx, 127), zp: 0 };
  }

  /** Per-row power-of-two int8 quantization of `rows` rows of f32 weights (symmetric, zp 0). */
  static quantRows(w, rows) {
    const per = w.length / rows;
    const scales = new Float32Array(rows);
    const q = new Int8Array(w.length);
    for (let r = 0; r < rows; r++) {
      let mx = 0;
      for (let i = 0; i < per; i++) mx = Math.max(mx, Math.abs(w[r * per + i]));
      scales[r] = pow2Scale(mx, 127);
      for (let i = 0; i < per; i++) q[r * per + i] = Math.max(-127, Math.min(127, rne(w[r * per + i] / scales[r])));
    }
    return { q, scales };
  }

  bnParams(c, gammaScale = 1) {
    return {
      gamma: this.randArray(c, 0.2 * gammaScale, gammaScale),
      beta: this.randArray(c, 0.1),
      mean: this.randArray(c, 0.1),
      var: this.randArray(c, 0.25, 1),
      eps: 1e-5,
    };
  }

  /** Folds BatchNormalization into weights (rows = output channels) and bias, in place. */
  foldBn(w, b, rows, gammaScale) {
    const p = this.bnParams(rows, gammaScale);
    const per = w.length / rows;
    for (let c = 0; c < rows; c++) {
      const s = p.gamma[c] / Math.sqrt(p.var[c] + p.eps);
      for (let i = 0; i < per; i++) w[c * per + i] *= s;
      b[c] = p.beta[c] + (b[c] - p.mean[c]) * s;
    }
  }

  /**
   * QLinearConv (NCHW) with BatchNormalization folded in. opts: stride, pad ('same' | n | [t,l,b,r]),
   * group, bn (fold), bnGamma (BN gamma scale), relu, gain, name.
   */
  conv(x, outC, k, opts = {}) {
    const { stride = 1, pad = 'same', group = 1, bn = false, relu = false, gain = 2, bnGamma = 1 } = opts;
    const name = opts.name ?? this.uniq('conv');
    const kk = pair(k);
    const ss = pair(stride);
    const [n, inC, h, w] = x.shape;
    const pads = Builder.resolvePads(pad, [h, w], kk, ss);
    const [oh, ow] = Builder.windowOut([h, w], kk, ss, pads);
    const fanIn = (inC / group) * kk[0] * kk[1];
    const wShape = [outC, inC / group, kk[0], kk[1]];
    const wf = this.randArray(prod(wShape), Math.sqrt((3 * gain) / fanIn));
    const bf = this.randArray(outC, 0.05);
    if (bn) this.foldBn(wf, bf, outC, bnGamma);
    const { q, scales } = QBuilder.quantRows(wf, outC);
    const bq = Int32Array.from(bf, (b, c) => rne(b / (x.scale * scales[c])));
    const wv = this.init(`${name}.weight`, 'i8', wShape, q, true);
    const wsv = this.init(`${name}.weight_scale`, 'f32', [outC], scales);
    const wzv = this.init(`${name}.weight_zero_point`, 'i8', [outC], new Int8Array(outC));
    const bv = this.init(`${name}.bias`, 'i32', [outC], bq, true);
    const attrs = { kernel_shape: ints(kk), strides: ints(ss), pads: ints(pads) };
    if (group !== 1) attrs.group = int(group);
    const xs = this.f32(`${name}.x_scale`, x.scale);
    const xz = this.i8(`${name}.x_zero_point`, x.zp);
    const yShape = [n, outC, oh, ow];
    // calibrate: the i32 accumulator (ConvInteger) plus bias, scaled to real values
    const acc = this.evaluate('ConvInteger', '', [x, wv, xz, wzv], 'i32', yShape, attrs).data;
    const per = oh * ow;
    const real = Float64Array.from(acc, (a, i) => {
      const c = Math.floor(i / per) % outC;
      if (Math.abs(a + bq[c]) >= 2 ** 24) throw new Error(`${name}: accumulator ${a + bq[c]} is not exact in f32`);
      return (a + bq[c]) * x.scale * scales[c];
    });
    const { scale, zp } = QBuilder.outQuant(real, relu);
    const y = this.node('QLinearConv', [x, xs, xz, wv, wsv, wzv, this.f32(`${name}.y_scale`, scale), this.i8(`${name}.y_zero_point`, zp), bv], 'i8', yShape, attrs, { name });
    return { ...y, scale, zp };
  }

  dwconv(x, k, opts = {}) {
    return this.conv(x, x.shape[1], k, { ...opts, group: x.shape[1], name: opts.name ?? this.uniq('dwconv') });
  }

  /** Real values of an activation. */
  static real(t) {
    return Float64Array.from(t.data.data, (q) => (q - t.zp) * t.scale);
  }

  /** com.microsoft QLinearAdd of two activations or an activation and a constant (numpy broadcast). */
  add(a, b, { relu = false, name = this.uniq('qadd') } = {}) {
    const shape = Builder.broadcast(a.shape, b.shape);
    const ra = QBuilder.real(a);
    const rb = QBuilder.real(b);
    const sa = a.shape.length < shape.length ? [...Array(shape.length - a.shape.length).fill(1), ...a.shape] : a.shape;
    const sb = b.shape.length < shape.length ? [...Array(shape.length - b.shape.length).fill(1), ...b.shape] : b.shape;
    const at = (s, r, i) => {
      let off = 0;
      let stride = 1;
      let rest = i;
      const ix = [];
      for (let d = shape.length - 1; d >= 0; d--) {
        ix[d] = rest % shape[d];
        rest = Math.floor(rest / shape[d]);
      }
      for (let d = shape.length - 1; d >= 0; d--) {
        off += (s[d] === 1 ? 0 : ix[d]) * stride;
        stride *= s[d];
      }
      return r[off];
    };
    const sum = Float64Array.from({ length: prod(shape) }, (_, i) => at(sa, ra, i) + at(sb, rb, i));
    const { scale, zp } = QBuilder.outQuant(sum, relu);
    const ins = [a, this.f32(`${name}.a_scale`, a.scale), this.i8(`${name}.a_zero_point`, a.zp), b, this.f32(`${name}.b_scale`, b.scale), this.i8(`${name}.b_zero_point`, b.zp), this.f32(`${name}.y_scale`, scale), this.i8(`${name}.y_zero_point`, zp)];
    const y = this.node('QLinearAdd', ins, 'i8', shape, {}, { domain: MS, name });
    return { ...y, scale, zp };
  }

  /** com.microsoft QLinearGlobalAveragePool with the input's scale and zero point kept. */
  globalAvgPool(x, { name = this.uniq('gap') } = {}) {
    const ins = [x, this.f32(`${name}.x_scale`, x.scale), this.i8(`${name}.x_zero_point`, x.zp), this.f32(`${name}.y_scale`, x.scale), this.i8(`${name}.y_zero_point`, x.zp)];
    const y = this.node('QLinearGlobalAveragePool', ins, 'i8', [x.shape[0], x.shape[1], 1, 1], { channels_last: int(0) }, { domain: MS, name });
    return { ...y, scale: x.scale, zp: x.zp };
  }

  flatten(x) {
    const y = this.node('Flatten', [x], 'i8', [x.shape[0], prod(x.shape.slice(1))], { axis: int(1) });
    return { ...y, scale: x.scale, zp: x.zp };
  }

  /**
   * A dense layer as onnxruntime's quantizer writes MatMul + Add: QLinearMatMul with an int8
   * weight [in, out] (per-column scales), then QLinearAdd of an int8 bias. opts: bn (fold), relu,
   * gain, name.
   */
  dense(x, outF, { bn = false, relu = false, gain = 2, name = this.uniq('fc') } = {}) {
    const inF = x.shape[1];
    const wf = this.randArray(outF * inF, Math.sqrt((3 * gain) / inF)); // rows = output features
    const bf = this.randArray(outF, 0.05);
    if (bn) this.foldBn(wf, bf, outF);
    const { q, scales } = QBuilder.quantRows(wf, outF);
    const qt = new Int8Array(inF * outF); // transposed to [in, out]
    for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) qt[i * outF + o] = q[o * inF + i];
    const wv = this.init(`${name}.weight`, 'i8', [inF, outF], qt, true);
    const wsv = this.init(`${name}.weight_scale`, 'f32', [outF], scales);
    const wzv = this.init(`${name}.weight_zero_point`, 'i8', [outF], new Int8Array(outF));
    const xs = this.f32(`${name}.x_scale`, x.scale);
    const xz = this.i8(`${name}.x_zero_point`, x.zp);
    const shape = [x.shape[0], outF];
    const acc = this.evaluate('MatMulInteger', '', [x, wv, xz, wzv], 'i32', shape).data;
    const real = Float64Array.from(acc, (a, i) => a * x.scale * scales[i % outF]);
    const mm = QBuilder.outQuant(real, false);
    const y0 = this.node('QLinearMatMul', [x, xs, xz, wv, wsv, wzv, this.f32(`${name}.mm_scale`, mm.scale), this.i8(`${name}.mm_zero_point`, mm.zp)], 'i8', shape, {}, { name: `${name}/matmul` });
    const bq = QBuilder.outQuant(bf, false);
    const bias = { v: this.init(`${name}.bias`, 'i8', [outF], Int8Array.from(bf, (b) => Math.max(-127, Math.min(127, rne(b / bq.scale)))), true), shape: [outF], scale: bq.scale, zp: 0 };
    bias.data = bias.v.init;
    return this.add({ ...y0, ...mm }, bias, { relu, name: `${name}/add` });
  }

  dequantize(x, { name = this.uniq('dequant') } = {}) {
    const y = this.node('DequantizeLinear', [x, this.f32(`${name}.scale`, x.scale), this.i8(`${name}.zero_point`, x.zp)], 'f32', x.shape, {}, { name });
    return y;
  }

  softmax(x, axis = -1) {
    return this.node('Softmax', [x], 'f32', x.shape, { axis: int(axis) });
  }

  /** The sample record (as builder.mjs's `sample`): name, module, inputs and parameter count. */
  finish(sampleName, outputs, names = []) {
    outputs.forEach((t, i) => {
      t.v.type = tensorType(t.data.dtype, t.shape);
      if (names[i]) t.v.name = names[i];
    });
    const g = new Graph(this.name, this.inputs, outputs.map((t) => t.v), this.nodes, this.initializers);
    const module = new Module(g, new Map([['', 13], [MS, 1]]), 8, 'kiln-samples');
    return { name: sampleName, module, inputs: this.inputData, parameters: this.params };
  }
}
