/** CLI details a new user meets first: --version, argument order, one-line messages, --verbose. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KILN, kiln, tempDir } from './helpers/onnx-builder.js';

/** Like kiln() but keeps stderr when the command succeeds. */
function kilnBoth(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SAMPLE = path.resolve('samples', 'mlp');
const MODEL = path.join(SAMPLE, 'model.onnx');
const DATA = path.join(SAMPLE, 'test_data_set_0');

describe('kiln CLI polish', () => {
  it('--version prints the version in package.json', () => {
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string };
    const r = kiln(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('--help of run and conformance lists the targets', () => {
    for (const cmd of ['run', 'conformance']) expect(kiln([cmd, '--help']).stdout).toMatch(/target \(interp, [^)]*c[^)]*\)/);
  });

  it('has no project .npmrc key that npm warns about on every npx call', () => {
    const npmrc = fs.existsSync('.npmrc') ? fs.readFileSync('.npmrc', 'utf8') : '';
    expect(npmrc).not.toMatch(/^\s*onnxruntime-node-install\s*=/m);
  });

  it('kiln run -i DIR model.onnx takes the model after the inputs', () => {
    const a = kiln(['run', '-i', DATA, MODEL]);
    const b = kiln(['run', MODEL, '-i', DATA]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toMatch(/compare output 0 'probs': ok/);
  });

  it('kiln opt without a file says so once', () => {
    const r = kiln(['opt']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("kiln: error: missing argument 'input'");
  });

  it('an unknown --input-shape name lists the inputs; a wrong shape names the declared type', () => {
    const out = path.join(tempDir(), 'o');
    const unknown = kiln(['compile', MODEL, '-o', out, '--input-shape', 'y=1x16']);
    expect(unknown.stderr.trim()).toBe("kiln: error: --input-shape: model has no input 'y' (inputs: input)");
    const wrong = kiln(['compile', MODEL, '-o', out, '--input-shape', 'input=1x3']);
    expect(wrong.stderr).toMatch(/does not fit the declared type tensor<1x16xf32>/);
  });

  it('an empty model file and a truncated one', () => {
    const dir = tempDir();
    const empty = path.join(dir, 'empty.onnx');
    fs.writeFileSync(empty, '');
    expect(kiln(['inspect', empty]).stderr).toMatch(/^kiln: error: .*empty file/);
    const cut = path.join(dir, 'cut.onnx');
    const bytes = fs.readFileSync(MODEL);
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 7));
    expect(kiln(['inspect', cut]).stderr).toMatch(/^kiln: error: .*truncated protobuf/);
  });

  it("--verbose shows the passes' ctx.log messages on opt and compile", () => {
    const quiet = kilnBoth(['opt', MODEL, '--passes', 'lower,plan-memory{strategy=greedy-size}', '-o', path.join(tempDir(), 'q.kir')]);
    expect(quiet.stderr).toBe('');
    const r = kilnBoth(['opt', MODEL, '--passes', 'lower,plan-memory{strategy=greedy-size}', '--verbose', '-o', path.join(tempDir(), 'v.kir')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^plan-memory: arena \d+ B/m);
    const plugin = path.resolve('samples/plugins/fuse-swish.mjs');
    const c = kilnBoth(['--plugin', plugin, 'compile', MODEL, '-o', path.join(tempDir(), 'c'), '--passes', 'fuse-swish', '--verbose']);
    expect(c.code).toBe(0);
    const run = kilnBoth(['--plugin', plugin, 'run', MODEL, '-i', DATA, '--passes', 'fuse-swish', '--verbose']);
    expect(run.code).toBe(0);
  });
});

describe('numbers in human output', () => {
  it('bench never prints a ratio of 0.00', async () => {
    const { formatRatio } = await import('../src/driver/bench.js');
    expect(formatRatio(0.00312)).toBe('0.00312');
    expect(formatRatio(1.5)).toBe('1.50');
    expect(formatRatio(0.004)).not.toBe('0.00');
  });

  it('formatBytes uses B, KiB and MiB', async () => {
    const { formatBytes } = await import('../src/driver/units.js');
    expect(formatBytes(176)).toBe('176 B');
    expect(formatBytes(3496)).toBe('3.41 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5 MiB');
  });

  it('kiln report works for a model that does not fit the board and marks the overflow', () => {
    const out = path.join(tempDir(), 'r.html');
    const model = path.resolve('samples/resnet8/model.onnx');
    // the f32 model is refused by compile for this board ...
    expect(kiln(['compile', model, '-t', 'mcu', '--board', 'stm32f446', '-o', path.join(tempDir(), 'c')]).stderr).toMatch(/needs \d+ B of SRAM/);
    // ... and the report shows why
    const r = kiln(['report', model, '-t', 'mcu', '--board', 'stm32f446', '-o', out, '--time-limit', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/does not fit/);
    expect(fs.readFileSync(out, 'utf8')).toMatch(/SRAM needed<\/th><td>[^<]*DOES NOT FIT/);
  });
});
