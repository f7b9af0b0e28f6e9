/**
 * Packed 4-bit constants (src/passes/pack-subbyte.ts): an int4/uint4 weight is stored two values per
 * byte in the compiled program and unpacked where a kernel loads it. A QDQ Conv and Gemm with int4
 * weights must give exactly the outputs of the same model with the weights as int8 (the values
 * widened), on the kernel interpreter and in generated C, while the weight constants take
 * ceil(n/2) bytes; DequantizeLinear of odd-length int4/uint4 constants matches the graph
 * interpreter (which reads the unpacked tensor) value for value.
 */
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { lowerForTarget, resolveTarget, runOnTarget } from '../src/driver/targets.js';
import { Graph, Module, Node, Value, type AttrValue } from '../src/ir/graph.js';
import { Tensor, isTensor } from '../src/ir/tensor.js';
import { tensorType } from '../src/ir/types.js';
import type { DType } from '../src/ir/dtype.js';
import { hasTool } from './helpers/onnx-builder.js';

const haveCc = hasTool('cc');
const targets = haveCc ? ['kernel', 'c'] : ['kernel'];

/** Deterministic pseudo-random integers in [lo, hi]. */
function ints(n: number, lo: number, hi: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return lo + (s % (hi - lo + 1));
  });
}

const axis0: AttrValue = { kind: 'int', value: 0 };
const ci = (name: string, t: Tensor): Value => Object.assign(new Value(name, tensorType(t.dtype, [...t.shape])), { init: t });

/**
 * x (int8 [1, 3, 5, 5]) → DQ → Conv 3×3 (4 channels, per-channel int4 or int8 weights, pad 1) → Q
 * → Reshape [1, 100] → DQ → Gemm (transB, 7 outputs) → Q, and the same → MatMul by a uint4 (uint8) [100, 6] weight → Q;
 * plus DQ of an odd-length int4 and uint4 constant.
 */
function model(wType: DType): Module {
  const x = new Value('x', tensorType('i8', [1, 3, 5, 5]));
  const w = Tensor.from(wType, [4, 3, 3, 3], ints(108, -7, 7, 11));
  const g = Tensor.from(wType, [7, 100], ints(700, -8, 7, 5));
  const inits = [
    ci('xs', Tensor.from('f32', [], [0.05])), ci('z', Tensor.from('i8', [], [0])),
    ci('w', w), ci('ws', Tensor.from('f32', [4], [0.02, 0.03, 0.01, 0.04])),
    ci('ys', Tensor.from('f32', [], [0.1])), ci('shape', Tensor.from('i64', [2], [1n, 100n])),
    ci('g', g), ci('gs', Tensor.from('f32', [7], [0.01, 0.02, 0.03, 0.015, 0.025, 0.035, 0.05])),
    ci('os', Tensor.from('f32', [], [0.2])),
    ci('k', Tensor.from('i4', [9], ints(9, -8, 7, 3))), ci('ks', Tensor.from('f32', [], [0.5])),
    ci('u', Tensor.from('u4', [7], ints(7, 0, 15, 9))), ci('uz', Tensor.from('u4', [], [8])),
    ci('m', Tensor.from(wType === 'i4' ? 'u4' : 'u8', [100, 6], ints(600, 0, 15, 13))), ci('mz', Tensor.from(wType === 'i4' ? 'u4' : 'u8', [], [8])),
  ];
  const I = (n: string): Value => inits.find((c) => c.name === n)!;
  const v = (name: string): Value => new Value(name, null);
  const [xf, wf, cv, q1, d1, d2, fl, gf, gm, y, yk, yu, mf, mm, ym] = ['xf', 'wf', 'cv', 'q1', 'd1', 'd2', 'fl', 'gf', 'gm', 'y', 'yk', 'yu', 'mf', 'mm', 'ym'].map(v) as Value[];
  const nodes = [
    new Node('DequantizeLinear', '', 'dqx', [x, I('xs'), I('z')], [xf!]),
    new Node('DequantizeLinear', '', 'dqw', [I('w'), I('ws')], [wf!], new Map([['axis', axis0]])),
    new Node('Conv', '', 'conv', [xf!, wf!], [cv!], new Map([['pads', { kind: 'ints', value: [1, 1, 1, 1] } as AttrValue]])),
    new Node('QuantizeLinear', '', 'q1', [cv!, I('ys'), I('z')], [q1!]),
    new Node('Reshape', '', 'flat', [q1!, I('shape')], [fl!]),
    new Node('DequantizeLinear', '', 'dq1', [fl!, I('ys'), I('z')], [d1!]),
    new Node('DequantizeLinear', '', 'dq2', [fl!, I('ys'), I('z')], [d2!]),
    new Node('DequantizeLinear', '', 'dqg', [I('g'), I('gs')], [gf!], new Map([['axis', axis0]])),
    new Node('Gemm', '', 'gemm', [d1!, gf!], [gm!], new Map([['transB', { kind: 'int', value: 1 } as AttrValue]])),
    new Node('QuantizeLinear', '', 'q2', [gm!, I('os'), I('z')], [y!]),
    new Node('DequantizeLinear', '', 'dqk', [I('k'), I('ks')], [yk!]),
    new Node('DequantizeLinear', '', 'dqu', [I('u'), I('ks'), I('uz')], [yu!]),
    new Node('DequantizeLinear', '', 'dqm', [I('m'), I('ks'), I('mz')], [mf!]),
    new Node('MatMul', '', 'matmul', [d2!, mf!], [mm!]),
    new Node('QuantizeLinear', '', 'q3', [mm!, I('os'), I('z')], [ym!]),
  ];
  for (const n of nodes) n.outputs[0]!.producer = n;
  return new Module(new Graph('g', [x], [y!, yk!, yu!, ym!], nodes, inits), new Map([['', 21]]), 10, 'kiln-tests');
}

