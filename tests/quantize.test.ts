/**
 * `kiln quantize`: the trained digits sample quantized (int8 per-channel, int16x8, mixed int4/int8)
 * keeps its accuracy on its test split; the QDQ files run in onnxruntime-node and agree with Kiln's
 * interpreter within 1 LSB of the output's scale; the generated C agrees too; and the pieces
 * (ranges, parameters, the QDQ rewrite of a conv net) behave as documented.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/index.js';
import { Graph, Module, Node, Value } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { tensorType } from '../src/ir/types.js';
import { exportOnnx } from '../src/frontend/onnx/export.js';
import { decodeModelProto } from '../src/frontend/onnx/import.js';
import { encodeNpy } from '../src/frontend/npy.js';
import { interpret } from '../src/ir/interp/interpreter.js';
import { loadModel } from '../src/driver/load.js';
import { quantizeModel, readDataSets, type QuantizeOptions, type QuantizeOutcome } from '../src/driver/quantize.js';
import { lowerForTarget, resolveTarget, runOnTarget } from '../src/driver/targets.js';
import { byteWidth, type DType } from '../src/ir/dtype.js';
import { argmaxRows } from '../src/quant/evaluate.js';
import { activationParams, quantizeBias, quantizeWeight } from '../src/quant/qparams.js';
import { entropyRange, percentileRange, TensorStats } from '../src/quant/ranges.js';
import { loadOrt } from './helpers/ort.js';
import { hasTool, kiln, tempDir } from './helpers/onnx-builder.js';

const haveCc = hasTool('cc');
if (!haveCc) console.log('skipped: cc not installed');
const ort = await loadOrt();

const DIGITS = path.resolve('samples/digits');
const MODEL = path.join(DIGITS, 'model.onnx');
const labels = JSON.parse(fs.readFileSync(path.join(DIGITS, 'labels.json'), 'utf8')) as { test: number[] };

function quantize(out: string, opts: Partial<QuantizeOptions> = {}): QuantizeOutcome {
  return quantizeModel(MODEL, { out, calibration: path.join(DIGITS, 'calibration'), holdout: DIGITS, method: 'minmax', scheme: 'int8', ...opts });
}

const accuracy = (outs: readonly Tensor[]): number => {
  const pred = outs.flatMap((t) => argmaxRows(t));
  return pred.filter((c, i) => c === labels.test[i]).length / pred.length;
};

/** The scale of the DequantizeLinear that writes graph output 0 (one LSB of the output). */
function outputScale(m: Module): number {
  const dq = m.graph.outputs[0]!.producer!;
  expect(dq.opType).toBe('DequantizeLinear');
  return dq.inputs[1]!.init!.num(0);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** onnxruntime-node on the written file vs Kiln's interpreter, on every data set: max difference in LSBs. */
async function ortLsb(file: string, sets: readonly (readonly (Tensor | undefined)[])[]): Promise<number> {
  const m = loadModel(file);
  const lsb = outputScale(m);
  const session = await ort!.InferenceSession.create(file, { intraOpNumThreads: 1 });
  let worst = 0;
  for (const inputs of sets) {
    const feeds = Object.fromEntries(m.graph.inputs.map((v, i) => [v.name, new ort!.Tensor('float32', inputs[i]!.data as Float32Array, [...inputs[i]!.shape])]));
    const r = await session.run(feeds);
    const k = interpret(m, inputs)[0] as Tensor;
    worst = Math.max(worst, maxDiff(r[m.graph.outputs[0]!.name]!.data as Float32Array, k.data as Float32Array) / lsb);
  }
  return worst;
}

describe('kiln quantize on the trained digits sample', () => {
  const dir = tempDir('kiln-quant-');
  const testSets = () => readDataSets(loadModel(MODEL), DIGITS) as Tensor[][];
  let int8: QuantizeOutcome;
  beforeAll(() => {
    int8 = quantize(path.join(dir, 'int8.onnx'));
  });

  it('int8 per-channel: accuracy within 1 point of float, output SQNR >= 30 dB, weights <= 0.3x', () => {
    const fm = loadModel(MODEL);
    const floatOuts = testSets().map((inputs) => interpret(fm, inputs)[0] as Tensor);
    const floatAcc = accuracy(floatOuts);
    const quantAcc = accuracy(int8.holdoutOutputs!.map((o) => o[0]!));
    console.log(`digits: float top-1 ${(100 * floatAcc).toFixed(2)}%, int8 ${(100 * quantAcc).toFixed(2)}%, held-back SQNR ${int8.report.holdout!.outputs[0]!.sqnrDb!.toFixed(1)} dB, weights ${int8.report.weightBytes}/${int8.report.floatWeightBytes} B`);
    expect(floatAcc).toBeGreaterThan(0.9); // a trained network, not random weights
    expect(Math.abs(quantAcc - floatAcc)).toBeLessThanOrEqual(0.01);
    expect(int8.report.holdout!.outputs[0]!.sqnrDb!).toBeGreaterThanOrEqual(30);
    expect(int8.report.calibration.outputs[0]!.sqnrDb!).toBeGreaterThanOrEqual(30);
    expect(int8.report.weightBytes).toBeLessThanOrEqual(0.3 * int8.report.floatWeightBytes);
    expect(int8.report.layers.map((l) => l.weightBits)).toEqual([8, 8, 8]);
    // every quantized activation is reported on both sets
    expect(int8.report.holdout!.layers.map((l) => l.tensor)).toEqual(['pixels', 'relu1.out', 'relu2.out', 'logits']);
  });

  it('the QDQ file has per-channel int8 weights, int32 biases at in_scale x w_scale, and keeps the output name', () => {
    const m = int8.result.module;
    const dq = m.graph.nodes.filter((n) => n.opType === 'DequantizeLinear');
    const w = dq.find((n) => n.inputs[0]!.name === 'fc1.weight_quantized')!;
    expect(w.inputs[0]!.init!.dtype).toBe('i8');
    expect(w.inputs[1]!.init!.shape).toEqual([64]);
    expect(w.attrs.get('axis')?.value).toBe(0);
    const b = dq.find((n) => n.inputs[0]!.name === 'fc1.bias_quantized')!;
    expect(b.inputs[0]!.init!.dtype).toBe('i32');
    const inScale = int8.result.params.get('pixels')!.scale;
    expect(b.inputs[1]!.init!.num(5)).toBe(Math.fround(inScale * w.inputs[1]!.init!.num(5)));
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['logits']);
    expect(m.graph.nodes.some((n) => n.opType === 'Gemm' && n.inputs[1]!.init)).toBe(false);
  });

  it.runIf(ort !== null)('onnxruntime-node runs the int8 file and agrees with Kiln within 1 LSB', async () => {
    const lsb = await ortLsb(path.join(dir, 'int8.onnx'), testSets());
    expect(lsb).toBeLessThanOrEqual(1 + 1e-3);
  });

  it.runIf(haveCc)('the int8 file compiles and runs with --target c, matching the interpreter within 1 LSB', async () => {
    const m = loadModel(path.join(dir, 'int8.onnx'));
    const inputs = testSets()[0]!;
    const c = await runOnTarget(resolveTarget('c'), m, inputs);
    const k = interpret(m, inputs)[0] as Tensor;
    expect(maxDiff((c.outputs[0] as Tensor).data as Float32Array, k.data as Float32Array)).toBeLessThanOrEqual(outputScale(m) * (1 + 1e-3));
  });

  it('mixed precision under a top-1 budget stores int4 layers packed and needs fewer weight bytes', async () => {
    const mixed = quantize(path.join(dir, 'mixed.onnx'), { scheme: 'mixed', budget: { kind: 'top1-drop', percent: 1 } });
    const r = mixed.report;
    const quantAcc = accuracy(mixed.holdoutOutputs!.map((o) => o[0]!));
    console.log(`digits mixed: layers ${r.layers.map((l) => `${l.name}:int${l.weightBits}`).join(' ')}, weights ${r.weightBytes} B (int8 ${int8.report.weightBytes} B), test top-1 ${(100 * quantAcc).toFixed(2)}%, agreement ${(100 * r.holdout!.outputs[0]!.top1Agreement!).toFixed(2)}%, SQNR ${r.holdout!.outputs[0]!.sqnrDb!.toFixed(1)} dB; ${r.mixed!.solver}`);
    expect(r.layers.some((l) => l.weightBits === 4)).toBe(true);
    expect(r.weightBytes).toBeLessThan(int8.report.weightBytes);
    expect(1 - r.calibration.outputs[0]!.top1Agreement!).toBeLessThanOrEqual(0.01);
    // the file stores INT4 (ONNX type 22), two values per byte, and opset 21
    const proto = decodeModelProto(fs.readFileSync(path.join(dir, 'mixed.onnx')));
    const four = proto.graph!.initializer.filter((t) => t.dataType === 22);
    expect(four.length).toBe(r.layers.filter((l) => l.weightBits === 4).length);
    for (const t of four) expect(t.rawData.length).toBe(Math.ceil(t.dims.reduce((a: number, d) => a * Number(d), 1) / 2));
    expect(Number(proto.opsetImport.find((o) => o.domain === '')!.version)).toBe(21);
    // compiled, the int4 layers stay packed (src/passes/pack-subbyte.ts): fewer constant bytes than
    // the int8 model by half of each int4 weight
    const constBytes = (file: string): number => lowerForTarget(resolveTarget('c'), loadModel(file), testSets()[0]!).program.buffers
      .filter((b) => b.role === 'const').reduce((a, b) => a + b.shape.reduce((x, d) => x * d, 1) * byteWidth(b.dtype as DType), 0);
    const int4Values = four.reduce((a, t) => a + t.dims.reduce((x: number, d) => x * Number(d), 1), 0);
    expect(constBytes(path.join(dir, 'int8.onnx')) - constBytes(path.join(dir, 'mixed.onnx'))).toBe(int4Values - Math.ceil(int4Values / 2));
    if (ort) expect(await ortLsb(path.join(dir, 'mixed.onnx'), testSets())).toBeLessThanOrEqual(1 + 1e-3);
    if (haveCc) {
      const m = loadModel(path.join(dir, 'mixed.onnx'));
      const c = await runOnTarget(resolveTarget('c'), m, testSets()[1]!);
      expect(maxDiff((c.outputs[0] as Tensor).data as Float32Array, (interpret(m, testSets()[1]!)[0] as Tensor).data as Float32Array)).toBeLessThanOrEqual(outputScale(m) * (1 + 1e-3));
    }
  });

  it('int16x8 with entropy calibration writes .kir that loads, and int16 QDQ runs in onnxruntime within 1 LSB', async () => {
    const q = quantize(path.join(dir, 'w8a16.onnx'), { scheme: 'int16x8', method: 'entropy' });
    expect(q.report.holdout!.outputs[0]!.sqnrDb!).toBeGreaterThan(int8.report.holdout!.outputs[0]!.sqnrDb! - 1);
    expect([...q.result.params.values()].every((p) => p.dtype === 'i16' && p.zeroPoint === 0)).toBe(true);
    if (ort) expect(await ortLsb(path.join(dir, 'w8a16.onnx'), testSets().slice(0, 1))).toBeLessThanOrEqual(1 + 1e-3);
    const k = quantize(path.join(dir, 'int8.kir'), { method: 'percentile', percentile: 99.9 });
    const back = loadModel(path.join(dir, 'int8.kir'));
    const inputs = testSets()[2]!;
    expect(maxDiff((interpret(back, inputs)[0] as Tensor).data as Float32Array, (interpret(k.result.module, inputs)[0] as Tensor).data as Float32Array)).toBe(0);
  });
});

