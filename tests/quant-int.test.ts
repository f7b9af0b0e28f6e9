/**
 * Integer-only int8 code: the generated C of every int8 sample has no float or double in its
 * integer kernels, the Cortex-M4 build calls no double-precision routine (`__aeabi_d*`), the QDQ
 * twins of the samples compile to the QOperator samples' kernels, arena and outputs, and the
 * fixed-point requantization matches the ONNX test data when the scales are constants.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { loadModel } from '../src/driver/load.js';
import { compileModule } from '../src/driver/compile.js';
import { runCommand } from '../src/driver/run.js';
import { lowerForTarget, resolveTarget } from '../src/driver/targets.js';
import { numbered, readInputs } from '../src/driver/testcase.js';
import { exportOnnx } from '../src/frontend/onnx/export.js';
import { readValueFile } from '../src/frontend/onnx/values.js';
import { isTensor } from '../src/ir/tensor.js';
import { hasTool, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';
import { loadOrt } from './helpers/ort.js';
import { Graph, Module, Node, Value, type AttrValue } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { tensorType } from '../src/ir/types.js';
import { encodeTensor } from '../src/frontend/onnx/tensorproto.js';

const samplesDir = path.resolve('samples');
const int8Samples = fs.readdirSync(samplesDir).filter((d) => d.endsWith('-int8')).sort();
const haveCc = hasTool('cc');
const haveArm = hasTool('arm-none-eabi-gcc') && hasTool('arm-none-eabi-nm') && hasTool('make');
if (!haveCc) console.log('skipped: cc not installed');
if (!haveArm) console.log('skipped: arm-none-eabi-gcc not installed');

const INT_OPS = new Set(['QLinearConv', 'QLinearMatMul', 'QLinearAdd', 'QLinearGlobalAveragePool']);

/** The bodies of the generated C functions `k_<name>`, keyed by name. */
function kernelBodies(c: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /^static void (k_\w+)\(([^)]*)\) \{$/gm;
  for (let m = re.exec(c); m; m = re.exec(c)) {
    const end = c.indexOf('\n}\n', m.index);
    out.set(m[1]!, c.slice(m.index, end));
  }
  return out;
}

function compile(file: string, target: string, fuse = true): ReturnType<typeof compileModule> {
  return compileModule(loadModel(file), file, { target, board: target === 'mcu' ? 'stm32f446' : undefined, memory: 'greedy-size', name: 'm', fuse });
}

describe('int8 samples: integer-only kernels', () => {
  it('has the int8 samples', () => expect(int8Samples).toEqual(['ad-autoencoder-int8', 'kws-dscnn-int8', 'resnet8-int8', 'vww-mobilenet-int8']));

  it.each(int8Samples)('%s: no float or double in the integer kernels (generated C)', (name) => {
    const r = compile(path.join(samplesDir, name, 'model.onnx'), 'c');
    const c = String(r.fileData.get('model.c'));
    const bodies = kernelBodies(c);
    const intKernels = r.program.kernels.filter((k) => INT_OPS.has(k.origin?.op ?? ''));
    expect(intKernels.length).toBeGreaterThan(2);
    for (const k of intKernels) {
      const body = [...bodies].find(([fn]) => fn === `k_${k.name.replace(/[^A-Za-z0-9_]/g, '_')}`)?.[1];
      expect(body, `kernel ${k.name} not found in model.c`).toBeDefined();
      expect(body!, `${name}: kernel ${k.name} (${k.origin?.op}) uses floating point`).not.toMatch(/\b(float|double)\b|\brint|\d\.\d*f?\b/);
    }
    // and nothing in the program needs double precision (the output DequantizeLinear is f32)
    expect(c).not.toMatch(/\bdouble\b/);
  });

  // one ELF (the kws-dscnn-int8 made 242 calls to double routines): the build takes seconds
  it.runIf(haveArm)('kws-dscnn-int8: the Cortex-M4F (stm32f446) ELF has no __aeabi_d* symbol', () => {
    const r = compile(path.join(samplesDir, 'kws-dscnn-int8', 'model.onnx'), 'mcu');
    const dir = tempDir('kiln-qint-');
    for (const [f, data] of r.fileData) fs.writeFileSync(path.join(dir, f), data);
    execFileSync('make', ['-s', 'model.elf'], { cwd: dir, stdio: 'pipe', timeout: 120_000 });
    const syms = execFileSync('arm-none-eabi-nm', ['model.elf'], { cwd: dir, encoding: 'utf8' });
    expect(syms).toMatch(/\bkiln_m_run\b/);
    expect(syms.split('\n').filter((l) => /__aeabi_d/.test(l))).toEqual([]);
  });

  it('requant{mode=float} keeps the f64 requantization', () => {
    const file = path.join(samplesDir, 'ad-autoencoder-int8', 'model.onnx');
    const r = compileModule(loadModel(file), file, { target: 'c', memory: 'greedy-size', name: 'm', passes: 'requant{mode=float}' });
    expect(String(r.fileData.get('model.c'))).toMatch(/\bdouble\b/);
  });
});

