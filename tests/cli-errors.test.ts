/** Malformed and hostile input: one line on stderr, exit code 1, no stack trace, no output files. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLOAT, kiln, modelBytes, node, tempDir, vi, writeModel } from './helpers/onnx-builder.js';

function expectOneLineError(r: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^kiln: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const addModel = {
  nodes: [node('Add', ['x', 'y'], ['z'], { name: 'add0' })],
  inputs: [vi('x'), vi('y')],
  outputs: [vi('z')],
};

describe('malformed models give one-line errors', () => {
  it('truncated protobuf', () => {
    const dir = tempDir();
    const bytes = modelBytes(addModel);
    const p = path.join(dir, 'model.onnx');
    fs.writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expectOneLineError(kiln(['print', p]), /malformed ONNX protobuf/);
  });

  it('garbage bytes', () => {
    const dir = tempDir();
    const p = path.join(dir, 'model.onnx');
    fs.writeFileSync(p, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
    expectOneLineError(kiln(['inspect', p]), /malformed ONNX protobuf/);
  });

  it('unknown op names the node and the op', () => {
    const dir = tempDir();
    const p = writeModel(dir, { nodes: [node('FrobnicateTensor', ['x'], ['z'], { name: 'frob7' })], inputs: [vi('x')], outputs: [vi('z')] });
    expectOneLineError(kiln(['print', p]), /unsupported op FrobnicateTensor at opset 13, at node frob7 \(FrobnicateTensor\)/);
  });

  it('dangling value name', () => {
    const dir = tempDir();
    const p = writeModel(dir, { nodes: [node('Add', ['x', 'nowhere'], ['z'], { name: 'add1' })], inputs: [vi('x')], outputs: [vi('z')] });
    expectOneLineError(kiln(['print', p]), /input 'nowhere' is not defined.*at node add1 \(Add\)/);
  });

  it('duplicate value name', () => {
    const dir = tempDir();
    const p = writeModel(dir, {
      nodes: [node('Add', ['x', 'x'], ['z'], { name: 'a' }), node('Add', ['x', 'x'], ['z'], { name: 'b' })],
      inputs: [vi('x')],
      outputs: [vi('z')],
    });
    expectOneLineError(kiln(['print', p]), /defined twice/);
  });

  it('cyclic graph', () => {
    const dir = tempDir();
    const p = writeModel(dir, {
      nodes: [node('Add', ['x', 'b'], ['a'], { name: 'n1' }), node('Add', ['a', 'x'], ['b'], { name: 'n2' })],
      inputs: [vi('x')],
      outputs: [vi('b')],
    });
    expectOneLineError(kiln(['print', p]), /cycle/);
  });

  it('missing file', () => {
    expectOneLineError(kiln(['print', '/nonexistent/model.onnx']), /cannot read/);
  });

  it('unknown target', () => {
    const dir = tempDir();
    const p = writeModel(dir, addModel);
    expectOneLineError(kiln(['run', p, '--target', 'nonsense']), /unknown target 'nonsense'/);
  });

  it('--debug shows the stack', () => {
    const dir = tempDir();
    const p = writeModel(dir, { nodes: [node('FrobnicateTensor', ['x'], ['z'])], inputs: [vi('x')], outputs: [vi('z')] });
    const r = kiln(['print', p, '--debug']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

describe('external data is confined to the model folder', () => {
  const externalModel = (location: string) => ({
    nodes: [node('Add', ['x', 'w'], ['z'], { name: 'add_w' })],
    inputs: [vi('x')],
    outputs: [vi('z')],
    initializers: [{ name: 'w', dims: [2], dataType: FLOAT, dataLocation: 1, externalData: [{ key: 'location', value: location }] }],
  });

  it('reads external data inside the folder', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(new Float32Array([1.5, -2]).buffer));
    const p = writeModel(dir, externalModel('weights.bin'));
    const r = kiln(['inspect', p]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/parameters:\s+8 B/);
  });

  it('refuses an absolute path', () => {
    const dir = tempDir();
    const p = writeModel(dir, externalModel('/etc/passwd'));
    expectOneLineError(kiln(['print', p]), /external data path '\/etc\/passwd' must be relative.*at tensor w/);
  });

  it('refuses a .. escape', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'm'));
    fs.writeFileSync(path.join(dir, 'secret.bin'), Buffer.alloc(8));
    const p = writeModel(path.join(dir, 'm'), externalModel('../secret.bin'));
    expectOneLineError(kiln(['print', p]), /leaves the model folder/);
  });

  it('refuses a symlink that leaves the folder', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'm'));
    fs.writeFileSync(path.join(dir, 'secret.bin'), Buffer.alloc(8));
    fs.symlinkSync(path.join(dir, 'secret.bin'), path.join(dir, 'm', 'link.bin'));
    const p = writeModel(path.join(dir, 'm'), externalModel('link.bin'));
    expectOneLineError(kiln(['print', p]), /resolves outside the model folder/);
  });

  it('refuses a range beyond the file', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(4));
    const p = writeModel(dir, externalModel('weights.bin'));
    expectOneLineError(kiln(['print', p]), /outside 'weights.bin'/);
  });
});

describe('outputs are written atomically', () => {
  it('a failed run leaves no output folder contents', () => {
    const dir = tempDir();
    const p = writeModel(dir, { nodes: [node('FrobnicateTensor', ['x'], ['z'])], inputs: [vi('x')], outputs: [vi('z')] });
    const out = path.join(dir, 'out');
    const r = kiln(['run', p, '--out', out]);
    expect(r.code).toBe(1);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('--max-tensor-bytes', () => {
  const withWeights = {
    nodes: [node('Add', ['x', 'w'], ['z'], { name: 'add0' })],
    inputs: [vi('x', FLOAT, [256])],
    outputs: [vi('z', FLOAT, [256])],
    initializers: [{ name: 'w', dims: [256], dataType: FLOAT, floatData: new Array<number>(256).fill(1) }],
  };

  it('refuses a tensor over the limit before allocating it, with a one-line limit error', () => {
    const p = writeModel(tempDir(), withWeights);
    expect(kiln(['print', p]).code).toBe(0);
    expect(kiln(['--max-tensor-bytes', '1K', 'print', p]).code).toBe(0);
    expectOneLineError(kiln(['--max-tensor-bytes', '1023', 'print', p]), /needs 1024 bytes, over the limit of 1023/);
  });

  it('rejects a value that is not a positive byte count', () => {
    const p = writeModel(tempDir(), withWeights);
    expectOneLineError(kiln(['--max-tensor-bytes', 'lots', 'print', p]), /--max-tensor-bytes wants a positive number of bytes/);
    expectOneLineError(kiln(['--max-tensor-bytes', '0', 'print', p]), /--max-tensor-bytes/);
  });
});

describe('a C compiler that hangs or crashes', () => {
  // stand-ins for cc: answer --version (the tool check), then hang or die on a signal
  function fakeCc(body: string): string {
    const p = path.join(tempDir(), 'cc');
    fs.writeFileSync(p, `#!/bin/sh\n[ "$1" = --version ] && exit 0\n${body}\n`, { mode: 0o755 });
    return p;
  }
  const mlp = ['run', 'samples/mlp/model.onnx', '-t', 'c', '--inputs', 'samples/mlp/test_data_set_0'];

  it('names the time limit it stopped at', () => {
    const r = kiln(mlp, { env: { CC: fakeCc('exec sleep 30'), KILN_CC_TIMEOUT_MS: '500' } });
    expectOneLineError(r, /C compile failed: stopped after 0\.5 s/);
  });

  it('names the signal that killed it', () => {
    expectOneLineError(kiln(mlp, { env: { CC: fakeCc('kill -SEGV $$') } }), /C compile failed: killed by SIGSEGV/);
  });
});
