/** ONNX import: storage forms, IR v3 defaults, unsorted graphs, model-local function inlining. */
import { describe, expect, it } from 'vitest';
import { importOnnxBytes } from '../src/frontend/onnx/import.js';
import { decodeTensor, encodeTensor } from '../src/frontend/onnx/tensorproto.js';
import { TensorProtoType } from '../src/frontend/onnx/schema.js';
import { inferModule } from '../src/ir/infer.js';
import { interpret } from '../src/ir/interp/interpreter.js';
import { Tensor } from '../src/ir/tensor.js';
import { verifyModule } from '../src/ir/verify.js';
import type { PTensor } from '../src/frontend/onnx/proto-types.js';
import { FLOAT, INT64, floatTensor, modelBytes, node, vi } from './helpers/onnx-builder.js';
import '../src/ir/ops/index.js';

const decode = (msg: Record<string, unknown>): Tensor => decodeTensor(TensorProtoType.decode(TensorProtoType.encode(TensorProtoType.fromObject(msg)).finish()) as unknown as PTensor);

describe('TensorProto storage forms', () => {
  it('typed fields and raw data agree', () => {
    expect(decode({ dims: [3], dataType: FLOAT, floatData: [1, -2.5, 3] }).toNumbers()).toEqual([1, -2.5, 3]);
    const raw = new Uint8Array(new Float32Array([1, -2.5, 3]).buffer);
    expect(decode({ dims: [3], dataType: FLOAT, rawData: raw }).toNumbers()).toEqual([1, -2.5, 3]);
  });

  it('int64 keeps full precision', () => {
    const t = decode({ dims: [2], dataType: INT64, int64Data: ['9223372036854775807', '-9223372036854775808'] });
    expect(t.get(0)).toBe(9223372036854775807n);
    expect(t.get(1)).toBe(-9223372036854775808n);
  });

  it('int4 is packed low nibble first, in raw_data and int32_data', () => {
    const fromRaw = decode({ dims: [3], dataType: 22, rawData: new Uint8Array([0x8f, 0x07]) });
    expect(fromRaw.toNumbers()).toEqual([-1, -8, 7]);
    const fromInt32 = decode({ dims: [3], dataType: 22, int32Data: [0x8f, 0x07] });
    expect(fromInt32.toNumbers()).toEqual([-1, -8, 7]);
  });

  it('float16 from int32_data bit patterns', () => {
    expect(decode({ dims: [2], dataType: 10, int32Data: [0x3c00, 0xc000] }).toNumbers()).toEqual([1, -2]);
  });

  it('strings', () => {
    const t = decode({ dims: [2], dataType: 8, stringData: [new TextEncoder().encode('héllo'), new Uint8Array(0)] });
    expect(t.data).toEqual(['héllo', '']);
  });

  it('encode → decode is the identity for every numeric type', () => {
    const cases: [Tensor['dtype'], number[]][] = [
      ['f32', [1.5, -0, NaN]], ['f16', [1, -65504, 0.5]], ['bf16', [1, -2, 256]], ['i4', [-8, 7, 0]], ['u4', [15, 0, 3]],
      ['i2', [-2, 1, 0]], ['u2', [3, 2, 1]], ['f8e4m3fn', [448, -1, 0.5]], ['f4e2m1', [6, -0.5, 1]], ['u32', [4294967295, 0, 1]],
    ];
    for (const [dt, values] of cases) {
      const t = Tensor.from(dt, [3], values);
      const back = decodeTensor(TensorProtoType.decode(encodeTensor(t)) as unknown as PTensor);
      expect(back.dtype).toBe(dt);
      expect(back.toNumbers()).toEqual(t.toNumbers());
    }
  });

  it('refuses data whose size does not match the shape', () => {
    expect(() => decode({ dims: [4], dataType: FLOAT, floatData: [1, 2] })).toThrow(/float_data has 2 values, shape needs 4/);
  });
});

describe('graphs', () => {
  it('IR v3 initializers that are also inputs act as overridable defaults', () => {
    const bytes = modelBytes({
      irVersion: 3,
      nodes: [node('Add', ['x', 'w'], ['z'])],
      inputs: [vi('x'), vi('w')],
      outputs: [vi('z')],
      initializers: [floatTensor('w', [2], [10, 20])],
    });
    const m = importOnnxBytes(bytes);
    inferModule(m);
    const x = Tensor.from('f32', [2], [1, 2]);
    expect((interpret(m, [x]) as Tensor[])[0]!.toNumbers()).toEqual([11, 22]);
    expect((interpret(m, [x, Tensor.from('f32', [2], [0, 0])]) as Tensor[])[0]!.toNumbers()).toEqual([1, 2]);
  });

  it('sorts nodes that are out of order', () => {
    const bytes = modelBytes({
      nodes: [node('Add', ['a', 'a'], ['z'], { name: 'second' }), node('Add', ['x', 'x'], ['a'], { name: 'first' })],
      inputs: [vi('x')],
      outputs: [vi('z')],
    });
    const m = importOnnxBytes(bytes);
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['first', 'second']);
    inferModule(m);
    verifyModule(m);
    expect((interpret(m, [Tensor.from('f32', [2], [1, 2])]) as Tensor[])[0]!.toNumbers()).toEqual([4, 8]);
  });

  it('inlines model-local functions, with attribute references and defaults', () => {
    // double_add(x, y) = Add(Add(x, y), c) where c comes from the function attribute 'bias'
    const fn = {
      name: 'BiasAdd',
      domain: 'custom',
      input: ['a', 'b'],
      output: ['out'],
      attribute: [],
      attributeProto: [{ name: 'bias', type: 4, t: floatTensor('', [1], [100]) }],
      opsetImport: [{ domain: '', version: 13 }],
      node: [
        node('Constant', [], ['c'], { name: 'k', attribute: [{ name: 'value', refAttrName: 'bias', type: 4 }] }),
        node('Add', ['a', 'b'], ['s'], { name: 'inner_add' }),
        node('Add', ['s', 'c'], ['out'], { name: 'bias_add' }),
      ],
    };
    const bytes = modelBytes({
      nodes: [
        node('BiasAdd', ['x', 'x'], ['y1'], { name: 'call1', domain: 'custom' }),
        node('BiasAdd', ['y1', 'x'], ['y2'], { name: 'call2', domain: 'custom', attribute: [{ name: 'bias', type: 4, t: floatTensor('', [1], [0.5]) }] }),
      ],
      inputs: [vi('x')],
      outputs: [vi('y2')],
      extraOpsets: [{ domain: 'custom', version: 1 }],
      functions: [fn],
    });
    const m = importOnnxBytes(bytes);
    expect(m.graph.nodes.some((n) => n.domain === 'custom')).toBe(false);
    inferModule(m);
    verifyModule(m);
    const x = Tensor.from('f32', [2], [1, 2]);
    // y1 = 2x + 100, y2 = y1 + x + 0.5
    expect((interpret(m, [x]) as Tensor[])[0]!.toNumbers()).toEqual([103.5, 106.5]);
  });
});
