/** The analytical cost model: exact counts on hand-built kernels, estimates where documented, roofline times. */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { KernelBuilder, add, and, cast, ge, gt, idx, lit, load, lt, max, min, mul, select, sub } from '../src/ir/kernel/builder.js';
import type { KBuffer, Kernel, Program, ScalarType } from '../src/ir/kernel/types.js';
import { costTotals, kernelCosts, kernelCounts } from '../src/costmodel/kernel-cost.js';
import { hostRoofline, parseRoofline, type Roofline } from '../src/costmodel/roofline.js';
import { getBoard } from '../src/costmodel/boards.js';
import { loadModel } from '../src/driver/load.js';
import { specializeShapes } from '../src/passes/specialize.js';
import { lowerScheduled } from '../src/passes/schedule-memory.js';
import { inspectModule } from '../src/driver/inspect.js';

let nextId = 0;
const buf = (name: string, dtype: ScalarType, shape: number[], role: KBuffer['role'] = 'temp'): KBuffer => ({ id: nextId++, name, dtype, shape, role });

function kernel(build: (kb: KernelBuilder) => void, name = 'k'): Kernel {
  const kb = new KernelBuilder();
  build(kb);
  return { name, origin: { node: `${name}_node`, op: 'Test' }, body: kb.body };
}

const program = (...kernels: Kernel[]): Program => ({ name: 'p', buffers: [], inputs: [], outputs: [], kernels });

const ROOF: Roofline = { name: 'test', clockHz: 1e6, flopsPerCycle: 2, intOpsPerCycle: 1, bytesPerCycle: 4, source: 'test figures' };

describe('operation and byte counts', () => {
  it('counts a matmul loop nest exactly: 2 flops and 2 loads per multiply-accumulate', () => {
    const [M, N, K] = [4, 3, 5];
    const A = buf('A', 'f32', [M, K], 'input');
    const B = buf('B', 'f32', [K, N], 'const');
    const C = buf('C', 'f32', [M, N], 'output');
    const k = kernel((kb) =>
      kb.for(0, M, (i) =>
        kb.for(0, N, (j) => {
          const acc = kb.let('f32', lit('f32', 0));
          kb.for(0, K, (r) => kb.set(acc, add(acc, mul(load(A, add(mul(i, idx(K)), r)), load(B, add(mul(r, idx(N)), j))))));
          kb.store(C, add(mul(i, idx(N)), j), acc);
        }),
      ),
    );
    const c = kernelCounts(k);
    expect(c).toEqual({ flops: 2 * M * N * K, intOps: 0, loadBytes: 2 * M * N * K * 4, storeBytes: M * N * 4, exact: true, estimates: [] });
  });

  it('treats index arithmetic as free and counts element widths per dtype', () => {
    const x = buf('x', 'u8', [10]);
    const y = buf('y', 'f64', [21]);
    const k = kernel((kb) => kb.for(0, 10, (i) => kb.store(y, add(mul(i, idx(2)), idx(1)), cast(load(x, i), 'f64'))));
    // one u8 load, one cast (a float conversion) and one f64 store per iteration
    expect(kernelCounts(k)).toMatchObject({ flops: 10, intOps: 0, loadBytes: 10, storeBytes: 80, exact: true });
  });

  it('classifies integer, float, comparison and select operations', () => {
    const a = buf('a', 'i32', [8]);
    const f = buf('f', 'f32', [8]);
    const o = buf('o', 'f32', [8]);
    const k = kernel((kb) =>
      kb.for(0, 8, (i) => {
        const s = add(load(a, i), lit('i32', 3)); // 1 int op
        const v = cast(s, 'f32'); // 1 flop (int → float)
        // condition: 1 flop compare; branches: the costlier is mul (1 flop, 1 load); select itself 1 flop
        kb.store(o, i, select(gt(load(f, i), lit('f32', 0)), mul(v, load(f, i)), lit('f32', 0)));
      }),
    );
    expect(kernelCounts(k)).toMatchObject({ flops: 8 * 4, intOps: 8, loadBytes: 8 * (4 + 4 + 4), storeBytes: 32, exact: true });
  });

  it('counts a triangular loop exactly by enumeration, and at the mean when the budget is spent', () => {
    const y = buf('y', 'f32', [100]);
    const k = kernel((kb) => kb.for(0, 10, (i) => kb.for(0, i, (j) => kb.store(y, add(mul(i, idx(10)), j), lit('f32', 1)))));
    expect(kernelCounts(k)).toMatchObject({ storeBytes: 45 * 4, exact: true });
    const est = kernelCounts(k, { enumerationBudget: 0 });
    // the inner trip count is affine in i, so its mean (4.5) times 10 iterations is still 45
    expect(est.storeBytes).toBe(45 * 4);
    expect(est.exact).toBe(false);
    expect(est.estimates.join(' ')).toMatch(/mean/);
  });

  it('decides branches on loop variables and bounds held in locals (padding, clamped windows)', () => {
    const x = buf('x', 'f32', [10]);
    const y = buf('y', 'f32', [10]);
    const pad = kernel((kb) => kb.for(0, 10, (i) => kb.if(and(ge(i, idx(2)), lt(i, idx(8))), () => kb.store(y, i, load(x, i)), () => kb.store(y, i, lit('f32', 0)))));
    expect(kernelCounts(pad)).toMatchObject({ loadBytes: 6 * 4, storeBytes: 10 * 4, exact: true });

    const win = kernel((kb) =>
      kb.for(0, 10, (i) => {
        const lo = kb.let('index', max(idx(0), sub(i, idx(2))));
        const hi = kb.let('index', min(add(i, idx(3)), idx(10)));
        const acc = kb.let('f32', lit('f32', 0));
        kb.for(lo, hi, (j) => kb.set(acc, add(acc, load(x, j))));
        kb.store(y, i, acc);
      }),
    );
    let taps = 0;
    for (let i = 0; i < 10; i++) taps += Math.min(i + 3, 10) - Math.max(0, i - 2);
    expect(kernelCounts(win)).toMatchObject({ flops: taps, loadBytes: taps * 4, storeBytes: 40, exact: true });
  });

  it('estimates data-dependent bounds (one iteration) and branches (costlier side), and says so', () => {
    const n = buf('n', 'i32', [1]);
    const x = buf('x', 'f32', [16]);
    const y = buf('y', 'f32', [16]);
    const loop = kernel((kb) => kb.for(0, cast(load(n, idx(0)), 'index'), (i) => kb.store(y, i, load(x, i))));
    const lc = kernelCounts(loop);
    expect(lc).toMatchObject({ loadBytes: 4 + 4, storeBytes: 4, exact: false });
    expect(lc.estimates.join(' ')).toMatch(/loop bound depends on loaded data/);

    const br = kernel((kb) => kb.for(0, 16, (i) => kb.if(gt(load(x, i), lit('f32', 0)), () => kb.store(y, i, mul(load(x, i), load(x, i))), () => kb.store(y, i, lit('f32', 0)))));
    const bc = kernelCounts(br);
    // per iteration: compare (1 flop, 1 load) + the then branch (1 flop, 2 loads, 1 store)
    expect(bc).toMatchObject({ flops: 16 * 2, loadBytes: 16 * 12, storeBytes: 16 * 4, exact: false });
    expect(bc.estimates.join(' ')).toMatch(/branch depends on loaded data/);
  });
});

