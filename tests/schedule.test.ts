/** Memory-aware scheduling: exact schedule beats file order, valid orders, same outputs, determinism. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { Graph, Module, Node, Value } from '../src/ir/graph.js';
import { tensorType } from '../src/ir/types.js';
import { Tensor, type RtValue } from '../src/ir/tensor.js';
import { loadModel } from '../src/driver/load.js';
import { specializeShapes } from '../src/passes/specialize.js';
import { scheduleGraph, lowerScheduled, scheduleMemoryPass } from '../src/passes/schedule-memory.js';
import { runPasses } from '../src/passes/pass.js';
import { interpret } from '../src/ir/interp/interpreter.js';
import { resolveTarget, runOnTarget } from '../src/driver/targets.js';

const samplesDir = path.resolve('samples');
const samples = fs.readdirSync(samplesDir).filter((d) => fs.existsSync(path.join(samplesDir, d, 'model.onnx'))).sort();

function hasCompiler(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * x (input, 256 floats) → two branches, each Concat(x,x,x,x) (4 KiB) then ReduceSum; Add of both.
 * File order runs both concats before either reduction (8 KiB live); the best order finishes one
 * branch first (4 KiB + a few bytes).
 */
function branchy(): Module {
  const f = (shape: number[]): ReturnType<typeof tensorType> => tensorType('f32', shape);
  const x = new Value('x', f([256]));
  const vals: Value[] = [];
  const nodes: Node[] = [];
  const node = (op: string, name: string, inputs: Value[], shape: number[], attrs: Node['attrs'] = new Map()): Value => {
    const out = new Value(`${name}_out`, f(shape));
    const n = new Node(op, '', name, inputs, [out], attrs);
    out.producer = n;
    nodes.push(n);
    vals.push(out);
    return out;
  };
  const axis0 = (): Node['attrs'] => new Map([['axis', { kind: 'int', value: 0 }]]);
  const a = node('Concat', 'cat_a', [x, x, x, x], [1024], axis0());
  const b = node('Concat', 'cat_b', [x, x, x, x], [1024], axis0());
  const ra = node('ReduceSum', 'sum_a', [a], [1]);
  const rb = node('ReduceSum', 'sum_b', [b], [1]);
  const y = node('Add', 'add', [ra, rb], [1]);
  return new Module(new Graph('branchy', [x], [y], nodes), new Map([['', 17]]));
}

function checkTopological(g: Graph): void {
  const defined = new Set<Value>([...g.inputs, ...g.initializers]);
  for (const n of g.nodes) {
    for (const v of n.inputs) if (v) expect(defined.has(v), `${n.name} uses ${v.name} before it is defined`).toBe(true);
    for (const o of n.outputs) if (o) defined.add(o);
  }
  for (const o of g.outputs) expect(defined.has(o)).toBe(true);
}

const xIn = (): Tensor => Tensor.from('f32', [256], Array.from({ length: 256 }, (_, i) => ((i * 37) % 11) / 7 - 0.5));

describe('memory-aware scheduling', () => {
  it('the exact schedule of a branchy graph beats the file order', () => {
    const m = branchy();
    const r = scheduleGraph(m.graph);
    expect(r.method).toBe('exact');
    expect(r.changed).toBe(true);
    // file order: both concats and the first sum are live at sum_a; scheduled: one concat and both sums at sum_b
    expect(r.fileOrderPeakBytes).toBe(4096 + 4096 + 16);
    expect(r.scheduledPeakBytes).toBe(4096 + 16 + 16);
    expect(r.order.map((n) => n.name)).toEqual(['cat_a', 'sum_a', 'cat_b', 'sum_b', 'add']);
    // the kernel-level live-set lower bound agrees
    const low = lowerScheduled(m, 'memory', true);
    expect(low.order).toBe('scheduled');
    expect(low.schedule!.fileOrderPeakBytes).toBeGreaterThanOrEqual(8192);
    expect(low.schedule!.scheduledPeakBytes).toBeLessThan(8192);
    expect(low.schedule!.reductionBytes).toBe(low.schedule!.fileOrderPeakBytes - low.schedule!.scheduledPeakBytes);
    expect(low.schedule!.method).toBe('exact');
    checkTopological(m.graph);
    // the greedy fallback (no DP states allowed) finds it too
    const h = scheduleGraph(branchy().graph, { segmentStates: 1 });
    expect(h.method).toBe('heuristic');
    expect(h.scheduledPeakBytes).toBe(r.scheduledPeakBytes);
    // file mode leaves the order alone
    const f = branchy();
    expect(lowerScheduled(f, 'file').order).toBe('file');
    expect(f.graph.nodes.map((n) => n.name)).toEqual(['cat_a', 'cat_b', 'sum_a', 'sum_b', 'add']);
  });

  it('the pass reorders a valid topological order, deterministically', () => {
    const orders: string[][] = [];
    for (let k = 0; k < 2; k++) {
      const m = branchy();
      runPasses(m, [scheduleMemoryPass], { verifyEach: true });
      checkTopological(m.graph);
      orders.push(m.graph.nodes.map((n) => n.name));
    }
    expect(orders[0]).toEqual(orders[1]);
  });

  it.skipIf(!hasCompiler())('outputs are unchanged (interpreter on the file order, generated C on the scheduled one)', async () => {
    const ref = interpret(branchy(), [xIn()]);
    const out = (await runOnTarget(resolveTarget('c'), branchy(), [xIn()])).outputs as RtValue[];
    const a = ref[0] as Tensor;
    const b = out[0] as Tensor;
    expect(b.shape).toEqual(a.shape);
    expect(Math.abs(b.num(0) - a.num(0))).toBeLessThan(1e-3);
  });

  it('on every sample: a valid order, never above the file order, deterministic', () => {
    for (const s of samples) {
      const load = (): Module => {
        const m = loadModel(path.join(samplesDir, s, 'model.onnx'));
        specializeShapes(m, new Map());
        return m;
      };
      const m = load();
      const r = scheduleGraph(m.graph);
      expect(r.scheduledPeakBytes, s).toBeLessThanOrEqual(r.fileOrderPeakBytes);
      const low = lowerScheduled(m, 'memory', true);
      expect(low.schedule!.scheduledPeakBytes, s).toBeLessThanOrEqual(low.schedule!.fileOrderPeakBytes);
      checkTopological(m.graph);
      const again = load();
      lowerScheduled(again, 'memory', true);
      expect(again.graph.nodes.map((n) => n.name), s).toEqual(m.graph.nodes.map((n) => n.name));
    }
  });
});
