/**
 * The generated C on the ONNX conformance cases, through the CLI: plain on every case (the C
 * target's acceptance figure) and, on every 4th case in name order (a fixed sample, to keep CI's time),
 * under AddressSanitizer + UBSan, where every case that passes plain must also run clean.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTool, kiln, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';

interface Report {
  total: number;
  passed: number;
  cases: { name: string; folder: string; status: string; message: string }[];
}


const haveData = fs.existsSync(path.join(ONNX_TESTS, 'node'));
const haveCc = hasTool('cc');
if (!haveCc) console.log('skipped: cc not installed');
if (!haveData) console.log('skipped: ../shared/onnx-tests not present');

function conformance(target: string, every = 1): Report {
  const out = path.join(tempDir(), `${target}.json`);
  const t0 = performance.now();
  const r = kiln(['conformance', ONNX_TESTS, '--target', target, '--every', String(every), '--json', out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
  const node = report.cases.filter((c) => c.folder === 'node');
  console.log(`conformance ${target}: node ${node.filter((c) => c.status === 'pass').length}/${node.length}, all ${report.passed}/${report.total} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return report;
}

describe.skipIf(!haveData || !haveCc)('conformance of generated C', () => {
  let plain: Report | null = null;

  it('--target c passes at least 1532 of the 1802 node cases; nothing fails or errors', () => {
    plain = conformance('c');
    const node = plain.cases.filter((c) => c.folder === 'node');
    expect(node.length).toBe(1802);
    expect(node.filter((c) => c.status === 'pass').length).toBeGreaterThanOrEqual(1532);
    expect(plain.cases.filter((c) => c.status === 'fail' || c.status === 'error').map((c) => `${c.name}: ${c.message}`)).toEqual([]);
  }, 1_500_000);

  it('--target c-asan (every 4th case): every case passing plain runs clean under -fsanitize=address,undefined', () => {
    const asan = conformance('c-asan', 4);
    expect(asan.cases.length).toBeGreaterThan(400);
    const plainStatus = new Map((plain?.cases ?? []).map((c) => [`${c.folder}/${c.name}`, c.status]));
    const dirty: string[] = [];
    for (const a of asan.cases) {
      if (plainStatus.get(`${a.folder}/${a.name}`) !== 'pass') continue;
      if (a.status !== 'pass') dirty.push(`${a.folder}/${a.name}: ${a.message}`);
    }
    expect(dirty).toEqual([]);
    expect(asan.passed).toBeGreaterThan(300);
  }, 1_500_000);
});

describe.skipIf(!haveData || !haveCc)('conformance runs leave the temp folder as they found it', () => {
  it('cases stopped at their time limit leave no build folder behind; --every takes every nth case', () => {
    const tmp = tempDir();
    const out = path.join(tempDir(), 'r.json');
    const all = kiln(['conformance', path.join(ONNX_TESTS, 'node'), '--filter', 'test_conv_with', '--target', 'interp', '--json']);
    const names = (JSON.parse(all.stdout) as Report).cases.map((c) => c.name);
    expect(names.length).toBeGreaterThan(3);
    // a "compiler" whose program outruns the time limit: every case is stopped while its program
    // runs (a stopped worker cannot clean up; whether it left its folder depended on timing)
    const slowCc = path.join(tempDir(), 'slow-cc');
    // (only when building a model: the tool check runs `$CC --version` in the working folder)
    fs.writeFileSync(slowCc, '#!/bin/sh\ncase "$*" in *main.c*) printf "#!/bin/sh\\nsleep 4\\n" > model; chmod +x model;; esac\n', { mode: 0o755 });
    const r = kiln(['conformance', path.join(ONNX_TESTS, 'node'), '--filter', 'test_conv_with', '--every', '2', '--target', 'c', '--timeout', '1500', '--json', out], { env: { TMPDIR: tmp, CC: slowCc } });
    expect(r.code).toBe(0);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
    expect(report.cases.map((c) => c.name)).toEqual(names.filter((_, i) => i % 2 === 0));
    expect(report.cases.every((c) => c.status === 'error' && /timed out/.test(c.message))).toBe(true);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