describe('QDQ twins of the int8 samples', () => {
  it.each(int8Samples)('%s: the QDQ form compiles to the same kernels, arena and code', (name) => {
    const qop = compile(path.join(samplesDir, name, 'model.onnx'), 'c');
    const qdq = compile(path.join(samplesDir, name.replace(/-int8$/, '-qdq'), 'model.onnx'), 'c');
    const kernels = (r: typeof qop): string[] => r.program.kernels.map((k) => `${k.name}:${k.origin?.op}`);
    expect(kernels(qdq)).toEqual(kernels(qop));
    expect(qdq.report.arenaBytes).toBe(qop.report.arenaBytes);
    expect(qdq.report.weightBytes).toBe(qop.report.weightBytes);
    expect(String(qdq.fileData.get('model.c'))).toBe(String(qop.fileData.get('model.c')));
  });

  it('kiln run and conformance lower a QDQ model as kiln compile does (the target prelude folds it)', () => {
    const file = path.join(samplesDir, 'kws-dscnn-qdq', 'model.onnx');
    const compiled = compile(file, 'c');
    const module = loadModel(file);
    const inputs = readInputs(module, numbered(path.join(samplesDir, 'kws-dscnn-qdq', 'test_data_set_0'), 'input_'));
    const ran = lowerForTarget(resolveTarget('c'), module, inputs);
    const ops = (kernels: readonly { origin?: { op: string } }[]): string[] => kernels.map((k) => k.origin?.op ?? '');
    expect(ops(ran.program.kernels)).toEqual(ops(compiled.program.kernels));
    expect(ops(ran.program.kernels)).toContain('QLinearConv');
  });

  it.runIf(haveCc)('kws-dscnn-qdq and ad-autoencoder-qdq: generated C matches the expected outputs', async () => {
    for (const name of ['kws-dscnn-qdq', 'ad-autoencoder-qdq']) {
      const dir = path.join(samplesDir, name);
      const r = await runCommand(path.join(dir, 'model.onnx'), { target: 'c', inputs: [path.join(dir, 'test_data_set_0')] });
      expect(r.ok, r.text).toBe(true);
      expect(r.text).toMatch(/compare output 0 '\w+': ok/);
    }
  });
});

