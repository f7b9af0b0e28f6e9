/** #10 item 12: `kiln compile --dynamic batch<=N` keeps a symbolic input dim as a run-time size. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { floatTensor, hasTool, kiln, modelBytes, node, tempDir, vi, type ModelSpec } from './helpers/onnx-builder.js';
import { importOnnx, interpret, Tensor } from '../src/index.js';
import { parseProgramText } from '../src/frontend/text/kernel-parser.js';
import { printProgram } from '../src/ir/kernel/print.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { verifyProgram } from '../src/ir/kernel/verify.js';

const wave = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed) * 0.5);

const MLP: ModelSpec = {
  inputs: [vi('x', 1, ['batch', 16])],
  outputs: [vi('y', 1, ['batch', 10])],
  initializers: [floatTensor('w1', [16, 32], wave(512, 1)), floatTensor('b1', [32], wave(32, 2)), floatTensor('w2', [32, 10], wave(320, 3))],
  nodes: [
    node('MatMul', ['x', 'w1'], ['h']), node('Add', ['h', 'b1'], ['h2']), node('Relu', ['h2'], ['h3']),
    node('MatMul', ['h3', 'w2'], ['z']), node('Softmax', ['z'], ['y'], { attribute: [{ name: 'axis', type: 2, i: -1 }] }),
  ],
};

/** A small CNN: conv 3×3 + ReLU + global average pool + flatten, batch first. */
const CNN: ModelSpec = {
  inputs: [vi('img', 1, ['N', 2, 8, 8])],
  outputs: [vi('feat', 1, ['N', 4])],
  initializers: [floatTensor('k', [4, 2, 3, 3], wave(72, 4)), floatTensor('kb', [4], wave(4, 5))],
  nodes: [
    node('Conv', ['img', 'k', 'kb'], ['c'], { attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] }),
    node('Relu', ['c'], ['r']), node('GlobalAveragePool', ['r'], ['g']), node('Flatten', ['g'], ['feat']),
  ],
};

function write(dir: string, spec: ModelSpec, name: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, modelBytes(spec));
  return p;
}

/** Reference outputs from Kiln's graph interpreter at one batch size. */
function reference(model: string, input: Tensor): Tensor {
  return interpret(importOnnx(model), [input])[0] as Tensor;
}

const cc = hasTool('cc');

