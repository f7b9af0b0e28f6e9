/**
 * The pim target: offload decisions read from the kernel IR, runs that equal the kernel interpreter
 * (bit-exact where nothing float is offloaded or the offloaded op rounds once; within tolerance for
 * offloaded fp16 GEMV), `--pim-precision fp16` conversion with its error reported, and emit (assembly,
 * binary, layout, report) that assembles back and is deterministic.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseModuleText } from '../src/frontend/text/parser.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { lowerPass } from '../src/passes/lower-pass.js';
import '../src/passes/builtin.js';
import '../src/ir/ops/index.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import type { Program } from '../src/ir/kernel/types.js';
import { Tensor } from '../src/ir/tensor.js';
import { loadModel } from '../src/driver/load.js';
import { dataSets, readInputs } from '../src/driver/testcase.js';
import { emitPim, pimTarget, runPim } from '../src/backends/pim/target.js';
import { lookupTarget } from '../src/backends/target.js';
import { loadPimDevice } from '../src/backends/pim/device.js';
import { assemble, disassemble } from '../src/backends/pim/isa.js';
import { roundToFormat } from '../src/ir/floatfmt.js';
import { specializeInputs } from '../src/passes/specialize.js';
import { inferModule } from '../src/ir/infer.js';
import type { Module } from '../src/ir/graph.js';

const ctx = (options: Record<string, string> = {}) => ({ name: 'm', options: { device: 'hbm2-pim', channels: '1', 'pim-precision': 'native', ...options }, results: new Map(), log: () => {} });
const settings = (precision: 'native' | 'fp16' = 'native', isa: 'published' | 'extended' = 'published') => ({ dev: loadPimDevice('hbm2-pim'), channels: 1, precision, isa });

function lower(module: Module): Program {
  inferModule(module);
  const r = runPipeline({ level: 'graph', module }, [{ pass: lowerPass, options: { schedule: 'memory' } }]);
  return (r.state as { program: Program }).program;
}

/** A model y = relu(x·W + x2) with W constant (K×M) in type t, values from a fixed formula. */
function mlp(t: string, K: number, M: number, B = 1): Program {
  const w = Array.from({ length: K * M }, (_, i) => roundToFormat('f16', Math.sin(i * 0.37) * 0.5).toString()).join(', ');
  const text = `kiln.module opsets {"" = 17} {
  graph @main(%x: tensor<${B}x${K}x${t}>, %z: tensor<${B}x${M}x${t}>) -> (%y) {
    const %w: tensor<${K}x${M}x${t}> = dense<[${w}]>
    %m = "MatMul"(%x, %w) name "mm"
    %s = "Add"(%m, %z) name "add"
    %y = "Relu"(%s) name "act"
  }
}`;
  return lower(parseModuleText(text));
}

/** Row sums and maxima of an f16 matrix (last axis) and an i32 column sum (axis 0). */
function reductions(rows: number, cols: number): Program {
  const text = `kiln.module opsets {"" = 13} {
  graph @main(%x: tensor<${rows}x${cols}xf16>, %w: tensor<${rows}x${cols}xi32>) -> (%y, %z, %v) {
    const %ax: tensor<1xi64> = dense<[1]>
    const %ax0: tensor<1xi64> = dense<[0]>
    %y = "ReduceSum"(%x, %ax) {keepdims = 0} name "rs"
    %z = "ReduceMax"(%x) {axes = ints[1], keepdims = 0} name "rm"
    %v = "ReduceSum"(%w, %ax0) {keepdims = 1} name "ri"
  }
}`;
  return lower(parseModuleText(text));
}

function values(n: number, seed: number, t: 'f16' | 'f32'): Tensor {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = roundToFormat('f16', Math.cos(i * 1.7 + seed) * 0.8);
  return new Tensor(t, [1, n], d);
}

