/**
 * Patch-based execution (MCUNetV2-style): the first layers of a network, up to a cut tensor, are
 * computed tile by tile so their large feature maps are never whole in memory.
 *
 * A graph rewrite that only uses ordinary ops, so every backend and the interpreter run it: the
 * cut tensor's H×W is split into a grid of patches; for each patch the input box with its halo is
 * found backwards through every op of the region (src/passes/patch-geometry.ts), and the patch is
 * emitted as a Slice of each region input, one clone per region op with its pads adjusted (a side on
 * the image border keeps the original padding, an interior side gets 0 because the halo comes from
 * the slice), a Slice wherever a per-patch tensor holds more halo than a consumer reads, and the
 * patches are assembled into the cut tensor with a Concat along W per row and one along H. Patches
 * are emitted one after another (depth first), so only one patch's intermediates are live.
 *
 * The assembly Concats are copies (only a Concat whose inputs are contiguous pieces of the output is
 * written in place), so at the final Concat the patch rows and the cut tensor are live together:
 * a good cut is a small tensor after the stride-2 layers.
 */
import { Graph, Node, Value, type AttrValue, type Module } from '../ir/graph.js';
import { KilnError } from '../ir/errors.js';
import { inferGraph } from '../ir/infer.js';
import { nodeMacs } from '../ir/macs.js';
import { Tensor } from '../ir/tensor.js';
import { isStaticShape, tensorType } from '../ir/types.js';
import { definePass } from './pass.js';
import { getBoard, type Board } from '../costmodel/boards.js';
import { RUNTIME_RAM_BYTES } from '../backends/mcu/fit.js';
import { elementBytes } from './memory-liveness.js';
import { graphPeakBytes, graphStepBytes, kernelLowerBound, scheduleGraph } from './schedule-memory.js';
import { lowerModule } from './lower.js';
import type { ScalarType } from '../ir/kernel/types.js';
import { boxArea, clipBox, findRegion, graphInfo, inputBox, patchNeeds, sameBox, shape4, splitRange, type Box, type GraphInfo, type Region } from './patch-geometry.js';
import { UniqueNames } from '../ir/names.js';

export type Grid = readonly [number, number];

/** What report.json says (`memory.patches`). */
export interface PatchReport {
  /** Peak bytes without and with patches (kernel-level live-set bounds in `kiln compile`). */
  off: number;
  on: number;
  /** 'RxC', or null when nothing was applied. */
  grid: string | null;
  cut: string | null;
  macsOff: number;
  macsOn: number;
  overheadMacs: number;
  overheadPct: number;
  /** The budget the plan was chosen for, when there was one, and whether `on` fits it. */
  budgetBytes?: number;
  fits?: boolean;
  /** 'graph': the scheduler's graph-level estimate; 'kernel': the kernel-level live-set bound. */
  peakModel: 'graph' | 'kernel';
  /** Why no plan was applied. */
  reason?: string;
}

export interface PatchChoice {
  cut: string;
  grid: Grid;
  /** Peaks without and with the patches (file order), in the model `peakModel` says. */
  off: number;
  on: number;
  peakModel: 'graph' | 'kernel';
  macsOff: number;
  macsOn: number;
  overheadMacs: number;
  overheadPct: number;
  fits: boolean;
  /** Configurations whose peak was measured. */
  tried: number;
}

export interface ChooseOptions {
  /** Only this cut tensor. */
  cut?: string;
  /** Only this grid. */
  grid?: Grid;
  /** Square grids tried when none is given (default 2..8). */
  grids?: readonly Grid[];
  /** At most this many configurations are measured at graph level (default 64), cheapest recompute first. */
  maxTrials?: number;
  /** How many of them are lowered and measured at kernel level (default 6; 0: graph level only). */
  verify?: number;
  /** The peak without patches when the caller has measured it (in the model `verify` selects). */
  offBytes?: number;
  /** Receives one line per measured configuration. */
  trace?: (line: string) => void;
}

const DEFAULT_GRIDS: Grid[] = [2, 3, 4, 5, 6, 7, 8].map((n) => [n, n] as const);
/** Configurations that would add more nodes than this are not tried (compile time). */
const MAX_PATCH_NODES = 30_000;

export function graphMacs(g: Graph): number {
  return g.nodes.reduce((a, n) => a + nodeMacs(n), 0);
}