const input = Tensor.from('i8', [1, 3, 5, 5], ints(75, -128, 127, 7));
const numbers = (o: unknown): number[] => {
  if (!isTensor(o)) throw new Error('not a tensor');
  return o.toNumbers();
};

describe('packed int4 constants', () => {
  it('store 4-bit weights in ceil(n/2) bytes, read through nibble extraction', () => {
    const { program } = lowerForTarget(resolveTarget('c'), model('i4'), [input]);
    // the Conv, Gemm and MatMul fold to integer kernels
    expect(program.kernels.map((k) => k.origin.op)).toEqual(expect.arrayContaining(['QLinearConv', 'QLinearMatMul']));
    expect(program.kernels.map((k) => k.origin.op).filter((o) => ['Conv', 'Gemm', 'MatMul'].includes(o))).toEqual([]);
    // the QLinearConv fast path and QLinearMatMul unpack their 4-bit weights into byte scratch
    expect(program.buffers.filter((b) => /wrow|bpanel/.test(b.name)).map((b) => b.dtype).sort()).toEqual(['i8', 'i8', 'u8']);
    const consts = program.buffers.filter((b) => b.role === 'const');
    expect(consts.filter((b) => b.dtype === 'i4' || b.dtype === 'u4')).toEqual([]);
    const bytesOf = (name: string): number | undefined => consts.find((b) => b.name === name && b.dtype === 'u8')?.shape[0];
    expect(bytesOf('w')).toBe(Math.ceil(108 / 2));
    expect(bytesOf('k')).toBe(Math.ceil(9 / 2));
    expect(bytesOf('u')).toBe(Math.ceil(7 / 2));
    expect(bytesOf('m')).toBe(300);
    // the Gemm's re-laid-out weight [7, 100, 1] is packed too
    expect(consts.some((b) => b.dtype === 'u8' && b.shape[0] === 350)).toBe(true);
    const wide = lowerForTarget(resolveTarget('c'), model('i8'), [input]).program;
    const constBytes = (p: typeof program): number => p.buffers.filter((b) => b.role === 'const').reduce((a, b) => a + b.shape.reduce((x, d) => x * d, 1) * (b.dtype === 'u8' || b.dtype === 'i8' ? 1 : 4), 0);
    expect(constBytes(wide) - constBytes(program)).toBe(108 - 54 + 700 - 350 + 600 - 300);
  });

  it.each(targets)('on %s: outputs identical to the int8-widened model; DQ of int4/uint4 constants as the interpreter', async (t) => {
    const packed = await runOnTarget(resolveTarget(t), model('i4'), [input]);
    const widened = await runOnTarget(resolveTarget(t), model('i8'), [input]);
    const reference = await runOnTarget(resolveTarget('interp'), model('i4'), [input]);
    for (const o of [0, 3]) {
      expect(numbers(packed.outputs[o])).toEqual(numbers(widened.outputs[o]));
      // the folded integer Gemm / MatMul is within 1 LSB of the float QDQ graph
      const ref = numbers(reference.outputs[o]);
      numbers(packed.outputs[o]).forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThanOrEqual(1));
    }
    expect(numbers(packed.outputs[1])).toEqual(numbers(reference.outputs[1]));
    expect(numbers(packed.outputs[2])).toEqual(numbers(reference.outputs[2]));
  });
});
