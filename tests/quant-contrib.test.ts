/**
 * The com.microsoft quantized contrib ops (QLinearAdd, QLinearGlobalAveragePool) against
 * onnxruntime, and the scalar-accumulator lowerings of QLinearConv / QLinearMatMul against the
 * interpreter, on configurations the samples do not cover (uint8, zero points, broadcasting,
 * channels_last, saturation, groups, dilation, asymmetric pads, batch broadcasting).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { Graph, Module, Node, Value, type AttrValue } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { tensorType } from '../src/ir/types.js';
import type { DType } from '../src/ir/dtype.js';
import { exportOnnx } from '../src/frontend/onnx/export.js';
import { encodeTensor } from '../src/frontend/onnx/tensorproto.js';
import { interpret } from '../src/ir/interp/interpreter.js';
import { runCommand } from '../src/driver/run.js';
import { loadOrt } from './helpers/ort.js';
import { hasTool, tempDir } from './helpers/onnx-builder.js';

const haveCc = hasTool('cc');
if (!haveCc) console.log('skipped: cc not installed');

const ort = await loadOrt();
const ORT_TYPE: Partial<Record<DType, string>> = { i8: 'int8', u8: 'uint8', f32: 'float32' };

/** Deterministic integers in [lo, hi]. */
function ints(n: number, lo: number, hi: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((s >>> 8) % (hi - lo + 1)); // the high bits: an LCG's low bits have short periods
  });
}

interface Case {
  op: string;
  domain: string;
  /** activation inputs (graph inputs, fed at run time) or constants, in node input order; null omits */
  ins: ({ name: string; t: Tensor; feed?: boolean } | null)[];
  out: { dtype: DType; shape: number[] };
  attrs?: Record<string, AttrValue>;
}

function build(c: Case): { module: Module; feeds: Tensor[] } {
  const inputs: Value[] = [];
  const inits: Value[] = [];
  const feeds: Tensor[] = [];
  const vals = c.ins.map((x) => {
    if (!x) return null;
    const v = new Value(x.name, tensorType(x.t.dtype, [...x.t.shape]));
    if (x.feed) {
      inputs.push(v);
      feeds.push(x.t);
    } else {
      v.init = x.t;
      inits.push(v);
    }
    return v;
  });
  const y = new Value('y', tensorType(c.out.dtype, c.out.shape));
  const n = new Node(c.op, c.domain, 'n', vals, [y], new Map(Object.entries(c.attrs ?? {})));
  y.producer = n;
  return { module: new Module(new Graph('g', inputs, [y], [n], inits), new Map([['', 13], ['com.microsoft', 1]]), 8, 'kiln-tests'), feeds };
}

/** Writes model.onnx and test_data_set_0 with the given expected output; returns the model path. */
function writeCase(module: Module, feeds: Tensor[], expected: Tensor): string {
  const dir = tempDir();
  const data = path.join(dir, 'test_data_set_0');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(dir, 'model.onnx'), exportOnnx(module));
  feeds.forEach((t, i) => fs.writeFileSync(path.join(data, `input_${i}.pb`), encodeTensor(t, module.graph.inputs[i]!.name)));
  fs.writeFileSync(path.join(data, 'output_0.pb'), encodeTensor(expected, 'y'));
  return path.join(dir, 'model.onnx');
}

async function runOrt(module: Module, feeds: Tensor[]): Promise<Tensor> {
  const s = await ort!.InferenceSession.create(exportOnnx(module), { intraOpNumThreads: 1 });
  const f: Record<string, import('onnxruntime-node').Tensor> = {};
  module.graph.inputs.forEach((v, i) => {
    const x = feeds[i]!;
    f[v.name] = new ort!.Tensor(ORT_TYPE[x.dtype]! as 'int8', x.data as Int8Array, [...x.shape]);
  });
  const r = (await s.run(f)).y!;
  const dt = module.graph.outputs[0]!.tensorType!.dtype;
  return Tensor.from(dt, [...r.dims], Array.from(r.data as ArrayLike<number>));
}

async function expectTargets(model: string, targets: string[]): Promise<void> {
  for (const target of targets) {
    const r = await runCommand(model, { target, inputs: [path.join(path.dirname(model), 'test_data_set_0')] });
    expect(r.text, target).toMatch(/compare output 0 'y': ok/);
  }
}

const t = (dt: DType, shape: number[], v: number[]): Tensor => Tensor.from(dt, shape, v);
const f32 = (v: number): Tensor => t('f32', [], [v]);

