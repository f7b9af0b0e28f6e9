/**
 * Memory-aware scheduling: reorders the top-level graph's nodes into another topological order
 * with a smaller peak live set (subgraphs are left alone).
 *
 * **Cost model** (graph level, static tensor sizes, in the units of the kernel-level liveness):
 * every value computed by a node is a storage root, except views (Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity, Dropout's output 0, Cast to the same type), which share their input's root.
 * Graph inputs, initializers, constants and graph outputs are not in the arena. Roots that the
 * memory planner will merge into one block are merged here too: a Concat output with its inputs
 * (concat in place), and an elementwise output with an input of the same size whose only consumer
 * is that node (in place). A block (size: its largest member, rounded up to 16 bytes) is live from
 * the first to the last node that touches one of its members (a block behind a graph output that is
 * a view stays live to the end). A node's step holds the blocks live before it plus those it
 * allocates; an elementwise node whose input block of the same size dies at that step writes into it
 * (dynamic in-place). The peak is the maximum over steps: the live-set lower bound of the order.
 *
 * **Search.** Nodes that every other node depends on or that depend on every other node (cut nodes)
 * have the same position in every topological order, and the live set after a cut node does not
 * depend on the order before it; the graph is split at cut nodes and each segment is scheduled on
 * its own:
 * - exact: dynamic programming over the sets of scheduled nodes (the live set is a function of the
 *   set; the state keeps the best peak, ties by the sum of step sizes), while the number of states
 *   stays within a budget (per segment and in total), so small graphs and Inception-style modules
 *   are solved exactly;
 * - heuristic otherwise: greedy list scheduling (two rules: the ready node that leaves the smallest
 *   live set, and the one with the smallest step; ties by file index).
 * A segment keeps its file order unless the new order is strictly better, so the schedule is never
 * worse than the file order in this model. Everything is deterministic (ties by file index).
 *
 * `lowerScheduled` lowers both orders and keeps the scheduled one only when its kernel-level
 * live-set lower bound is strictly smaller.
 */
import type { Graph, Module, Node, Value } from '../ir/graph.js';
import { isStaticShape } from '../ir/types.js';
import type { Program, ScalarType } from '../ir/kernel/types.js';
import type { LowerStyle } from '../ir/kernel/lowering.js';
import { definePass } from './pass.js';
import { lowerModule } from './lower.js';
import { alignUp, analyzeLiveness, elementBytes, type Liveness } from './memory-liveness.js';
import { liveLowerBound } from './memory-strategies.js';

export type ScheduleMode = 'file' | 'memory';
export const SCHEDULE_MODES: readonly ScheduleMode[] = ['file', 'memory'];

export interface ScheduleOptions {
  /** DP states per segment before falling back to the heuristic (default 50 000). */
  segmentStates?: number;
  /** DP states over the whole graph (default 400 000). */
  totalStates?: number;
}

export interface ScheduleResult {
  /** The new node order (the file order when nothing better was found). */
  order: Node[];
  changed: boolean;
  /** 'exact' when every segment was solved by the DP. */
  method: 'exact' | 'heuristic';
  /** Peak of the cost model for the file order and for `order`. */
  fileOrderPeakBytes: number;
  scheduledPeakBytes: number;
  segments: number;
  states: number;
  ms: number;
}

/** What report.json says (`memory.schedule`): kernel-level live-set lower bounds of both orders. */
export interface ScheduleReport {
  fileOrderPeakBytes: number;
  scheduledPeakBytes: number;
  reductionBytes: number;
  reductionPercent: number;
  method: 'exact' | 'heuristic';
  /** Graph-level estimate of both orders (the scheduler's cost model). */
  model: { fileOrderPeakBytes: number; scheduledPeakBytes: number; segments: number; states: number };
  /** Time of the search, and of lowering the second order and both liveness analyses. */
  ms: number;
  checkMs: number;
}

const VIEW_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout']);

/** Ops lowered to one elementwise store per output element (candidates for in-place reuse). */
const ELEMENTWISE = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Clip', 'Elu', 'Selu', 'Celu', 'Gelu', 'Mish',
  'Softplus', 'Softsign', 'ThresholdedRelu', 'Exp', 'Log', 'Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign',
  'Erf', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'Not', 'IsNaN', 'IsInf',
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Mean', 'Sum', 'And', 'Or', 'Xor', 'Equal', 'Less', 'Greater',
  'LessOrEqual', 'GreaterOrEqual', 'Where', 'BatchNormalization', 'Cast', 'BitShift', 'Mod',
]);