function valueBytes(v: Value): number {
  const t = v.tensorType;
  if (!t?.shape || !isStaticShape(t.shape) || t.dtype === 'string' || t.dtype === 'c64' || t.dtype === 'c128') return 0;
  return t.shape.reduce((a, b) => a * b, 1) * elementBytes(t.dtype as ScalarType);
}

export function parseGrid(s: string): Grid {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1 || Number(m[1]) * Number(m[2]) < 2) throw new KilnError('usage', `patch grid '${s}' must look like 4x4 (rows x columns, at least 2 patches)`);
  return [Number(m[1]), Number(m[2])];
}

/** Bytes from '128KiB', '128K', '1MiB', '131072'. */
export function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|B|K|KB|KiB|M|MB|MiB)$/i.exec(s.trim());
  if (!m) throw new KilnError('usage', `'${s}' is not a byte count (e.g. 128KiB)`);
  const unit = m[2]!.toLowerCase();
  const mul = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1;
  return Math.floor(Number(m[1]) * mul);
}

// ---------- the rewrite ----------

interface Built {
  nodes: Node[];
  initializers: Value[];
  /** Node that produces the cut tensor (the last Concat). */
  last: Node;
}

function intsAttr(value: number[]): AttrValue {
  return { kind: 'ints', value };
}

/** Emits the patched region (see the file comment); the graph is not changed. */
function buildPatches(module: Module, region: Region, grid: Grid): Built {
  const g = module.graph;
  const names = new UniqueNames(g);
  const opset = module.opsetFor('') ?? 13;
  const cut = region.cut;
  const cs = shape4(cut)!;
  const rows = splitRange(cs[2]!, grid[0]);
  const cols = splitRange(cs[3]!, grid[1]);
  const nodes: Node[] = [];
  const initializers: Value[] = [];
  const base = cut.name;
  let axes: Value | null = null;
  const i64 = (name: string, xs: number[]): Value => {
    const v = new Value(names.fresh(name), tensorType('i64', [xs.length]));
    v.init = Tensor.from('i64', [xs.length], xs.map((x) => BigInt(x)));
    initializers.push(v);
    return v;
  };
  const emit = (op: string, name: string, inputs: (Value | null)[], outName: string, attrs: Map<string, AttrValue>, out?: Value): Value => {
    const o = out ?? new Value(names.fresh(outName), null);
    const n = new Node(op, '', names.fresh(name), inputs, [o], attrs);
    o.producer = n;
    nodes.push(n);
    return o;
  };
  /** Slice of x (holding box `have`) to box `want`, both in the full tensor's coordinates. */
  const slice = (x: Value, have: Box, want: Box, name: string): Value => {
    const starts = [want[0] - have[0], want[2] - have[2]];
    const ends = [want[1] - have[0], want[3] - have[2]];
    if (opset < 10) {
      return emit('Slice', name, [x], name, new Map<string, AttrValue>([['starts', intsAttr(starts)], ['ends', intsAttr(ends)], ['axes', intsAttr([2, 3])]]));
    }
    axes ??= i64(`${base}.patch_axes`, [2, 3]);
    return emit('Slice', name, [x, i64(`${name}.starts`, starts), i64(`${name}.ends`, ends), axes], name, new Map());
  };
  const rowValues: Value[] = [];
  let last: Node | null = null;
  rows.forEach(([h0, h1], r) => {
    const patchOuts: Value[] = [];
    cols.forEach(([w0, w1], c) => {
      const tag = `p${r}_${c}`;
      const need = patchNeeds(region, [h0, h1, w0, w1]);
      // per-patch copy of each tensor and the box it holds
      const held = new Map<Value, { v: Value; box: Box }>();
      const sliced = new Map<string, Value>();
      const view = (u: Value, want: Box): Value => {
        let h = held.get(u);
        if (!h) {
          // a region input: slice the whole tensor to what this patch needs
          const s = shape4(u)!;
          const full: Box = [0, s[2]!, 0, s[3]!];
          const nb = need.get(u)!;
          h = { v: sameBox(nb, full) ? u : slice(u, full, nb, `${u.name}.${tag}`), box: nb };
          held.set(u, h);
        }
        if (sameBox(h.box, want)) return h.v;
        const key = `${u.name}|${want.join(',')}`;
        let s = sliced.get(key);
        if (!s) {
          s = slice(h.v, h.box, want, `${u.name}.${tag}.s${want.join('_')}`);
          sliced.set(key, s);
        }
        return s;
      };
      for (const n of region.nodes) {
        const l = region.local.get(n)!;
        const out = n.outputs[0]!;
        const ob = need.get(out);
        if (!ob) continue;
        const ib = inputBox(l, ob);
        const want = clipBox(ib, l.inHW);
        const inputs = n.inputs.map((v, i) => (v && l.spatial.includes(i) ? view(v, want) : v));
        const attrs = new Map(n.attrs);
        if (l.kind === 'window') {
          attrs.delete('auto_pad');
          // explicit pads for exactly this box: the original pad on the image border, 0 inside
          attrs.set('pads', intsAttr([want[0] - ib[0], want[2] - ib[2], ib[1] - want[1], ib[3] - want[3]]));
          if (attrs.has('ceil_mode')) attrs.set('ceil_mode', { kind: 'int', value: 0 });
        }
        const o = new Value(names.fresh(`${out.name}.${tag}`), null);
        const clone = new Node(n.opType, n.domain, names.fresh(`${n.name || out.name}.${tag}`), inputs, [o], attrs);
        o.producer = clone;
        nodes.push(clone);
        held.set(out, { v: o, box: ob });
      }
      patchOuts.push(held.get(cut)!.v);
    });
    const rowOut = grid[0] === 1 ? cut : undefined;
    const rv = patchOuts.length === 1 ? patchOuts[0]! : emit('Concat', `${base}.row${r}`, patchOuts, `${base}.row${r}`, new Map([['axis', { kind: 'int', value: 3 }]]), rowOut);
    rowValues.push(rv);
    if (rowOut) last = nodes[nodes.length - 1]!;
  });
  if (grid[0] > 1) {
    emit('Concat', `${base}.patches`, rowValues, base, new Map([['axis', { kind: 'int', value: 2 }]]), cut);
    last = nodes[nodes.length - 1]!;
  }
  return { nodes, initializers, last: last! };
}

