/**
 * Fuzzing in CI: 2,000 mutated conformance models (bytes, structure, text IR) through import,
 * inference, folding, verification, print/parse and the interpreter. Only success or a one-line
 * KilnError is acceptable; crashes and hangs are listed with their replay index.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kiln, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';

describe.skipIf(!fs.existsSync(ONNX_TESTS))('kiln fuzz', () => {
  it('2,000 mutated inputs: no crash, no hang', () => {
    const out = path.join(tempDir(), 'fuzz.json');
    const r = kiln(['fuzz', ONNX_TESTS, '--count', '2000', '--seed', '20261123', '--timeout', '20000', '--json', out]);
    const summary = JSON.parse(fs.readFileSync(out, 'utf8')) as { total: number; ok: number; refused: number; crashes: number; hangs: number; findings: { file: string; index: number; message: string }[] };
    console.log(r.stdout.trim().split('\n').pop());
    expect(summary.total).toBe(2000);
    expect(summary.findings.map((f) => `${path.relative(ONNX_TESTS, f.file)} #${f.index}: ${f.message}`)).toEqual([]);
    expect(summary.crashes + summary.hangs).toBe(0);
    expect(r.code).toBe(0);
    // the mutations must not all be rejected at the first gate: some inputs get through the pipeline
    expect(summary.ok).toBeGreaterThan(100);
  });
});