function isView(n: Node): boolean {
  if (n.domain !== '' || !n.inputs[0]) return false;
  if (VIEW_OPS.has(n.opType)) return true;
  if (n.opType === 'Cast') {
    const a = n.inputs[0].tensorType;
    const b = n.outputs[0]?.tensorType;
    return !!a && !!b && a.dtype === b.dtype;
  }
  return false;
}

/**
 * Whether each Concat input is one contiguous piece of the output (every dim before the axis is 1),
 * the only case the memory planner writes in place (an H or W concat of NCHW patches is a copy).
 */
function concatContiguous(n: Node): boolean {
  const shape = n.outputs[0]?.tensorType?.shape;
  const a = n.attrs.get('axis');
  if (!shape || !isStaticShape(shape)) return false;
  const given = a?.kind === 'int' ? a.value : 1; // opset < 4 defaults to 1
  const axis = given < 0 ? given + shape.length : given;
  return shape.slice(0, axis).every((d) => d === 1);
}

function valueBytes(v: Value): number {
  const t = v.tensorType;
  if (!t || !isStaticShape(t.shape) || t.dtype === 'string' || t.dtype === 'c64' || t.dtype === 'c128') return 0;
  return t.shape.reduce((a, d) => a * d, 1) * elementBytes(t.dtype as ScalarType);
}

/** Values a node's subgraphs use from the enclosing scopes. */
function captures(node: Node): Value[] {
  const defined = new Set<Value>();
  const used = new Set<Value>();
  const walk = (g: Graph): void => {
    for (const v of g.inputs) defined.add(v);
    for (const v of g.initializers) defined.add(v);
    for (const n of g.nodes) {
      for (const o of n.outputs) if (o) defined.add(o);
      for (const i of n.inputs) if (i) used.add(i);
      for (const sg of n.subgraphs()) walk(sg);
    }
    for (const o of g.outputs) used.add(o);
  };
  for (const sg of node.subgraphs()) walk(sg);
  return [...used].filter((v) => !defined.has(v));
}

/** The cost model of a graph: nodes in file order, blocks, who touches what. */
interface Model {
  n: number;
  preds: number[][];
  touch: number[][];
  size: number[];
  /** Number of nodes touching the block; Infinity when it stays live to the end. */
  total: number[];
  /** Per node: [input block, output block] pairs for dynamic in-place reuse. */
  inplace: [number, number][][];
  hoist: boolean[];
}