describe('calibration ranges and quantization parameters', () => {
  it('percentile and entropy clip outliers that min/max keeps; zero stays in range', () => {
    const s = new TensorStats();
    const data = Array.from({ length: 20000 }, (_, i) => ((i * 7919) % 1000) / 1000); // uniform on [0, 1)
    data.push(50); // one outlier
    s.observe(data);
    s.histogram(data, false);
    const p = percentileRange(s, 't', 99.9);
    expect(p.lo).toBe(0);
    expect(p.hi).toBeGreaterThan(0.9);
    expect(p.hi).toBeLessThan(1.1);
    // entropy: a long exponential tail is clipped (KL prefers resolution over the last few values)
    const tail = Array.from({ length: 20000 }, (_, i) => -Math.log(1 - (i + 0.5) / 20000));
    const e = new TensorStats();
    e.observe(tail);
    e.histogram(tail, true);
    const r = entropyRange(e, 't', { unsigned: 256, signed: 128 });
    expect(r.lo).toBe(0);
    expect(r.hi).toBeLessThan(0.95 * e.max);
    expect(r.hi).toBeGreaterThan(0.5 * e.max);
    // a signed tensor gets a symmetric threshold, cut to the side's own extreme
    const signed = tail.map((v, i) => (i % 2 ? v : -v / 2));
    const es = new TensorStats();
    es.observe(signed);
    es.histogram(signed, true);
    const rs = entropyRange(es, 't', { unsigned: 256, signed: 128 });
    expect(rs.lo).toBe(es.min);
    expect(rs.hi).toBeLessThan(es.max);
  });

  it('activation, weight and bias parameters', () => {
    expect(activationParams({ lo: 0, hi: 2.55 }, 'i8')).toEqual({ dtype: 'i8', scale: Math.fround(0.01), zeroPoint: -128 });
    // 1 / fround(2/255) is just under 127.5
    expect(activationParams({ lo: -1, hi: 1 }, 'u8').zeroPoint).toBe(127);
    expect(activationParams({ lo: -2, hi: 1 }, 'i16')).toEqual({ dtype: 'i16', scale: Math.fround(2 / 32767), zeroPoint: 0 });
    const w = Tensor.from('f32', [2, 3], [0.5, -1, 0.25, 0, 0, 0]);
    const q = quantizeWeight(w, 0, 8);
    expect([...q.scales]).toEqual([Math.fround(1 / 127), 1]);
    expect(q.q.toNumbers()).toEqual([64, -127, 32, 0, 0, 0]);
    const q4 = quantizeWeight(Tensor.from('f32', [1, 4], [0.7, -0.7, 0.1, 0.35]), 0, 4);
    expect(q4.q.dtype).toBe('i4');
    expect(Math.max(...q4.q.toNumbers().map(Math.abs))).toBeLessThanOrEqual(7);
    const b = quantizeBias(Tensor.from('f32', [2], [0.3, -1e12]), 0.01, q.scales);
    expect(b.q.num(0)).toBe(Math.round(0.3 / Math.fround(0.01 * Math.fround(1 / 127))));
    expect(b.clamped).toBe(1);
  });
});

