/**
 * Generated code safety and determinism: hostile names from a model never reach C as code, and
 * compiling the same model twice gives byte-identical files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FLOAT, hasTool, kiln, node, tempDir, vi, writeModel } from './helpers/onnx-builder.js';
import { listTargets } from '../src/backends/index.js';
import { printIrFile } from '../src/driver/print-ir.js';

const HOSTILE = [
  'x*/ int pwned = 1; /*',
  '"); system("touch /tmp/kiln-pwned"); ("',
  '\n#include "/etc/passwd"\n',
  'a\\\nb',
  '??/ trigraph',
];

const cc = hasTool('cc');
if (!cc) console.log('skipped: cc not installed');

describe('names from the model are sanitized before they reach generated C', () => {
  it.skipIf(!cc)('hostile node, tensor and graph names compile to inert C', () => {
    const dir = tempDir();
    const [a, b, c, d, e] = HOSTILE as [string, string, string, string, string];
    const p = writeModel(dir, {
      nodes: [node('Relu', [a], [b], { name: c }), node('Neg', [b], [d], { name: e })],
      inputs: [vi(a, FLOAT, [2])],
      outputs: [vi(d, FLOAT, [2])],
    });
    const out = path.join(dir, 'c');
    const r = kiln(['compile', p, '--target', 'c', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const src = fs.readFileSync(path.join(out, 'model.c'), 'utf8') + fs.readFileSync(path.join(out, 'model.h'), 'utf8');
    // no line of generated code carries the payloads outside a comment
    const code = src.replace(/\/\*[\s\S]*?\*\//g, '');
    // payloads survive only as parts of sanitized identifiers, never as code
    expect(code).not.toMatch(/system\(|int pwned|"\/etc|\?\?\/|\\\n/);
    expect(src).not.toMatch(/^\s*#include "\/etc\/passwd"/m);
    for (const line of code.split('\n')) if (line.trim().startsWith('#')) expect(line).toMatch(/^#(include <|include "model\.h"|ifndef KILN_|define KILN_|ifdef __cplusplus$|endif)/);
    execFileSync('make', ['-s', '-C', out, 'CFLAGS=-std=c99 -Wall -Wextra -Werror -pedantic -O1'], { stdio: 'pipe' });
    fs.writeFileSync(path.join(out, 'in.bin'), Buffer.from(new Float32Array([-1, 2]).buffer));
    execFileSync(path.join(out, 'model'), [path.join(out, 'in.bin'), '-o', path.join(out, 'y')]);
    const y = fs.readFileSync(path.join(out, 'y0.bin'));
    expect([...new Float32Array(y.buffer, y.byteOffset, y.byteLength / 4)]).toEqual([-0, -2]);
    expect(fs.existsSync('/tmp/kiln-pwned')).toBe(false);
  });
});

describe('determinism', () => {
  const samples = fs.readdirSync('samples').filter((s) => fs.existsSync(path.join('samples', s, 'model.onnx')));

  // every registered target that writes files (mcu: its default board mps2-an386 takes every
  // sample; the fit check of smaller boards is tested in mcu.test.ts)
  const emitting = listTargets().filter((t) => t.capabilities.emits).map((t) => t.name);

  it('covers the file-writing targets', () => expect(emitting).toEqual(expect.arrayContaining(['c', 'mcu'])));

  // targets whose compile is costly (an ILP per model: hls) take the two smallest samples only
  const heavy = new Set(listTargets().filter((t) => t.capabilities.heavyCompile).map((t) => t.name));
  const smallest = [...samples].sort((a, b) => fs.statSync(path.join('samples', a, 'model.onnx')).size - fs.statSync(path.join('samples', b, 'model.onnx')).size || a.localeCompare(b)).slice(0, 2);
  // The C target (every other C-family target renders through its renderer) compiles every sample;
  // the others take one sample of each kind: float CNN, depthwise CNN, int8, QDQ, transformer, MLP
  // (CI time: two compiles per sample per target)
  const reference = 'c';
  const kinds = ['resnet8', 'vww-mobilenet', 'kws-dscnn-int8', 'ad-autoencoder-qdq', 'transformer-block', 'mlp'].filter((s) => samples.includes(s));
  const samplesFor = (target: string): string[] => (heavy.has(target) ? smallest : target === reference ? samples : kinds);

  it('one sample of each kind is present', () => expect(kinds).toHaveLength(6));

  it.each(emitting)('compiling samples twice for %s gives byte-identical files', (target) => {
    let compiled = 0;
    for (const s of samplesFor(target)) {
      const runs = [0, 1].map((k) => {
        const o = path.join(tempDir(), `c${k}`);
        return { o, r: kiln(['compile', path.join('samples', s, 'model.onnx'), '--target', target, '-o', o]) };
      });
      // a sample the target refuses (e.g. f64 requantization on wgsl) is refused the same way twice, in one line
      if (runs[0]!.r.code !== 0) {
        expect(runs[0]!.r.stderr, `${s}`).toMatch(/^kiln: error: [^\n]+\n$/);
        expect(runs[1]!.r.stderr, `${s}`).toBe(runs[0]!.r.stderr);
        continue;
      }
      compiled++;
      const outs = runs.map((x) => {
        expect(x.r.code, `${s}: ${x.r.stderr}`).toBe(0);
        return x.o;
      });
      for (const f of fs.readdirSync(outs[0]!).sort()) {
        if (fs.statSync(path.join(outs[0]!, f)).isDirectory()) continue;
        const x = fs.readFileSync(path.join(outs[0]!, f));
        const y = fs.readFileSync(path.join(outs[1]!, f));
        if (f === 'report.json') {
          // times (compileMs, solver ms, scheduling ms …) are measurements; everything else must match
          const strip = (b: Buffer) => JSON.stringify(JSON.parse(b.toString()), (k, v: unknown) => (k === 'ms' || /Ms$/.test(k) ? 0 : v));
          expect(strip(x), `${s}/${f}`).toBe(strip(y));
        } else expect(x.equals(y), `${s}/${f}`).toBe(true);
      }
    }
    expect(compiled, `no sample compiled for ${target}`).toBeGreaterThan(0);
  }, 600_000);

  it('printing IR twice (CLI, then in this process) gives identical text', () => {
    for (const s of samples) {
      const file = path.join('samples', s, 'model.onnx');
      const a = kiln(['print', file, '--full-constants']);
      expect(a.code).toBe(0);
      expect(a.stdout.trimEnd(), s).toBe(printIrFile(file).trimEnd());
    }
  });
});