describe('pim target', () => {
  it('is registered through the target contract', () => {
    expect(lookupTarget('pim')).toBe(lookupTarget('pim'));
    expect(lookupTarget('pim').level).toBe('kernel');
  });

  it('offloads an f16 GEMV against constant weights and stays within tolerance of the interpreter', () => {
    const p = mlp('f16', 512, 256);
    const inputs = [values(512, 1, 'f16'), values(256, 2, 'f16')];
    const r = runPim(p, inputs, settings());
    const ref = runProgram(p, inputs);
    expect(r.report.offloaded).toContain('mm');
    const got = r.outputs[0]!.data as Float32Array;
    const want = ref[0]!.data as Float32Array;
    let bad = 0;
    for (let i = 0; i < want.length; i++) if (Math.abs(got[i]! - want[i]!) > 2e-2 + 2e-2 * Math.abs(want[i]!)) bad++;
    expect(bad).toBe(0);
    expect(r.report.pimCycles).toBeGreaterThan(0);
    expect(r.report.hostCycles).toBeGreaterThan(0);
  });

  it('maps a batch of rows (GEMM) to one PIM session whose rows equal single-row GEMVs, f16 and converted f32', () => {
    for (const t of ['f16', 'f32'] as const) {
      const p = mlp(t, 512, 256, 2);
      const inputs = [values(2 * 512, 4, t), values(2 * 256, 5, t)];
      const r = runPim(p, inputs, settings(t === 'f16' ? 'native' : 'fp16'));
      expect(r.report.offloaded, t).toContain('mm');
      const got = r.outputs[0]!.data as Float32Array;
      const want = runProgram(p, inputs)[0]!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (0.5 + Math.abs(want[i]!)));
      expect(worst, t).toBeLessThan(0.05);
      // each row of the batch is exactly the single-row GEMV of that row (f16: the other kernels'
      // decisions do not change with the batch; converted f32 adds may go either way by size)
      if (t !== 'f16') continue;
      const p1 = mlp(t, 512, 256, 1);
      for (let b = 0; b < 2; b++) {
        const row = [
          new Tensor(t, [1, 512], (inputs[0]!.data as Float32Array).slice(b * 512, (b + 1) * 512)),
          new Tensor(t, [1, 256], (inputs[1]!.data as Float32Array).slice(b * 256, (b + 1) * 256)),
        ];
        const one = runPim(p1, row, settings(t === 'f16' ? 'native' : 'fp16'));
        expect(Array.from(one.outputs[0]!.data as Float32Array), `${t} row ${b}`).toEqual(Array.from(got.slice(b * 256, (b + 1) * 256)));
      }
    }
  });

  it('leaves a GEMM whose batch makes the host cheaper on the host, saying so', () => {
    const rep = emitPim(mlp('f16', 256, 128, 4), ctx()).report.kernels as { kernel: string; offload: boolean; why: string; pimCycles: number; hostCycles: number }[];
    const mm = rep.find((k) => k.kernel === 'mm')!;
    expect(mm.offload).toBe(false);
    expect(mm.pimCycles).toBeGreaterThan(mm.hostCycles);
    expect(mm.why).toBe(`host: ${mm.hostCycles} cycles vs pim ${mm.pimCycles}`);
  });

  it('keeps f32 kernels on the host unless --pim-precision fp16, and then reports the error', () => {
    const p = mlp('f32', 512, 256);
    const inputs = [values(512, 1, 'f32'), values(256, 2, 'f32')];
    const native = runPim(p, inputs, settings('native'));
    expect(native.report.offloaded).toEqual([]);
    expect(Array.from(native.outputs[0]!.data as Float32Array)).toEqual(Array.from(runProgram(p, inputs)[0]!.data as Float32Array));
    const files = emitPim(p, ctx());
    const kernels = files.report.kernels as { kernel: string; offload: boolean; why: string }[];
    expect(kernels.find((k) => k.kernel === 'mm')!.why).toMatch(/f32.*not computed natively.*--pim-precision fp16/);
    const conv = runPim(p, inputs, settings('fp16'));
    expect(conv.report.offloaded).toContain('mm');
    expect(conv.report.maxAbsErrConverted).toBeGreaterThan(0);
    expect(conv.report.maxAbsErrConverted).toBeLessThan(0.1);
  });

  it('offloads a large f16 elementwise add bit-exactly and refuses tiny ones on cost', () => {
    const n = 1 << 16;
    const text = (len: number) => `kiln.module opsets {"" = 17} {
  graph @main(%a: tensor<${len}xf16>, %b: tensor<${len}xf16>) -> (%c) {
    %c = "Add"(%a, %b) name "add"
  }
}`;
    const p = lower(parseModuleText(text(n)));
    const a = new Tensor('f16', [n], Float32Array.from({ length: n }, (_, i) => roundToFormat('f16', Math.sin(i) * 100)));
    const b = new Tensor('f16', [n], Float32Array.from({ length: n }, (_, i) => roundToFormat('f16', Math.cos(i * 3) * 0.01)));
    const r = runPim(p, [a, b], settings());
    expect(r.report.offloaded).toEqual(['add']);
    expect(Array.from(r.outputs[0]!.data as Float32Array)).toEqual(Array.from(runProgram(p, [a, b])[0]!.data as Float32Array));
    const small = lower(parseModuleText(text(60)));
    const rep = emitPim(small, ctx()).report.kernels as { offload: boolean; why: string }[];
    expect(rep[0]!.offload).toBe(false);
    expect(rep[0]!.why).toMatch(/^host: \d+ cycles vs pim \d+/);
  });

  it('offloads a row-wise f16 sum by cost; keeps max (no max instruction) and an i32 sum on the host, bit-exact', () => {
    const p = reductions(64, 256);
    const x = values(64 * 256, 3, 'f16');
    const w = new Tensor('i32', [64, 256], Int32Array.from({ length: 64 * 256 }, (_, i) => ((i * 7919) % 2001) - 1000));
    const r = runPim(p, [x, w], settings());
    const ref = runProgram(p, [x, w]);
    expect(r.report.offloaded).toEqual(['rs']);
    const got = r.outputs[0]!.data as Float32Array;
    const want = ref[0]!.data as Float32Array;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `row ${i}`).toBeLessThan(2e-2 + 1e-2 * Math.abs(want[i]!));
    expect(Array.from(r.outputs[1]!.data as Float32Array)).toEqual(Array.from(ref[1]!.data as Float32Array));
    expect(Array.from(r.outputs[2]!.data as Int32Array)).toEqual(Array.from(ref[2]!.data as Int32Array));
    const rep = emitPim(p, ctx()).report.kernels as { kernel: string; shape: string; offload: boolean; why: string; pimCycles?: number; hostCycles: number }[];
    const by = (n: string) => rep.find((k) => k.kernel === n)!;
    expect(by('rs')).toMatchObject({ shape: 'reduce sum 64x256', offload: true });
    expect(by('rs').pimCycles).toBeGreaterThan(0);
    expect(by('rs').pimCycles).toBeLessThan(by('rs').hostCycles);
    expect(by('rs').why).toMatch(/partial sums per unit/);
    expect(by('rm').why).toMatch(/no max instruction/);
    expect(by('ri')).toMatchObject({ shape: 'reduce sum 256x64', offload: false });
    expect(by('ri').why).toMatch(/i32 is not computed natively/);
  });

  it('with isa=extended offloads the row-wise max too (MAX), exactly; the emitted program holds MAX only then', () => {
    const p = reductions(64, 256);
    const x = values(64 * 256, 5, 'f16');
    const w = new Tensor('i32', [64, 256], Int32Array.from({ length: 64 * 256 }, (_, i) => (i % 37) - 18));
    const r = runPim(p, [x, w], settings('native', 'extended'));
    expect(r.report.offloaded).toEqual(['rs', 'rm']);
    expect(Array.from(r.outputs[1]!.data as Float32Array)).toEqual(Array.from(runProgram(p, [x, w])[1]!.data as Float32Array));
    const ext = emitPim(p, ctx({ isa: 'extended' }));
    const rm = (ext.report.kernels as { kernel: string; offload: boolean; why: string }[]).find((k) => k.kernel === 'rm')!;
    expect(rm).toMatchObject({ offload: true });
    expect(rm.why).toMatch(/partial maxima \(MAX extension\)/);
    expect(ext.files.get('m.pim.s')).toMatch(/^MAX /m);
    expect(emitPim(p, ctx()).files.get('m.pim.s')).not.toMatch(/^MAX /m);
  });

  it('prices an activation x activation contraction with the host writing the matrix in the PIM layout', () => {
    const text = `kiln.module opsets {"" = 17} {
  graph @main(%x: tensor<1x512xf16>, %y: tensor<512x256xf16>) -> (%z) {
    %z = "MatMul"(%x, %y) name "mm"
  }
}`;
    const p = lower(parseModuleText(text));
    const rep = emitPim(p, ctx()).report.kernels as { kernel: string; shape: string; offload: boolean; why: string; pimCycles: number; hostCycles: number }[];
    const mm = rep.find((k) => k.kernel === 'mm')!;
    expect(mm.shape).toBe('gemv 256x512 (activation matrix)');
    // writing the matrix over the bus costs what the host pays to read it, so the host wins
    expect(mm.offload).toBe(false);
    expect(mm.pimCycles).toBeGreaterThan(mm.hostCycles);
    expect(mm.why).toMatch(/writing the 256x512 activation matrix in the PIM layout/);
    const inputs = [values(512, 1, 'f16'), new Tensor('f16', [512, 256], values(512 * 256, 2, 'f16').data)];
    expect(Array.from(runPim(p, inputs, settings()).outputs[0]!.data as Float32Array)).toEqual(Array.from(runProgram(p, inputs)[0]!.data as Float32Array));
  });

  it('emit writes assembly that assembles to the binary, a layout and a report; twice identical', () => {
    const p = mlp('f16', 256, 128);
    const a = emitPim(p, ctx());
    const b = emitPim(p, ctx());
    expect([...a.files.keys()].sort()).toEqual(['m.layout.json', 'm.pim.bin', 'm.pim.s']);
    for (const [k, v] of a.files) expect(b.files.get(k)).toEqual(v);
    expect(JSON.stringify(b.report)).toBe(JSON.stringify(a.report));
    const words = assemble(a.files.get('m.pim.s') as string);
    const bin = a.files.get('m.pim.bin') as Uint8Array;
    expect(Array.from(new Uint32Array(bin.buffer.slice(0)))).toEqual(Array.from(words));
    expect(assemble(disassemble(words))).toEqual(words);
    const layout = JSON.parse(a.files.get('m.layout.json') as string) as { kernels: { kind: string; M: number; K: number }[] };
    expect(layout.kernels[0]).toMatchObject({ kind: 'gemv', M: 128, K: 256 });
    expect((a.report.estimate as { cycles: number }).cycles).toBeGreaterThan(0);
  });

  const root = path.resolve(__dirname, '../../shared/onnx-tests/node');
  const cases = ['test_add', 'test_relu', 'test_matmul_2d', 'test_add_int8', 'test_gemm_default_no_bias', 'test_softmax_axis_1'];
  it.skipIf(!fs.existsSync(root))('conformance cases: outputs equal the kernel interpreter', async () => {
    for (const c of cases) {
      const dir = path.join(root, c);
      const module = loadModel(path.join(dir, 'model.onnx'));
      const ds = dataSets(dir)[0]!;
      const files = fs.readdirSync(ds).filter((f) => /^input_\d+\.pb$/.test(f)).sort((x, y) => Number(x.slice(6, -3)) - Number(y.slice(6, -3))).map((f) => path.join(ds, f));
      const inputs = readInputs(module, files) as Tensor[];
      specializeInputs(module, inputs);
      const p = lower(module);
      const feeds = module.graph.inputs.flatMap((v, i) => (v.init ? [] : [inputs[i]!]));
      const r = await pimTarget.run(p, feeds, ctx());
      const ref = runProgram(p, feeds);
      expect(r.outputs.map((t) => Array.from(t.data as ArrayLike<number>)), c).toEqual(ref.map((t) => Array.from(t.data as ArrayLike<number>)));
      expect(r.summary).toMatch(/^pim hbm2-pim x1: \d+ cycles/);
    }
  });
});