function buildModel(g: Graph): Model {
  const nodes = g.nodes;
  const n = nodes.length;
  const index = new Map<Node, number>();
  nodes.forEach((x, i) => index.set(x, i));
  const rootMap = new Map<Value, Value>();
  const rootOf = (v: Value): Value => rootMap.get(v) ?? v;
  const views = nodes.map(isView);
  nodes.forEach((x, i) => {
    if (views[i] && x.outputs[0]) rootMap.set(x.outputs[0], rootOf(x.inputs[0]!));
  });
  const graphOut = new Set(g.outputs);
  const isArena = (r: Value): boolean => {
    const p = r.producer;
    if (!p || !index.has(p) || (p.domain === '' && p.opType === 'Constant') || graphOut.has(r)) return false;
    return !views[index.get(p)!] || p.outputs[0] !== r;
  };
  const nodeInputs = nodes.map((x) => [...x.inputs.filter((v): v is Value => v !== null), ...captures(x)]);
  // consumers of each root (nodes that read it directly or through views), for static in-place
  const readers = new Map<Value, Set<number>>();
  nodes.forEach((_, i) => {
    if (views[i]) return;
    for (const v of nodeInputs[i]!) {
      const r = rootOf(v);
      if (!readers.has(r)) readers.set(r, new Set());
      readers.get(r)!.add(i);
    }
  });
  // union-find over arena roots
  const parent = new Map<Value, Value>();
  const find = (v: Value): Value => {
    let r = v;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    return r;
  };
  const union = (a: Value, b: Value): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(rb, ra);
  };
  const pinnedRoots = new Set<Value>();
  for (const o of g.outputs) if (rootOf(o) !== o && isArena(rootOf(o))) pinnedRoots.add(rootOf(o));
  const dynamic: [Value, Value][][] = nodes.map(() => []);
  nodes.forEach((x, i) => {
    if (views[i] || x.domain !== '') return;
    const out = x.outputs[0];
    if (!out || !isArena(out)) return;
    if (ELEMENTWISE.has(x.opType)) {
      const ob = valueBytes(out);
      for (const v of x.inputs) {
        if (!v) continue;
        const r = rootOf(v);
        if (!isArena(r) || pinnedRoots.has(r) || valueBytes(r) !== ob) continue;
        const et = v.tensorType;
        const ot = out.tensorType;
        if (!et || !ot || elementBytes(et.dtype as ScalarType) !== elementBytes(ot.dtype as ScalarType)) continue;
        const rd = readers.get(r);
        if (rd && rd.size === 1) {
          union(r, out);
          break;
        }
        dynamic[i]!.push([r, out]);
      }
    }
    if (x.opType === 'Concat' && concatContiguous(x)) {
      for (const v of x.inputs) {
        const r = v ? rootOf(v) : null;
        if (r && r !== out && isArena(r)) union(out, r);
      }
    }
  });
  const blockOf = new Map<Value, number>();
  const size: number[] = [];
  const pinned: boolean[] = [];
  const blockId = (r: Value): number => {
    const f = find(r);
    let b = blockOf.get(f);
    if (b === undefined) {
      b = size.length;
      blockOf.set(f, b);
      size.push(0);
      pinned.push(false);
    }
    size[b] = Math.max(size[b]!, alignUp(valueBytes(r)));
    if (pinnedRoots.has(r)) pinned[b] = true;
    return b;
  };
  const touch: number[][] = [];
  const preds: number[][] = [];
  nodes.forEach((x, i) => {
    const t = new Set<number>();
    const p = new Set<number>();
    for (const v of nodeInputs[i]!) {
      if (v.producer && index.has(v.producer)) p.add(index.get(v.producer)!);
      if (!views[i] && isArena(rootOf(v))) t.add(blockId(rootOf(v)));
    }
    x.outputs.forEach((o, k) => {
      if (!o || (views[i] && k === 0)) return;
      if (isArena(rootOf(o))) t.add(blockId(rootOf(o)));
    });
    touch.push([...t].sort((a, b) => a - b));
    preds.push([...p].sort((a, b) => a - b));
  });
  const total = size.map(() => 0);
  for (const t of touch) for (const b of t) total[b]!++;
  pinned.forEach((p, b) => {
    if (p) total[b] = Infinity;
  });
  const inplace = dynamic.map((pairs) =>
    pairs.map(([a, o]): [number, number] => [blockId(a), blockId(o)]).filter(([a, o]) => a !== o && size[a] === size[o]),
  );
  const hoist: boolean[] = [];
  nodes.forEach((_, i) => hoist.push(touch[i]!.length === 0 && preds[i]!.every((p) => hoist[p])));
  return { n, preds, touch, size, total, inplace, hoist };
}

/** Step size and live bytes after running node v, given how many touchers of each block are done. */
function step(m: Model, v: number, count: (b: number) => number, live: number): { mem: number; after: number } {
  let alloc = 0;
  let freed = 0;
  for (const b of m.touch[v]!) {
    const c = count(b);
    if (c === 0) alloc += m.size[b]!;
    if (c + 1 === m.total[b]) freed += m.size[b]!;
  }
  let saving = 0;
  for (const [a, o] of m.inplace[v]!) {
    if (count(a) + 1 === m.total[a] && count(o) === 0) {
      saving = m.size[o]!;
      break;
    }
  }
  return { mem: live + alloc - saving, after: live + alloc - freed };
}

/** Runs an order (node indices); returns the peak and the counts/live set after it. */
function simulate(m: Model, order: readonly number[], counts = new Array<number>(m.size.length).fill(0), live = 0): { peak: number; live: number; counts: number[] } {
  let peak = 0;
  for (const v of order) {
    const s = step(m, v, (b) => counts[b]!, live);
    peak = Math.max(peak, s.mem);
    live = s.after;
    for (const b of m.touch[v]!) counts[b]!++;
  }
  return { peak, live, counts };
}

