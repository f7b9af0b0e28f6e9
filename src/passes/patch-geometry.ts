/**
 * Geometry for patch-based execution: which ops are spatially local (an output pixel depends on a
 * bounded window of input pixels, the same for every channel layout), the input window of an output
 * range, and the region of a cut tensor (the local ops it is computed from).
 *
 * Tensors are NCHW (rank 4, static shapes); a range is a half-open box over H and W.
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { Attrs } from '../ir/ops/registry.js';
import { resolveWindow, windowSpec } from '../ir/ops/nn-common.js';
import { isStaticShape } from '../ir/types.js';

/** [h0, h1, w0, w1]: rows h0..h1-1, columns w0..w1-1. */
export type Box = readonly [number, number, number, number];

export interface Window {
  k: readonly [number, number];
  s: readonly [number, number];
  d: readonly [number, number];
  /** Begin pads (top, left) of the original op. */
  pb: readonly [number, number];
}

/** How a local op maps output pixels to input pixels. */
export interface Local {
  /** 'window': conv/pool; 'point': output pixel (h, w) reads input pixel (h, w). */
  kind: 'window' | 'point';
  window?: Window;
  /** Input slots that carry a feature map of the op's spatial size (the others are weights, scales, …). */
  spatial: number[];
  /** Spatial size (H, W) of the spatial inputs. */
  inHW: readonly [number, number];
  outHW: readonly [number, number];
}

const POINT_UNARY = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Clip', 'Elu', 'Selu', 'Celu', 'Mish', 'Softplus',
  'Softsign', 'Exp', 'Log', 'Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Erf', 'Identity',
  'Cast', 'BatchNormalization', 'LRN', 'QuantizeLinear', 'DequantizeLinear', 'PRelu',
]);
const POINT_BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Sum', 'Mean', 'Pow']);

export function shape4(v: Value | null | undefined): readonly number[] | null {
  const t = v?.tensorType;
  if (!t || !t.shape || !isStaticShape(t.shape) || t.shape.length !== 4 || t.dtype === 'string') return null;
  return t.shape;
}

function staticShape(v: Value | null | undefined): readonly number[] | null {
  const t = v?.tensorType;
  return t && t.shape && isStaticShape(t.shape) ? t.shape : null;
}

/** A non-spatial operand broadcast numpy-style onto NCHW must be constant along H and W. */
function broadcastFree(v: Value): boolean {
  const s = staticShape(v);
  if (!s || s.length > 4) return false;
  const r = s.length;
  return (r < 1 || s[r - 1] === 1) && (r < 2 || s[r - 2] === 1);
}

/** Per-tensor or per-channel (axis 0/1) quantization parameters. */
function channelParam(v: Value, axis: number): boolean {
  const s = staticShape(v);
  if (!s) return false;
  const n = s.reduce((a, b) => a * b, 1);
  return n === 1 || (s.length === 1 && (axis === 0 || axis === 1));
}

function windowOf(node: Node, xs: readonly number[], kernelFallback: readonly number[] | null): Window | null {
  const a = new Attrs(node);
  try {
    const spec = windowSpec(a, 2, kernelFallback);
    const ceil = a.int('ceil_mode', 0) !== 0;
    const win = resolveWindow(a, xs.slice(2), spec, ceil);
    return { k: [spec.kernel[0]!, spec.kernel[1]!], s: [spec.strides[0]!, spec.strides[1]!], d: [spec.dilations[0]!, spec.dilations[1]!], pb: [win.pb[0]!, win.pb[1]!] };
  } catch {
    return null;
  }
}

/** The geometry of a node when it is spatially local on rank-4 static tensors, else null. */
export function localOf(node: Node): Local | null {
  if (node.domain !== '' || node.subgraphs().length > 0) return null;
  const out = shape4(node.outputs[0]);
  if (!out || node.outputs.slice(1).some((o) => o !== null)) return null;
  const outHW = [out[2]!, out[3]!] as const;
  const op = node.opType;
  if (op === 'Conv' || op === 'QLinearConv' || op === 'MaxPool' || op === 'AveragePool') {
    const xs = shape4(node.inputs[0]);
    if (!xs) return null;
    const w = op === 'Conv' ? node.inputs[1] : op === 'QLinearConv' ? node.inputs[3] : null;
    const ws = w ? staticShape(w) : null;
    if (w && (!ws || ws.length !== 4)) return null;
    const a = new Attrs(node);
    // the ceil-mode overrun is not counted as padding by an averaging window that counts pads
    if (op === 'AveragePool' && a.int('count_include_pad', 0) !== 0 && a.int('ceil_mode', 0) !== 0) return null;
    const window = windowOf(node, xs, ws ? ws.slice(2) : null);
    if (!window) return null;
    return { kind: 'window', window, spatial: [0], inHW: [xs[2]!, xs[3]!], outHW };
  }
  if (op === 'Concat') {
    const axis = new Attrs(node).int('axis', 1);
    if (axis !== 1 && axis !== -3) return null;
    const ins = node.inputs.map((v) => shape4(v));
    if (ins.some((s) => !s || s[2] !== outHW[0] || s[3] !== outHW[1])) return null;
    return { kind: 'point', spatial: node.inputs.map((_, i) => i), inHW: outHW, outHW };
  }
  if (!POINT_UNARY.has(op) && !POINT_BINARY.has(op)) return null;
  const a = new Attrs(node);
  if (op === 'BatchNormalization' && a.int('training_mode', 0) !== 0) return null;
  if ((op === 'QuantizeLinear' || op === 'DequantizeLinear') && a.int('block_size', 0) !== 0) return null;
  const spatial: number[] = [];
  for (let i = 0; i < node.inputs.length; i++) {
    const v = node.inputs[i];
    if (!v) continue;
    const s = shape4(v);
    if (s && s[2] === outHW[0] && s[3] === outHW[1] && (s[2] !== 1 || s[3] !== 1 || i === 0)) {
      spatial.push(i);
      continue;
    }
    if (i === 0) return null;
    if (op === 'BatchNormalization' || op === 'Clip' || op === 'LRN') continue; // per-channel or scalar operands
    if (op === 'QuantizeLinear' || op === 'DequantizeLinear') {
      const axis = a.int('axis', 1);
      if (!channelParam(v, axis < 0 ? axis + 4 : axis)) return null;
      continue;
    }
    if (!broadcastFree(v)) return null;
  }
  if (!spatial.includes(0)) return null;
  return { kind: 'point', spatial, inHW: outHW, outHW };
}