// Scales whose ratios are exact in f32 (0.15 = 0.3 / 2 and 0.6 = 0.3 * 2 in f32 too), so half-way
// cases are real ties and both arithmetics round them to even.
const addCase = (dt: DType, lo: number, hi: number, zps: [number, number, number]): Case => ({
  op: 'QLinearAdd',
  domain: 'com.microsoft',
  ins: [
    { name: 'a', t: t(dt, [2, 3, 4], ints(24, lo, hi, 1)), feed: true },
    { name: 'as', t: f32(0.3) },
    { name: 'az', t: t(dt, [], [zps[0]]) },
    { name: 'b', t: t(dt, [4], ints(4, lo, hi, 2)), feed: true },
    { name: 'bs', t: f32(0.15) },
    { name: 'bz', t: t(dt, [], [zps[1]]) },
    { name: 'cs', t: f32(0.6) },
    { name: 'cz', t: t(dt, [], [zps[2]]) },
  ],
  out: { dtype: dt, shape: [2, 3, 4] },
});

const gapCase = (dt: DType, shape: number[], channelsLast: boolean, lo: number, hi: number, xz: number, yz: number): Case => {
  const r = shape.length;
  return {
    op: 'QLinearGlobalAveragePool',
    domain: 'com.microsoft',
    ins: [
      { name: 'x', t: t(dt, shape, ints(shape.reduce((a, b) => a * b, 1), lo, hi, 3)), feed: true },
      { name: 'xs', t: f32(0.1) },
      { name: 'xz', t: t(dt, [], [xz]) },
      { name: 'ys', t: f32(0.07) },
      { name: 'yz', t: t(dt, [], [yz]) },
    ],
    out: { dtype: dt, shape: shape.map((d, i) => (i === 0 || i === (channelsLast ? r - 1 : 1) ? d : 1)) },
    attrs: { channels_last: { kind: 'int', value: channelsLast ? 1 : 0 } },
  };
};

describe.skipIf(ort === null)('com.microsoft quantized contrib ops against onnxruntime', () => {
  const cases: [string, Case][] = [
    ['QLinearAdd int8, broadcast, zero points, saturation', addCase('i8', -128, 127, [-3, 5, -128])],
    ['QLinearAdd uint8', addCase('u8', 0, 255, [128, 100, 7])],
    ['QLinearGlobalAveragePool int8 NCHW 5x5', gapCase('i8', [2, 3, 5, 5], false, -128, 127, 0, -20)],
    ['QLinearGlobalAveragePool uint8 channels_last', gapCase('u8', [2, 3, 4, 5], true, 0, 255, 128, 3)],
  ];

  it.each(cases)('%s: the interpreter matches onnxruntime exactly', async (_name, c) => {
    const { module, feeds } = build(c);
    const expected = await runOrt(module, feeds);
    const got = interpret(module, feeds)[0] as Tensor;
    expect(Array.from(got.data as ArrayLike<number>)).toEqual(Array.from(expected.data as ArrayLike<number>));
    // the outputs vary (the case is not degenerate, e.g. all saturated)
    expect(new Set(Array.from(expected.data as ArrayLike<number>)).size).toBeGreaterThan(2);
  });

  it.runIf(haveCc).each(cases)('%s: generated C and kernel IR match onnxruntime', async (_name, c) => {
    const { module, feeds } = build(c);
    await expectTargets(writeCase(module, feeds, await runOrt(module, feeds)), ['kernel', 'c']);
  });
});

