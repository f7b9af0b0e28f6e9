/**
 * Graph canonicalization (fold-affine, Transpose pairs) and the kernel-level fuse pass on the
 * committed samples: fewer kernels, an arena that never grows, the same outputs (kernel
 * interpreter and generated C against the committed expected outputs, and fused vs unfused
 * programs on the kernel interpreter), and fused programs whose text round-trips with its notes.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { loadModel } from '../src/driver/load.js';
import { compileModule } from '../src/driver/compile.js';
import { runCommand } from '../src/driver/run.js';
import { dataSets, readInputs } from '../src/driver/testcase.js';
import { printProgram } from '../src/ir/kernel/print.js';
import { parseProgramText } from '../src/frontend/text/kernel-parser.js';
import { verifyProgram } from '../src/ir/kernel/verify.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { lowerModule } from '../src/passes/lower.js';
import { specializeInputs } from '../src/passes/specialize.js';
import { foldAffine } from '../src/passes/fold-affine.js';
import { fuseProgram } from '../src/passes/fuse.js';
import type { Tensor } from '../src/ir/tensor.js';
import { hasTool } from './helpers/onnx-builder.js';

const samples = path.resolve('samples');
const model = (name: string): string => path.join(samples, name, 'model.onnx');

function compiled(name: string, opts: { canonicalize: boolean; fuse: boolean; passes?: string }): { kernels: number; arena: number; fusion: unknown } {
  const r = compileModule(loadModel(model(name)), model(name), { target: 'c', timeLimitMs: 0, ...opts });
  return { kernels: r.report.kernels as unknown as number, arena: r.report.arenaBytes as number, fusion: r.report.fusion };
}

describe('canonicalization and fusion on the samples', () => {
  // resnet8: 9 Conv + 7 BatchNormalization + 7 Relu + 3 Add + pool, Gemm, Softmax = 29 kernels; the
  // BatchNormalizations fold into the Convs (22). With fuse{tiles=false} only the Add+Relu chains fuse
  // (19). By default the Relu/Add+Relu kernels after a Conv become its epilogue, run after each tile
  // of the Conv: 7 groups, but the planner's heuristics pack the arena 2% larger with all of them, so
  // one (stack1's residual Add+Relu) is dropped by the arena check: 14 (memory plans here use the
  // heuristics only, as the fuse pass's check does)
  it('resnet8: 29 kernels → 22 after fold-affine → 19 with elementwise chains only → 14 with epilogues after tiles; the arena does not grow', () => {
    const none = compiled('resnet8', { canonicalize: false, fuse: false });
    const canon = compiled('resnet8', { canonicalize: true, fuse: false });
    const chains = compiled('resnet8', { canonicalize: true, fuse: false, passes: 'fuse{tiles=false}' });
    const both = compiled('resnet8', { canonicalize: true, fuse: true });
    expect([none.kernels, canon.kernels, chains.kernels, both.kernels]).toEqual([29, 22, 19, 14]);
    expect(chains.arena).toBeLessThanOrEqual(none.arena);
    expect(both.arena).toBeLessThanOrEqual(none.arena);
    expect(canon.fusion).toBeUndefined();
    const fusion = both.fusion as { kernels: string[]; decision: string; reason: string; predictedBefore: number; predictedAfter: number | null }[];
    const fused = fusion.filter((d) => d.decision === 'fused');
    expect(fused.length).toBe(6);
    for (const d of fused) expect(d.predictedAfter!).toBeLessThan(d.predictedBefore);
    expect(fused.every((d) => /the epilogue runs after each tile of @/.test(d.reason))).toBe(true);
    expect(fusion.some((d) => d.decision === 'rejected' && /fusing it makes the planned arena \d+ B, over the unfused \d+ B/.test(d.reason))).toBe(true);
    expect(fusion.filter((d) => d.decision === 'rejected').every((d) => d.reason.length > 0)).toBe(true);
  });

  it.each(['kws-dscnn', 'vww-mobilenet', 'transformer-block', 'ad-autoencoder', 'digits', 'resnet8-int8'])('%s: fewer or as many kernels, the arena never grows', (name) => {
    const none = compiled(name, { canonicalize: false, fuse: false });
    const both = compiled(name, { canonicalize: true, fuse: true });
    expect(both.kernels).toBeLessThanOrEqual(none.kernels);
    expect(both.arena).toBeLessThanOrEqual(none.arena);
  });

  it.each(['resnet8', 'kws-dscnn'])('%s: the kernel interpreter matches the expected outputs with fusion on', async (name) => {
    const dir = path.join(samples, name);
    const r = await runCommand(model(name), { target: 'kernel', inputs: [path.join(dir, 'test_data_set_0')], expected: [path.join(dir, 'test_data_set_0')] });
    expect(r.ok, r.text).toBe(true);
  });

  it.runIf(hasTool(process.env.CC ?? 'cc')).each(['kws-dscnn'])('%s: generated C matches the expected outputs with fusion on', async (name) => {
    const dir = path.join(samples, name);
    const r = await runCommand(model(name), { target: 'c', inputs: [path.join(dir, 'test_data_set_0')], expected: [path.join(dir, 'test_data_set_0')] });
    expect(r.ok, r.text).toBe(true);
  });

  it('fused and unfused programs compute the same values; the fused text round-trips with its notes', () => {
    const m = loadModel(model('kws-dscnn'));
    const inputs = readInputs(m, [path.join(dataSets(path.join(samples, 'kws-dscnn'))[0]!, 'input_0.pb')]);
    specializeInputs(m, inputs);
    foldAffine(m);
    const plain = lowerModule(m);
    const text = printProgram(plain);
    const fused = parseProgramText(text);
    const decisions = fuseProgram(fused);
    verifyProgram(fused);
    expect(decisions.some((d) => d.decision === 'fused')).toBe(true);
    expect(fused.kernels.length).toBeLessThan(plain.kernels.length);
    expect(fused.buffers.length).toBeLessThan(plain.buffers.length);
    const a = runProgram(plain, inputs as Tensor[]);
    const b = runProgram(fused, inputs as Tensor[]);
    // the same operations on the same values in the same order: bit-identical
    expect(Array.from(b[0]!.data as Float32Array)).toEqual(Array.from(a[0]!.data as Float32Array));
    const printed = printProgram(fused);
    expect(printed).toContain('// fusion: fused @');
    expect(printed).toContain('// fusion: rejected @');
    const again = parseProgramText(printed);
    expect(again.notes).toEqual(fused.notes);
    expect(printProgram(again)).toBe(printed);
  });
});