interface Applied {
  region: Region;
  grid: Grid;
  undo(): void;
}

/** Replaces the region by its patches in module.graph (types inferred); `undo` restores the graph. */
function applyPatches(module: Module, region: Region, grid: Grid): Applied {
  const g = module.graph;
  // captured first: building links the cut tensor to the assembling Concat
  const cutProducer = region.cut.producer!;
  const saved = { nodes: g.nodes, initializers: g.initializers, producer: cutProducer };
  const built = buildPatches(module, region, grid);
  const inRegion = new Set(region.nodes);
  const nodes: Node[] = [];
  for (const n of g.nodes) {
    if (n === cutProducer) nodes.push(...built.nodes);
    else if (!inRegion.has(n)) nodes.push(n);
  }
  g.nodes = nodes;
  g.initializers = [...g.initializers, ...built.initializers];
  region.cut.producer = built.last;
  try {
    inferGraph(module, new Graph('patches', [], [], built.nodes));
  } catch (e) {
    g.nodes = saved.nodes;
    g.initializers = saved.initializers;
    region.cut.producer = saved.producer;
    throw e;
  }
  return {
    region,
    grid,
    undo: () => {
      g.nodes = saved.nodes;
      g.initializers = saved.initializers;
      region.cut.producer = saved.producer;
    },
  };
}

/**
 * MACs of a region computed patch by patch (exact: a local op's MACs are proportional to its output
 * pixels), and a lower bound of the patch phase's peak: the largest inputs + output of one op in one
 * patch.
 */
function patchedRegionCost(region: Region, grid: Grid): { off: number; on: number; step: number } {
  const cs = shape4(region.cut)!;
  let off = 0;
  const perPixel = new Map<Node, number>();
  for (const n of region.nodes) {
    const m = nodeMacs(n);
    off += m;
    const s = shape4(n.outputs[0])!;
    perPixel.set(n, m / (s[2]! * s[3]!));
  }
  const pixelBytes = (v: Value): number => {
    const s = shape4(v)!;
    return (valueBytes(v) / (s[2]! * s[3]!)) | 0;
  };
  let on = 0;
  let step = 0;
  for (const [h0, h1] of splitRange(cs[2]!, grid[0])) {
    for (const [w0, w1] of splitRange(cs[3]!, grid[1])) {
      const need = patchNeeds(region, [h0, h1, w0, w1]);
      for (const n of region.nodes) {
        const out = n.outputs[0]!;
        const b = need.get(out);
        if (!b) continue;
        on += perPixel.get(n)! * boxArea(b);
        const l = region.local.get(n)!;
        const ins = new Set(l.spatial.map((i) => n.inputs[i]!));
        const inBytes = [...ins].reduce((a, v) => a + pixelBytes(v) * boxArea(clipBox(inputBox(l, b), l.inHW)), 0);
        step = Math.max(step, inBytes + pixelBytes(out) * boxArea(b));
      }
    }
  }
  return { off, on: Math.round(on), step };
}

