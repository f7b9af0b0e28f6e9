/**
 * `--json` for CI: stdout is one JSON document with stable keys, human text goes to stderr, and
 * no progress line is drawn in CI or on a pipe (but is on a terminal, checked through `script`).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeValue } from '../src/frontend/onnx/values.js';
import { Tensor } from '../src/ir/tensor.js';
import { hasTool, KILN, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';

const CASES = ['test_abs', 'test_add', 'test_relu'];
const sample = path.resolve('samples/mlp');

function kilnRaw(args: string[], env: Record<string, string | undefined> = { CI: 'true' }): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A folder with three small conformance cases, copied out of the shared corpus. */
let caseDir = '';
beforeAll(() => {
  if (!fs.existsSync(ONNX_TESTS)) return;
  caseDir = tempDir('kiln-cli-json-');
  for (const c of CASES) fs.cpSync(path.join(ONNX_TESTS, 'node', c), path.join(caseDir, c), { recursive: true });
});

describe.skipIf(!fs.existsSync(ONNX_TESTS))('kiln conformance --json', () => {
  it('prints the report as JSON on stdout and the summary on stderr, without progress in CI', () => {
    const r = kilnRaw(['conformance', caseDir, '--jobs', '1', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown> & { cases: Record<string, unknown>[] };
    expect(Object.keys(report)).toEqual(['target', 'total', 'passed', 'failed', 'errored', 'unsupported', 'cases']);
    expect(report.target).toBe('interp');
    expect(report.total).toBe(CASES.length);
    expect(report.cases.map((c) => c.name).sort()).toEqual(CASES);
    for (const c of report.cases) {
      expect(Object.keys(c)).toEqual(['name', 'folder', 'family', 'status', 'message', 'ms']);
      expect(['pass', 'fail', 'error', 'unsupported']).toContain(c.status);
      expect(typeof c.message).toBe('string');
    }
    expect(r.stderr).toMatch(/target interp: \d+ passed/);
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).not.toContain('\x1b[');
  });

  it('still writes the report to a file given to --json and keeps the summary on stdout', () => {
    const out = path.join(tempDir(), 'r.json');
    const r = kilnRaw(['conformance', caseDir, '--json', out, '--jobs', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/target interp: \d+ passed/);
    expect((JSON.parse(fs.readFileSync(out, 'utf8')) as { total: number }).total).toBe(CASES.length);
  });
});

describe('kiln run --json', () => {
  it('prints every output with its comparison result', () => {
    const r = kilnRaw(['run', path.join(sample, 'model.onnx'), '--inputs', path.join(sample, 'test_data_set_0'), '--json']);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { ok: boolean; target: string; outputs: Record<string, unknown>[] };
    expect(Object.keys(res)).toEqual(['model', 'target', 'ok', 'summary', 'rtol', 'atol', 'outputs']);
    expect(res.ok).toBe(true);
    expect(res.target).toBe('interp');
    expect(res.outputs).toHaveLength(1);
    expect(res.outputs[0]).toEqual({ index: 0, name: 'probs', kind: 'tensor', dtype: 'f32', shape: [1, 10], compared: true, match: true, message: null, file: null, maxAbsError: expect.any(Number), maxRelError: expect.any(Number) });
    expect(r.stderr).toBe('');
  });

  it('reports a mismatch with its reason and exits 1', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'output_0.pb'), encodeValue(Tensor.from('f32', [1, 10], new Array(10).fill(0.1)), null));
    const r = kilnRaw(['run', path.join(sample, 'model.onnx'), '--inputs', path.join(sample, 'test_data_set_0', 'input_0.pb'), '--expected', path.join(dir, 'output_0.pb'), '--json']);
    expect(r.code).toBe(1);
    const res = JSON.parse(r.stdout) as { ok: boolean; outputs: { compared: boolean; match: boolean | null; message: string | null }[] };
    expect(res.ok).toBe(false);
    expect(res.outputs[0]!.compared).toBe(true);
    expect(res.outputs[0]!.match).toBe(false);
    expect(res.outputs[0]!.message).toMatch(/expected 0\.1/);
  });

  it('says the outputs were not compared when no expected values are given', () => {
    const r = kilnRaw(['run', path.join(sample, 'model.onnx'), '--inputs', path.join(sample, 'test_data_set_0', 'input_0.pb'), '--json']);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { outputs: { compared: boolean; match: boolean | null }[] };
    expect(res.outputs[0]).toMatchObject({ compared: false, match: null });
  });
});

describe.skipIf(!fs.existsSync(ONNX_TESTS))('kiln fuzz --json', () => {
  it('prints the summary as JSON on stdout', () => {
    const r = kilnRaw(['fuzz', caseDir, '--count', '6', '--jobs', '1', '--json']);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(s)).toEqual(['seed', 'total', 'ok', 'refused', 'crashes', 'hangs', 'findings']);
    expect(s.total).toBe(6);
    expect(r.code).toBe((s.crashes as number) + (s.hangs as number) > 0 ? 1 : 0);
    expect(r.stderr).toMatch(/fuzz seed 1: 6 inputs/);
    expect(r.stderr).not.toContain('\r');
  });
});

// `script` runs the CLI on a pseudo-terminal, the one place where the line is drawn
const haveScript = hasTool('script', ['--version']);
describe.skipIf(!fs.existsSync(ONNX_TESTS))('progress line on a terminal', () => {
  const onTty = (extra: string[], env: Record<string, string | undefined>): string => {
    const cmd = [process.execPath, KILN, ...extra, 'conformance', caseDir, '--jobs', '1'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
    expect(r.status).toBe(0);
    return r.stdout;
  };

  it.skipIf(!haveScript)('is drawn on a terminal outside CI', () => {
    const out = onTty([], { CI: undefined });
    expect(out).toContain('\r\x1b[K');
    expect(out).toMatch(/conformance interp \[[#.]+\] \d+\/3/);
    expect(out).toMatch(/target interp: \d+ passed/);
  });

  it.skipIf(!haveScript)('is not drawn with CI=true or --no-progress', () => {
    for (const [extra, env] of [[[], { CI: 'true' }], [['--no-progress'], { CI: undefined }]] as const) {
      const out = onTty([...extra], env);
      expect(out).not.toContain('\x1b[K');
      expect(out).not.toMatch(/conformance interp \[/);
      expect(out).toMatch(/target interp: \d+ passed/);
    }
  });

  it.runIf(!haveScript)('skipped: script not installed', () => {
    console.log('skipped: script not installed');
  });
});
