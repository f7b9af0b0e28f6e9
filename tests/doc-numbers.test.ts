/** #10 item 20: the tables the docs quote are generated from what Kiln's commands print (bench/doc-numbers.mjs). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTool, tempDir } from './helpers/onnx-builder.js';

const SCRIPT = path.resolve('bench/doc-numbers.mjs');
const committed = JSON.parse(fs.readFileSync('bench/doc-numbers.json', 'utf8')) as { board: string; mcu: Record<string, Record<string, unknown>> };

function script(args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    return { code: 0, stdout: execFileSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
  }
}

describe('numbers in the docs', () => {
  it('every marked table equals what the script renders from bench/doc-numbers.json and the bench JSONs', () => {
    const r = script(['check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('a changed number makes check fail, naming the file and the table', () => {
    const numbers = structuredClone(committed);
    (numbers.mcu['kws-dscnn-int8'] as { arenaBytes: number }).arenaBytes += 1;
    const file = path.join(tempDir(), 'numbers.json');
    fs.writeFileSync(file, JSON.stringify(numbers));
    const r = script(['check', '--numbers', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stale numbers in README\.md: mcu-samples, samples\/README\.md: int8-samples/);
  });

  const arm = hasTool('arm-none-eabi-gcc');
  it.skipIf(!arm)('the committed numbers are what kiln compile --target mcu prints today (a fitting and a refused sample)', () => {
    const file = path.join(tempDir(), 'fresh.json');
    const r = script(['record', '--only', 'kws-dscnn-int8,mlp,resnet8', '--numbers', file]);
    expect(r.code, r.stderr).toBe(0);
    const fresh = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof committed;
    for (const s of ['kws-dscnn-int8', 'mlp', 'resnet8']) expect(fresh.mcu[s], `${s}: rerun node bench/doc-numbers.mjs record && … write`).toEqual(committed.mcu[s]);
  });
  if (!arm) it('skipped: arm-none-eabi-gcc not installed (fresh numbers not compared)', () => {});
});