describe('roofline estimates', () => {
  it('takes the larger of compute and memory cycles and names the bound', () => {
    const x = buf('x', 'f32', [64]);
    const y = buf('y', 'f32', [64]);
    const copy = kernel((kb) => kb.for(0, 64, (i) => kb.store(y, i, load(x, i))), 'copy');
    const heavy = kernel((kb) => kb.for(0, 64, (i) => {
      const v = kb.let('f32', load(x, i));
      const a = kb.let('f32', v);
      for (let r = 0; r < 8; r++) kb.set(a, mul(add(a, v), v)); // 16 flops
      kb.store(y, i, a);
    }), 'heavy');
    const [c0, c1] = kernelCosts(program(copy, heavy), ROOF);
    expect(c0).toMatchObject({ name: 'copy', node: 'copy_node', op: 'Test', ops: 0, bytes: 512, intensity: 0, computeCycles: 0, memoryCycles: 128, estCycles: 128, bound: 'memory', bufferBytes: 512 });
    expect(c0!.estSeconds).toBeCloseTo(128 / 1e6, 12);
    expect(c1).toMatchObject({ flops: 64 * 16, bytes: 512, computeCycles: (64 * 16) / 2, memoryCycles: 128, estCycles: 512, bound: 'compute' });
    expect(c1!.intensity).toBeCloseTo(1024 / 512, 12);
    const t = costTotals([c0!, c1!]);
    expect(t).toMatchObject({ ops: 1024, bytes: 1024, estCycles: 640, computeBound: 1, memoryBound: 1, exact: true });
  });

  it('gives a null intensity to a kernel that moves no bytes', () => {
    const k = kernel((kb) => kb.for(0, 4, () => kb.let('f32', add(lit('f32', 1), lit('f32', 2)))));
    expect(kernelCosts(program(k), ROOF)[0]).toMatchObject({ ops: 4, bytes: 0, intensity: null, bound: 'compute' });
  });

  it('has documented roofline figures for the boards and the host profile', () => {
    for (const b of ['mps2-an385', 'mps2-an386', 'stm32f446'].map(getBoard)) {
      expect(b.roofline, b.name).toBeDefined();
      expect(b.roofline!.source.length).toBeGreaterThan(20);
      expect(b.roofline!.name).toBe(b.name);
    }
    expect(getBoard('mps2-an386').roofline!.flopsPerCycle).toBeGreaterThan(getBoard('mps2-an385').roofline!.flopsPerCycle);
    const h = hostRoofline();
    expect(h.clockHz).toBeGreaterThan(0);
    expect(() => hostRoofline('no-such-host')).toThrow(/unknown host profile/);
    expect(() => parseRoofline('x.json', 'x', { clockHz: -1, flopsPerCycle: 1, intOpsPerCycle: 1, bytesPerCycle: 1, source: 's' })).toThrow(/clockHz/);
    expect(() => parseRoofline('x.json', 'x', { clockHz: 1, flopsPerCycle: 1, intOpsPerCycle: 1, bytesPerCycle: 1 })).toThrow(/source/);
  });
});

describe('on lowered models', () => {
  it('counts 2 flops per multiply-accumulate of each MatMul of the mlp sample, exactly', () => {
    const file = path.resolve('samples/mlp/model.onnx');
    const macs = new Map<string, number>();
    const m = loadModel(file);
    for (const n of m.graph.nodes) if (n.opType === 'MatMul') macs.set(n.name, 0);
    const info = inspectModule(loadModel(file));
    specializeShapes(m, new Map());
    const costs = kernelCosts(lowerScheduled(m, 'memory').program, hostRoofline());
    const matmuls = costs.filter((c) => c.op === 'MatMul');
    expect(matmuls.length).toBe(macs.size);
    expect(matmuls.reduce((a, c) => a + c.flops, 0)).toBe(2 * info.ops.MatMul!.macs);
    for (const c of costs) expect(c.exact, c.name).toBe(true);
  });
});