/** A cut whose only use is a same-sized pointwise op (a Relu after a Conv) is no better than that op's output. */
function redundantCut(info: GraphInfo, cut: Value): boolean {
  if (info.outputs.has(cut)) return false;
  const cons = info.consumers.get(cut) ?? [];
  if (cons.length !== 1) return false;
  const l = info.local.get(cons[0]!);
  return !!l && l.kind === 'point' && valueBytes(cons[0]!.outputs[0]!) === valueBytes(cut) && cons[0]!.opType !== 'Concat';
}

interface Candidate {
  region: Region;
  grid: Grid;
  overhead: number;
  /** A lower bound of the patched peak: twice the cut tensor, and the steps after the region. */
  lower: number;
  nodes: number;
  /** Graph-level peak once measured. */
  graphPeak: number;
}

/** Cut tensors with a closed local region, in file order. */
export function patchCuts(g: Graph, info: GraphInfo = graphInfo(g)): Region[] {
  const out: Region[] = [];
  for (const n of g.nodes) {
    const o = n.outputs[0];
    if (!o || !info.local.get(n)) continue;
    const r = findRegion(info, o);
    if (r) out.push(r);
  }
  return out;
}

/**
 * Rough size of the im2col scratch a float Conv is lowered with (src/ir/kernel/lower/perf-conv.ts
 * gathers whole row blocks: a divisor of the output height with at least 64 columns), so that the
 * graph-level estimate ranks patch sizes whose odd heights force large gathers behind those that do
 * not. Pointwise and depthwise convolutions gather nothing.
 */
function convScratchBytes(n: Node): number {
  if (n.opType !== 'Conv' || n.domain !== '') return 0;
  const x = shape4(n.inputs[0]);
  const w = shape4(n.inputs[1]);
  const y = shape4(n.outputs[0]);
  if (!x || !w || !y || (n.inputs[0]!.tensorType!.dtype !== 'f32')) return 0;
  const group = n.attrs.get('group');
  if (group?.kind === 'int' && group.value > 1) return 0;
  const pointwise = w[2] === 1 && w[3] === 1 && x[2] === y[2] && x[3] === y[3];
  if (pointwise) return 0;
  const [OH, OW] = [y[2]!, y[3]!];
  const want = Math.min(OH * OW, 64);
  let rc = OH;
  for (let d = 1; d <= OH; d++) {
    if (OH % d === 0 && d * OW >= want) {
      rc = d;
      break;
    }
  }
  return w[1]! * w[2]! * w[3]! * rc * OW * 4;
}

/** Graph-level peak of the file order plus each Conv's gather scratch at its step. */
function estimatePeakBytes(g: Graph): number {
  const steps = graphStepBytes(g);
  return steps.reduce((a, b, i) => Math.max(a, b + convScratchBytes(g.nodes[i]!)), 0);
}

/** The kernel-level live-set lower bound of the module's current node order (scratch buffers included). */
export function kernelPeakBytes(module: Module): number {
  return kernelLowerBound(lowerModule(module)).bytes;
}

/**
 * Chooses a cut tensor and a grid. Every configuration is first measured with the scheduler's
 * graph-level cost model (cheap); the most promising `verify` ones are then lowered and measured with
 * the kernel-level live-set bound, which also sees lowering scratch (im2col) buffers. With a budget:
 * the configuration with the smallest recompute overhead in MACs whose peak fits; when none fits (or
 * without a budget), the smallest peak. Null when the graph has no patchable region or no
 * configuration lowers the peak. The module is left unchanged; the nodes outside the region keep
 * their order, so schedule the graph first (`patchModule` does).
 */