/** Exact DP over the downsets of a segment; null when it needs more than `budget` states. */
function dpSegment(m: Model, seg: readonly number[], counts0: readonly number[], live0: number, budget: number): { order: number[]; states: number } | null {
  const k = seg.length;
  const local = new Map<number, number>();
  seg.forEach((g, i) => local.set(g, i));
  const bit = seg.map((_, i) => 1n << BigInt(i));
  const predMask = seg.map((g) => m.preds[g]!.reduce((acc, p) => (local.has(p) ? acc | bit[local.get(p)!]! : acc), 0n));
  const touchers = new Map<number, number[]>();
  seg.forEach((g, i) => {
    for (const b of m.touch[g]!) {
      if (!touchers.has(b)) touchers.set(b, []);
      touchers.get(b)!.push(i);
    }
  });
  interface St { peak: number; area: number; live: number; prev: bigint; node: number }
  const seen = new Map<bigint, St>();
  let layer = new Map<bigint, St>([[0n, { peak: 0, area: 0, live: live0, prev: -1n, node: -1 }]]);
  let states = 1;
  for (let d = 0; d < k; d++) {
    const next = new Map<bigint, St>();
    for (const [S, st] of layer) {
      const count = (b: number): number => {
        let c = counts0[b]!;
        for (const j of touchers.get(b)!) if (S & bit[j]!) c++;
        return c;
      };
      for (let i = 0; i < k; i++) {
        if (S & bit[i]! || (predMask[i]! & ~S) !== 0n) continue;
        const s = step(m, seg[i]!, count, st.live);
        const peak = Math.max(st.peak, s.mem);
        const area = st.area + s.mem;
        const T = S | bit[i]!;
        const ex = next.get(T);
        if (!ex) {
          if (++states > budget) return null;
          next.set(T, { peak, area, live: s.after, prev: S, node: i });
        } else if (peak < ex.peak || (peak === ex.peak && area < ex.area)) {
          ex.peak = peak;
          ex.area = area;
          ex.prev = S;
          ex.node = i;
        }
      }
    }
    for (const [S, st] of layer) seen.set(S, st);
    layer = next;
  }
  for (const [S, st] of layer) seen.set(S, st);
  const order: number[] = [];
  let S = bit.reduce((a, b) => a | b, 0n);
  while (S !== 0n) {
    const st = seen.get(S)!;
    order.push(seg[st.node]!);
    S = st.prev;
  }
  return { order: order.reverse(), states };
}

/** Greedy list scheduling of a segment; `rule` picks among ready nodes. */
function greedySegment(m: Model, seg: readonly number[], counts0: readonly number[], live0: number, rule: 'live' | 'step'): number[] {
  const local = new Map<number, number>();
  seg.forEach((g, i) => local.set(g, i));
  const succ: number[][] = seg.map(() => []);
  const missing = seg.map((g, i) => {
    let c = 0;
    for (const p of m.preds[g]!) {
      const j = local.get(p);
      if (j !== undefined) {
        succ[j]!.push(i);
        c++;
      }
    }
    return c;
  });
  const counts = [...counts0];
  let live = live0;
  const ready: number[] = [];
  missing.forEach((c, i) => {
    if (c === 0) ready.push(i);
  });
  const order: number[] = [];
  while (ready.length > 0) {
    let best = -1;
    let bk: [number, number, number] = [Infinity, Infinity, Infinity];
    for (const i of ready) {
      const s = step(m, seg[i]!, (b) => counts[b]!, live);
      const key: [number, number, number] = rule === 'live' ? [s.after, s.mem, i] : [s.mem, s.after, i];
      if (key[0] < bk[0] || (key[0] === bk[0] && (key[1] < bk[1] || (key[1] === bk[1] && key[2] < bk[2])))) {
        bk = key;
        best = i;
      }
    }
    ready.splice(ready.indexOf(best), 1);
    const g = seg[best]!;
    live = step(m, g, (b) => counts[b]!, live).after;
    for (const b of m.touch[g]!) counts[b]!++;
    order.push(g);
    for (const j of succ[best]!) if (--missing[j]! === 0) ready.push(j);
  }
  return order;
}

