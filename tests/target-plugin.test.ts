/**
 * The target API: `kiln targets`, and the example target plugin (samples/plugins/toy-target.mjs)
 * through the CLI: compile writes its file, run compares with the expected outputs, conformance
 * passes a small folder of cases in worker threads that load the plugin themselves.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIrText } from '../src/index.js';
import { kiln, tempDir } from './helpers/onnx-builder.js';

const PLUGIN = path.resolve('samples/plugins/toy-target.mjs');
const MLP = path.resolve('samples/mlp');

interface TargetInfo {
  name: string;
  level: string;
  options: { name: string; default: string | null }[];
  tools: { name: string; available: boolean; install: string }[];
  capabilities: { ci: boolean; emits: boolean };
}

describe('kiln targets', () => {
  it('lists the built-in targets with options, tools and capabilities', () => {
    const r = kiln(['targets', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as TargetInfo[];
    expect(list.map((t) => t.name)).toEqual(['interp', 'kernel', 'c', 'c-asan', 'mcu', 'pim', 'wgsl', 'hls']);
    const mcu = list.find((t) => t.name === 'mcu')!;
    expect(mcu.options[0]).toEqual(expect.objectContaining({ name: 'board', default: 'mps2-an386' }));
    expect(mcu.tools.map((t) => t.name)).toEqual(['arm-none-eabi-gcc', 'arm-none-eabi-size', 'qemu-system-arm']);
    expect(mcu.tools.every((t) => typeof t.available === 'boolean' && t.install.length > 0)).toBe(true);
    expect(list.filter((t) => t.capabilities.emits).map((t) => t.name)).toEqual(['c', 'c-asan', 'mcu', 'pim', 'wgsl', 'hls']);
    expect(list.find((t) => t.name === 'interp')!.level).toBe('graph');
    const text = kiln(['targets']);
    expect(text.stdout).toMatch(/^mcu +generated C99 for a Cortex-M board/m);
    expect(text.stdout).toMatch(/option board \(default mps2-an386\)/);
  });

  it('refuses options a target does not have, and compiling for a target that writes no files', () => {
    const out = path.join(tempDir(), 'out');
    const a = kiln(['compile', path.join(MLP, 'model.onnx'), '--target', 'c', '--board', 'stm32f446', '-o', out]);
    expect(a.code).toBe(1);
    expect(a.stderr).toBe("kiln: error: option 'board' does not apply to target 'c' (its options: host, threads, weights, weights-section)\n");
    const b = kiln(['compile', path.join(MLP, 'model.onnx'), '--target', 'kernel', '-o', out]);
    expect(b.stderr).toBe("kiln: error: target 'kernel' does not write files (compile targets: c, c-asan, mcu, pim, wgsl, hls)\n");
    const c = kiln(['run', path.join(MLP, 'model.onnx'), '--target', 'mcu:stm32f446', '--board', 'mps2-an386']);
    expect(c.stderr).toBe("kiln: error: 'mcu:stm32f446' and --board mps2-an386 disagree\n");
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('example target plugin toy-target', () => {
  it('is listed with its option once loaded', () => {
    const r = kiln(['--plugin', PLUGIN, 'targets', '--json']);
    const toy = (JSON.parse(r.stdout) as TargetInfo[]).find((t) => t.name === 'toy');
    expect(toy).toMatchObject({ level: 'kernel', capabilities: { ci: false, emits: true }, options: [{ name: 'style', default: 'kir' }] });
    expect(kiln(['targets']).stdout).not.toMatch(/^toy/m);
  });

  it('compile writes the kernel IR after its pipeline (memory planned) and report.json', () => {
    const out = path.join(tempDir(), 'out');
    const r = kiln(['--plugin', PLUGIN, 'compile', path.join(MLP, 'model.onnx'), '--target', 'toy', '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['.kiln-output', 'model.kir', 'report.json']);
    const text = fs.readFileSync(path.join(out, 'model.kir'), 'utf8');
    // the text form is the kernel level and parses back; plan-memory placed the temps
    expect(parseIrText(text, 'model.kir').level).toBe('kernel');
    expect(text).toMatch(/temp f32\[1,32\] level "arena" offset \d+/);
    const report = JSON.parse(r.stdout) as { target: string; style: string; kernels: number; passes: { name: string }[] };
    // the bias add and ReLU after each MatMul are fused into it (the fuse pass runs for every kernel target)
    expect(report).toMatchObject({ target: 'toy', style: 'kir', kernels: 5 });
    expect(report.passes.map((p) => p.name)).toEqual(['specialize', 'eliminate-identity', 'fold-affine', 'dce', 'lower', 'fuse', 'pack-subbyte', 'plan-memory', 'emit-toy']);
    // the option, by flag or after a colon
    const s1 = path.join(tempDir(), 's');
    expect(kiln(['--plugin', PLUGIN, 'compile', path.join(MLP, 'model.onnx'), '--target', 'toy:summary', '-o', s1]).code).toBe(0);
    expect(fs.readFileSync(path.join(s1, 'summary.txt'), 'utf8')).toMatch(/^mlp: 5 kernels, arena \d+ B\n0 fc1_matmul \(MatMul\)\n/);
    const bad = kiln(['--plugin', PLUGIN, 'compile', path.join(MLP, 'model.onnx'), '--target', 'toy', '--target-option', 'style=fancy', '-o', path.join(tempDir(), 'x')]);
    expect(bad.stderr).toBe("kiln: error: option style 'fancy' of target 'toy' is not one of kir, summary\n");
  });

  it('run compares with the expected outputs through the kernel interpreter', () => {
    const r = kiln(['--plugin', PLUGIN, 'run', path.join(MLP, 'model.onnx'), '--target', 'toy', '--target-option', 'style=summary', '--inputs', path.join(MLP, 'test_data_set_0'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { ok: boolean; target: string; summary: string; outputs: { match: boolean }[] };
    expect(j.ok).toBe(true);
    expect(j.outputs.map((o) => o.match)).toEqual([true]);
    expect(j.summary).toBe('toy (summary): 5 kernels run by the kernel interpreter');
  });

  it('conformance passes a small folder of cases (workers load the plugin)', () => {
    const dir = tempDir();
    for (const name of ['mlp', 'ad-autoencoder']) fs.cpSync(path.resolve('samples', name), path.join(dir, name), { recursive: true });
    const r = kiln(['--plugin', PLUGIN, 'conformance', dir, '--target', 'toy', '--jobs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { target: string; total: number; passed: number };
    expect(report).toMatchObject({ target: 'toy', total: 2, passed: 2 });
    // without the plugin the target is unknown: one line
    const without = kiln(['conformance', dir, '--target', 'toy']);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/^kiln: error: unknown target 'toy' \(known: interp, kernel, c, c-asan, mcu, pim, wgsl, hls\)\n$/);
  });
});