export function choosePatchPlan(module: Module, budgetBytes?: number, opts: ChooseOptions = {}): PatchChoice | null {
  const g = module.graph;
  const info = graphInfo(g);
  let regions = patchCuts(g, info);
  if (opts.cut !== undefined) {
    regions = regions.filter((r) => r.cut.name === opts.cut);
    if (regions.length === 0) throw badCut(g, opts.cut);
  }
  const verify = opts.verify ?? 6;
  const graphOff = graphPeakBytes(g);
  const macsOff = graphMacs(g);
  const grids = opts.grid ? [opts.grid] : (opts.grids ?? DEFAULT_GRIDS);
  // the nodes after the cut are unchanged: their steps bound the patched peak from below
  const steps = graphStepBytes(g);
  const after = new Array<number>(steps.length + 1).fill(0);
  for (let i = steps.length - 1; i >= 0; i--) after[i] = Math.max(after[i + 1]!, steps[i]!);
  const cands: Candidate[] = [];
  for (const region of regions) {
    const cs = shape4(region.cut)!;
    const cutBytes = valueBytes(region.cut);
    // the final Concat holds the patch rows and the cut tensor as well
    const rest = Math.max(2 * cutBytes, after[info.index.get(region.cut.producer!)! + 1]!);
    if (opts.cut === undefined && (rest >= graphOff || redundantCut(info, region.cut))) continue;
    for (const grid of grids) {
      if (grid[0] > cs[2]! || grid[1] > cs[3]!) continue;
      const nodes = grid[0] * grid[1] * region.nodes.length;
      if (nodes > MAX_PATCH_NODES) continue;
      const m = patchedRegionCost(region, grid);
      const lower = Math.max(rest, m.step);
      if (opts.cut === undefined && opts.grid === undefined && lower >= graphOff) continue;
      opts.trace?.(`${region.cut.name} ${grid.join('x')}: at least ${lower} B, +${m.on - m.off} MACs`);
      cands.push({ region, grid, overhead: m.on - m.off, lower, nodes, graphPeak: Infinity });
    }
  }
  // cheapest recompute first (ties: fewer patches, smaller region); measured in order of the lower bound
  cands.sort((a, b) => a.overhead - b.overhead || a.grid[0] * a.grid[1] - b.grid[0] * b.grid[1] || a.nodes - b.nodes);
  const measure = (c: Candidate, kernel: boolean): number => {
    const applied = applyPatches(module, c.region, c.grid);
    try {
      return kernel ? kernelPeakBytes(module) : estimatePeakBytes(g);
    } finally {
      applied.undo();
    }
  };
  const maxTrials = opts.maxTrials ?? 64;
  let smallest = Infinity;
  let tried = 0;
  for (const c of [...cands].sort((a, b) => a.lower - b.lower)) { // stable: ties keep the overhead order
    if (tried >= maxTrials) break;
    if ((budgetBytes === undefined || c.lower > budgetBytes) && c.lower >= smallest) continue;
    c.graphPeak = measure(c, false);
    opts.trace?.(`${c.region.cut.name} ${c.grid.join('x')}: estimate ${c.graphPeak} B, +${c.overhead} MACs`);
    smallest = Math.min(smallest, c.graphPeak);
    tried++;
  }
  const measured = cands.filter((c) => c.graphPeak !== Infinity);
  if (measured.length === 0) return null;
  const off = opts.offBytes ?? (verify > 0 ? kernelPeakBytes(module) : graphOff);
  const byPeak = [...measured].sort((a, b) => a.graphPeak - b.graphPeak || a.overhead - b.overhead);
  let pick: { c: Candidate; peak: number } | null = null;
  if (verify === 0) {
    const fit = budgetBytes === undefined ? undefined : measured.find((c) => c.graphPeak <= budgetBytes);
    const c = fit ?? byPeak[0]!;
    pick = { c, peak: c.graphPeak };
  } else {
    // kernel-level checks: with a budget the cheapest graph-level fits first, then the smallest peaks
    const order: Candidate[] = [];
    const add = (c: Candidate): void => {
      if (!order.includes(c)) order.push(c);
    };
    if (budgetBytes !== undefined) measured.filter((c) => c.graphPeak <= budgetBytes).slice(0, verify).forEach(add);
    byPeak.slice(0, verify).forEach(add);
    let best: { c: Candidate; peak: number } | null = null;
    const checked: { c: Candidate; peak: number }[] = [];
    for (const c of order) {
      const peak = measure(c, true);
      opts.trace?.(`${c.region.cut.name} ${c.grid.join('x')}: kernel-level ${peak} B`);
      checked.push({ c, peak });
      if (!best || peak < best.peak || (peak === best.peak && c.overhead < best.c.overhead)) best = { c, peak };
    }
    const fits = budgetBytes === undefined ? [] : checked.filter((x) => x.peak <= budgetBytes).sort((a, b) => a.c.overhead - b.c.overhead || a.peak - b.peak);
    pick = fits[0] ?? best;
  }
  if (!pick || (opts.cut === undefined && pick.peak >= off)) return null;
  const overheadMacs = pick.c.overhead;
  return {
    cut: pick.c.region.cut.name,
    grid: pick.c.grid,
    off,
    on: pick.peak,
    peakModel: verify > 0 ? 'kernel' : 'graph',
    macsOff,
    macsOn: macsOff + overheadMacs,
    overheadMacs,
    overheadPct: macsOff > 0 ? Math.round((10000 * overheadMacs) / macsOff) / 100 : 0,
    fits: budgetBytes === undefined || pick.peak <= budgetBytes,
    tried,
  };
}

