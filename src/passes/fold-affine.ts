/**
 * Folds per-output-channel affine ops into the weights and bias of the Conv, Gemm or MatMul that
 * produces their input: BatchNormalization (inference form), and Mul/Add/Sub by a constant that
 * broadcasts along the producer's output channel only (dim 1 of a Conv output, the last dim of a
 * Gemm/MatMul output). Legal only when the producer's output has this op as its single use and is
 * not a graph output, and the producer's weights (and bias) are constants; the folded op's output
 * value is then produced by the producer itself, so its name (and the model interface) stays.
 *
 * The folded weights are computed in double precision and rounded once to the weight type, so the
 * result differs from the unfused graph only by float rounding (one rounding of w·k instead of a
 * rounding of the product and one of the scaling).
 */
import { Node, Value, type Graph, type Module } from '../ir/graph.js';
import { normalizeDomain } from '../ir/graph.js';
import { constantOf } from '../ir/infer.js';
import { Tensor } from '../ir/tensor.js';
import { isStaticShape, tensorType } from '../ir/types.js';
import { definePass } from './pass.js';
import { usedValues } from './rewire.js';

/** Element types whose folding stays within float rounding (narrow floats would round twice). */
const FOLD_TYPES = new Set(['f32', 'f64']);

/** Per-channel scale k and shift s: the op computes y = x·k[c] + s[c]. */
interface Affine {
  k: Float64Array;
  s: Float64Array;
}

interface Producer {
  /** Number of output channels M. */
  channels: number;
  /** The output dim the channels run along. */
  axis: number;
}

const attrInt = (n: Node, name: string, dflt: number): number => {
  const a = n.attrs.get(name);
  return a?.kind === 'int' ? a.value : dflt;
};
const attrFloat = (n: Node, name: string, dflt: number): number => {
  const a = n.attrs.get(name);
  return a?.kind === 'float' ? a.value : dflt;
};

/** Counts uses of each value by nodes (at any depth) and graph outputs. */
function useCounts(graph: Graph, into: Map<Value, number> = new Map()): Map<Value, number> {
  for (const v of graph.outputs) into.set(v, (into.get(v) ?? 0) + 1);
  for (const n of graph.nodes) {
    for (const v of n.inputs) if (v !== null) into.set(v, (into.get(v) ?? 0) + 1);
    for (const sg of n.subgraphs()) for (const v of usedValues(sg)) into.set(v, (into.get(v) ?? 0) + 1);
  }
  return into;
}

/** The channel layout of a foldable producer, or null with nothing to fold into. */
function producerOf(p: Node): Producer | null {
  if (normalizeDomain(p.domain) !== '' || p.outputs.length !== 1 || p.outputs[0] === null) return null;
  const out = p.outputs[0].tensorType;
  if (!out || !isStaticShape(out.shape) || !FOLD_TYPES.has(out.dtype)) return null;
  const w = constantOf(p.inputs[1] ?? null);
  if (!w || w.dtype !== out.dtype) return null;
  const rank = out.shape.length;
  switch (p.opType) {
    case 'Conv': {
      if (rank < 3 || w.rank !== rank) return null;
      const b = p.inputs[2] ?? null;
      if (b !== null && constantOf(b) === null) return null;
      return { channels: w.shape[0]!, axis: 1 };
    }
    case 'Gemm': {
      if (rank !== 2 || w.rank !== 2) return null;
      const c = p.inputs[2] ?? null;
      if (c !== null) {
        const ct = constantOf(c);
        const n = out.shape[1]!;
        // only a bias along the output columns ([N], [1,N] or a scalar) folds into a new [N] bias
        if (!ct || ct.dtype !== out.dtype || !(ct.size === 1 || (ct.size === n && ct.shape[ct.rank - 1] === n))) return null;
      }
      return { channels: out.shape[1]!, axis: 1 };
    }
    case 'MatMul':
      if (rank < 2 || w.rank !== 2) return null;
      return { channels: w.shape[1]!, axis: rank - 1 };
    default:
      return null;
  }
}

