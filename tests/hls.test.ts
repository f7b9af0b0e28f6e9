/**
 * The hls target: a fixed deterministic sample of the conformance cases passes C simulation, every
 * emitted design file passes the synthesizability checks, the folding ILP beats the two fixed
 * foldings on kws-dscnn-int8, a design that does not fit is refused in one line, and compiling
 * twice gives identical files. Kept cheap (one conformance run over a few cases, in-process compiles).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTool, kiln, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';
import '../src/backends/index.js';
import '../src/passes/builtin.js';
import { loadModel } from '../src/driver/load.js';
import { compileModule } from '../src/driver/compile.js';
import { lintHls } from '../src/backends/hls/lint.js';
import type { HlsFoldReport } from '../src/passes/hls-fold.js';

const NODE = path.join(ONNX_TESTS, 'node');
const haveData = fs.existsSync(NODE);
const haveCxx = hasTool(process.env.CXX ?? 'g++');
if (!haveCxx) console.log('skipped: g++ not installed');
if (!haveData) console.log('skipped: ../shared/onnx-tests not present');

/** Every 200th node case in name order: a fixed sample (10 cases). */
const SAMPLE = haveData ? fs.readdirSync(NODE).sort().filter((_, i) => i % 200 === 0) : [];

function compileFiles(model: string, options: Record<string, string> = {}): { files: Map<string, string | Uint8Array>; report: Record<string, unknown> } {
  const module = loadModel(model);
  const r = compileModule(module, model, { target: 'hls', targetOptions: options, timeLimitMs: 10_000 });
  return { files: r.fileData, report: r.report as Record<string, unknown> };
}

function lintDesign(label: string, files: ReadonlyMap<string, string | Uint8Array>): string[] {
  return ['model.cpp', 'model.h'].flatMap((f) => lintHls(`${label}/${f}`, String(files.get(f) ?? '')));
}

describe.skipIf(!haveData || !haveCxx)('hls conformance sample', () => {
  it('every sampled case passes C simulation or is refused up front; none fails', () => {
    const dir = tempDir();
    const cases = path.join(dir, 'node');
    fs.mkdirSync(cases);
    for (const c of SAMPLE) fs.symlinkSync(path.join(NODE, c), path.join(cases, c));
    const out = path.join(dir, 'hls.json');
    const r = kiln(['conformance', cases, '--target', 'hls', '--jobs', '1', '--json', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { passed: number; total: number; cases: { name: string; status: string; message: string }[] };
    expect(report.total).toBe(SAMPLE.length);
    expect(report.cases.filter((c) => c.status === 'fail' || c.status === 'error').map((c) => `${c.name}: ${c.message}`)).toEqual([]);
    expect(report.passed).toBeGreaterThanOrEqual(SAMPLE.length - 2);
  }, 120_000);
});

describe.skipIf(!haveData)('hls synthesizability checks', () => {
  it('the emitted design files of the sampled cases are synthesizable C++', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const c of SAMPLE) {
      let files: Map<string, string | Uint8Array>;
      try {
        files = compileFiles(path.join(NODE, c, 'model.onnx')).files;
      } catch {
        continue; // refused up front (strings, sequences, …)
      }
      checked++;
      problems.push(...lintDesign(c, files));
    }
    expect(checked).toBeGreaterThan(SAMPLE.length / 2);
    expect(problems).toEqual([]);
  }, 60_000);

  it('the checks catch what they look for', () => {
    const bad = `static void f(float *p) { float *q = (float *)malloc(4); (void)q; f(p); }
static void g(int32_t n, float a[n]) {
  for (int32_t i = 0; i < n; i++) {
    a[i] = mystery(a[i]);
  }
}
`;
    const found = lintHls('bad.cpp', bad).join('\n');
    for (const what of ['dynamic memory', 'pointer declaration', 'recursion f -> f', 'without a literal size', 'no LOOP_TRIPCOUNT', 'calls mystery']) expect(found).toContain(what);
  });
});