function badCut(g: Graph, cut: string): KilnError {
  const exists = g.nodes.some((n) => n.outputs.some((o) => o?.name === cut));
  return exists
    ? new KilnError('unsupported', `tensor '${cut}' cannot be a patch cut (it is not computed by spatially local ops whose tensors are used only on the way to it)`, { tensor: cut })
    : new KilnError('usage', `the model has no tensor named '${cut}'`, { tensor: cut });
}

/** Applies a configuration to module.graph for good; returns the MACs before and after. */
export function applyPatchPlan(module: Module, cut: string, grid: Grid): { macsOff: number; macsOn: number } {
  const g = module.graph;
  const info = graphInfo(g);
  const producer = g.nodes.find((n) => n.outputs.some((o) => o?.name === cut));
  const region = producer ? findRegion(info, producer.outputs.find((o) => o?.name === cut)!) : null;
  if (!region) throw badCut(g, cut);
  const cs = shape4(region.cut)!;
  if (grid[0] > cs[2]! || grid[1] > cs[3]!) throw new KilnError('usage', `patch grid ${grid[0]}x${grid[1]} is finer than tensor '${cut}' (${cs[2]}x${cs[3]})`, { tensor: cut });
  const macsOff = graphMacs(g);
  applyPatches(module, region, grid);
  return { macsOff, macsOn: graphMacs(g) };
}

/**
 * Chooses (unless both `cut` and `grid` are given) and applies a patch plan. The peaks are kernel-level
 * live-set bounds of the file order (graph-level estimates with `verify: 0`). The report's grid is
 * null when nothing was applied.
 */
export function patchModule(module: Module, opts: ChooseOptions & { budgetBytes?: number } = {}): PatchReport {
  const g = module.graph;
  // the nodes after the cut keep their order: schedule first, so the plan is measured on the order
  // that will run (the scheduler only moves nodes when that lowers its peak)
  const fileOrder = g.nodes;
  const sched = scheduleGraph(g);
  if (sched.changed) g.nodes = sched.order;
  const kernel = (opts.verify ?? 6) > 0;
  const peakModel = kernel ? 'kernel' : 'graph';
  const measure = (): number => (kernel ? kernelPeakBytes(module) : graphPeakBytes(g));
  const budget = (on: number): Partial<PatchReport> => (opts.budgetBytes !== undefined ? { budgetBytes: opts.budgetBytes, fits: on <= opts.budgetBytes } : {});
  let cut = opts.cut;
  let grid = opts.grid;
  const off = measure();
  let on: number | null = null;
  const none = (reason: string): PatchReport => {
    g.nodes = fileOrder; // unchanged: the compile's own scheduling reports against the model's order
    const macs = graphMacs(g);
    return { off, on: off, grid: null, cut: null, macsOff: macs, macsOn: macs, overheadMacs: 0, overheadPct: 0, peakModel, reason, ...budget(off) };
  };
  if (cut === undefined || grid === undefined) {
    if (opts.budgetBytes !== undefined && off <= opts.budgetBytes) return none('the peak fits the budget without patches');
    const choice = choosePatchPlan(module, opts.budgetBytes, { ...opts, offBytes: off });
    if (!choice) return none('no patch configuration lowers the peak');
    ({ cut, grid, on } = choice);
  }
  const m = applyPatchPlan(module, cut, grid);
  on ??= measure();
  const overheadMacs = m.macsOn - m.macsOff;
  return {
    off,
    on,
    grid: `${grid[0]}x${grid[1]}`,
    cut,
    macsOff: m.macsOff,
    macsOn: m.macsOn,
    overheadMacs,
    overheadPct: m.macsOff > 0 ? Math.round((10000 * overheadMacs) / m.macsOff) / 100 : 0,
    peakModel,
    ...budget(on),
  };
}