/** Conv(3x3) → Relu → MaxPool → Flatten → Gemm with deterministic weights: per-channel conv weights on axis 0. */
function convNet(): Module {
  let s = 12345;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
  const f32 = (name: string, shape: number[], scale: number): Value => {
    const v = new Value(name, tensorType('f32', shape));
    v.init = Tensor.from('f32', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd() * scale));
    return v;
  };
  const x = new Value('image', tensorType('f32', [1, 2, 6, 6]));
  const w = f32('conv.weight', [4, 2, 3, 3], 0.5);
  const b = f32('conv.bias', [4], 0.1);
  const fw = f32('fc.weight', [4 * 3 * 3, 5], 0.3);
  const fb = f32('fc.bias', [5], 0.1);
  const nodes: Node[] = [];
  const op = (type: string, ins: Value[], outName: string, attrs: [string, Node['attrs'] extends Map<string, infer A> ? A : never][] = []): Value => {
    const out = new Value(outName, null);
    const n = new Node(type, '', type.toLowerCase(), ins, [out], new Map(attrs));
    out.producer = n;
    nodes.push(n);
    return out;
  };
  const c = op('Conv', [x, w, b], 'conv.out', [['pads', { kind: 'ints', value: [1, 1, 1, 1] }]]);
  const r = op('Relu', [c], 'relu.out');
  const p = op('MaxPool', [r], 'pool.out', [['kernel_shape', { kind: 'ints', value: [2, 2] }], ['strides', { kind: 'ints', value: [2, 2] }]]);
  const fl = op('Flatten', [p], 'flat.out');
  const mm = op('MatMul', [fl, fw], 'fc.mm');
  const y = op('Add', [mm, fb], 'scores');
  y.type = tensorType('f32', [1, 5]);
  return new Module(new Graph('convnet', [x], [y], nodes, [w, b, fw, fb]), new Map([['', 13]]), 8);
}

