/** The example plugin (samples/plugins/fuse-swish.mjs) through the CLI and the programmatic API. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, importOnnx, runPasses, loadPlugin, interpret, Tensor, lookupPass, KilnError } from '../src/index.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { encodeValue } from '../src/frontend/onnx/values.js';
import { FLOAT, kiln, modelBytes, node, tempDir, vi, writeModel } from './helpers/onnx-builder.js';

const PLUGIN = path.resolve('samples/plugins/fuse-swish.mjs');

/** y = Relu(x * Sigmoid(x)) + Sigmoid(z) · z (second pair in the other operand order), and a Sigmoid used twice that must stay. */
const spec = {
  nodes: [
    node('Sigmoid', ['x'], ['sx']),
    node('Mul', ['x', 'sx'], ['m1']),
    node('Relu', ['m1'], ['r']),
    node('Sigmoid', ['z'], ['sz']),
    node('Mul', ['sz', 'z'], ['m2']),
    node('Add', ['r', 'm2'], ['y']),
    node('Sigmoid', ['x'], ['s2']),
    node('Mul', ['x', 's2'], ['m3']),
    node('Add', ['m3', 's2'], ['w']),
  ],
  inputs: [vi('x', FLOAT, [2, 3]), vi('z', FLOAT, [2, 3])],
  outputs: [vi('y', FLOAT, [2, 3]), vi('w', FLOAT, [2, 3])],
};

const xs = Tensor.from('f32', [2, 3], [-3, -0.5, 0, 0.25, 2, 40]);
const zs = Tensor.from('f32', [2, 3], [1, -1, 5, -50, 0.5, 3]);

describe('example plugin fuse-swish', () => {
  it('through the CLI: --plugin + opt rewrites exactly the Sigmoid·Mul pairs whose Sigmoid has one use', () => {
    const dir = tempDir();
    const model = writeModel(dir, spec);
    const r = kiln(['--plugin', PLUGIN, 'opt', model, '--passes', 'fuse-swish', '--verify-each']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.match(/"com\.example"::"Swish"/g)?.length).toBe(2);
    // the two fused pairs lose their Sigmoid and Mul; the shared Sigmoid and its Mul stay
    expect(r.stdout.match(/"Sigmoid"/g)?.length).toBe(1);
    expect(r.stdout.match(/"Mul"/g)?.length).toBe(1);
    expect(r.stdout).toMatch(/"com\.example" = 1/);
    // without the plugin the pass is unknown: one line, exit 1
    const bad = kiln(['opt', model, '--passes', 'fuse-swish']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^kiln: error: unknown pass 'fuse-swish' \(known: .*\)\n$/);
  });

  it('through the CLI: the fused model compiled to C gives the unfused interpreter results', () => {
    const dir = tempDir();
    const model = writeModel(dir, spec);
    fs.writeFileSync(path.join(dir, 'input_0.pb'), encodeValue(xs, null));
    fs.writeFileSync(path.join(dir, 'input_1.pb'), encodeValue(zs, null));
    const ref = kiln(['run', model, '--inputs', path.join(dir, 'input_0.pb'), path.join(dir, 'input_1.pb'), '--out', path.join(dir, 'ref')]);
    expect(ref.code).toBe(0);
    const r = kiln(['--plugin', PLUGIN, 'run', model, '--target', 'c', '--passes', 'fuse-swish', '--inputs', path.join(dir, 'input_0.pb'), path.join(dir, 'input_1.pb'), '--expected', path.join(dir, 'ref'), '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { ok: boolean; outputs: { compared: boolean; match: boolean }[] };
    expect(out.ok).toBe(true);
    expect(out.outputs.map((o) => [o.compared, o.match])).toEqual([[true, true], [true, true]]);
  });

  it('through kiln.config.json: compile with the configured default passes', () => {
    const dir = tempDir();
    const model = writeModel(dir, spec);
    fs.writeFileSync(path.join(dir, 'kiln.config.json'), JSON.stringify({ plugins: [PLUGIN], passes: 'fuse-swish' }));
    const r = kiln(['compile', model, '--target', 'c', '-o', path.join(dir, 'out'), '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { passes: { name: string }[] };
    expect(report.passes.map((p) => p.name)).toContain('fuse-swish');
    expect(fs.readFileSync(path.join(dir, 'out', 'model.c'), 'utf8')).toMatch(/exp/);
    const ignored = kiln(['--no-config', 'compile', model, '--target', 'c', '-o', path.join(dir, 'out2'), '--json'], { cwd: dir });
    expect((JSON.parse(ignored.stdout) as { passes: { name: string }[] }).passes.map((p) => p.name)).not.toContain('fuse-swish');
  });

  it('through the API: same rewrite, and the lowered Swish computes what the original graph computes', async () => {
    await loadPlugin(PLUGIN);
    expect(lookupPass('fuse-swish').description).toMatch(/Swish/);
    const bytes = modelBytes(spec);
    const expected = interpret(importOnnx(bytes), [xs, zs]) as Tensor[];
    const module = importOnnx(bytes);
    const r = runPasses(module, 'fuse-swish', { verifyEach: true });
    expect(r.timeline[0]).toMatchObject({ name: 'fuse-swish', changed: true });
    expect(module.graph.nodes.filter((n) => n.opType === 'Swish' && n.domain === 'com.example')).toHaveLength(2);
    // the interpreter runs the plugin op's reference kernel
    const fusedOut = interpret(module, [xs, zs]) as Tensor[];
    // and the kernel program runs its lowering
    const lowered = runPasses(importOnnx(bytes), 'fuse-swish,lower');
    const kernelOut = runProgram(lowered.program!, [xs, zs]);
    for (const got of [fusedOut, kernelOut]) {
      got.forEach((t, i) => t.toNumbers().forEach((v, j) => expect(v).toBeCloseTo(expected[i]!.num(j), 5)));
    }
    const c = compile(importOnnx(bytes), { target: 'c', passes: 'fuse-swish' });
    expect(c.report.passes).toBeDefined();
    expect(String(c.files.get('model.c'))).toMatch(/exp/);
  });

  it('a broken plugin is refused with one line', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'bad.mjs'), "export default (kiln) => ({ passes: [kiln.definePass({ name: 'Bad Name', description: 'x', run() {} })] });\n");
    const r = kiln(['--plugin', path.join(dir, 'bad.mjs'), 'opt', '--list-passes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln: error: plugin '.*bad\.mjs': pass name 'Bad Name' must be lower-case words joined by '-'\n$/);
    expect(KilnError).toBeDefined();
  });
});
