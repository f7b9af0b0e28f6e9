/** Memory planning: liveness with in-place reuse, offset strategies, the HiGHS ILP, report and plot. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { loadModel } from '../src/driver/load.js';
import { specializeShapes } from '../src/passes/specialize.js';
import { lowerModule } from '../src/passes/lower.js';
import { planMemory, placeItems } from '../src/passes/plan-memory.js';
import { checkPlacement, HEURISTICS, liveLowerBound, runHeuristic, type MemItem } from '../src/passes/memory-strategies.js';
import { solveMemoryIlp } from '../src/costmodel/memory-ilp.js';
import { memoryPlotSvg } from '../src/passes/memory-plot.js';
import { emitC } from '../src/backends/c/emit.js';
import { runC } from '../src/backends/c/run.js';
import { KernelBuilder, load, add, mul } from '../src/ir/kernel/builder.js';
import type { KBuffer, Program } from '../src/ir/kernel/types.js';
import { Tensor } from '../src/ir/tensor.js';

const samplesDir = path.resolve('samples');
const samples = fs.readdirSync(samplesDir).filter((d) => fs.existsSync(path.join(samplesDir, d, 'model.onnx'))).sort();

function lowered(name: string): Program {
  const m = loadModel(path.join(samplesDir, name, 'model.onnx'));
  specializeShapes(m, new Map());
  return lowerModule(m);
}

const items = (list: [number, number, number][]): MemItem[] => list.map(([size, first, last], id) => ({ id, size, first, last }));

describe('offset strategies', () => {
  it('reach the known optimum on a chain and respect overlaps', () => {
    // a chain: each buffer overlaps only its neighbours; optimum = max of neighbour sums
    const chain = items([[64, 0, 1], [32, 1, 2], [128, 2, 3], [16, 3, 4], [64, 4, 5]]);
    expect(liveLowerBound(chain)).toBe(160);
    for (const h of HEURISTICS) {
      const p = runHeuristic(h, chain);
      checkPlacement(chain, p);
      expect(p.arena).toBeGreaterThanOrEqual(160);
    }
    expect(runHeuristic('greedy-size', chain).arena).toBe(160);
  });

  it('first fit in order of use fragments where greedy by size does not', () => {
    // A(16,[0,0]) B(16,[0,2]) C(32,[1,1]): first fit puts B above A and C above B (64); by size C goes first (48)
    const s = items([[16, 0, 0], [16, 0, 2], [32, 1, 1]]);
    expect(runHeuristic('first-fit', s).arena).toBe(64);
    expect(runHeuristic('greedy-size', s).arena).toBe(48);
    expect(liveLowerBound(s)).toBe(48);
  });

  it('the ILP proves the optimum where every heuristic is above it', () => {
    // optimum 64 (lower bound 64); the heuristics are checked to be no better than the ILP
    const s = items([[32, 0, 2], [16, 0, 0], [16, 1, 3], [32, 3, 4], [16, 1, 1], [16, 2, 4], [32, 5, 5]]);
    const lb = liveLowerBound(s);
    const best = HEURISTICS.map((h) => runHeuristic(h, s)).reduce((a, b) => (b.arena < a.arena ? b : a));
    const r = solveMemoryIlp(s, { timeLimitMs: 20_000, start: best, lowerBound: lb, unit: 16 });
    expect(r.status).toBe('optimal');
    expect(r.gap).toBe(0);
    checkPlacement(s, r.placement!);
    expect(r.placement!.arena).toBeLessThanOrEqual(best.arena);
    expect(r.placement!.arena).toBe(lb);
  });

  it('auto is deterministic and never worse than greedy by size', () => {
    const s = items(Array.from({ length: 40 }, (_, i) => [16 * (1 + ((i * 7) % 5)), i % 13, (i % 13) + (i % 4)] as [number, number, number]));
    const a = placeItems(s, { timeLimitMs: 0 });
    const b = placeItems(s, { timeLimitMs: 0 });
    expect(a.placement).toEqual(b.placement);
    expect(a.report.arenaBytes).toBeLessThanOrEqual(a.report.strategies['greedy-size']!);
  });
});

describe('memory plan of the samples', () => {
  it.each(samples)('%s: arena ≤ greedy by size and ≤ 1.01 × live-set lower bound', (name) => {
    const plan = planMemory(lowered(name), { timeLimitMs: 5000 });
    const r = plan.report;
    expect(r.arenaBytes).toBeLessThanOrEqual(r.strategies['greedy-size']!);
    expect(r.arenaBytes).toBeLessThanOrEqual(1.01 * r.lowerBoundBytes);
    expect(r.arenaBytes).toBeGreaterThanOrEqual(r.lowerBoundBytes);
  });

  it('--memory ilp proves optimality on a small sample', () => {
    const plan = planMemory(lowered('ad-autoencoder'), { strategy: 'ilp', timeLimitMs: 60_000 });
    expect(plan.report.solver.status).toBe('optimal');
    expect(plan.report.solver.gap).toBe(0);
    expect(plan.arenaBytes).toBe(plan.report.lowerBoundBytes);
  });

  it('the report carries the memory section and the plot is well-formed SVG', () => {
    const program = lowered('mlp');
    const plan = planMemory(program, { strategy: 'auto', timeLimitMs: 1000 });
    const proj = emitC(program, 'mlp', plan);
    const m = proj.report.memory;
    expect(m.arenaBytes).toBe(proj.report.arenaBytes);
    expect(Object.keys(m.strategies)).toEqual(expect.arrayContaining(['greedy-size', 'greedy-breadth', 'greedy-size-offset', 'first-fit']));
    expect(m.order).toBe('file');
    expect(typeof m.solver.status).toBe('string');
    const svg = memoryPlotSvg(plan, { title: 'mlp <&>' });
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).not.toMatch(/<&>/);
    // every opened element is closed
    const opened = (svg.match(/<(svg|g|title|text)\b/g) ?? []).length;
    const closed = (svg.match(/<\/(svg|g|title|text)>/g) ?? []).length;
    expect(opened).toBe(closed);
    expect((svg.match(/<rect /g) ?? []).length).toBeGreaterThanOrEqual(plan.report.buffers + 1);
  });
});

describe('in-place reuse', () => {
  /** x → t1 = x·2 → t2 = t1 + 1 → t3 = t2·t2 → y = t3 + x (elementwise chain over temps). */
  function chain(): Program {
    let id = 0;
    const buf = (name: string, role: KBuffer['role']): KBuffer => ({ id: id++, name, dtype: 'f32', shape: [2, 8], role });
    const x = buf('x', 'input');
    const t1 = buf('t1', 'temp');
    const t2 = buf('t2', 'temp');
    const t3 = buf('t3', 'temp');
    const y = buf('y', 'output');
    const f = (v: number): ReturnType<typeof load> => ({ k: 'const', t: 'f32', v }) as never;
    const kernels = [
      (kb: KernelBuilder) => kb.for(0, 16, (i) => kb.store(t1, i, mul(load(x, i), f(2)))),
      (kb: KernelBuilder) => kb.for(0, 2, (i) => kb.for(0, 8, (j) => kb.store(t2, add(mul(i, { k: 'const', t: 'index', v: 8 }), j), add(load(t1, add(mul(i, { k: 'const', t: 'index', v: 8 }), j)), f(1))))),
      (kb: KernelBuilder) => kb.for(0, 16, (i) => kb.store(t3, i, mul(load(t2, i), load(t2, i)))),
      (kb: KernelBuilder) => kb.for(0, 16, (i) => kb.store(y, i, add(load(t3, i), load(x, i)))),
    ].map((build, n) => {
      const kb = new KernelBuilder();
      build(kb);
      return { name: `k${n}`, origin: { node: `n${n}`, op: 'Test' }, body: kb.body };
    });
    return { name: 'chain', buffers: [x, t1, t2, t3, y], inputs: [x], outputs: [y], kernels };
  }

  it('an elementwise chain runs in one buffer, and the C still computes the right values', () => {
    const p = chain();
    const plan = planMemory(p, { timeLimitMs: 0 });
    expect(plan.liveness.aliases.filter((a) => a.kind === 'inplace').length).toBe(2);
    expect(plan.arenaBytes).toBe(64);
    const [t1, t2, t3] = [p.buffers[1]!, p.buffers[2]!, p.buffers[3]!];
    expect(plan.arenaOffset.get(t1)).toBe(plan.arenaOffset.get(t2));
    expect(plan.arenaOffset.get(t2)).toBe(plan.arenaOffset.get(t3));
    const src = emitC(p, 'chain', planMemory(p, { timeLimitMs: 0 })).files.get('model.c') as string;
    expect(src).toMatch(/const float \*p_t1/);
    expect(src).not.toMatch(/\*restrict p_t1/);
    const hasCc = (() => {
      try {
        execFileSync('cc', ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    if (!hasCc) return;
    const xs = Array.from({ length: 16 }, (_, i) => i - 5);
    const input = Tensor.from('f32', [2, 8], xs);
    const [out] = runC(p, 'chain', [input], planMemory(p, { timeLimitMs: 1000 }));
    const got = Array.from(out!.data as Float32Array);
    expect(got).toEqual(xs.map((v) => (2 * v + 1) * (2 * v + 1) + v));
  });

  it('no reuse when the index differs (a shifted read)', () => {
    const p = chain();
    const t1 = p.buffers[1]!;
    const t2 = p.buffers[2]!;
    const kb = new KernelBuilder();
    kb.for(0, 15, (i) => kb.store(t2, i, load(t1, add(i, { k: 'const', t: 'index', v: 1 }))));
    p.kernels[1] = { name: 'k1', origin: { node: 'n1', op: 'Test' }, body: kb.body };
    const plan = planMemory(p, { timeLimitMs: 0 });
    expect(plan.liveness.aliases.some((a) => a.from === t1 && a.to === t2)).toBe(false);
    expect(plan.arenaOffset.get(t1)).not.toBe(plan.arenaOffset.get(t2));
  });
});
