/**
 * The generated C on the ONNX conformance cases, through the CLI: plain (the C target's acceptance
 * figure) and under AddressSanitizer + UBSan, where every case that passes must also run clean.
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

function conformance(target: string): Report {
  const out = path.join(tempDir(), `${target}.json`);
  const t0 = performance.now();
  const r = kiln(['conformance', ONNX_TESTS, '--target', target, '--json', out]);
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

  it('--target c-asan: every passing case runs clean under -fsanitize=address,undefined', () => {
    const asan = conformance('c-asan');
    const status = new Map(asan.cases.map((c) => [`${c.folder}/${c.name}`, c]));
    const dirty: string[] = [];
    for (const c of plain?.cases ?? []) {
      if (c.status !== 'pass') continue;
      const a = status.get(`${c.folder}/${c.name}`);
      if (!a || a.status !== 'pass') dirty.push(`${c.folder}/${c.name}: ${a?.message ?? 'missing'}`);
    }
    expect(dirty).toEqual([]);
  }, 1_500_000);
});
