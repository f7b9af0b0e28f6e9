/** Issue 10 items 3-8, 12, 16: inputs checked for every target, data-dependent shapes, limits, legacy broadcasting. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeValue } from '../src/frontend/onnx/values.js';
import { Tensor } from '../src/ir/tensor.js';
import { caseTimeoutMs } from '../src/driver/conformance.js';
import { KilnError } from '../src/ir/errors.js';
import { checkEstimate } from '../src/backends/mcu/fit.js';
import { getBoard } from '../src/costmodel/boards.js';
import { ModelProtoType } from '../src/frontend/onnx/schema.js';
import { FLOAT, floatTensor, kiln, node, tempDir, vi, writeModel, type ModelSpec } from './helpers/onnx-builder.js';

function writeTensor(dir: string, file: string, t: Tensor): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, file);
  fs.writeFileSync(p, encodeValue(t, null));
  return p;
}

function oneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const reluModel = (dims: (number | string)[]): ModelSpec => ({ nodes: [node('Relu', ['x'], ['y'])], inputs: [vi('x', FLOAT, dims)], outputs: [vi('y', FLOAT, dims)] });

describe('item 3: inputs are checked against the declared types on every target', () => {
  const dir = tempDir();
  const model = writeModel(dir, reluModel([1, 16]));
  const i8 = writeTensor(path.join(dir, 'i8'), 'input_0.pb', Tensor.from('i8', [1, 16], new Array(16).fill(1)));
  const flat = writeTensor(path.join(dir, 'flat'), 'input_0.pb', Tensor.from('f32', [16], new Array(16).fill(1)));
  for (const target of ['interp', 'kernel']) {
    it(`${target}: an i8 tensor into an f32 input is refused naming the input and both types`, () => {
      oneLineError(kiln(['run', model, '-t', target, '-i', i8]), /input 'x' is i8\[1x16\], the model declares f32\[1x16\]/);
    });
    it(`${target}: f32[16] for [1,16] is refused`, () => {
      oneLineError(kiln(['run', model, '-t', target, '-i', flat]), /input 'x' is f32\[16\], the model declares f32\[1x16\]/);
    });
  }
  it('a symbolic dim must take the same size in every input', () => {
    const d = tempDir();
    const m = writeModel(d, { nodes: [node('Add', ['a', 'b'], ['y'])], inputs: [vi('a', FLOAT, ['N', 2]), vi('b', FLOAT, ['N', 2])], outputs: [vi('y', FLOAT, ['N', 2])] });
    const a = writeTensor(d, 'a.pb', Tensor.from('f32', [3, 2], new Array(6).fill(1)));
    const b = writeTensor(d, 'b.pb', Tensor.from('f32', [4, 2], new Array(8).fill(1)));
    oneLineError(kiln(['run', m, '-i', a, b]), /input 'b' is f32\[4x2\] \(dim N is 3 elsewhere\)/);
    const b3 = writeTensor(d, 'b3.pb', Tensor.from('f32', [3, 2], new Array(6).fill(1)));
    expect(kiln(['run', m, '-i', a, b3]).code).toBe(0);
  });
});

describe('item 4: data-dependent output shapes', () => {
  const dir = tempDir();
  // declared output [1,3]: three non-zeros; the input below has two
  const model = writeModel(dir, { nodes: [node('NonZero', ['x'], ['y'])], inputs: [vi('x', FLOAT, [4])], outputs: [vi('y', 7, [1, 3])] }, 'nz.onnx');
  const two = writeTensor(path.join(dir, 'two'), 'input_0.pb', Tensor.from('f32', [4], [0, 1, 0, 2]));
  it('interp reports an output contradicting its declared type', () => {
    oneLineError(kiln(['run', model, '-i', two]), /output 'y' is i64\[1x2\], the model declares i64\[1x3\]/);
  });
  it('kernel refuses NonZero up front instead of truncating', () => {
    const r = kiln(['run', model, '-t', 'kernel', '-i', two]);
    oneLineError(r, /unsupported.*NonZero.*data-dependent/);
  });
  it('a symbolic output dim takes any count', () => {
    const m = writeModel(dir, { nodes: [node('NonZero', ['x'], ['y'])], inputs: [vi('x', FLOAT, [4])], outputs: [vi('y', 7, [1, 'nnz'])] }, 'nz-sym.onnx');
    const r = kiln(['run', m, '-i', two]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/i64\[1x2\] 1 3/);
  });
});

describe('item 5: --input-shape dims and index ranges are checked', () => {
  const dir = tempDir();
  const model = writeModel(dir, reluModel(['N', 16]));
  it('a dim past 2^53 is refused as a usage error', () => {
    oneLineError(kiln(['compile', model, '--input-shape', 'x=99999999999999999999x16', '-o', path.join(dir, 'o1')]), /--input-shape.*99999999999999999999.*not a safe/);
    expect(fs.existsSync(path.join(dir, 'o1'))).toBe(false);
  });
  it('a buffer of 2^31 elements or more is refused naming the tensor', () => {
    const r = kiln(['compile', model, '--input-shape', 'x=100000000000x16', '-o', path.join(dir, 'o2')]);
    oneLineError(r, /'x'.*1600000000000 elements.*2\^31/);
    expect(fs.existsSync(path.join(dir, 'o2'))).toBe(false);
  });
});

describe('item 6: legacy (opset < 7) broadcasting', () => {
  const dir = tempDir();
  const slope = [0.1, 0.2, 0.3];
  const x = Array.from({ length: 12 }, (_, i) => i - 6);
  const want = x.map((v, i) => (v < 0 ? v * slope[Math.floor(i / 4)]! : v));
  const model = writeModel(dir, {
    opset: 6,
    nodes: [node('PRelu', ['x', 's'], ['y'])],
    inputs: [vi('x', FLOAT, [1, 3, 2, 2])],
    outputs: [vi('y', FLOAT, [1, 3, 2, 2])],
    initializers: [floatTensor('s', [3], slope)],
  });
  const inDir = path.join(dir, 'set');
  writeTensor(inDir, 'input_0.pb', Tensor.from('f32', [1, 3, 2, 2], x));
  writeTensor(inDir, 'output_0.pb', Tensor.from('f32', [1, 3, 2, 2], want));
  for (const target of ['interp', 'kernel']) {
    it(`${target}: PRelu slope [C] broadcasts on axis 1`, () => {
      const r = kiln(['run', model, '-t', target, '-i', inDir]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/compare output 0 'y': ok/);
    });
  }
  it('Add with broadcast=1 axis=1 at opset 6 broadcasts B on axis 1', () => {
    const m = writeModel(dir, {
      opset: 6,
      nodes: [node('Add', ['x', 'b'], ['y'], { attribute: [{ name: 'broadcast', type: 2, i: 1 }, { name: 'axis', type: 2, i: 1 }] })],
      inputs: [vi('x', FLOAT, [1, 3, 2, 2])],
      outputs: [vi('y', FLOAT, [1, 3, 2, 2])],
      initializers: [floatTensor('b', [3], [10, 20, 30])],
    }, 'add6.onnx');
    const d2 = path.join(dir, 'add');
    writeTensor(d2, 'input_0.pb', Tensor.from('f32', [1, 3, 2, 2], x));
    writeTensor(d2, 'output_0.pb', Tensor.from('f32', [1, 3, 2, 2], x.map((v, i) => v + [10, 20, 30][Math.floor(i / 4)]!)));
    for (const target of ['interp', 'kernel']) {
      const r = kiln(['run', m, '-t', target, '-i', d2]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/compare output 0 'y': ok/);
    }
  });
});

describe('item 8: the per-case time limit scales with the model', () => {
  it('is the default for small models and grows with MACs and weight bytes', () => {
    expect(caseTimeoutMs(30_000, { macs: 0, weightBytes: 0 })).toBe(30_000);
    expect(caseTimeoutMs(30_000, { macs: 1000, weightBytes: 1000 })).toBeLessThan(30_100);
    // a 224x224 ResNet-class CNN: ~2 GMACs, ~45 MB of weights
    const big = caseTimeoutMs(30_000, { macs: 2e9, weightBytes: 45e6 });
    expect(big).toBeGreaterThan(120_000);
    expect(caseTimeoutMs(30_000, { macs: 4e9, weightBytes: 45e6 })).toBeGreaterThanOrEqual(big);
    expect(caseTimeoutMs(30_000, { macs: 1e13, weightBytes: 1e10 })).toBeLessThanOrEqual(30 * 60_000);
  });
});

describe('item 12: conformance runs every data set even when their shapes differ', () => {
  it('a second data set with another batch passes on kernel', () => {
    const root = tempDir();
    const c = path.join(root, 'test_relu_batches');
    fs.mkdirSync(c);
    writeModel(c, reluModel(['N', 2]));
    for (const [k, n] of [[0, 1], [1, 3]] as const) {
      const xs = Array.from({ length: n * 2 }, (_, i) => i - 2);
      writeTensor(path.join(c, `test_data_set_${k}`), 'input_0.pb', Tensor.from('f32', [n, 2], xs));
      writeTensor(path.join(c, `test_data_set_${k}`), 'output_0.pb', Tensor.from('f32', [n, 2], xs.map((v) => Math.max(0, v))));
    }
    const r = kiln(['conformance', root, '-t', 'kernel', '--failures']);
    expect(r.stdout + r.stderr).toMatch(/1 passed, 0 failed, 0 errored/);
  });
});

describe('item 16: kiln run prints with the type precision and the error statistics', () => {
  const dir = tempDir();
  const model = writeModel(dir, reluModel([1, 3]));
  const set = path.join(dir, 'set');
  const xs = [1.23456789, 0.1, 2];
  writeTensor(set, 'input_0.pb', Tensor.from('f32', [1, 3], xs));
  writeTensor(set, 'output_0.pb', Tensor.from('f32', [1, 3], [1.23456789, 0.1, 2.001]));
  it('prints f32 with 9 significant digits and the max abs/rel error', () => {
    const r = kiln(['run', model, '-i', set, '--rtol', '1e-6']);
    expect(r.stdout).toMatch(/1\.23456788/);
    expect(r.stdout).toMatch(/max abs error 0\.001\b/);
    expect(r.stdout).toMatch(/MISMATCH/);
    expect(r.code).toBe(1);
  });
  it('--rtol/--atol loosen the comparison and --json carries the statistics', () => {
    const r = kiln(['run', model, '-i', set, '--rtol', '1e-2', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { outputs: { match: boolean; maxAbsError: number; maxRelError: number }[]; rtol: number; atol: number };
    expect(j.rtol).toBe(0.01);
    expect(j.atol).toBe(1e-5);
    expect(j.outputs[0]!.match).toBe(true);
    expect(j.outputs[0]!.maxAbsError).toBeCloseTo(0.001, 6);
    expect(j.outputs[0]!.maxRelError).toBeCloseTo(0.001 / 2.001, 6);
  });
  it('f16 outputs print about 4 significant digits', () => {
    const d = tempDir();
    const m = writeModel(d, { nodes: [node('Relu', ['x'], ['y'])], inputs: [vi('x', 10, [2])], outputs: [vi('y', 10, [2])] });
    const p = writeTensor(d, 'x.pb', Tensor.from('f16', [2], [0.1, 3.14159]));
    const r = kiln(['run', m, '-i', p]);
    expect(r.stdout).toMatch(/f16\[2\] 0\.09998 3\.141\b/);
  });
});

describe('item 7: boards and API names', () => {
  it('a board too small is a refusal (unsupported) with the sizes', () => {
    let err: unknown;
    try {
      checkEstimate({ flashBytes: 2_000_000, sramBytes: 10, weightBytes: 1_990_000, codeBytes: 10_000, arenaBytes: 0, ioBytes: 0, stackBytes: 0, runtimeRamBytes: 0 }, getBoard('stm32f446'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('unsupported');
    expect((err as KilnError).message).toMatch(/needs 2000000 B of flash, board stm32f446 has 524288 B/);
  });
  it('a generic graph name (torch_jit) gives the file name as the C API name', () => {
    const dir = tempDir();
    const m = writeModel(dir, reluModel([1, 4]), 'my-net.onnx');
    const proto = ModelProtoType.decode(fs.readFileSync(m)) as unknown as { graph: { name: string } };
    proto.graph.name = 'torch_jit';
    fs.writeFileSync(m, ModelProtoType.encode(proto as never).finish());
    const out = path.join(dir, 'out');
    const r = kiln(['compile', m, '-o', out]);
    expect(r.stderr).toBe('');
    const h = fs.readdirSync(out).filter((f) => f.endsWith('.h')).map((f) => fs.readFileSync(path.join(out, f), 'utf8')).join('\n');
    expect(h).toMatch(/kiln_my_net_run/);
    expect(h).not.toMatch(/torch_jit/);
  });
});
