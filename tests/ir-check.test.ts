/** Runs the FileCheck IR tests in tests/ir with one `kiln check` invocation (needs dist/: npm run build). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kiln, tempDir } from './helpers/onnx-builder.js';

const files = fs.readdirSync('tests/ir').filter((f) => f.endsWith('.kir')).sort().map((f) => path.join('tests/ir', f));

describe('kiln check tests/ir', () => {
  it('has the IR tests', () => {
    expect(files.length).toBeGreaterThanOrEqual(25);
  });

  it('every IR test passes', () => {
    const r = kiln(['check', '--json', ...files]);
    const report = JSON.parse(r.stdout) as { passed: number; failed: number; tests: { file: string; ok: boolean; runs: { ok: boolean; message: string }[] }[] };
    const failures = report.tests.filter((t) => !t.ok).map((t) => `${t.file}\n${t.runs.map((x) => x.message).join('\n')}`);
    expect(failures).toEqual([]);
    expect(report.passed).toBe(files.length);
    expect(r.code).toBe(0);
  });

  it('a wrong CHECK fails the run with a FileCheck-style message and exit code 1', () => {
    const dir = tempDir();
    const file = path.join(dir, 'wrong.kir');
    fs.writeFileSync(file, [
      '// RUN: kiln opt %s --passes cse',
      'kiln.module opsets {"" = 17} {',
      '  graph @main(%x: tensor<2xf32>) -> (%y) {',
      '    %a = "Relu"(%x) name "r1"',
      '    %b = "Relu"(%x) name "r2"',
      '    %y = "Add"(%a, %b) name "add"',
      '  }',
      '}',
      '// CHECK: "Add"(%a, %b)',
      '',
    ].join('\n'));
    const r = kiln(['check', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAIL: ${file}`);
    expect(r.stdout).toContain(`${file}:9:11: error: CHECK: expected string not found in input`);
    expect(r.stdout).toMatch(/<stdout>:\d+:\d+: note: possible intended match here\n +%y: tensor<2xf32> = "Add"\(%a, %a\)/);
    expect(r.stdout).toMatch(/^0 passed, 1 failed$/m);
  });

  it('runs RUN lines as child processes with --isolated, same verdicts', () => {
    const r = kiln(['check', '--isolated', '-q', 'tests/ir/cse-basic.kir', 'tests/ir/error-unknown-pass.kir']);
    expect(r.stdout).toBe('2 passed, 0 failed\n');
    expect(r.code).toBe(0);
  });

  it('reports a missing test file and a file without RUN lines as failures', () => {
    const dir = tempDir();
    const norun = path.join(dir, 'norun.kir');
    fs.writeFileSync(norun, '// CHECK: x\n');
    const r = kiln(['check', path.join(dir, 'missing.kir'), norun]);
    expect(r.code).toBe(1);
    // file-system errors are one line naming the path, never a raw error code
    expect(r.stdout).toContain(`cannot read '${path.join(dir, 'missing.kir')}': no such file or folder`);
    expect(r.stdout).not.toContain('ENOENT');
    expect(r.stdout).toContain(`${norun}: no RUN: lines`);
    expect(r.stdout).toMatch(/^0 passed, 2 failed$/m);
  });
});
