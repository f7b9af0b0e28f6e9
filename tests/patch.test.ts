/** Patch-based execution: same outputs (interpreter and C), lower kernel-level peak, consistent report. */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { Graph, Module, Node, Value, type AttrValue } from '../src/ir/graph.js';
import { tensorType } from '../src/ir/types.js';
import { Tensor } from '../src/ir/tensor.js';
import { loadModel } from '../src/driver/load.js';
import { specializeShapes } from '../src/passes/specialize.js';
import { interpret } from '../src/ir/interp/interpreter.js';
import { verifyModule } from '../src/ir/verify.js';
import { lowerScheduled } from '../src/passes/schedule-memory.js';
import { runC } from '../src/backends/c/run.js';
import { planMemory } from '../src/passes/plan-memory.js';
import { runPasses } from '../src/passes/pass.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { compileModule, compilePipeline } from '../src/driver/compile.js';
import { applyPatchPlan, choosePatchPlan, graphMacs, kernelPeakBytes, parseBytes, parseGrid, patchCuts, patchExecutionPass, patchModule, patchSteps, type PatchReport } from '../src/passes/patch-execution.js';
import { hasTool } from './helpers/onnx-builder.js';

const HAS_CC = hasTool('cc');
if (!HAS_CC) console.log('patch tests: C comparisons skipped: cc not installed');
/** -O0: the patched programs have hundreds of kernels; only the results matter here. */
const CFLAGS = '-std=c99 -O0 -Wall -Wextra -Werror -pedantic -fno-strict-aliasing';

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/**
 * A small network with the awkward cases: odd sizes, asymmetric pads, dilation, a ceil-mode
 * MaxPool, LRN, BatchNormalization, Quantize/Dequantize, a residual Add, a channel Concat that reads
 * one tensor twice, an AveragePool counting its pads, a depthwise conv; then GlobalAveragePool (not
 * local) and two outputs (the last local tensor is one of them).
 */
function smallModel(): Module {
  const inits: Value[] = [];
  const nodes: Node[] = [];
  let seed = 7;
  const weight = (name: string, shape: number[], scale = 0.5, offset = 0): Value => {
    const v = new Value(name, tensorType('f32', shape));
    v.init = Tensor.from('f32', shape, values(shape.reduce((a, b) => a * b, 1), seed++).map((x) => x * scale + offset));
    inits.push(v);
    return v;
  };
  const scalar = (name: string, dtype: 'f32' | 'u8', x: number): Value => {
    const v = new Value(name, tensorType(dtype, []));
    v.init = Tensor.scalar(dtype, x);
    inits.push(v);
    return v;
  };
  const attrs = (a: Record<string, number | number[]>): Map<string, AttrValue> =>
    new Map(Object.entries(a).map(([k, x]): [string, AttrValue] => [k, Array.isArray(x) ? { kind: 'ints', value: x } : { kind: 'int', value: x }]));
  const op = (type: string, name: string, inputs: (Value | null)[], a: Map<string, AttrValue> = new Map()): Value => {
    const out = new Value(`${name}.out`, null);
    const n = new Node(type, '', name, inputs, [out], a);
    out.producer = n;
    nodes.push(n);
    return out;
  };
  const x = new Value('x', tensorType('f32', [1, 3, 37, 41]));
  const c1 = op('Conv', 'c1', [x, weight('w1', [6, 3, 3, 3]), weight('b1', [6])], attrs({ pads: [1, 1, 1, 1] }));
  const r1 = op('Relu', 'r1', [c1]);
  const lrn = op('LRN', 'lrn', [r1], new Map<string, AttrValue>([['size', { kind: 'int', value: 3 }], ['alpha', { kind: 'float', value: 0.01 }]]));
  const p1 = op('MaxPool', 'p1', [lrn], attrs({ kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }));
  const c2 = op('Conv', 'c2', [p1, weight('w2', [8, 6, 3, 3]), weight('b2', [8])], attrs({ pads: [2, 1, 1, 2], dilations: [2, 2] }));
  const bn = op('BatchNormalization', 'bn', [c2, weight('s', [8], 0.2, 1), weight('t', [8], 0.1), weight('m', [8], 0.1), weight('v', [8], 0.2, 1)]);
  const q = op('QuantizeLinear', 'q', [bn, scalar('qs', 'f32', 0.05), scalar('qz', 'u8', 128)]);
  const dq = op('DequantizeLinear', 'dq', [q, scalar('ds', 'f32', 0.05), scalar('dz', 'u8', 128)]);
  const side = op('Conv', 'side', [p1, weight('w3', [8, 6, 2, 2])], new Map());
  const a = op('Add', 'add', [dq, side]);
  const clip = op('Clip', 'clip', [a, scalar('lo', 'f32', 0), scalar('hi', 'f32', 1.5)]);
  const cat = op('Concat', 'cat', [clip, a], attrs({ axis: 1 }));
  const ap = op('AveragePool', 'ap', [cat], attrs({ kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }));
  const dw = op('Conv', 'dw', [ap, weight('wd', [16, 1, 3, 3])], attrs({ pads: [1, 1, 1, 1], group: 16 }));
  const gp = op('GlobalAveragePool', 'gp', [dw]);
  const y = op('Flatten', 'flat', [gp]);
  return new Module(new Graph('small', [x], [y, dw], nodes, inits), new Map([['', 19]]));
}