// QLinearMul's integer path rounds the exact product once; the interpreter and onnxruntime round
// f32 products on the way: ±1 LSB where they straddle a half-way point. QLinearConcat's tables are
// the float requantization itself: exact.
const mulCase = (dt: DType, lo: number, hi: number, zps: [number, number, number]): Case => ({
  op: 'QLinearMul',
  domain: 'com.microsoft',
  ins: [
    { name: 'a', t: t(dt, [2, 3, 4], ints(24, lo, hi, 8)), feed: true },
    { name: 'as', t: f32(0.047) },
    { name: 'az', t: t(dt, [], [zps[0]]) },
    { name: 'b', t: t(dt, [3, 1], ints(3, lo, hi, 9)), feed: true },
    { name: 'bs', t: f32(0.031) },
    { name: 'bz', t: t(dt, [], [zps[1]]) },
    { name: 'cs', t: f32(0.09) },
    { name: 'cz', t: t(dt, [], [zps[2]]) },
  ],
  out: { dtype: dt, shape: [2, 3, 4] },
});
const concatCase = (dt: DType, lo: number, hi: number, zps: [number, number, number]): Case => ({
  op: 'QLinearConcat',
  domain: 'com.microsoft',
  ins: [
    { name: 'ys', t: f32(0.07) },
    { name: 'yz', t: t(dt, [], [zps[0]]) },
    { name: 'a', t: t(dt, [2, 2, 3], ints(12, lo, hi, 10)), feed: true },
    { name: 'as', t: f32(0.05) },
    { name: 'az', t: t(dt, [], [zps[1]]) },
    { name: 'b', t: t(dt, [2, 3, 3], ints(18, lo, hi, 11)), feed: true },
    { name: 'ys2', t: f32(0.07) },
    { name: 'yz2', t: t(dt, [], [zps[0]]) },
    { name: 'c', t: t(dt, [2, 1, 3], ints(6, lo, hi, 12)), feed: true },
    { name: 'cs', t: f32(0.13) },
    { name: 'cz', t: t(dt, [], [zps[2]]) },
  ],
  out: { dtype: dt, shape: [2, 6, 3] },
  attrs: { axis: { kind: 'int', value: 1 } },
});

const avgPoolCase = (dt: DType, lo: number, hi: number, xz: number, yz: number, countPad: number, ceil: number): Case => ({
  op: 'QLinearAveragePool',
  domain: 'com.microsoft',
  ins: [
    { name: 'x', t: t(dt, [1, 3, 7, 6], ints(126, lo, hi, 13)), feed: true },
    { name: 'xs', t: f32(0.06) },
    { name: 'xz', t: t(dt, [], [xz]) },
    { name: 'ys', t: f32(0.043) },
    { name: 'yz', t: t(dt, [], [yz]) },
  ],
  out: { dtype: dt, shape: [1, 3, ceil ? 4 : 3, 3] },
  attrs: {
    kernel_shape: { kind: 'ints', value: [3, 3] },
    strides: { kind: 'ints', value: [2, 2] },
    pads: { kind: 'ints', value: [1, 0, 0, 1] },
    count_include_pad: { kind: 'int', value: countPad },
    ceil_mode: { kind: 'int', value: ceil },
  },
});

const lutCase = (op: string, dt: DType, lo: number, hi: number, xz: number, yz: number, ys: number): Case => ({
  op,
  domain: 'com.microsoft',
  ins: [
    { name: 'x', t: t(dt, [256], Array.from({ length: 256 }, (_, i) => lo + ((i * 37) % (hi - lo + 1)))), feed: true },
    { name: 'xs', t: f32(0.05) },
    { name: 'xz', t: t(dt, [], [xz]) },
    { name: 'ys', t: f32(ys) },
    { name: 'yz', t: t(dt, [], [yz]) },
  ],
  out: { dtype: dt, shape: [256] },
  attrs: op === 'QLinearLeakyRelu' ? { alpha: { kind: 'float', value: 0.1 } } : {},
});

describe.skipIf(ort === null)('QLinearMul, QLinearConcat, QLinearAveragePool and the table ops against onnxruntime', () => {
  // [name, case, tolerance in LSB, also build and run the generated C]
  const cases: [string, Case, number, boolean][] = [
    ['QLinearMul int8, broadcast, zero points', mulCase('i8', -128, 127, [-3, 5, -2]), 1, true],
    ['QLinearMul uint8', mulCase('u8', 0, 255, [128, 100, 130]), 1, false],
    ['QLinearConcat int8 (a copied input, two requantized)', concatCase('i8', -128, 127, [-4, 10, -100]), 0, true],
    ['QLinearConcat uint8', concatCase('u8', 0, 255, [128, 3, 200]), 0, false],
    ['QLinearAveragePool int8 3x3/2, asymmetric pads', avgPoolCase('i8', -128, 127, -5, 3, 0, 0), 1, true],
    ['QLinearAveragePool uint8, count_include_pad', avgPoolCase('u8', 0, 255, 128, 120, 1, 0), 1, false],
    ['QLinearAveragePool uint8, ceil_mode', avgPoolCase('u8', 0, 255, 128, 120, 0, 1), 1, false],
    // every input value once: the whole table
    ['QLinearSigmoid int8', lutCase('QLinearSigmoid', 'i8', -128, 127, 5, -128, 1 / 256), 1, false],
    ['QLinearSigmoid uint8', lutCase('QLinearSigmoid', 'u8', 0, 255, 128, 0, 1 / 255), 1, false],
    ['QLinearLeakyRelu int8', lutCase('QLinearLeakyRelu', 'i8', -128, 127, -10, -20, 0.04), 1, false],
  ];
  const vals = (x: Tensor): number[] => Array.from(x.data as ArrayLike<number>);
  // generated C for one case per lowering (the C compiles dominate this file's time; the table ops
  // emit the same table load as QLinearConcat)
  it.each(cases)('%s: interpreter, kernel IR (and C) match onnxruntime (within 1 LSB where rounding differs)', async (_name, c, tol, withC) => {
    const { module, feeds } = build(c);
    const expected = await runOrt(module, feeds);
    const got = interpret(module, feeds)[0] as Tensor;
    const diffs = vals(got).map((v, i) => Math.abs(v - vals(expected)[i]!));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(tol);
    expect(new Set(vals(expected)).size).toBeGreaterThan(5);
    const model = writeCase(module, feeds, expected);
    for (const target of haveCc && withC ? ['kernel', 'c'] : ['kernel']) {
      const r = await runCommand(model, { target, inputs: [path.join(path.dirname(model), 'test_data_set_0')], rtol: 0, atol: tol });
      expect(r.text, target).toMatch(/compare output 0 'y': ok/);
    }
  });
});

