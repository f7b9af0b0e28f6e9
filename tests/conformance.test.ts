/**
 * ONNX backend conformance on the reference interpreter, through the CLI as a user runs it.
 * The thresholds are the foundation issue's acceptance figures; the run's time is printed, not asserted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kiln, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';

interface Report {
  target: string;
  total: number;
  passed: number;
  failed: number;
  errored: number;
  unsupported: number;
  cases: { name: string; folder: string; status: string; message: string }[];
}

const haveData = fs.existsSync(path.join(ONNX_TESTS, 'node'));

describe.skipIf(!haveData)('conformance --target interp', () => {
  it('passes the acceptance thresholds on node, pytorch-operator and simple', () => {
    if (!haveData) console.log('skipped: ../shared/onnx-tests not present');
    const out = path.join(tempDir(), 'report.json');
    const t0 = performance.now();
    const r = kiln(['conformance', ONNX_TESTS, '--target', 'interp', '--json', out]);
    const secs = (performance.now() - t0) / 1000;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
    const byFolder = (f: string) => report.cases.filter((c) => c.folder === f);
    const passed = (f: string) => byFolder(f).filter((c) => c.status === 'pass').length;
    console.log(`conformance interp: ${report.passed}/${report.total} in ${secs.toFixed(1)} s; node ${passed('node')}/${byFolder('node').length}, pytorch-operator ${passed('pytorch-operator')}/${byFolder('pytorch-operator').length}, simple ${passed('simple')}/${byFolder('simple').length}`);
    expect(byFolder('node').length).toBe(1802);
    expect(passed('node')).toBeGreaterThanOrEqual(1622);
    expect(passed('pytorch-operator') / byFolder('pytorch-operator').length).toBeGreaterThanOrEqual(0.9);
    expect(passed('simple') / byFolder('simple').length).toBeGreaterThanOrEqual(0.9);
    // every non-pass is a refusal with a reason or a wrong answer, never an internal error
    const errored = report.cases.filter((c) => c.status === 'error');
    expect(errored.map((c) => `${c.name}: ${c.message}`)).toEqual([]);
    for (const c of report.cases) if (c.status !== 'pass') expect(c.message).not.toBe('');
  });
});