/**
 * The per-channel values of a constant that broadcasts against the producer's output along the
 * channel axis only (every other dim 1, rank not above the output's), or null.
 */
function perChannel(c: Tensor, outRank: number, prod: Producer): Float64Array | null {
  if (!FOLD_TYPES.has(c.dtype) || c.rank > outRank || c.elidedDigest !== undefined) return null;
  const off = outRank - c.rank;
  for (let d = 0; d < c.rank; d++) {
    const size = c.shape[d]!;
    if (size !== 1 && !(d + off === prod.axis && size === prod.channels)) return null;
  }
  const out = new Float64Array(prod.channels);
  for (let m = 0; m < prod.channels; m++) out[m] = c.num(c.size === 1 ? 0 : m);
  return out;
}

/** The affine form of a consumer node over the producer's output `x`, or null. */
function affineOf(n: Node, x: Value, outRank: number, prod: Producer, opset: number): Affine | null {
  if (normalizeDomain(n.domain) !== '' || n.inputs[0] === undefined) return null;
  const M = prod.channels;
  const ones = (): Float64Array => new Float64Array(M).fill(1);
  switch (n.opType) {
    case 'BatchNormalization': {
      if (n.inputs[0] !== x || n.outputs.slice(1).some((o) => o !== null)) return null;
      if (attrInt(n, 'training_mode', 0) !== 0 || (opset < 7 && attrInt(n, 'is_test', 0) === 0)) return null;
      if (prod.axis !== 1) return null; // BatchNormalization normalizes dim 1
      const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => constantOf(n.inputs[i] ?? null));
      if (!scale || !bias || !mean || !variance) return null;
      const eps = attrFloat(n, 'epsilon', 1e-5);
      const vals = [scale, bias, mean, variance].map((t) => (t.rank === 1 && t.size === M && FOLD_TYPES.has(t.dtype) && t.elidedDigest === undefined ? t : null));
      if (vals.some((t) => t === null)) return null;
      const k = new Float64Array(M);
      const s = new Float64Array(M);
      for (let m = 0; m < M; m++) {
        // in the op's own precision the scale is computed as f32 when the data are f32; double here
        k[m] = scale.num(m) / Math.sqrt(variance.num(m) + eps);
        s[m] = bias.num(m) - mean.num(m) * k[m]!;
      }
      return { k, s };
    }
    case 'Mul':
    case 'Add':
    case 'Sub': {
      if (n.inputs.length !== 2) return null;
      const xi = n.inputs.indexOf(x);
      if (xi < 0 || n.inputs[1 - xi] === x) return null;
      if (n.opType === 'Sub' && xi !== 0) return null; // c - x would negate the weights
      const c = constantOf(n.inputs[1 - xi] ?? null);
      if (!c) return null;
      const v = perChannel(c, outRank, prod);
      if (!v) return null;
      if (n.opType === 'Mul') return { k: v, s: new Float64Array(M) };
      return { k: ones(), s: n.opType === 'Add' ? v : v.map((e) => -e) };
    }
    default:
      return null;
  }
}

/** A new initializer value next to `like`, named uniquely. */
function newConst(graph: Graph, names: Set<string>, base: string, t: Tensor): Value {
  base = base.replace(/_folded(?:_\d+)?$/, '') + '_folded'; // folded twice: one suffix
  let name = base;
  for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
  names.add(name);
  const v = new Value(name, tensorType(t.dtype, t.shape));
  v.init = t;
  graph.initializers.push(v);
  return v;
}