/** The input box an output box reads (not clipped to the input). */
export function inputBox(l: Local, o: Box): Box {
  if (l.kind === 'point') return o;
  const w = l.window!;
  const lo = (o0: number, ax: 0 | 1): number => o0 * w.s[ax] - w.pb[ax];
  const hi = (o1: number, ax: 0 | 1): number => (o1 - 1) * w.s[ax] - w.pb[ax] + (w.k[ax] - 1) * w.d[ax] + 1;
  return [lo(o[0], 0), hi(o[1], 0), lo(o[2], 1), hi(o[3], 1)];
}

export function clipBox(b: Box, hw: readonly [number, number]): Box {
  return [Math.max(0, b[0]), Math.min(hw[0], b[1]), Math.max(0, b[2]), Math.min(hw[1], b[3])];
}

export function hull(a: Box | undefined, b: Box): Box {
  if (!a) return b;
  return [Math.min(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.max(a[3], b[3])];
}

export const sameBox = (a: Box, b: Box): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
export const boxArea = (b: Box): number => Math.max(0, b[1] - b[0]) * Math.max(0, b[3] - b[2]);

/** The local ops a cut tensor is computed from, in file order, and the tensors that enter them. */
export interface Region {
  cut: Value;
  nodes: Node[];
  local: Map<Node, Local>;
  /** Values read by spatial slots of region nodes that no region node produces. */
  inputs: Value[];
}

/** Everything `findRegion` needs about a graph, computed once. */
export interface GraphInfo {
  graph: Graph;
  index: Map<Node, number>;
  consumers: Map<Value, Node[]>;
  local: Map<Node, Local | null>;
  outputs: Set<Value>;
}

export function graphInfo(g: Graph): GraphInfo {
  const index = new Map<Node, number>();
  const consumers = new Map<Value, Node[]>();
  const local = new Map<Node, Local | null>();
  g.nodes.forEach((n, i) => {
    index.set(n, i);
    local.set(n, localOf(n));
    for (const v of n.inputs) {
      if (!v) continue;
      const c = consumers.get(v);
      if (c) {
        if (!c.includes(n)) c.push(n);
      } else consumers.set(v, [n]);
    }
  });
  return { graph: g, index, consumers, local, outputs: new Set(g.outputs) };
}

/**
 * The region of a cut tensor: the local ops reached backwards from its producer through spatial
 * inputs (stopping at graph inputs, constants and non-local producers). Null when the region is not
 * closed (a region tensor other than the cut is used outside it or is a graph output) or has no
 * conv/pool window (nothing to gain).
 */
export function findRegion(info: GraphInfo, cut: Value): Region | null {
  const p = cut.producer;
  if (!p || !info.index.has(p) || !info.local.get(p)) return null;
  const inRegion = new Set<Node>();
  const stack: Node[] = [p];
  const inputs = new Set<Value>();
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (inRegion.has(n)) continue;
    inRegion.add(n);
    const l = info.local.get(n)!;
    for (const i of l.spatial) {
      const v = n.inputs[i]!;
      const q = v.producer;
      if (q && info.index.has(q) && info.local.get(q) && !v.init && q.opType !== 'Constant') stack.push(q);
      else inputs.add(v);
    }
  }
  const nodes = [...inRegion].sort((a, b) => info.index.get(a)! - info.index.get(b)!);
  if (!nodes.some((n) => info.local.get(n)!.kind === 'window')) return null;
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (!o || o === cut) continue;
      if (info.outputs.has(o)) return null;
      if ((info.consumers.get(o) ?? []).some((c) => !inRegion.has(c))) return null;
    }
  }
  const local = new Map<Node, Local>();
  for (const n of nodes) local.set(n, info.local.get(n)!);
  return { cut, nodes, local, inputs: [...inputs].filter((v) => !nodes.some((n) => n.outputs.includes(v))) };
}

/** Splits [0, n) into k near-equal parts: boundaries floor(i·n/k). */
export function splitRange(n: number, k: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.floor((i * n) / k), Math.floor(((i + 1) * n) / k)]);
  return out;
}

/**
 * The box of every region tensor (and region input) that one patch needs, walking backwards from
 * the cut's box: the hull of what the consumers read, clipped to the tensor.
 */
export function patchNeeds(region: Region, cutBox: Box): Map<Value, Box> {
  const need = new Map<Value, Box>([[region.cut, cutBox]]);
  for (let i = region.nodes.length - 1; i >= 0; i--) {
    const n = region.nodes[i]!;
    const l = region.local.get(n)!;
    const o = need.get(n.outputs[0]!);
    if (!o) continue;
    const want = clipBox(inputBox(l, o), l.inHW);
    for (const s of l.spatial) {
      const v = n.inputs[s]!;
      need.set(v, hull(need.get(v), want));
    }
  }
  return need;
}
