/**
 * Host threads (`--target-option threads=N`, the parallelize pass, OpenMP in the C backend): the
 * C of threads=2 gives the same bytes as threads=1 on two samples (one with per-thread im2col scratch), marks loops only where they are
 * independent, keeps per-thread scratch in the arena, and leaves threads=1, the MCU and HLS paths
 * without OpenMP. (The pass's legality cases are FileCheck tests: tests/ir/parallelize.kir.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { loadModel } from '../src/driver/load.js';
import { specializeShapes } from '../src/passes/specialize.js';
import { lowerModule } from '../src/passes/lower.js';
import { parsePipeline, runPipeline } from '../src/passes/pipeline.js';
import { lookupTarget, type KernelTarget } from '../src/backends/target.js';
import { resolveTarget, RUN_SETTINGS } from '../src/driver/targets.js';
import { MEMORY_PLAN, type MemoryLayout } from '../src/ir/kernel/layout.js';
import { runC } from '../src/backends/c/run.js';
import { emitC } from '../src/backends/c/emit.js';
import { usesThreads } from '../src/backends/c/render.js';
import { emitMcu } from '../src/backends/mcu/project.js';
import { getBoard } from '../src/costmodel/boards.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { dataSets, readInputs } from '../src/driver/testcase.js';
import { tensorToBytes } from '../src/ir/rawdata.js';
import type { Program, Stmt } from '../src/ir/kernel/types.js';
import type { Tensor } from '../src/ir/tensor.js';
import type { ParallelizeResult } from '../src/passes/parallelize.js';
import { hasTool } from './helpers/onnx-builder.js';

const haveCc = hasTool(process.env.CC ?? 'cc');

function sample(name: string): { program: Program; inputs: Tensor[] } {
  const dir = path.resolve('samples', name);
  const m = loadModel(path.join(dir, 'model.onnx'));
  const set = dataSets(dir)[0]!;
  const inputs = readInputs(m, fs.readdirSync(set).filter((f) => f.startsWith('input_')).sort().map((f) => path.join(set, f))) as Tensor[];
  specializeShapes(m, new Map());
  return { program: lowerModule(m), inputs };
}

/** The c target's pipeline with `threads`; the program (changed in place), its layout and the pass result. */
function cPipeline(program: Program, threads: number): { layout: MemoryLayout; par: ParallelizeResult | undefined } {
  const t = lookupTarget('c') as KernelTarget;
  const r = runPipeline({ level: 'kernel', program }, parsePipeline(t.pipeline({ threads: String(threads) }, RUN_SETTINGS)), { verifyEach: true });
  return { layout: r.results.get(MEMORY_PLAN) as MemoryLayout, par: r.results.get('parallelize') as ParallelizeResult | undefined };
}

const bytes = (ts: Tensor[]): Buffer[] => ts.map((t) => Buffer.from(tensorToBytes(t, false)));

function parallelLoops(p: Program): number {
  const count = (ss: readonly Stmt[]): number => ss.reduce((a, s) => a + (s.k === 'for' ? (s.ann.parallel ? 1 : 0) + count(s.body) : s.k === 'if' ? count(s.then) + count(s.else) : 0), 0);
  return p.kernels.reduce((a, k) => a + count(k.body), 0);
}

describe('threads', () => {
  for (const [name, interp] of [['kws-dscnn', false], ['digits', true]] as const) {
    it.skipIf(!haveCc)(`${name}: threads=2 C gives the bytes of threads=1${interp ? " and of the kernel interpreter on the rewritten program" : ""}`, () => {
      const one = sample(name);
      const two = sample(name);
      const l1 = cPipeline(one.program, 1);
      const l2 = cPipeline(two.program, 2);
      expect(l1.par).toBeUndefined();
      expect(parallelLoops(one.program)).toBe(0);
      expect(l2.par!.loops).toBeGreaterThan(0);
      expect(parallelLoops(two.program)).toBe(l2.par!.loops);
      expect(usesThreads(two.program)).toBe(true);
      // per-thread scratch copies are planned arena buffers, as large as the copies they hold
      const copies = two.program.buffers.filter((b) => !one.program.buffers.some((o) => o.name === b.name));
      expect(copies.length).toBe(l2.par!.privatized);
      for (const c of copies) {
        const orig = one.program.buffers.find((o) => c.name.startsWith(`${o.name}_x`))!;
        expect(c.shape).toEqual([c.shape[0], ...orig.shape]);
        expect(c.shape[0]).toBeGreaterThan(1);
        expect(l2.layout.arenaOffset.has(c)).toBe(true);
      }
      const src = emitC(two.program, name, l2.layout, { openmp: true });
      expect(src.files.get('model.c')).toContain(`#pragma omp parallel for num_threads(2) schedule(static`);
      expect(src.files.get('Makefile')).toContain('$(OMPFLAGS)');
      const plain = emitC(one.program, name, l1.layout);
      expect(plain.files.get('model.c')).not.toContain('#pragma omp');
      expect(plain.files.get('Makefile')).not.toContain('OMPFLAGS');
      const a = runC(one.program, name, one.inputs, l1.layout);
      const b = runC(two.program, name, two.inputs, l2.layout, { openmp: true });
      expect(bytes(b)).toEqual(bytes(a));
      if (name === 'kws-dscnn') expect(l2.par!.privatized).toBeGreaterThan(0);
      // the rewritten program (slots of per-thread scratch) means the same to the interpreter
      if (interp) expect(bytes(runProgram(two.program, two.inputs))).toEqual(bytes(runProgram(one.program, one.inputs)));
    });
  }

  it('the MCU and HLS targets take no threads option, and MCU C of a parallel-marked program has no OpenMP', () => {
    for (const t of ['mcu', 'hls']) expect(() => resolveTarget(t, { threads: '2' })).toThrow(/does not apply/);
    expect(() => resolveTarget('c', { threads: '0' })).toThrow(/threads/);
    const s = sample('kws-dscnn');
    cPipeline(s.program, 2);
    expect(usesThreads(s.program)).toBe(true);
    const mcu = lookupTarget('mcu') as KernelTarget;
    const r = runPipeline({ level: 'kernel', program: s.program }, parsePipeline(mcu.pipeline({ board: 'mps2-an386' }, RUN_SETTINGS)));
    const p = emitMcu(s.program, 'kws', getBoard('mps2-an386'), r.results.get(MEMORY_PLAN) as MemoryLayout);
    expect(p.files.get('model.c')).not.toContain('#pragma omp');
  });
});