function specialized(m: Module): Module {
  specializeShapes(m, new Map());
  return m;
}

const vwwFile = path.resolve('samples', 'vww-mobilenet', 'model.onnx');
const vww = (): Module => specialized(loadModel(vwwFile));

function inputFor(m: Module, seed = 3): Tensor {
  const shape = m.graph.inputs[0]!.tensorType!.shape as number[];
  return Tensor.from('f32', shape, values(shape.reduce((a, b) => a * b, 1), seed));
}

/** Largest |a − b| relative to the largest |a| (per output). */
function relDiff(a: Tensor, b: Tensor): number {
  expect(b.shape).toEqual(a.shape);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.size; i++) {
    d = Math.max(d, Math.abs(a.num(i) - b.num(i)));
    m = Math.max(m, Math.abs(a.num(i)));
  }
  return d / Math.max(m, 1e-12);
}

function expectSame(ref: readonly Tensor[], got: readonly Tensor[], what: string): void {
  expect(got.length, what).toBe(ref.length);
  ref.forEach((r, i) => expect(relDiff(r, got[i]!), `${what} output ${i}`).toBeLessThan(1e-4));
}

describe('patch-based execution', () => {
  it('finds the closed local regions of the small model', () => {
    const m = specialized(smallModel());
    const cuts = patchCuts(m.graph).map((r) => r.cut.name);
    expect(cuts).toContain('dw.out');
    expect(cuts).toContain('cat.out');
    expect(cuts).toContain('add.out');
    // not closed: add.out (in their regions) is also read by cat, p1.out also by the other branch
    expect(cuts).not.toContain('clip.out');
    expect(cuts).not.toContain('side.out');
    expect(cuts).not.toContain('bn.out');
    // GlobalAveragePool is not spatially local
    expect(cuts).not.toContain('gp.out');
  });

  it('gives the same outputs in the interpreter for several cuts and grids', () => {
    const ref = interpret(specialized(smallModel()), [inputFor(specialized(smallModel()))]) as Tensor[];
    for (const [cut, grid] of [['dw.out', '2x2'], ['dw.out', '3x2'], ['dw.out', '1x3'], ['cat.out', '4x3'], ['p1.out', '5x5'], ['ap.out', '9x10']] as const) {
      const m = specialized(smallModel());
      const before = m.graph.nodes.length;
      applyPatchPlan(m, cut, parseGrid(grid));
      verifyModule(m);
      expect(m.graph.nodes.length, `${cut} ${grid}`).toBeGreaterThan(before);
      expectSame(ref, interpret(m, [inputFor(m)]) as Tensor[], `${cut} ${grid}`);
    }
  });

  it.skipIf(!HAS_CC)('gives the same outputs in generated C (small model)', () => {
    const ref = interpret(specialized(smallModel()), [inputFor(specialized(smallModel()))]) as Tensor[];
    const m = specialized(smallModel());
    applyPatchPlan(m, 'dw.out', [3, 2]);
    const { program } = lowerScheduled(m, 'memory');
    expectSame(ref, runC(program, 'small', [inputFor(m)], planMemory(program, { timeLimitMs: 1000 }), { cflags: CFLAGS }), 'C 3x2');
  });

  it('chooses a plan for the small model that lowers the kernel-level peak, with a consistent report', () => {
    const m = specialized(smallModel());
    const offBound = kernelPeakBytes(specialized(smallModel()));
    const macsBefore = graphMacs(m.graph);
    const r = patchModule(m);
    expect(r.grid).toMatch(/^\d+x\d+$/);
    expect(r.peakModel).toBe('kernel');
    expect(r.off).toBe(offBound);
    expect(r.on).toBeLessThan(r.off);
    expect(r.on).toBe(kernelPeakBytes(m));
    expect(r.macsOff).toBe(macsBefore);
    expect(r.macsOn).toBe(graphMacs(m.graph));
    expect(r.overheadMacs).toBe(r.macsOn - r.macsOff);
    expect(r.overheadMacs).toBeGreaterThan(0);
    expect(r.overheadPct).toBeCloseTo((100 * r.overheadMacs) / r.macsOff, 1);
    verifyModule(m);
    const ref = interpret(specialized(smallModel()), [inputFor(m)]) as Tensor[];
    expectSame(ref, interpret(m, [inputFor(m)]) as Tensor[], `chosen ${r.cut} ${r.grid}`);
  });

  it('with a budget: no patches when the model fits, the cheapest fitting plan otherwise', () => {
    const probe = choosePatchPlan(specialized(smallModel()), undefined, { verify: 3 });
    expect(probe).not.toBeNull();
    const off = probe!.off;
    const fits = patchModule(specialized(smallModel()), { budgetBytes: off, verify: 3 });
    expect(fits.grid).toBeNull();
    expect(fits.fits).toBe(true);
    expect(fits.reason).toMatch(/fits/);
    // a budget just above the smallest peak: some plan fits, and none with less recompute does
    const budget = probe!.on;
    const m = specialized(smallModel());
    const r = patchModule(m, { budgetBytes: budget, verify: 3 });
    expect(r.grid).not.toBeNull();
    expect(r.fits).toBe(true);
    expect(r.on).toBeLessThanOrEqual(budget);
    expect(r.overheadMacs).toBeLessThanOrEqual(probe!.overheadMacs);
    // an impossible budget still gives the smallest peak, flagged as not fitting
    const tight = patchModule(specialized(smallModel()), { budgetBytes: 16, verify: 3 });
    expect(tight.fits).toBe(false);
    expect(tight.on).toBe(probe!.on);
  });

  it('runs as a pass with options and refuses bad ones', () => {
    const m = specialized(smallModel());
    const run = runPipeline({ level: 'graph', module: m }, [{ pass: patchExecutionPass, options: { grid: '2x2', cut: 'cat.out' } }], { verifyEach: true });
    const r = run.results.get('patches') as PatchReport;
    expect(r.grid).toBe('2x2');
    expect(r.cut).toBe('cat.out');
    expect(run.timeline[0]!.changed).toBe(true);
    expect(m.graph.nodes.some((n) => n.name === 'cat.out.patches')).toBe(true);
    // deterministic names: the same rewrite twice gives the same node names
    const again = specialized(smallModel());
    runPasses(again, [patchExecutionPass], { options: { 'patch-execution': { grid: '2x2', cut: 'cat.out' } } });
    expect(again.graph.nodes.map((n) => n.name)).toEqual(m.graph.nodes.map((n) => n.name));
    const bad = (o: Record<string, string>): (() => void) => () => runPasses(specialized(smallModel()), [patchExecutionPass], { options: { 'patch-execution': o } });
    expect(bad({ grid: '4' })).toThrow(/grid '4'/);
    expect(bad({ nope: '1' })).toThrow(/unknown option 'nope'/);
    expect(bad({ grid: '2x2', cut: 'clip.out' })).toThrow(/cannot be a patch cut/);
    expect(bad({ grid: '2x2', cut: 'missing' })).toThrow(/no tensor named 'missing'/);
    expect(parseBytes('128KiB')).toBe(131072);
    expect(parseBytes('1.5M')).toBe(1572864);
    expect(patchSteps('auto')).toEqual([]);
    expect(patchSteps('off')).toEqual([]);
    expect(patchSteps('3x4')[0]!.options).toEqual({ grid: '3x4' });
    // 'auto' is what the target's prelude asks for: the mcu target patches for its board, c does not
    const patching = (o: Parameters<typeof compilePipeline>[0]) => compilePipeline(o).filter((st) => st.pass.name === 'patch-execution').map((st) => st.options);
    expect(patching({ target: 'mcu', board: 'stm32f446', patches: 'auto' })).toEqual([{ board: 'stm32f446' }]);
    expect(patching({ target: 'mcu:stm32f446', patches: 'auto' })).toEqual([{ board: 'stm32f446' }]);
    expect(patching({ target: 'mcu', patches: 'off' })).toEqual([]);
    expect(patching({ target: 'c', patches: 'auto' })).toEqual([]);
    expect(patching({ target: 'c', patches: '3x4' })).toEqual([{ grid: '3x4' }]);
  });

  it('vww-mobilenet: same outputs (interpreter), lower kernel-level peak', () => {
    const ref = vww();
    const x = inputFor(ref, 11);
    const want = interpret(ref, [x]) as Tensor[];
    const m = vww();
    const r = patchModule(m, { cut: 'relu8.out', grid: [4, 4] });
    verifyModule(m);
    expect(r.on).toBeLessThan(r.off);
    expect(r.off).toBe(kernelPeakBytes(vww()));
    expectSame(want, interpret(m, [x]) as Tensor[], 'vww 4x4');
  });

  it.skipIf(!HAS_CC)('vww-mobilenet: same outputs in generated C', () => {
    const ref = vww();
    const x = inputFor(ref, 12);
    const want = interpret(ref, [x]) as Tensor[];
    const m = vww();
    applyPatchPlan(m, 'relu8.out', [2, 2]);
    const { program } = lowerScheduled(m, 'memory');
    expectSame(want, runC(program, 'vww', [x], planMemory(program, { timeLimitMs: 1000 }), { cflags: CFLAGS }), 'vww C 2x2');
  });

  it('vww-mobilenet: the chosen plan beats the unpatched peak', () => {
    const m = vww();
    const c = choosePatchPlan(m, undefined, { verify: 2 });
    expect(c).not.toBeNull();
    expect(c!.on).toBeLessThan(c!.off);
    expect(c!.macsOn - c!.macsOff).toBe(c!.overheadMacs);
    // the module is left unchanged
    expect(m.graph.nodes.map((n) => n.name)).toEqual(vww().graph.nodes.map((n) => n.name));
  });

  it('compile puts memory.patches into the report and the arena shrinks', () => {
    const plain = compileModule(specialized(smallModel()), 'small.onnx', { target: 'c' });
    const patched = compileModule(smallModel(), 'small.onnx', { target: 'c', patches: '3x3' });
    const p = (patched.report.memory as { patches?: PatchReport }).patches;
    expect(p).toBeDefined();
    expect(p!.grid).toBe('3x3');
    expect(p!.peakModel).toBe('kernel');
    expect(p!.on).toBe(patched.report.memory.schedule?.scheduledPeakBytes);
    expect(p!.off).toBe(plain.report.memory.schedule?.scheduledPeakBytes);
    expect(patched.report.memory.arenaBytes).toBeLessThan(plain.report.memory.arenaBytes);
    expect((plain.report.memory as { patches?: PatchReport }).patches).toBeUndefined();
    expect(JSON.parse(patched.fileData.get('report.json') as string).memory.patches.grid).toBe('3x3');
  });
});