describe('a conv net through the QDQ rewrite', () => {
  it('Conv weights per output channel, MatMul + Add as one layer; onnxruntime agrees within 1 LSB; calibration reads .npy files', async () => {
    const dir = tempDir('kiln-quant-conv-');
    const model = path.join(dir, 'convnet.onnx');
    fs.writeFileSync(model, exportOnnx(convNet()));
    const calib = path.join(dir, 'calib');
    fs.mkdirSync(calib);
    let s = 99;
    for (let k = 0; k < 6; k++) {
      const t = Tensor.from('f32', [1, 2, 6, 6], Array.from({ length: 72 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s / 2 ** 31 - 1)));
      fs.writeFileSync(path.join(calib, `sample${k}.npy`), encodeNpy(t, 'x.npy'));
    }
    const out = path.join(dir, 'convnet-int8.onnx');
    const q = quantizeModel(model, { out, calibration: calib, method: 'minmax', scheme: 'int8' });
    expect(q.report.holdoutSource).toMatch(/every fifth/);
    expect(q.report.layers.map((l) => l.name)).toEqual(['conv', 'matmul']);
    const m = q.result.module;
    const wdq = m.graph.nodes.find((n) => n.opType === 'DequantizeLinear' && n.inputs[0]!.name === 'conv.weight_quantized')!;
    expect(wdq.attrs.get('axis')?.value).toBe(0);
    expect(wdq.inputs[1]!.init!.shape).toEqual([4]);
    // no Q/DQ between the conv and its relu, nor between the matmul and its bias add
    const quantized = new Set(q.result.dequantized.keys());
    expect(quantized.has('conv.out')).toBe(false);
    expect(quantized.has('fc.mm')).toBe(false);
    expect([...quantized]).toEqual(['image', 'relu.out', 'pool.out', 'flat.out', 'scores']);
    expect(m.graph.nodes.find((n) => n.opType === 'Add')!.inputs.some((v) => v?.producer?.inputs[0]?.init?.dtype === 'i32')).toBe(true);
    expect(q.report.calibration.outputs[0]!.sqnrDb!).toBeGreaterThan(25);
    if (ort) {
      const sets = readDataSets(loadModel(model), calib) as Tensor[][];
      expect(await ortLsb(out, sets)).toBeLessThanOrEqual(1 + 1e-3);
    }
  });
});