describe('hls designs of the samples', () => {
  it('kws-dscnn-int8: the ILP folding beats all-folded and all-unrolled; the design files are clean, in both io modes', () => {
    const { files, report } = compileFiles('samples/kws-dscnn-int8/model.onnx');
    const hls = report.hls as HlsFoldReport;
    const [ilp, folded, unrolled] = hls.compare;
    expect(ilp!.fits).toBe(true);
    expect(ilp!.ii).toBeLessThan(folded!.ii);
    // the all-unrolled folding either does not fit or is no faster
    expect(!unrolled!.fits || ilp!.ii <= unrolled!.ii).toBe(true);
    for (const l of hls.layers) expect(l.reason).not.toBe('');
    expect(lintDesign('kws', files)).toEqual([]);
    const src = String(files.get('model.cpp'));
    expect(src).toMatch(/#pragma HLS DATAFLOW/);
    expect(src).toMatch(/#pragma HLS INTERFACE m_axi port=in0/);
    for (const f of ['run_hls.tcl', 'hls_config.cfg', 'tb.cpp', 'kiln_hls_stream.h', 'Makefile']) expect(files.has(f)).toBe(true);
    const stream = compileFiles('samples/kws-dscnn-int8/model.onnx', { io: 'stream', part: 'xc7a100t' });
    expect(String(stream.files.get('model.cpp'))).toMatch(/#pragma HLS INTERFACE axis port=in0/);
    expect(lintDesign('kws-stream', stream.files)).toEqual([]);
  }, 60_000);

  it('a design that does not fit the part is refused in one line naming the resource', () => {
    const r = kiln(['compile', 'samples/kws-dscnn-int8/model.onnx', '--target', 'hls', '--target-option', 'part=xc7a100t', '--target-option', 'budget=5', '-o', path.join(tempDir(), 'o')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^kiln: error: design does not fit xc7a100t even with every layer folded: (DSP|BRAM18K|LUT|FF) \d+ > \d+ \(5% of \d+\); largest user [^\n]+\n$/);
  });

  it('kiln report shows the folding table for an hls design', () => {
    const out = path.join(tempDir(), 'r.html');
    const r = kiln(['report', 'samples/mlp/model.onnx', '--target', 'hls', '--target-option', 'part=xc7a100t', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/HLS design on xc7a100t at 100 MHz/);
    const html = fs.readFileSync(out, 'utf8');
    expect(html).toMatch(/<section id="design">/);
    expect(html).toMatch(/folding ilp: interval \d+ cycles/);
  });

  it('the folded kernel IR (unroll, pipeline II) reads back as printed', () => {
    const dir = tempDir();
    const first = path.join(dir, 'folded.kir');
    for (const [io, want] of [['stream', / unroll \d+ pipeline/], ['m_axi', / pipeline \d+ \{/]] as const) {
      const a = kiln(['opt', 'tests/ir/hls-fold.kir', '--passes', `lower,hls-fold{io=${io}}`, '-o', first]);
      expect(a.code, a.stderr).toBe(0);
      const text = fs.readFileSync(first, 'utf8');
      expect(text).toMatch(want);
      const b = kiln(['opt', first, '--passes', '']);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stdout).toBe(text);
    }
  });

  it('compiling twice gives identical files', () => {
    const a = compileFiles('samples/mlp/model.onnx').files;
    const b = compileFiles('samples/mlp/model.onnx').files;
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [f, x] of a) {
      if (f === 'report.json') continue;
      expect(String(b.get(f)), f).toBe(String(x));
    }
  });

  it.skipIf(!haveCxx)('mlp runs in C simulation with stream ports under ASan/UBSan and matches the expected output', () => {
    const r = kiln(['run', 'samples/mlp/model.onnx', '--target', 'hls', '--target-option', 'io=stream', '--target-option', 'sanitize=on', '--inputs', 'samples/mlp/test_data_set_0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/C simulation passed on xczu7ev/);
    expect(r.stdout).toMatch(/compare output 0 'probs': ok/);
  }, 60_000);
});
