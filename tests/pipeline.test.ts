/** Pass pipelines: parsing, levels, --verify-each, IR printing and dumps, and `kiln opt` round trips. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePipelineText } from '../src/passes/pipeline.js';
import { KilnError } from '../src/ir/errors.js';
import { kiln, tempDir } from './helpers/onnx-builder.js';

const sample = path.resolve('samples/kws-dscnn/model.onnx');

describe('pipeline text', () => {
  it('parses names and options', () => {
    expect(parsePipelineText('a, b{k=v, k2=64KiB},c{}')).toEqual([
      { name: 'a', options: {} },
      { name: 'b', options: { k: 'v', k2: '64KiB' } },
      { name: 'c', options: {} },
    ]);
    expect(parsePipelineText('')).toEqual([]);
    expect(parsePipelineText('t{flag}')).toEqual([{ name: 't', options: { flag: 'true' } }]);
  });
  it.each(['a,,b', 'a{k=v', 'A', 'a b', 'a,', 'a{k=1,k=2}'])('refuses %j with a usage error', (bad) => {
    expect(() => parsePipelineText(bad)).toThrow(KilnError);
  });
});

describe('kiln opt', () => {
  it('lists the built-in passes with their levels', () => {
    const r = kiln(['opt', '--list-passes']);
    expect(r.code).toBe(0);
    for (const p of ['fold-constants', 'specialize', 'schedule-memory', 'lower', 'plan-memory']) expect(r.stdout).toMatch(new RegExp(`^  ${p} `, 'm'));
    expect(r.stdout).toMatch(/lower\s+\[lower\]/);
    expect(r.stdout).toMatch(/plan-memory\s+\[kernel\]/);
  });

  it('dumps one numbered .kir per pass, and opt with no passes reproduces every dump exactly', () => {
    const dir = tempDir();
    const dumps = path.join(dir, 'dumps');
    const r = kiln(['opt', sample, '--passes', 'fold-constants,schedule-memory,lower,plan-memory{strategy=greedy-size}', '--dump-dir', dumps, '--full-constants', '--verify-each', '-o', path.join(dir, 'final.kir')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const files = fs.readdirSync(dumps).filter((f) => f.endsWith('.kir')).sort();
    expect(files).toEqual(['00-input.kir', '01-fold-constants.kir', '02-schedule-memory.kir', '03-lower.kir', '04-plan-memory.kir']);
    expect(fs.readFileSync(path.join(dumps, '02-schedule-memory.kir'), 'utf8')).toMatch(/^kiln\.module /);
    const planned = fs.readFileSync(path.join(dumps, '04-plan-memory.kir'), 'utf8');
    expect(planned).toMatch(/^kiln\.kernel /);
    expect(planned).toMatch(/offset \d+/);
    expect(fs.readFileSync(path.join(dir, 'final.kir'), 'utf8')).toBe(planned);
    for (const f of files) {
      const again = kiln(['opt', path.join(dumps, f)]);
      expect(again.code, f).toBe(0);
      expect(again.stdout, f).toBe(fs.readFileSync(path.join(dumps, f), 'utf8'));
    }
    // continuing from a kernel-level dump with a kernel pass works too
    const cont = kiln(['opt', path.join(dumps, '03-lower.kir'), '--passes', 'plan-memory{strategy=greedy-size}']);
    expect(cont.code).toBe(0);
    expect(cont.stdout).toBe(planned);
  });

  it('dumps and kiln print elide large constants by default; elided text round-trips but is never computed with', () => {
    const dir = tempDir();
    const dumps = path.join(dir, 'dumps');
    expect(kiln(['opt', sample, '--passes', 'lower', '--dump-dir', dumps, '-o', path.join(dir, 'full.kir')]).code).toBe(0);
    const graphDump = fs.readFileSync(path.join(dumps, '00-input.kir'), 'utf8');
    const kernelDump = fs.readFileSync(path.join(dumps, '01-lower.kir'), 'utf8');
    // conv1.weight has 2560 elements: a digest, not 10 KB of hex; small constants stay readable
    expect(graphDump).toMatch(/const %conv1\.weight: tensor<64x1x10x4xf32> = dense<elided:[0-9a-f]{16}>/);
    expect(graphDump).toMatch(/const %conv1\.bn\.scale: tensor<64xf32> = dense<\[/);
    expect(kernelDump).toMatch(/buffer %conv1_weight: const f32\[64,1,10,4\] = dense<elided:[0-9a-f]{16}>/);
    expect(graphDump).not.toMatch(/dense<0x/);
    // the -o output of opt is for tools: full data
    expect(fs.readFileSync(path.join(dir, 'full.kir'), 'utf8')).toMatch(/buffer %conv1_weight: const f32\[64,1,10,4\] = dense<0x/);
    for (const f of ['00-input.kir', '01-lower.kir']) {
      const file = path.join(dumps, f);
      expect(kiln(['opt', file]).stdout, f).toBe(fs.readFileSync(file, 'utf8'));
      expect(kiln(['print', file]).stdout, f).toBe(fs.readFileSync(file, 'utf8'));
    }
    for (const args of [['run', path.join(dumps, '00-input.kir')], ['opt', path.join(dumps, '01-lower.kir'), '--passes', 'plan-memory'], ['print', path.join(dumps, '00-input.kir'), '--level', 'kernel']]) {
      const r = kiln(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/a constant was printed without its data .*--full-constants.*at tensor conv1[._]weight/);
    }
    // thresholds: --elide-constants 0 elides every non-splat constant, --full-constants none
    const all = kiln(['print', sample, '--elide-constants', '0']).stdout;
    expect(all).toMatch(/const %conv1\.bn\.scale: tensor<64xf32> = dense<elided:/);
    const full = kiln(['print', sample, '--full-constants']).stdout;
    expect(full).not.toMatch(/elided/);
    expect(full).toMatch(/%conv1\.weight: tensor<64x1x10x4xf32> = dense<0x/);
    expect(kiln(['print', sample, '--elide-constants', 'lots']).stderr).toMatch(/--elide-constants 'lots' must be a number/);
    // the digest follows the data: another model's weights of the same shape give another digest
    const other = kiln(['print', path.resolve('samples/kws-dscnn-int8/model.onnx')]).stdout;
    const digests = (t: string): string[] => [...t.matchAll(/elided:([0-9a-f]{16})/g)].map((m) => m[1]!);
    expect(new Set(digests(graphDump)).size).toBe(digests(graphDump).length);
    expect(digests(other).some((d) => digests(graphDump).includes(d))).toBe(false);
  });

  it('prints the IR before/after the named passes', () => {
    const r = kiln(['opt', sample, '--passes', 'fold-constants,lower', '--print-ir-before', 'fold-constants', '--print-ir-after', 'lower', '-o', path.join(tempDir(), 'x.kir')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\/\/ ----- IR before fold-constants -----\nkiln\.module /);
    expect(r.stdout).toMatch(/\/\/ ----- IR after lower -----\nkiln\.kernel /);
    expect(r.stdout).not.toMatch(/IR after fold-constants/);
    const all = kiln(['opt', sample, '--passes', 'fold-constants,lower', '--print-ir-after-all', '-o', path.join(tempDir(), 'y.kir')]);
    expect(all.stdout.match(/----- IR after /g)?.length).toBe(2);
    const typo = kiln(['opt', sample, '--passes', 'lower', '--print-ir-after', 'lowr']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/'lowr': no such pass in the pipeline/);
  });

  it('refuses passes on the wrong level, unknown passes and unknown options with one line', () => {
    for (const [passes, msg] of [
      ['plan-memory', /pass 'plan-memory' works on the kernel level but the IR is at the graph level here \(put it after 'lower'\)/],
      ['lower,fold-constants', /pass 'fold-constants' works on the graph level but the IR is at the kernel level/],
      ['no-such-pass', /unknown pass 'no-such-pass' \(known: .*lower.*\)/],
      ['plan-memory{bogus=1}', /pass 'plan-memory' has no option 'bogus' \(known: strategy, time-limit\)/],
      ['lower,plan-memory{strategy=best}', /plan-memory: unknown strategy 'best'/],
    ] as const) {
      const r = kiln(['opt', sample, '--passes', passes]);
      expect(r.code, passes).toBe(1);
      expect(r.stderr, passes).toMatch(msg);
      expect(r.stderr.trim().split('\n'), passes).toHaveLength(1);
    }
  });

  it('--verify-each names the pass that broke the IR', () => {
    const dir = tempDir();
    const plugin = path.join(dir, 'breaker.mjs');
    // drops the first node although its outputs are still used
    fs.writeFileSync(plugin, "export default (kiln) => ({ passes: [kiln.definePass({ name: 'drop-first', description: 'breaks the graph on purpose', run(m) { m.graph.nodes.shift(); return true; } })] });\n");
    const r = kiln(['--plugin', plugin, 'opt', sample, '--passes', 'drop-first', '--verify-each']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln: error: IR invalid after pass 'drop-first': /);
  });
});

describe('kiln compile pipeline', () => {
  it('records the pass timeline in report.json and dumps the compile pipeline', () => {
    const dir = tempDir();
    const r = kiln(['compile', sample, '-o', path.join(dir, 'out'), '--passes', 'fold-constants', '--dump-dir', path.join(dir, 'd'), '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { passes: { name: string; level: string; ms: number }[] };
    // memory planning is a pass of the target's pipeline, not part of emit
    // canonicalization after specialize, fuse right after lower (both default on)
    expect(report.passes.map((p) => p.name)).toEqual(['specialize', 'eliminate-identity', 'fold-affine', 'dce', 'fold-qdq', 'requant', 'fold-constants', 'lower', 'fuse', 'pack-subbyte', 'plan-memory', 'emit-c']);
    expect(report.passes.every((p) => p.ms >= 0)).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'd')).filter((f) => f.endsWith('.kir')).sort()).toEqual(['00-input.kir', '01-specialize.kir', '02-eliminate-identity.kir', '03-fold-affine.kir', '04-dce.kir', '05-fold-qdq.kir', '06-requant.kir', '07-fold-constants.kir', '08-lower.kir', '09-fuse.kir', '10-pack-subbyte.kir', '11-plan-memory.kir']);
    expect(fs.readFileSync(path.join(dir, 'd', '08-lower.kir'), 'utf8')).not.toMatch(/ offset \d+/);
    expect(fs.readFileSync(path.join(dir, 'd', '09-fuse.kir'), 'utf8')).toMatch(/\/\/ fusion: /);
    expect(fs.readFileSync(path.join(dir, 'd', '11-plan-memory.kir'), 'utf8')).toMatch(/level "arena" offset \d+/);
  });
});
