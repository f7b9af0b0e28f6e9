/**
 * The MCU target: board descriptions, the fit check, `kiln compile --target mcu`, and runs under
 * QEMU (`kiln run` / `kiln conformance --target mcu`). Tests that need arm-none-eabi-gcc or
 * qemu-system-arm are skipped (with a message) when the tool is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { getBoard, listBoards } from '../src/costmodel/boards.js';
import { KilnError } from '../src/ir/errors.js';
import { floatTensor, KILN, kiln, node, ONNX_TESTS, tempDir, vi, writeModel, type CliResult } from './helpers/onnx-builder.js';

function installed(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== 'ENOENT';
  }
}

const hasGcc = installed('arm-none-eabi-gcc') && installed('arm-none-eabi-size');
const hasQemu = installed('qemu-system-arm');
if (!hasGcc) console.log('skipped: arm-none-eabi-gcc not installed');
if (!hasQemu) console.log('skipped: qemu-system-arm not installed');

const sample = path.resolve('samples/mlp');
const addBcast = path.join(ONNX_TESTS, 'node', 'test_add_bcast');

/** kiln with extra environment variables (e.g. a tool override). */
function kilnEnv(args: string[], env: Record<string, string>): CliResult {
  try {
    const stdout = execFileSync(process.execPath, [KILN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, env: { ...process.env, CI: 'true', ...env } });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number | null; stdout: string; stderr: string };
    return { code: err.status ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** y = x + W with a 300k-element f32 initializer: 1.2 MB of weights, 1.2 MB of output. */
function bigModel(): string {
  const n = 300_000;
  return writeModel(tempDir(), {
    nodes: [node('Add', ['x', 'W'], ['y'])],
    inputs: [vi('x', 1, [1])],
    outputs: [vi('y', 1, [n])],
    initializers: [floatTensor('W', [n], Array.from({ length: n }, (_, i) => (i % 7) * 0.5))],
  });
}

describe('boards', () => {
  it('loads the board descriptions from JSON', () => {
    const names = listBoards().map((b) => b.name);
    expect(names).toEqual(expect.arrayContaining(['mps2-an386', 'stm32f446']));
    const stm = getBoard('stm32f446');
    expect(stm).toMatchObject({ cpu: 'cortex-m4', fpu: 'fpv4-sp-d16', floatAbi: 'hard', flash: { origin: 0x08000000, size: 512 * 1024 }, sram: { origin: 0x20000000, size: 128 * 1024 }, runOn: 'mps2-an386' });
    expect(getBoard('mps2-an386').qemuMachine).toBe('mps2-an386');
  });

  it('rejects an unknown board with the known ones', () => {
    expect(() => getBoard('nope')).toThrow(KilnError);
    expect(() => getBoard('nope')).toThrow(/unknown board 'nope' \(known: .*mps2-an386.*stm32f446/);
    const r = kiln(['compile', path.join(sample, 'model.onnx'), '--target', 'mcu', '--board', 'nope', '-o', path.join(tempDir(), 'out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln: error: unknown board 'nope' \(known: /);
  });
});

describe('fit check', () => {
  it('refuses a model too big for stm32f446 with one line naming the sizes, before any tool runs', () => {
    const out = path.join(tempDir(), 'out');
    // a missing compiler shows the check happens first
    const r = kilnEnv(['compile', bigModel(), '--target', 'mcu', '--board', 'stm32f446', '-o', out], { KILN_ARM_GCC: 'arm-none-eabi-gcc-missing' });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^kiln: error: model needs \d+ B of SRAM, board stm32f446 has 131072 B/);
    expect(lines[0]).toMatch(/model needs \d+ B of flash, board stm32f446 has 524288 B/);
    const flash = Number(/needs (\d+) B of flash/.exec(lines[0]!)![1]);
    expect(flash).toBeGreaterThan(1_200_000);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('reports estimated sizes when arm-none-eabi-gcc is missing', () => {
    const out = path.join(tempDir(), 'out');
    const r = kilnEnv(['compile', path.join(sample, 'model.onnx'), '--target', 'mcu', '-o', out], { KILN_ARM_GCC: 'arm-none-eabi-gcc-missing' });
    expect(r.code).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as Record<string, unknown>;
    expect(report).toMatchObject({ target: 'mcu', board: 'mps2-an386', fits: { flash: true, sram: true }, sizes: 'estimated (arm-none-eabi-gcc-missing not installed)' });
  });

  it('reports a missing tool as unsupported, not a crash', () => {
    const r = kilnEnv(['run', path.join(sample, 'model.onnx'), '--target', 'mcu', '--inputs', path.join(sample, 'test_data_set_0')], { KILN_QEMU_ARM: 'qemu-system-arm-missing' });
    expect(r.code).toBe(1);
    // the target's declared tools are checked before anything runs, with where to get them
    expect(r.stderr.trim()).toBe("kiln: error: target 'mcu' needs qemu-system-arm-missing, which is not installed (apt-get install --no-install-recommends qemu-system-arm)");
  });
});

describe.skipIf(!hasGcc)('kiln compile --target mcu', () => {
  it('writes a Cortex-M project for stm32f446 with measured sizes in report.json', () => {
    const out = path.join(tempDir(), 'out');
    const r = kiln(['compile', path.join(sample, 'model.onnx'), '--target', 'mcu', '--board', 'stm32f446', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/mcu stm32f446: flash \d+ B of 524288 B/);
    for (const f of ['model.c', 'model.h', 'main.c', 'weights.s', 'weights.bin', 'startup.s', 'link.ld', 'Makefile', 'report.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    expect(fs.readFileSync(path.join(out, 'link.ld'), 'utf8')).toMatch(/FLASH \(rx\)\s*: ORIGIN = 0x08000000, LENGTH = 524288/);
    expect(fs.readFileSync(path.join(out, 'startup.s'), 'utf8')).toMatch(/0xE000ED88/);
    expect(fs.readFileSync(path.join(out, 'Makefile'), 'utf8')).toMatch(/-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard/);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as { board: string; flashBytes: number; ramBytes: number; fits: { flash: boolean; sram: boolean }; weightBytes: number };
    expect(report.board).toBe('stm32f446');
    expect(report.fits).toEqual({ flash: true, sram: true });
    expect(report.flashBytes).toBeGreaterThan(report.weightBytes);
    expect(report.ramBytes).toBeGreaterThan(0);
  });
});

describe.skipIf(!hasGcc || !hasQemu || !fs.existsSync(addBcast))('kiln run --target mcu (QEMU mps2-an386)', () => {
  it('runs an ONNX test case and matches the expected output', () => {
    const r = kiln(['run', path.join(addBcast, 'model.onnx'), '--target', 'mcu', '--inputs', path.join(addBcast, 'test_data_set_0')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/compare output 0 'sum': ok/);
    expect(r.stdout).toMatch(/mcu mps2-an386: flash \d+ B of 4194304 B .*RAM \d+ B static/);
  });

  it('runs the bundled MLP sample with the stm32f446 budget', () => {
    const r = kiln(['run', path.join(sample, 'model.onnx'), '--target', 'mcu', '--board', 'stm32f446', '--inputs', path.join(sample, 'test_data_set_0')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/compare output 0 'probs': ok/);
    expect(r.stdout).toMatch(/mcu stm32f446: flash \d+ B of 524288 B .*ran under QEMU on mps2-an386/);
  });

  it('passes conformance cases', () => {
    const r = kiln(['conformance', path.join(ONNX_TESTS, 'node'), '--target', 'mcu', '--filter', 'test_mul_bcast', '--jobs', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/target mcu: 1 passed, 0 failed, 0 errored, 0 unsupported, of 1/);
  });
});

// The MLPerf Tiny models fit an STM32F446 (512 KiB flash, 128 KiB SRAM) as int8 deployments; the
// f32 originals of the larger ones do not, and say so in one line.
const samplesDir = path.resolve('samples');
const int8Samples = fs.readdirSync(samplesDir).filter((d) => d.endsWith('-int8') && fs.existsSync(path.join(samplesDir, d, 'model.onnx'))).sort();

describe('samples on stm32f446', () => {
  it('has the int8 samples', () => {
    expect(int8Samples).toEqual(['ad-autoencoder-int8', 'kws-dscnn-int8', 'resnet8-int8', 'vww-mobilenet-int8']);
  });

  // measured with arm-none-eabi-size when installed, else Kiln's estimate (report.sizes says which)
  it.each([...int8Samples, 'mlp', 'kws-dscnn', 'transformer-block'])('%s fits stm32f446 (report.json)', (name) => {
    const out = path.join(tempDir(), 'out');
    const r = kiln(['compile', path.join(samplesDir, name, 'model.onnx'), '--target', 'mcu', '--board', 'stm32f446', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as { board: string; fits: { flash: boolean; sram: boolean }; flashBytes: number; ramNeededBytes: number; arenaBytes: number; sizes: string };
    expect(report.board).toBe('stm32f446');
    expect(report.fits).toEqual({ flash: true, sram: true });
    expect(report.flashBytes).toBeLessThanOrEqual(512 * 1024);
    expect(report.ramNeededBytes).toBeLessThanOrEqual(128 * 1024);
    expect(report.ramNeededBytes).toBeGreaterThan(report.arenaBytes);
    if (hasGcc) expect(report.sizes).toBe('arm-none-eabi-size');
  });

  // one model over the SRAM budget, one over the flash budget (vww-mobilenet fails like resnet8)
  it.each([
    ['resnet8', 'SRAM'],
    ['ad-autoencoder', 'flash'],
  ])('f32 %s is refused for stm32f446 in one line naming the %s size', (name, what) => {
    const out = path.join(tempDir(), 'out');
    const r = kiln(['compile', path.join(samplesDir, name, 'model.onnx'), '--target', 'mcu', '--board', 'stm32f446', '-o', out]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^kiln: error: model needs \\d+ B of ${what}, board stm32f446 has \\d+ B`));
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe.skipIf(!hasGcc || !hasQemu)('int8 samples under QEMU with the stm32f446 budget', () => {
  it.each(int8Samples)('%s matches onnxruntime', (name) => {
    const dir = path.join(samplesDir, name);
    const r = kiln(['run', path.join(dir, 'model.onnx'), '--target', 'mcu', '--board', 'stm32f446', '--inputs', path.join(dir, 'test_data_set_0')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/compare output 0 '\w+': ok/);
    expect(r.stdout).toMatch(/mcu stm32f446: flash \d+ B of 524288 B .*ran under QEMU/);
  });
});