// The ONNX node tests feed scales as inputs; with them made constants the lowerings take the
// fixed-point path, which must still give the reference outputs exactly.
describe.runIf(haveCc && fs.existsSync(path.join(ONNX_TESTS, 'node', 'test_qlinearconv')))('fixed-point requantization on the ONNX test data', () => {
  const cases = ['test_qlinearconv', 'test_qlinearmatmul_2D_uint8_float32', 'test_qlinearmatmul_3D_int8_float32'];
  it.each(cases)('%s with constant scales and zero points: kernel and c equal the expected outputs', async (name) => {
    const src = path.join(ONNX_TESTS, 'node', name);
    const module = loadModel(path.join(src, 'model.onnx'));
    const data = path.join(src, 'test_data_set_0');
    const g = module.graph;
    const dir = tempDir('kiln-qint-case-');
    const sets = path.join(dir, 'test_data_set_0');
    fs.mkdirSync(sets);
    const keep = [0];
    g.inputs.forEach((v, i) => {
      if (keep.includes(i)) return;
      const t = readValueFile(path.join(data, `input_${i}.pb`), v.type);
      if (!isTensor(t)) throw new Error('not a tensor');
      v.init = t;
      g.initializers.push(v);
    });
    g.inputs = keep.map((i) => g.inputs[i]!);
    fs.copyFileSync(path.join(data, 'input_0.pb'), path.join(sets, 'input_0.pb'));
    fs.copyFileSync(path.join(data, 'output_0.pb'), path.join(sets, 'output_0.pb'));
    fs.writeFileSync(path.join(dir, 'model.onnx'), exportOnnx(module));
    for (const target of ['kernel', 'c']) {
      const r = await runCommand(path.join(dir, 'model.onnx'), { target, inputs: [sets] });
      expect(r.ok, `${target}: ${r.text}`).toBe(true);
      expect(r.text).toMatch(/compare output 0 '\w+': ok \(max abs error 0,/);
    }
  });
});

// QDQ groups beyond the samples' ops, built here: each from the graph input to its own output, so a
// 1-LSB difference of one group does not feed another.
const ort = await loadOrt();
describe.skipIf(ort === null)('QDQ Mul, Concat, AveragePool, Sigmoid and int16x8 groups fold to integer kernels', () => {
  const f32 = (v: number): Tensor => Tensor.from('f32', [], [v]);
  const u8 = (v: number): Tensor => Tensor.from('u8', [], [v]);
  function qdqModel(): { module: Module; x: Tensor } {
    const inits: Value[] = [];
    const nodes: Node[] = [];
    const c = (name: string, t: Tensor): Value => {
      const v = new Value(name, tensorType(t.dtype, [...t.shape]));
      v.init = t;
      inits.push(v);
      return v;
    };
    const op = (type: string, name: string, ins: Value[], attrs: Record<string, AttrValue> = {}): Value => {
      const out = new Value(name, null);
      const n = new Node(type, '', `${type}_${name}`, ins, [out], new Map(Object.entries(attrs)));
      out.producer = n;
      nodes.push(n);
      return out;
    };
    const x = new Value('x', tensorType('u8', [1, 2, 6, 6]));
    const [s0, z0] = [c('s0', f32(0.021)), c('z0', u8(131))];
    const xf = op('DequantizeLinear', 'xf', [x, s0, z0]);
    const pool = op('AveragePool', 'pool', [xf], { kernel_shape: { kind: 'ints', value: [3, 3] }, pads: { kind: 'ints', value: [1, 1, 1, 1] } });
    const y1 = op('QuantizeLinear', 'y1', [pool, c('s1', f32(0.013)), c('z1', u8(125))]);
    const mul = op('Mul', 'mul', [xf, xf]);
    const y2 = op('QuantizeLinear', 'y2', [mul, c('s2', f32(0.017)), c('z2', u8(7))]);
    const xf2 = op('DequantizeLinear', 'xf2', [x, c('s3', f32(0.04)), c('z3', u8(110))]);
    const cat = op('Concat', 'cat', [xf, xf2], { axis: { kind: 'int', value: 1 } });
    const y3 = op('QuantizeLinear', 'y3', [cat, c('s4', f32(0.03)), c('z4', u8(120))]);
    const sig = op('Sigmoid', 'sig', [xf]);
    const y4 = op('QuantizeLinear', 'y4', [sig, c('s5', f32(1 / 256)), c('z5', u8(0))]);
    const data = Array.from({ length: 72 }, (_, i) => (i * 97 + 13) % 256);
    return { module: new Module(new Graph('g', [x], [y1, y2, y3, y4], nodes, inits), new Map([['', 13]]), 8, 'kiln-tests'), x: Tensor.from('u8', [1, 2, 6, 6], data) };
  }

  /** Kernel ops of the C build, and the kernel target's largest difference from onnxruntime per output. */
  async function foldVsOrt(module: Module, x: Tensor): Promise<{ ops: (string | undefined)[]; errs: (number | null)[]; text: string }> {
    const dir = tempDir('kiln-qdq-fold-');
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, exportOnnx(module));
    // unfused, so each folded op is its own kernel (fusion would put the integer Clip in the conv's tile)
    const built = compile(file, 'c', false);
    const ops = built.program.kernels.map((k) => k.origin?.op);
    // the integer kernels have no float or double (as the samples' int8 kernels)
    const bodies = kernelBodies(String(built.fileData.get('model.c')));
    for (const k of built.program.kernels.filter((k) => /^QLinear|^Clip$/.test(k.origin?.op ?? ''))) {
      const body = bodies.get(`k_${k.name.replace(/[^A-Za-z0-9_]/g, '_')}`);
      expect(body, `kernel ${k.name} not found in model.c`).toBeDefined();
      expect(body!, `kernel ${k.name} (${k.origin?.op}) uses floating point`).not.toMatch(/\b(float|double)\b|\brint|\d\.\d*f?\b/);
    }
    const ortType = x.dtype === 'i16' ? 'int16' : 'uint8';
    const session = await ort!.InferenceSession.create(exportOnnx(module), { intraOpNumThreads: 1 });
    const r = await session.run({ x: new ort!.Tensor(ortType, x.data as Uint8Array, [...x.shape]) });
    const sets = path.join(dir, 'test_data_set_0');
    fs.mkdirSync(sets);
    fs.writeFileSync(path.join(sets, 'input_0.pb'), encodeTensor(x, 'x'));
    module.graph.outputs.forEach((v, i) => {
      const t = r[v.name]!;
      expect(new Set(t.data as Uint8Array).size, v.name).toBeGreaterThan(5);
      fs.writeFileSync(path.join(sets, `output_${i}.pb`), encodeTensor(Tensor.from(t.type === 'int16' ? 'i16' : 'u8', [...t.dims], Array.from(t.data as Uint8Array)), v.name));
    });
    // integer outputs compare exactly: the rounding differences are bounded by maxAbsError
    const res = await runCommand(file, { target: 'kernel', passes: 'fold-qdq', inputs: [sets] });
    return { ops, errs: res.outputs.map((o) => o.maxAbsError), text: res.text };
  }

  it('int16 activations with int8 weights (int16x8): QLinearConv and an integer Clip for the Relu, within 1 LSB of onnxruntime', async () => {
    const w = Tensor.from('i8', [3, 2, 3, 3], Array.from({ length: 54 }, (_, i) => ((i * 37) % 255) - 127));
    const x = new Value('x', tensorType('i16', [1, 2, 5, 5]));
    const ci = (name: string, t: Tensor): Value => Object.assign(new Value(name, tensorType(t.dtype, [...t.shape])), { init: t });
    const inits = [ci('xs', f32(0.002)), ci('xz', Tensor.from('i16', [], [0])), ci('w', w), ci('ws', Tensor.from('f32', [3], [0.01, 0.02, 0.015])), ci('wz', Tensor.from('i8', [3], [0, 0, 0])), ci('ys', f32(0.003)), ci('b', Tensor.from('i32', [3], [500, -9000, 20])), ci('bs', Tensor.from('f32', [3], [0.01, 0.02, 0.015].map((ws) => Math.fround(Math.fround(0.002) * Math.fround(ws)))))];
    const v = (name: string): Value => new Value(name, null);
    const [xf, wf, bf, cv, rl, y] = ['xf', 'wf', 'bf', 'cv', 'rl', 'y'].map(v) as [Value, Value, Value, Value, Value, Value];
    const [I] = [(n: string): Value => inits.find((c) => c.name === n)!];
    const nodes = [
      new Node('DequantizeLinear', '', 'dqx', [x, I('xs'), I('xz')], [xf]),
      new Node('DequantizeLinear', '', 'dqw', [I('w'), I('ws'), I('wz')], [wf], new Map([['axis', { kind: 'int', value: 0 } as AttrValue]])),
      new Node('DequantizeLinear', '', 'dqb', [I('b'), I('bs')], [bf], new Map([['axis', { kind: 'int', value: 0 } as AttrValue]])),
      new Node('Conv', '', 'conv', [xf, wf, bf], [cv], new Map([['pads', { kind: 'ints', value: [1, 1, 1, 1] } as AttrValue]])),
      new Node('Relu', '', 'relu', [cv], [rl]),
      new Node('QuantizeLinear', '', 'q', [rl, I('ys'), I('xz')], [y]),
    ];
    for (const n of nodes) n.outputs[0]!.producer = n;
    const module = new Module(new Graph('g', [x], [y], nodes, inits), new Map([['', 21]]), 10, 'kiln-tests');
    const data = Tensor.from('i16', [1, 2, 5, 5], Array.from({ length: 50 }, (_, i) => ((i * 7919) % 40000) - 20000));
    const { ops, errs, text } = await foldVsOrt(module, data);
    expect(ops).toEqual(expect.arrayContaining(['QLinearConv', 'Clip']));
    expect(ops.filter((o) => ['DequantizeLinear', 'QuantizeLinear', 'Conv', 'Relu'].includes(o ?? ''))).toEqual([]);
    expect(errs[0]!, text).toBeLessThanOrEqual(1);
  });

  it('compiles to QLinearAveragePool, QLinearMul, QLinearConcat and QLinearSigmoid kernels, within 1 LSB of onnxruntime (Concat exact)', async () => {
    const { module, x } = qdqModel();
    const { ops, errs, text } = await foldVsOrt(module, x);
    expect(ops).toEqual(expect.arrayContaining(['QLinearAveragePool', 'QLinearMul', 'QLinearConcat', 'QLinearSigmoid']));
    expect(ops.filter((o) => ['DequantizeLinear', 'QuantizeLinear', 'Mul', 'Concat', 'AveragePool', 'Sigmoid'].includes(o ?? ''))).toEqual([]);
    expect(errs, text).toEqual([expect.any(Number), expect.any(Number), 0, expect.any(Number)]);
    for (const e of errs) expect(e!, text).toBeLessThanOrEqual(1);
  });
});