/** Rewrites the producer's constants so it computes k·y + s itself. */
function foldInto(graph: Graph, names: Set<string>, p: Node, a: Affine): void {
  const w = constantOf(p.inputs[1]!)!;
  const M = a.k.length;
  const wd = new Float64Array(w.size);
  if (p.opType === 'Conv') {
    const per = w.size / M;
    for (let i = 0; i < w.size; i++) wd[i] = w.num(i) * a.k[Math.floor(i / per)]!;
  } else {
    // Gemm with transB=1 stores B as [N,K]: the channel is the row; otherwise (and MatMul) the column
    const rowIsChannel = p.opType === 'Gemm' && attrInt(p, 'transB', 0) !== 0;
    const cols = w.shape[1]!;
    for (let i = 0; i < w.size; i++) wd[i] = w.num(i) * a.k[rowIsChannel ? Math.floor(i / cols) : i % cols]!;
  }
  p.inputs[1] = newConst(graph, names, p.inputs[1]!.name, Tensor.from(w.dtype, w.shape, wd));
  const dtype = w.dtype;
  if (p.opType === 'MatMul') return; // only scales reach here (see fold)
  const biasIdx = 2;
  const old = p.inputs[biasIdx] ?? null;
  const ob = old === null ? null : constantOf(old);
  const beta = p.opType === 'Gemm' ? attrFloat(p, 'beta', 1) : 1;
  const bd = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    const b = ob === null ? 0 : beta * ob.num(ob.size === 1 ? 0 : m);
    bd[m] = b * a.k[m]! + a.s[m]!;
  }
  while (p.inputs.length < biasIdx) p.inputs.push(null);
  p.inputs[biasIdx] = newConst(graph, names, `${p.name || p.outputs[0]!.name}_bias`, Tensor.from(dtype, [M], bd));
  if (p.opType === 'Gemm') p.attrs.set('beta', { kind: 'float', value: 1 });
}

function foldGraph(graph: Graph, module: Module): number {
  const uses = useCounts(graph);
  const outputs = new Set(graph.outputs);
  const names = new Set<string>();
  for (const v of [...graph.inputs, ...graph.initializers]) names.add(v.name);
  for (const n of graph.nodes) for (const o of n.outputs) if (o) names.add(o.name);
  const removed = new Set<Node>();
  let folded = 0;
  for (const n of graph.nodes) {
    const candidates = n.inputs.filter((v): v is Value => v !== null && v.producer !== null);
    for (const xv of candidates) {
      const p = xv.producer!;
      if (removed.has(p) || uses.get(xv) !== 1 || outputs.has(xv)) continue;
      const prod = producerOf(p);
      if (!prod) continue;
      const y = n.outputs[0] ?? null;
      const yt = y?.tensorType;
      const xt = xv.tensorType!;
      // the folded op must not change the output's type or shape (no broadcast beyond x)
      if (!y || !yt || yt.dtype !== xt.dtype || !isStaticShape(yt.shape) || yt.shape.join() !== xt.shape!.join()) continue;
      const a = affineOf(n, xv, xt.shape!.length, prod, module.opsetFor(n.domain) ?? 1);
      if (!a) continue;
      if (p.opType === 'MatMul' && a.s.some((e) => e !== 0)) continue; // MatMul has no bias to shift
      foldInto(graph, names, p, a);
      p.outputs[0] = y;
      y.producer = p;
      removed.add(n);
      folded++;
      break;
    }
  }
  if (folded > 0) {
    // the producer now sits where its old output was computed; the folded op's later position is
    // gone, and every use of its output comes after the producer, so program order stays valid
    graph.nodes = graph.nodes.filter((n) => !removed.has(n));
  }
  return folded;
}

/** Folds affine ops into their producers until none is left; returns how many were folded. */
export function foldAffine(module: Module): number {
  let total = 0;
  for (;;) {
    const n = foldGraph(module.graph, module);
    if (n === 0) return total;
    total += n;
  }
}

export const foldAffinePass = definePass({
  name: 'fold-affine',
  description: 'fold BatchNormalization and Mul/Add/Sub by per-output-channel constants into the weights and bias of the Conv/Gemm/MatMul before them (single use only)',
  options: {},
  run: (module) => foldAffine(module) > 0,
});