describe('kiln quantize CLI', () => {
  it('writes the model and a JSON report, refuses to replace a file without --force, and reports bad use in one line', () => {
    const dir = tempDir('kiln-quant-cli-');
    const out = path.join(dir, 'q.onnx');
    const r = kiln(['quantize', MODEL, '-o', out, '--calibration', path.join(DIGITS, 'calibration'), '--json', path.join(dir, 'r.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/output 'logits': SQNR [\d.]+ dB calib, [\d.]+ dB held-back; top-1 agreement/);
    const j = JSON.parse(fs.readFileSync(path.join(dir, 'r.json'), 'utf8')) as { weightBytes: number; holdoutSource: string };
    expect(j.weightBytes).toBeGreaterThan(0);
    expect(j.holdoutSource).toMatch(/calibration data sets/); // 3 calibration sets: the last is held back
    const again = kiln(['quantize', MODEL, '-o', out, '--calibration', path.join(DIGITS, 'calibration'), '--method', 'kl']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/^kiln: error: --method 'kl': use minmax, percentile, entropy\n$/);
    const exists = kiln(['quantize', MODEL, '-o', out, '--calibration', path.join(DIGITS, 'calibration')]);
    expect(exists.stderr).toMatch(/^kiln: error: [^\n]*q\.onnx exists; pass --force to replace it\n$/);
    const self = kiln(['quantize', MODEL, '-o', MODEL, '--calibration', path.join(DIGITS, 'calibration'), '--force']);
    expect(self.stderr).toMatch(/^kiln: error: output file [^\n]* would overwrite the input/);
  });
});