/** Positions (in `list`) of nodes that are ancestors or descendants of every other node in `list`. */
function cutPositions(m: Model, list: readonly number[]): Set<number> {
  const k = list.length;
  const cuts = new Set<number>();
  if (k > 8000) return cuts; // bitsets would take k²/4 bytes: one segment, heuristic
  const pos = new Map<number, number>();
  list.forEach((g, i) => pos.set(g, i));
  const W = (k + 31) >>> 5;
  const popcount = (a: Uint32Array, o: number): number => {
    let c = 0;
    for (let w = 0; w < W; w++) {
      let x = a[o + w]!;
      x -= (x >>> 1) & 0x55555555;
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
      c += (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    }
    return c;
  };
  const anc = new Uint32Array(k * W);
  const desc = new Uint32Array(k * W);
  const preds = list.map((g) => m.preds[g]!.filter((p) => pos.has(p)).map((p) => pos.get(p)!));
  for (let i = 0; i < k; i++) {
    for (const p of preds[i]!) {
      for (let w = 0; w < W; w++) anc[i * W + w]! |= anc[p * W + w]!;
      anc[i * W + (p >>> 5)]! |= 1 << (p & 31);
    }
  }
  const succs: number[][] = list.map(() => []);
  preds.forEach((ps, i) => ps.forEach((p) => succs[p]!.push(i)));
  for (let i = k - 1; i >= 0; i--) {
    for (const s of succs[i]!) {
      for (let w = 0; w < W; w++) desc[i * W + w]! |= desc[s * W + w]!;
      desc[i * W + (s >>> 5)]! |= 1 << (s & 31);
    }
  }
  for (let i = 0; i < k; i++) if (popcount(anc, i * W) === i && popcount(desc, i * W) === k - 1 - i) cuts.add(i);
  return cuts;
}

/** Chooses a node order of the top-level graph with a small peak live set (the graph is not changed). */
export function scheduleGraph(g: Graph, opts: ScheduleOptions = {}): ScheduleResult {
  const t0 = performance.now();
  const segBudget = opts.segmentStates ?? 50_000;
  let totalBudget = opts.totalStates ?? 400_000;
  const m = buildModel(g);
  const fileOrder = g.nodes.map((_, i) => i);
  const filePeak = simulate(m, fileOrder).peak;
  const hoisted = fileOrder.filter((i) => m.hoist[i]);
  const rest = fileOrder.filter((i) => !m.hoist[i]);
  const cuts = cutPositions(m, rest);
  // segments between cut nodes, each followed by its cut node (if any)
  const parts: { seg: number[]; cut: number | null }[] = [];
  let cur: number[] = [];
  rest.forEach((g2, i) => {
    if (cuts.has(i)) {
      parts.push({ seg: cur, cut: g2 });
      cur = [];
    } else cur.push(g2);
  });
  parts.push({ seg: cur, cut: null });
  let exact = true;
  let states = 0;
  let state = simulate(m, hoisted);
  const order = [...hoisted];
  let segments = 0;
  for (const { seg, cut } of parts) {
    if (seg.length > 1) {
      segments++;
      const fileRun = simulate(m, seg, [...state.counts], state.live);
      let best = seg;
      let bestPeak = fileRun.peak;
      const dp = dpSegment(m, seg, state.counts, state.live, Math.min(segBudget, totalBudget));
      const candidates: number[][] = [];
      if (dp) {
        states += dp.states;
        totalBudget -= dp.states;
        candidates.push(dp.order);
      } else {
        exact = false;
        candidates.push(greedySegment(m, seg, state.counts, state.live, 'live'), greedySegment(m, seg, state.counts, state.live, 'step'));
      }
      for (const c of candidates) {
        const p = simulate(m, c, [...state.counts], state.live).peak;
        if (p < bestPeak) {
          best = c;
          bestPeak = p;
        }
      }
      order.push(...best);
      state = simulate(m, best, state.counts, state.live);
    } else if (seg.length === 1) {
      order.push(seg[0]!);
      state = simulate(m, seg, state.counts, state.live);
    }
    if (cut !== null) {
      order.push(cut);
      state = simulate(m, [cut], state.counts, state.live);
    }
  }
  const changed = order.some((v, i) => v !== i);
  const finalOrder = changed ? order : fileOrder;
  const schedPeak = simulate(m, finalOrder).peak;
  return {
    order: finalOrder.map((i) => g.nodes[i]!),
    changed,
    method: exact ? 'exact' : 'heuristic',
    fileOrderPeakBytes: filePeak,
    scheduledPeakBytes: schedPeak,
    segments,
    states,
    ms: performance.now() - t0,
  };
}

/** The graph-level peak of the current node order (the scheduler's cost model). */
export function graphPeakBytes(g: Graph): number {
  const m = buildModel(g);
  return simulate(m, g.nodes.map((_, i) => i)).peak;
}

/** Live bytes at each node's step in the current order (the cost model behind `graphPeakBytes`). */
export function graphStepBytes(g: Graph): number[] {
  const m = buildModel(g);
  const counts = new Array<number>(m.size.length).fill(0);
  let live = 0;
  return g.nodes.map((_, v) => {
    const s = step(m, v, (b) => counts[b]!, live);
    live = s.after;
    for (const b of m.touch[v]!) counts[b]!++;
    return s.mem;
  });
}

/** Reorders module.graph.nodes in place (see the file comment). Options: none. */
export const scheduleMemoryPass = definePass({
  name: 'schedule-memory',
  description: 'reorder the top-level nodes to lower the peak live set (exact DP for small segments, greedy otherwise)',
  run(module: Module, ctx) {
    const r = scheduleGraph(module.graph);
    ctx.log(`schedule-memory: ${r.method}, peak ${r.fileOrderPeakBytes} → ${r.scheduledPeakBytes} B (${r.segments} segments, ${r.states} states, ${r.ms.toFixed(0)} ms)`);
    if (r.changed) module.graph.nodes = r.order;
    return r.changed;
  },
});

/** Kernel-level live-set lower bound of a program (and its liveness, for reuse by the planner). */
export function kernelLowerBound(program: Program): { bytes: number; liveness: Liveness } {
  const liveness = analyzeLiveness(program);
  return { bytes: liveLowerBound(liveness.blocks.map((b) => ({ id: b.id, size: b.size, first: b.first, last: b.last }))), liveness };
}

export interface LoweredSchedule {
  program: Program;
  order: 'file' | 'scheduled';
  /** Liveness of `program` when it was computed (in-place on), for planMemory. */
  liveness?: Liveness;
  schedule?: ScheduleReport;
}

/**
 * Lowers a specialized module in file order, or (mode 'memory') schedules it, lowers both orders
 * and keeps the scheduled one when its kernel-level live-set lower bound is strictly smaller
 * (module.graph.nodes is left in the order that was kept). With `measure` the bounds are computed
 * even when the order does not change (for the report).
 */
export function lowerScheduled(module: Module, mode: ScheduleMode, measure = false, style: LowerStyle = 'cpu'): LoweredSchedule {
  const fileProgram = lowerModule(module, style);
  if (mode === 'file') return { program: fileProgram, order: 'file' };
  const r = scheduleGraph(module.graph);
  if (!r.changed && !measure) return { program: fileProgram, order: 'file' };
  const t0 = performance.now();
  const fileLb = kernelLowerBound(fileProgram);
  let kept: LoweredSchedule = { program: fileProgram, order: 'file', liveness: fileLb.liveness };
  let schedBytes = fileLb.bytes;
  if (r.changed) {
    const saved = module.graph.nodes;
    module.graph.nodes = r.order;
    const program = lowerModule(module, style);
    const lb = kernelLowerBound(program);
    if (lb.bytes < fileLb.bytes) {
      kept = { program, order: 'scheduled', liveness: lb.liveness };
      schedBytes = lb.bytes;
    } else module.graph.nodes = saved;
  }
  const reduction = fileLb.bytes - schedBytes;
  kept.schedule = {
    fileOrderPeakBytes: fileLb.bytes,
    scheduledPeakBytes: schedBytes,
    reductionBytes: reduction,
    reductionPercent: fileLb.bytes > 0 ? Math.round((10000 * reduction) / fileLb.bytes) / 100 : 0,
    method: r.method,
    model: { fileOrderPeakBytes: r.fileOrderPeakBytes, scheduledPeakBytes: r.scheduledPeakBytes, segments: r.segments, states: r.states },
    ms: Math.round(r.ms),
    checkMs: Math.round(performance.now() - t0),
  };
  return kept;
}