/**
 * The arena budget of a board: its SRAM less the stack reserve, the runtime's RAM and the harness's
 * input/output buffers (as the MCU fit check counts them, src/backends/mcu/fit.ts).
 */
export function boardArenaBudget(module: Module, board: Board): number {
  const g = module.graph;
  const io = [...g.inputs.filter((v) => !v.init), ...g.outputs].reduce((a, v) => a + Math.max(1, valueBytes(v)) + 16, 0);
  return board.sram.size - board.stackBytes - RUNTIME_RAM_BYTES - io;
}

/**
 * `patch-execution{grid=4x4,cut=<tensor>,budget=128KiB,board=<name>}`: see the file comment. With a
 * budget (or a board's arena budget) the model is patched only when its peak exceeds it; the report
 * goes to the pipeline results as 'patches'.
 */
export const patchExecutionPass = definePass({
  name: 'patch-execution',
  description: 'compute the first layers patch by patch (spatial tiles with halo) so their feature maps are never whole in memory',
  options: {
    grid: 'patch grid RxC (default: chosen, square 2x2..8x8)',
    cut: 'the tensor the patches assemble (default: chosen)',
    budget: 'peak bytes to fit (e.g. 128KiB): patch only above it, with the least recompute that fits',
    board: 'MCU board whose SRAM (less stack, runtime and I/O buffers) is the budget',
  },
  run(module: Module, ctx) {
    const o = ctx.options;
    for (const k of Object.keys(o)) if (!['grid', 'cut', 'budget', 'board'].includes(k)) throw new KilnError('usage', `patch-execution: unknown option '${k}' (known: grid, cut, budget, board)`);
    if (o.budget !== undefined && o.board !== undefined) throw new KilnError('usage', 'patch-execution: give budget or board, not both');
    const budgetBytes = o.budget !== undefined ? parseBytes(o.budget) : o.board !== undefined ? boardArenaBudget(module, getBoard(o.board)) : undefined;
    const r = patchModule(module, {
      ...(o.grid !== undefined ? { grid: parseGrid(o.grid) } : {}),
      ...(o.cut !== undefined ? { cut: o.cut } : {}),
      ...(budgetBytes !== undefined ? { budgetBytes } : {}),
    });
    ctx.results.set('patches', r);
    ctx.log(r.grid ? `patch-execution: cut ${r.cut}, grid ${r.grid}, peak ${r.off} → ${r.on} B (${r.peakModel} level), +${r.overheadPct}% MACs` : `patch-execution: ${r.reason}`);
    return r.grid !== null;
  },
});

/**
 * The compile option `patches`: 'off', 'auto' (whatever the target's graph pipeline asks for: the
 * mcu target patches when the model's peak exceeds the board's arena budget; nothing here) or a grid
 * 'RxC' (best cut for it).
 */
export function patchSteps(patches: string | undefined): { pass: typeof patchExecutionPass; options: Record<string, string> }[] {
  if (patches === undefined || patches === 'off' || patches === 'auto') return [];
  const grid = parseGrid(patches);
  return [{ pass: patchExecutionPass, options: { grid: `${grid[0]}x${grid[1]}` } }];
}

/**
 * The report for report.json: the pass's figures with `on` replaced by the kernel-level bound of the
 * order the compile lowered (it may reorder the patched graph when that lowers the bound).
 */
export function finalPatchReport(r: PatchReport, loweredPeakBytes: number | undefined): PatchReport {
  if (r.grid === null || loweredPeakBytes === undefined) return r;
  return { ...r, on: loweredPeakBytes, peakModel: 'kernel', ...(r.budgetBytes !== undefined ? { fits: loweredPeakBytes <= r.budgetBytes } : {}) };
}