describe('--dynamic', () => {
  it.skipIf(!cc)('an MLP and a CNN compile once and run at every batch size up to the bound, matching the interpreter', () => {
    const dir = tempDir();
    for (const [spec, file, dim, inner] of [[MLP, 'mlp.onnx', 'batch', [16]], [CNN, 'cnn.onnx', 'N', [2, 8, 8]]] as const) {
      const model = write(dir, spec, file);
      const out = path.join(dir, `${file}.out`);
      const r = kiln(['compile', model, '--dynamic', `${dim}<=8`, '-o', out, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as { arenaBytes: number };
      // the arena is planned for the bound: the same as a static compile at 8
      const fixed = kiln(['compile', model, '--input-shape', `${spec.inputs[0]!.name as string}=8x${inner.join('x')}`, '-o', path.join(dir, `${file}.fixed`), '--json']);
      expect(report.arenaBytes).toBe((JSON.parse(fixed.stdout) as { arenaBytes: number }).arenaBytes);
      const header = fs.readFileSync(path.join(out, 'model.h'), 'utf8');
      expect(header).toMatch(new RegExp(`int kiln_\\w+_run\\(int32_t ${dim}, const float \\*in0, float \\*out0\\);`));
      expect(header).toMatch(/_DYNAMIC_MAX 8/);
      expect(header).toMatch(/_INPUT0_DYN_DIM 0/);
      execFileSync('make', ['-s', '-C', out], { stdio: 'pipe' });
      for (const n of [1, 3, 8]) {
        const x = Tensor.from('f32', [n, ...inner], wave(n * inner.reduce((a, b) => a * b, 1), n));
        const bin = path.join(dir, `x${n}.bin`);
        fs.writeFileSync(bin, Buffer.from(new Float32Array(x.data as Float32Array).buffer));
        execFileSync(path.join(out, 'model'), [bin, '-o', path.join(dir, `y${n}-`)], { stdio: 'pipe' });
        const got = new Float32Array(new Uint8Array(fs.readFileSync(path.join(dir, `y${n}-0.bin`))).buffer);
        const want = reference(model, x);
        expect(got.length, `${file} at ${n}`).toBe(want.size);
        want.data.forEach((w, i) => expect(Math.abs(got[i]! - Number(w)), `${file} at ${n}, element ${i}`).toBeLessThan(1e-5));
      }
      // over the bound, or not a whole number of rows: the harness refuses
      const big = path.join(dir, 'x9.bin');
      fs.writeFileSync(big, Buffer.alloc(9 * inner.reduce((a, b) => a * b, 1) * 4));
      expect(() => execFileSync(path.join(out, 'model'), [big, '-o', path.join(dir, 'z')], { stdio: 'pipe' })).toThrow(/not a whole run-time size within the bound/);
    }
  });
  if (!cc) it('skipped: cc not installed (dynamic C not built)', () => {});

  it('the merged program round-trips as text and runs on the kernel interpreter at any size', () => {
    const dir = tempDir();
    const model = write(dir, MLP, 'mlp.onnx');
    const dumps = path.join(dir, 'dumps');
    const r = kiln(['compile', model, '--dynamic', 'batch<=8', '-o', path.join(dir, 'out'), '--dump-dir', dumps, '--full-constants']);
    expect(r.code, r.stderr).toBe(0);
    const first = fs.readdirSync(dumps).filter((f) => f.endsWith('.kir')).sort()[0]!;
    const text = fs.readFileSync(path.join(dumps, first), 'utf8');
    expect(text).toMatch(/^kiln\.kernel @\S+ \{\n {2}param %batch <= 8\n/);
    expect(text).toMatch(/buffer %x: input f32\[8,16\] dyn 0/);
    const program = parseProgramText(text, first);
    verifyProgram(program);
    expect(printProgram(program)).toBe(text);
    for (const n of [1, 5]) {
      const x = Tensor.from('f32', [n, 16], wave(n * 16, 7));
      const [y] = runProgram(program, [x]);
      const want = reference(model, x);
      expect(y!.shape).toEqual([n, 10]);
      want.data.forEach((w, i) => expect(Math.abs(Number(y!.data[i]) - Number(w))).toBeLessThan(1e-5));
    }
    expect(() => runProgram(program, [Tensor.zeros('f32', [9, 16])])).toThrow(/for batch in 1\.\.8/);
  });

  it('refuses in one line: an unknown dim, a bad bound, a target without run-time sizes, an output that is not batch-generic', () => {
    const dir = tempDir();
    const model = write(dir, MLP, 'mlp.onnx');
    const one = (args: string[], re: RegExp): void => {
      const r = kiln(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    };
    one(['compile', model, '--dynamic', 'seq<=8', '-o', path.join(dir, 'a')], /no model input has a dim named 'seq' \(named dims: batch\)/);
    one(['compile', model, '--dynamic', 'batch<8', '-o', path.join(dir, 'b')], /--dynamic 'batch<8' must look like name<=N/);
    one(['compile', model, '--dynamic', 'batch<=8', '--target', 'mcu', '-o', path.join(dir, 'c')], /target 'mcu' takes no run-time sizes \(--dynamic works with: c, c-asan\)/);
    // x·xᵀ is batch × batch: two dims scale with the size
    const gram = write(dir, { inputs: [vi('x', 1, ['batch', 4])], outputs: [vi('g', 1, ['batch', 'batch'])], nodes: [node('Transpose', ['x'], ['xt']), node('MatMul', ['x', 'xt'], ['g'])] }, 'gram.onnx');
    one(['compile', gram, '--dynamic', 'batch<=8', '-o', path.join(dir, 'd')], /--dynamic batch: .*only one dim may scale with batch/);
  });
});