describe('QLinearConv / QLinearMatMul lowerings (one i32 local per output element)', () => {
  const conv: Case = {
    op: 'QLinearConv',
    domain: '',
    ins: [
      { name: 'x', t: t('u8', [2, 4, 7, 6], ints(336, 0, 255, 4)), feed: true },
      { name: 'xs', t: f32(0.023) },
      { name: 'xz', t: t('u8', [], [131]) },
      { name: 'w', t: t('u8', [6, 2, 3, 2], ints(72, 0, 255, 5)) },
      { name: 'ws', t: t('f32', [6], [0.011, 0.017, 0.009, 0.02, 0.013, 0.031]) },
      { name: 'wz', t: t('u8', [6], [120, 128, 135, 127, 110, 140]) },
      { name: 'ys', t: f32(0.9) },
      { name: 'yz', t: t('u8', [], [119]) },
      { name: 'b', t: t('i32', [6], [100, -2000, 0, 5000, -300, 70]) },
    ],
    out: { dtype: 'u8', shape: [2, 6, 3, 6] },
    attrs: {
      group: { kind: 'int', value: 2 },
      strides: { kind: 'ints', value: [2, 1] },
      dilations: { kind: 'ints', value: [2, 1] },
      pads: { kind: 'ints', value: [2, 0, 1, 1] },
      kernel_shape: { kind: 'ints', value: [3, 2] },
    },
  };
  const matmul: Case = {
    op: 'QLinearMatMul',
    domain: '',
    ins: [
      { name: 'a', t: t('i8', [2, 1, 3, 5], ints(30, -128, 127, 6)), feed: true },
      { name: 'as', t: f32(0.05) },
      { name: 'az', t: t('i8', [], [3]) },
      { name: 'b', t: t('i8', [3, 5, 4], ints(60, -128, 127, 7)) },
      { name: 'bs', t: t('f32', [4], [0.01, 0.02, 0.015, 0.03]) },
      { name: 'bz', t: t('i8', [4], [0, 0, 0, 0]) },
      { name: 'ys', t: f32(0.2) },
      { name: 'yz', t: t('i8', [], [-5]) },
    ],
    out: { dtype: 'i8', shape: [2, 3, 3, 4] },
  };

  // wide enough for the fast path's interior tiles (2 channels x 32 positions, last tile shifted left)
  const qconv = (name: string, cin: number, cout: number, group: number, k: number, pad: number, wz: number[], seed: number, w = 37, h = 9): Case => ({
    op: 'QLinearConv',
    domain: '',
    ins: [
      { name: 'x', t: t('i8', [1, cin, h, w], ints(cin * h * w, -128, 127, seed)), feed: true },
      { name: 'xs', t: f32(0.0625) },
      { name: 'xz', t: t('i8', [], [-3]) },
      { name: 'w', t: t('i8', [cout, cin / group, k, k], ints((cout * cin * k * k) / group, -127, 127, seed + 1)) },
      { name: 'ws', t: t('f32', [cout], Array.from({ length: cout }, (_, i) => 2 ** -(6 + (i % 3)))) },
      { name: 'wz', t: t('i8', [cout], wz) },
      { name: 'ys', t: f32(name === 'pointwise' ? 0.5 : 1) },
      { name: 'yz', t: t('i8', [], [4]) },
      { name: 'b', t: t('i32', [cout], Array.from({ length: cout }, (_, i) => (i % 2 ? -1 : 1) * 37 * i)) },
    ],
    out: { dtype: 'i8', shape: [1, cout, h + 2 * pad - k + 1, w + 2 * pad - k + 1] },
    attrs: { group: { kind: 'int', value: group }, pads: { kind: 'ints', value: [pad, pad, pad, pad] }, kernel_shape: { kind: 'ints', value: [k, k] } },
  });
  // int8 conv with strides and pads of its own: output [1, cout, oh, ow]
  const qconvStrided = (cin: number, cout: number, k: number, stride: number, pad: number, h: number, w: number, seed: number): Case => ({
    ...qconv('strided', cin, cout, 1, k, pad, Array.from({ length: cout }, (_, i) => (i % 3) - 1), seed, w, h),
    out: { dtype: 'i8', shape: [1, cout, Math.floor((h + 2 * pad - k) / stride) + 1, Math.floor((w + 2 * pad - k) / stride) + 1] },
    attrs: { strides: { kind: 'ints', value: [stride, stride] }, pads: { kind: 'ints', value: [pad, pad, pad, pad] }, kernel_shape: { kind: 'ints', value: [k, k] } },
  });
  const regular = qconv('regular', 6, 8, 1, 3, 1, [0, 2, -1, 0, 5, 0, -7, 1], 11);
  // kws's first layer in small: no position loop long enough to vectorize, a loop over channels instead
  const narrowStrided: Case = {
    ...qconv('narrow', 2, 16, 1, 3, 1, new Array(16).fill(2), 41, 7, 11),
    out: { dtype: 'i8', shape: [1, 16, 6, 4] },
    attrs: { strides: { kind: 'ints', value: [2, 2] }, pads: { kind: 'ints', value: [1, 1, 1, 1] }, kernel_shape: { kind: 'ints', value: [3, 3] } },
  };
  const depthwise = qconv('depthwise', 8, 8, 8, 3, 1, new Array(8).fill(0), 13, 40, 10);
  const pointwise = qconv('pointwise', 12, 8, 1, 1, 0, new Array(8).fill(2), 17, 33, 5);

  it.runIf(haveCc).each([
    ['QLinearConv int8 3x3, 37 columns, per-channel weight zero points (tiled interior + border)', regular],
    ['QLinearConv int8 depthwise 3x3, 40 columns', depthwise],
    ['QLinearConv int8 1x1 over the flattened image', pointwise],
    ['QLinearConv uint8, group 2, stride, dilation, asymmetric pads, zero points', conv],
    ['QLinearConv int8 3x3 stride 2, 23 columns (register tiles, border row and column tiles)', qconvStrided(3, 4, 3, 2, 1, 11, 23, 21)],
    ['QLinearConv int8 3x3 stride 2, 80 columns, 21 rows (loop tiles, column tiles over rows)', qconvStrided(2, 6, 3, 2, 1, 42, 80, 23)],
    ['QLinearConv int8 5x5 pads 3 over 4x4 (no interior)', qconvStrided(3, 2, 5, 1, 3, 4, 4, 25)],
    ['QLinearConv int8 3x3 stride 2 over 11x7, 16 channels, uniform weight zero point (channel-vectorized)', narrowStrided],
    ['QLinearConv int8 depthwise 3x3 over 25x5 (zero-point-padded plane, unrolled tiles)', qconv('depthwise', 16, 16, 16, 3, 1, new Array(16).fill(0), 43, 5, 25)],
    ['QLinearConv int8 group 4 (2 channels each) 3x3 over 12x12, per-channel weight zero points (padded plane)', qconv('grouped', 8, 8, 4, 3, 1, [0, 2, -1, 0, 5, 0, -7, 1], 47, 12, 12)],
    ['QLinearMatMul int8, batch broadcast, per-column scales', matmul],
  ] as [string, Case][])('%s: generated C and kernel IR match the interpreter', async (_name, c) => {
    const { module, feeds } = build(c);
    const expected = interpret(module, feeds)[0] as Tensor;
    expect(new Set(Array.from(expected.data as ArrayLike<number>)).size).toBeGreaterThan(3);
    await expectTargets(writeCase(module, feeds, expected), ['kernel', 'c']);
  });
});