describe('kiln pim-bench', () => {
  const KILN = path.resolve(__dirname, '../bin/kiln.js');
  const kiln = (args: string[]) => spawnSync(process.execPath, [KILN, ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 120_000 });
  it('prints the JSON fields for both modes, and the PIM run is the faster', () => {
    const out = (mode: string[]) => {
      const r = kiln(['pim-bench', 'gemv', '--m', '256', '--k', '512', '--dtype', 'f16', '--device', 'hbm2-pim', '--channels', '1', '--json', ...mode]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const pim = out([]);
    const base = out(['--baseline']);
    for (const j of [pim, base]) for (const k of ['op', 'shape', 'dtype', 'device', 'channels', 'mode', 'cycles', 'energyPj', 'peakFraction', 'breakdown']) expect(j).toHaveProperty(k);
    expect(pim.mode).toBe('pim');
    expect(base.mode).toBe('baseline');
    expect(pim.cycles as number).toBeLessThan(base.cycles as number);
    expect(Object.keys(pim.breakdown as object)).toEqual(expect.arrayContaining(['mac', 'input', 'row', 'readback']));
    const text = kiln(['pim-bench', 'add', '--n', '4096', '--compare']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/speed-up of PIM over the host baseline: [\d.]+x/);
  });
  it('refuses bad arguments with one line', () => {
    for (const [args, msg] of [
      [['gemv', '--m', '0', '--k', '8'], /--m wants a positive whole number/],
      [['gemv', '--m', '8', '--k', '8', '--dtype', 'bf16'], /hbm2-pim lanes compute f16, not bf16/],
    ] as const) {
      const r = kiln(['pim-bench', ...args]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
