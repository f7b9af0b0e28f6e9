/**
 * QDQ folding: `DequantizeLinear → op → [Relu | Clip] → QuantizeLinear` groups (the QDQ form that
 * onnxruntime's quantizer, `kiln quantize` and most exporters write) become the integer ops Kiln
 * already runs bit-exactly, so a QDQ model compiles to the same kernels as its QOperator twin:
 *   Conv → QLinearConv, MatMul → QLinearMatMul, Gemm → QLinearConv over a length-1 signal, and the
 *   com.microsoft ops: Add → QLinearAdd, Mul → QLinearMul, Concat → QLinearConcat (each input
 *   requantized to the output through a table), AveragePool → QLinearAveragePool, GlobalAveragePool
 *   → QLinearGlobalAveragePool, Sigmoid / LeakyRelu → QLinearSigmoid / QLinearLeakyRelu (a 256-entry
 *   table of the float DQ → op → Q computation); MaxPool and the data-movement ops (Reshape,
 *   Flatten, Transpose, Squeeze, Unsqueeze) run straight on the integer tensor when the input and
 *   output quantization are the same. Conv/MatMul/Gemm also take int16 activations (int16x8) where
 *   the i32 accumulator provably cannot overflow, and int4/uint4 weights (kept 4-bit: stored packed and unpacked in the kernel).
 * A Relu or Clip between the op and its QuantizeLinear is dropped when QuantizeLinear's saturation
 * already clips at least as much (zero point at the type's minimum for Relu), else it becomes an
 * integer Clip of the result (QuantizeLinear is monotone); both are exact.
 * A group that cannot be folded keeps its float op, marked `kiln.qdq = "not folded: <why>"`, so the
 * dump says why it stays float. Folding only rewires values: QuantizeLinear's output keeps its name.
 */
import { Node, Value, type Graph, type Module } from '../ir/graph.js';
import { constantOf, inferModule } from '../ir/infer.js';
import { Tensor } from '../ir/tensor.js';
import { tensorType } from '../ir/types.js';
import { intRange, type DType } from '../ir/dtype.js';
import { roundHalfEven } from '../ir/ops/util.js';
import { UniqueNames } from '../ir/names.js';
import { definePass } from './pass.js';

const MS = 'com.microsoft';
/** Types the integer ops' lowerings take (ONNX's QLinearConv/QLinearMatMul type constraints). */
const Q8 = new Set<string>(['i8', 'u8']);
/**
 * Activation types QLinearConv/QLinearMatMul take in Kiln (16-bit beyond ONNX's 8: the int16x8
 * scheme), with 8-bit weights, where the accumulator provably fits in 32 bits (accBound).
 */
const Q16 = new Set<string>(['i8', 'u8', 'i16', 'u16']);
const is16 = (p: QParams): boolean => p.dtype === 'i16' || p.dtype === 'u16';
/** Ops that only move or select elements: they run on the integer tensor unchanged. */
const MOVE_OPS = new Set(['Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'MaxPool']);
/** Float ops with no integer form in Kiln: the reason recorded when they sit between DQ and Q. */
const NO_INTEGER_FORM = new Set(['Softmax', 'LayerNormalization', 'Sub']);

/** Quantization parameters read by a QuantizeLinear/DequantizeLinear node. */
interface QParams {
  node: Node;
  /** the integer tensor (DQ's input, Q's output) */
  q: Value;
  scale: Value;
  /** explicit zero point, or null (0 of q's type) */
  zp: Value | null;
  dtype: DType;
  scaleT: Tensor;
  zpT: Tensor | null;
  /** per-tensor (one scale) */
  perTensor: boolean;
  axis: number;
}

class NotFolded {
  constructor(readonly why: string) {}
}

function fail(why: string): never {
  throw new NotFolded(why);
}

function qparams(node: Node, qIndex: 0 | 'out'): QParams {
  const q = qIndex === 0 ? node.inputs[0] : node.outputs[0];
  const scale = node.inputs[1];
  const zp = node.inputs[2] ?? null;
  if (!q || !scale) fail(`${node.opType} '${node.name}' lacks an operand`);
  const scaleT = constantOf(scale);
  if (!scaleT) fail(`the scale of ${node.opType} '${node.name}' is not a constant`);
  const zpT = zp ? constantOf(zp) : null;
  if (zp && !zpT) fail(`the zero point of ${node.opType} '${node.name}' is not a constant`);
  const block = node.attrs.get('block_size');
  if (block?.kind === 'int' && block.value !== 0) fail(`${node.opType} '${node.name}' is blocked (block_size ${block.value})`);
  const dtype = q.tensorType?.dtype;
  if (!dtype) fail(`the type of '${q.name}' is unknown`);
  const axisAttr = node.attrs.get('axis');
  const rank = q.tensorType?.shape?.length ?? 0;
  const axis = axisAttr?.kind === 'int' ? axisAttr.value : 1;
  return { node, q, scale, zp, dtype, scaleT, zpT, perTensor: scaleT.size === 1, axis: axis < 0 ? axis + rank : axis };
}

function zpValue(p: QParams, i = 0): number {
  return p.zpT && p.zpT.size > 0 ? p.zpT.num(p.zpT.size === 1 ? 0 : i) : 0;
}

const sameQuant = (a: QParams, b: QParams): boolean =>
  a.dtype === b.dtype && a.perTensor && b.perTensor && Math.fround(a.scaleT.num(0)) === Math.fround(b.scaleT.num(0)) && zpValue(a) === zpValue(b);

/** Per-graph helpers: use counts and fresh constants. */
class Rewriter {
  readonly uses = new Map<Value, number>();
  readonly names: UniqueNames;
  readonly newInits: Value[] = [];
  constructor(
    readonly graph: Graph,
    readonly opset: number,
  ) {
    this.names = new UniqueNames(graph);
    for (const n of graph.nodes) for (const v of n.inputs) if (v) this.uses.set(v, (this.uses.get(v) ?? 0) + 1);
    for (const v of graph.outputs) this.uses.set(v, (this.uses.get(v) ?? 0) + 1e6); // an output is never folded away
    for (const n of graph.nodes) for (const sg of n.subgraphs()) for (const v of captured(sg)) this.uses.set(v, (this.uses.get(v) ?? 0) + 1e6);
  }
  /** The single consumer of v (null when it has several, or is a graph output). */
  soleUser(v: Value): Node | null {
    if (this.uses.get(v) !== 1) return null;
    return this.graph.nodes.find((n) => n.inputs.includes(v)) ?? null;
  }
  constant(base: string, t: Tensor): Value {
    const v = new Value(this.names.fresh(base), tensorType(t.dtype, t.shape));
    v.init = t;
    this.newInits.push(v);
    return v;
  }
}

/** Values of the enclosing graph a subgraph reads (they must not be folded away). */
function captured(g: Graph): Value[] {
  const out: Value[] = [];
  for (const n of g.nodes) {
    for (const v of n.inputs) if (v) out.push(v);
    for (const sg of n.subgraphs()) out.push(...captured(sg));
  }
  return out;
}

/** The DequantizeLinear feeding operand `v` of a float op. */
function dqOf(v: Value | null, what: string): QParams {
  const p = v?.producer;
  if (!v || !p || p.opType !== 'DequantizeLinear' || p.domain !== '') fail(`${what} is not produced by DequantizeLinear`);
  return qparams(p, 0);
}

function requirePerTensor(p: QParams, what: string): void {
  if (!p.perTensor) fail(`${what} is quantized per axis`);
}

/** An activation of Conv/MatMul/Gemm: 8- or 16-bit (a 16-bit one needs accBound to hold). */
function requireAct(p: QParams, what: string): void {
  if (!Q16.has(p.dtype)) fail(`${what} is ${p.dtype} (the integer ops take int8/uint8, or int16/uint16 activations with 8-bit weights)`);
}

/**
 * With a 16-bit activation the i32 accumulator can overflow: the bound max|x - x_zp| ·
 * max_oc Σ_k |w[oc, k] - w_zp[oc]| + max|bias| over the constant weights must stay below 2^31
 * (8-bit activations with 8-bit weights need more than 33,000 terms per output to reach it).
 * `rows` gives the weight values of each output channel.
 */
function accBound(x: QParams, w: QParams, rows: (oc: number) => number[], channels: number, bias: Tensor | null): void {
  const [lo, hi] = intRange(x.dtype);
  const xz = zpValue(x);
  const xmax = Math.max(xz - lo, hi - xz);
  let worst = 0;
  for (let oc = 0; oc < channels; oc++) {
    const wz = zpValue(w, oc);
    const sum = rows(oc).reduce((a, v) => a + Math.abs(v - wz), 0);
    worst = Math.max(worst, xmax * sum + (bias ? Math.abs(bias.num(bias.size === 1 ? 0 : oc)) : 0));
  }
  if (worst >= 2 ** 31) fail(`the 32-bit accumulator could overflow with ${x.dtype} activations (bound ${worst} ≥ 2^31)`);
}

/**
 * Weight types the integer ops take in Kiln: 8-bit, and 4-bit (int4/uint4, e.g. from mixed
 * precision) kept as they are: a constant 4-bit weight is stored two values per byte in the compiled
 * program and unpacked where the kernel loads it (the pack-subbyte kernel pass).
 */
const W8_4 = new Set<string>(['i8', 'u8', 'i4', 'u4']);

function requireWeight(p: QParams, what: string): void {
  if (!W8_4.has(p.dtype)) fail(`${what} is ${p.dtype} (the integer ops take int8/uint8 or int4/uint4 weights)`);
}

function require8(p: QParams, what: string): void {
  if (!Q8.has(p.dtype)) fail(`${what} is ${p.dtype} (the integer ops take int8/uint8)`);
}

/** A zero point operand: the explicit one, else a 0 of the quantized type (integer ops need it). */
function zpOperand(rw: Rewriter, p: QParams, base: string): Value {
  return p.zp ?? rw.constant(`${base}.zero_point`, Tensor.scalar(p.dtype, 0));
}

/**
 * The activation chain after op `n`: op → [Relu|Clip] → QuantizeLinear, each value read once. The
 * activation is dropped only where the QuantizeLinear's saturation makes it a no-op.
 */
function outputChain(rw: Rewriter, n: Node): { q: QParams; removed: Node[]; clip: [number, number] | null } {
  const out = n.outputs[0];
  if (!out || n.outputs.length !== 1) fail(`${n.opType} '${n.name}' has more than one output`);
  let user = rw.soleUser(out);
  const removed: Node[] = [];
  let act: Node | null = null;
  if (user && user.domain === '' && (user.opType === 'Relu' || user.opType === 'Clip')) {
    act = user;
    removed.push(act);
    user = rw.soleUser(act.outputs[0]!);
  }
  if (!user || user.opType !== 'QuantizeLinear' || user.domain !== '') {
    const v = act ? act.outputs[0]! : out;
    const why = user ? `read by ${user.opType}, not QuantizeLinear` : (rw.uses.get(v) ?? 0) >= 1e6 ? 'a graph output' : `read by ${rw.uses.get(v) ?? 0} nodes`;
    fail(`the output of ${act ? act.opType : n.opType} is ${why}`);
  }
  const q = qparams(user, 'out');
  requirePerTensor(q, 'the output');
  removed.push(user);
  let clip: [number, number] | null = null;
  if (act) {
    const [qlo, qhi] = intRange(q.dtype);
    const s = q.scaleT.num(0);
    const zp = zpValue(q);
    const lowest = (qlo - zp) * s;
    const highest = (qhi - zp) * s;
    // QuantizeLinear is monotone, so Q(clip(v, lo, hi)) = clip(Q(v), Q(lo), Q(hi)): an activation
    // its saturation does not already cover becomes a Clip of the integer result (exact)
    const quant = (v: number): number => Math.min(qhi, Math.max(qlo, roundHalfEven(Math.fround(Math.fround(v) / Math.fround(s))) + zp));
    let why: string | null = null;
    if (act.opType === 'Relu') {
      if (lowest < 0) {
        clip = [zp, qhi];
        why = `Relu clips at 0 but the output's zero point ${zp} is above the type's minimum ${qlo}`;
      }
    } else {
      const lo = act.inputs[1] ? constantOf(act.inputs[1]) : null;
      const hi = act.inputs[2] ? constantOf(act.inputs[2]) : null;
      if ((act.inputs[1] && !lo) || (act.inputs[2] && !hi)) fail('Clip bounds are not constants');
      const cut = (lo !== null && lo.num(0) > lowest) || (hi !== null && hi.num(0) < highest);
      if (cut) {
        clip = [lo ? quant(lo.num(0)) : qlo, hi ? quant(hi.num(0)) : qhi];
        why = `Clip's range (${lo?.num(0) ?? '-inf'} … ${hi?.num(0) ?? 'inf'}) is inside the output's range (${lowest} … ${highest})`;
      }
    }
    // integer Clip needs opset 12
    if (why && rw.opset < 12) fail(`${why} (an integer Clip needs opset 12)`);
  }
  return { q, removed, clip };
}

/** Float32 product as QLinearConv's bias must have it: bias_scale = x_scale × w_scale[c]. */
function checkBias(b: QParams, xs: number, ws: Tensor): void {
  if (b.dtype !== 'i32') fail(`the bias is ${b.dtype}, not int32`);
  const bt = constantOf(b.q);
  if (!bt) fail('the bias is not a constant');
  for (let c = 0; c < bt.size; c++) {
    const want = Math.fround(xs * ws.num(ws.size === 1 ? 0 : c));
    const got = b.scaleT.num(b.scaleT.size === 1 ? 0 : c);
    if (Math.fround(got) !== want) fail(`the bias scale ${got} of channel ${c} is not x_scale × w_scale (${want})`);
    if (zpValue(b, c) !== 0) fail('the bias has a nonzero zero point');
  }
}

/** The integer node replacing `n` (its output is the QuantizeLinear's). */
function integerNodes(rw: Rewriter, n: Node, q: QParams, clip: [number, number] | null): Node[] {
  // a bound at the type's limit clips nothing (and an always-false comparison fails -Werror builds)
  const [qlo, qhi] = intRange(q.dtype);
  if (clip && clip[0] <= qlo && clip[1] >= qhi) clip = null;
  if (!clip) return n.opType === 'Gemm' ? gemmNodes(rw, n, q) : [integerNode(rw, n, q)];
  // the integer op writes a fresh value; a Clip to the activation's quantized range writes Q's
  const y = q.q;
  const raw = new Value(rw.names.fresh(`${n.name}.unclipped`), tensorType(q.dtype, y.tensorType?.shape ?? null));
  const inner: QParams = { ...q, q: raw };
  const nodes = n.opType === 'Gemm' ? gemmNodes(rw, n, inner) : [integerNode(rw, n, inner)];
  raw.producer = nodes[nodes.length - 1]!;
  const lo = clip[0] > qlo ? rw.constant(`${n.name}.clip_min`, Tensor.scalar(q.dtype, clip[0])) : null;
  const hi = clip[1] < qhi ? rw.constant(`${n.name}.clip_max`, Tensor.scalar(q.dtype, clip[1])) : null;
  return [...nodes, new Node('Clip', '', rw.names.fresh(`${n.name}/clip`), hi ? [raw, lo, hi] : [raw, lo], [y])];
}

function integerNode(rw: Rewriter, n: Node, q: QParams): Node {
  const y = q.q;
  const name = n.name;
  const ins = (...v: (Value | null)[]): (Value | null)[] => v;
  switch (n.opType) {
    case 'Conv': {
      const x = dqOf(n.inputs[0] ?? null, 'the input');
      const w = dqOf(n.inputs[1] ?? null, 'the weight');
      requirePerTensor(x, 'the input');
      requireAct(x, 'the input');
      requireAct(q, 'the output');
      requireWeight(w, 'the weight');
      if (!w.perTensor && w.axis !== 0) fail(`the weight is quantized along axis ${w.axis}, not the output channels`);
      let bias: Value | null = null;
      if (n.inputs[2]) {
        const b = dqOf(n.inputs[2], 'the bias');
        checkBias(b, x.scaleT.num(0), w.scaleT);
        bias = b.q;
      }
      if (is16(x) || is16(q)) {
        const wT = constantOf(w.q);
        if (!wT || wT.rank < 1) fail('the weight is not a constant (needed to bound the 16-bit accumulator)');
        const M = wT.shape[0]!;
        const per = wT.size / M;
        accBound(x, w, (oc) => Array.from({ length: per }, (_, k) => wT.num(oc * per + k)), M, bias ? constantOf(bias) : null);
      }
      const wzp = zpOperand(rw, w, `${name}.w`);
      const attrs = new Map([...n.attrs].filter(([k]) => k !== 'kiln.qdq'));
      return new Node('QLinearConv', '', name, ins(x.q, x.scale, zpOperand(rw, x, `${name}.x`), w.q, w.scale, wzp, q.scale, zpOperand(rw, q, `${name}.y`), ...(bias ? [bias] : [])), [y], attrs);
    }
    case 'MatMul': {
      const a = dqOf(n.inputs[0] ?? null, 'input A');
      const b = dqOf(n.inputs[1] ?? null, 'input B');
      requirePerTensor(a, 'input A');
      requireAct(a, 'input A');
      requireAct(q, 'the output');
      requireWeight(b, 'input B');
      const bShape = b.q.tensorType?.shape ?? [];
      if (is16(a) || is16(q)) {
        const bT = constantOf(b.q);
        if (!bT || bT.rank !== 2) fail('input B is not a 2-D constant (needed to bound the 16-bit accumulator)');
        const [K, N] = [bT.shape[0]!, bT.shape[1]!];
        accBound(a, b, (o) => Array.from({ length: K }, (_, k) => bT.num(k * N + o)), N, null);
      }
      if (!b.perTensor) {
        const r = bShape.length;
        if (r !== 2 || (b.axis !== 1 && b.axis !== -1)) fail(`input B is quantized along axis ${b.axis} (per-column scales of a 2-D B are supported)`);
      }
      return new Node('QLinearMatMul', '', name, ins(a.q, a.scale, zpOperand(rw, a, `${name}.a`), b.q, b.scale, zpOperand(rw, b, `${name}.b`), q.scale, zpOperand(rw, q, `${name}.y`)), [y]);
    }
    case 'Add': {
      const a = dqOf(n.inputs[0] ?? null, 'input A');
      const b = dqOf(n.inputs[1] ?? null, 'input B');
      for (const [p, what] of [[a, 'input A'], [b, 'input B'], [q, 'the output']] as const) {
        requirePerTensor(p, what);
        require8(p, what);
      }
      if (a.dtype !== q.dtype || b.dtype !== q.dtype) fail('QLinearAdd needs inputs and output of one type');
      return new Node('QLinearAdd', MS, name, ins(a.q, a.scale, zpOperand(rw, a, `${name}.a`), b.q, b.scale, zpOperand(rw, b, `${name}.b`), q.scale, zpOperand(rw, q, `${name}.y`)), [y]);
    }
    case 'Mul': {
      const a = dqOf(n.inputs[0] ?? null, 'input A');
      const b = dqOf(n.inputs[1] ?? null, 'input B');
      for (const [p, what] of [[a, 'input A'], [b, 'input B'], [q, 'the output']] as const) {
        requirePerTensor(p, what);
        require8(p, what);
      }
      if (a.dtype !== q.dtype || b.dtype !== q.dtype) fail('QLinearMul needs inputs and output of one type');
      return new Node('QLinearMul', MS, name, ins(a.q, a.scale, zpOperand(rw, a, `${name}.a`), b.q, b.scale, zpOperand(rw, b, `${name}.b`), q.scale, zpOperand(rw, q, `${name}.y`)), [y]);
    }
    case 'Concat': {
      require8(q, 'the output');
      if (!n.attrs.has('axis')) fail('Concat has no axis attribute');
      const parts: (Value | null)[] = [q.scale, zpOperand(rw, q, `${name}.y`)];
      n.inputs.forEach((v, i) => {
        const x = dqOf(v, `input ${i}`);
        requirePerTensor(x, `input ${i}`);
        if (x.dtype !== q.dtype) fail(`input ${i} is ${x.dtype}, the output ${q.dtype} (QLinearConcat takes one type)`);
        parts.push(x.q, x.scale, zpOperand(rw, x, `${name}.x${i}`));
      });
      const attrs = new Map([...n.attrs].filter(([k]) => k !== 'kiln.qdq'));
      return new Node('QLinearConcat', MS, name, parts, [y], attrs);
    }
    case 'AveragePool': {
      const x = dqOf(n.inputs[0] ?? null, 'the input');
      requirePerTensor(x, 'the input');
      require8(x, 'the input');
      if (x.dtype !== q.dtype) fail('QLinearAveragePool needs input and output of one type');
      const dil = n.attrs.get('dilations');
      if (dil?.kind === 'ints' && dil.value.some((d) => d !== 1)) fail('AveragePool is dilated (QLinearAveragePool has no dilations)');
      const int = (k: string): number => {
        const a = n.attrs.get(k);
        return a?.kind === 'int' ? a.value : 0;
      };
      if (int('ceil_mode') !== 0 && int('count_include_pad') !== 0) fail("AveragePool has ceil_mode and count_include_pad (onnxruntime's QLinearAveragePool counts a ceil window's taps past the padding differently)");
      const attrs = new Map([...n.attrs].filter(([k]) => k !== 'kiln.qdq' && k !== 'dilations'));
      attrs.set('channels_last', { kind: 'int', value: 0 });
      return new Node('QLinearAveragePool', MS, name, ins(x.q, x.scale, zpOperand(rw, x, `${name}.x`), q.scale, zpOperand(rw, q, `${name}.y`)), [y], attrs);
    }
    case 'Sigmoid':
    case 'LeakyRelu': {
      const x = dqOf(n.inputs[0] ?? null, 'the input');
      requirePerTensor(x, 'the input');
      require8(x, 'the input');
      if (x.dtype !== q.dtype) fail(`QLinear${n.opType} needs input and output of one type`);
      const attrs = new Map([...n.attrs].filter(([k]) => k === 'alpha'));
      return new Node(`QLinear${n.opType}`, MS, name, ins(x.q, x.scale, zpOperand(rw, x, `${name}.x`), q.scale, zpOperand(rw, q, `${name}.y`)), [y], attrs);
    }
    case 'GlobalAveragePool': {
      const x = dqOf(n.inputs[0] ?? null, 'the input');
      requirePerTensor(x, 'the input');
      require8(x, 'the input');
      if (x.dtype !== q.dtype) fail('QLinearGlobalAveragePool needs input and output of one type');
      return new Node('QLinearGlobalAveragePool', MS, name, ins(x.q, x.scale, zpOperand(rw, x, `${name}.x`), q.scale, zpOperand(rw, q, `${name}.y`)), [y], new Map([['channels_last', { kind: 'int', value: 0 }]]));
    }
    default: {
      if (!MOVE_OPS.has(n.opType)) fail(NO_INTEGER_FORM.has(n.opType) ? `Kiln has no integer kernel for ${n.opType}` : `${n.opType} has no integer form`);
      const x = dqOf(n.inputs[0] ?? null, 'the input');
      if (!sameQuant(x, q)) fail(`${n.opType} would need a requantization (input and output scale or zero point differ)`);
      if (n.opType === 'MaxPool' && n.outputs.length > 1) fail('MaxPool with indices');
      const attrs = new Map([...n.attrs].filter(([k]) => k !== 'kiln.qdq'));
      return new Node(n.opType, n.domain, name, [x.q, ...n.inputs.slice(1)], [y], attrs);
    }
  }
}

/**
 * Gemm (A [M, K] · B + C, no transA, alpha = beta = 1) as QLinearConv over a length-1 signal:
 * A viewed as [M, K, 1], B as N filters [N, K, 1], the int32 bias as is, the output [M, N, 1] viewed
 * as [M, N]: one requantization, like the QGemm onnxruntime folds it into. The reshapes are views.
 */
function gemmNodes(rw: Rewriter, n: Node, q: QParams): Node[] {
  const attr = (k: string, d: number): number => {
    const a = n.attrs.get(k);
    return a?.kind === 'int' || a?.kind === 'float' ? a.value : d;
  };
  if (attr('transA', 0) !== 0) fail('Gemm transposes A');
  if (attr('alpha', 1) !== 1 || attr('beta', 1) !== 1) fail('Gemm scales by alpha or beta');
  const a = dqOf(n.inputs[0] ?? null, 'input A');
  const b = dqOf(n.inputs[1] ?? null, 'input B');
  requirePerTensor(a, 'input A');
  requireAct(a, 'input A');
  requireAct(q, 'the output');
  requireWeight(b, 'input B');
  const aShape = a.q.tensorType?.shape ?? [];
  const bT = constantOf(b.q);
  if (aShape.length !== 2 || typeof aShape[0] !== 'number' || typeof aShape[1] !== 'number') fail('Gemm input A is not a static 2-D tensor');
  if (!bT || bT.rank !== 2) fail('Gemm input B is not a 2-D constant');
  const transB = attr('transB', 0) !== 0;
  const [M, K] = [aShape[0], aShape[1]];
  const N = transB ? bT.shape[0]! : bT.shape[1]!;
  // per-channel scales must run along the output features
  if (!b.perTensor && b.axis !== (transB ? 0 : 1)) fail(`input B is quantized along axis ${b.axis}, not the output features`);
  if (b.zpT && b.zpT.size > 1 && b.zpT.toNumbers().some((z) => z !== b.zpT!.num(0))) fail('input B has per-channel zero points');
  const wData = new Array<number>(N * K);
  for (let o = 0; o < N; o++) for (let k = 0; k < K; k++) wData[o * K + k] = bT.num(transB ? o * K + k : k * N + o);
  const w = rw.constant(`${n.name}.weight_nk1`, Tensor.from(b.dtype, [N, K, 1], wData));
  let bias: Value | null = null;
  if (n.inputs[2]) {
    const c = dqOf(n.inputs[2], 'the bias');
    const cShape = c.q.tensorType?.shape ?? [];
    if (cShape.length !== 1 || cShape[0] !== N) fail('the Gemm bias is not a vector of the output features');
    checkBias(c, a.scaleT.num(0), b.scaleT);
    bias = c.q;
  }
  if (is16(a) || is16(q)) accBound(a, b, (o) => wData.slice(o * K, (o + 1) * K), N, bias ? constantOf(bias) : null);
  const bzp = b.zp && b.zpT!.size > 1 ? rw.constant(`${n.name}.w_zero_point`, Tensor.scalar(b.dtype, b.zpT!.num(0))) : zpOperand(rw, b, `${n.name}.w`);
  const shape3 = (dims: number[]): Value => rw.constant(`${n.name}.shape`, Tensor.from('i64', [3], dims.map((d) => BigInt(d))));
  const a3 = new Value(rw.names.fresh(`${n.name}.a3`), tensorType(a.dtype, [M, K, 1]));
  const y3 = new Value(rw.names.fresh(`${n.name}.y3`), tensorType(q.dtype, [M, N, 1]));
  const ra = new Node('Reshape', '', rw.names.fresh(`${n.name}/a3`), [a.q, shape3([M, K, 1])], [a3]);
  const conv = new Node('QLinearConv', '', n.name, [a3, a.scale, zpOperand(rw, a, `${n.name}.x`), w, b.scale, bzp, q.scale, zpOperand(rw, q, `${n.name}.y`), ...(bias ? [bias] : [])], [y3], new Map([['kernel_shape', { kind: 'ints', value: [1] }]]));
  const shape2 = rw.constant(`${n.name}.out_shape`, Tensor.from('i64', [2], [BigInt(M), BigInt(N)]));
  const ry = new Node('Reshape', '', rw.names.fresh(`${n.name}/y`), [y3, shape2], [q.q]);
  a3.producer = ra;
  y3.producer = conv;
  return [ra, conv, ry];
}

/** The ops a QDQ group may center on (what the reason is recorded for). */
const CANDIDATES = new Set(['Conv', 'MatMul', 'Gemm', 'Add', 'Mul', 'Concat', 'AveragePool', 'Sigmoid', 'LeakyRelu', 'GlobalAveragePool', ...MOVE_OPS, ...NO_INTEGER_FORM]);

function foldGraph(module: Module, graph: Graph): number {
  const rw = new Rewriter(graph, module.opsetFor('') ?? 1);
  const replaced = new Map<Node, Node[]>();
  const dropped = new Set<Node>();
  for (const n of graph.nodes) {
    if (n.domain !== '' || !CANDIDATES.has(n.opType) || dropped.has(n)) continue;
    // only a group that starts from a DequantizeLinear is a QDQ group
    if (!n.inputs.some((v) => v?.producer?.opType === 'DequantizeLinear')) continue;
    n.attrs.delete('kiln.qdq');
    const inits = rw.newInits.length;
    try {
      if (!MOVE_OPS.has(n.opType) && NO_INTEGER_FORM.has(n.opType)) fail(`Kiln has no integer kernel for ${n.opType}`);
      const { q, removed, clip } = outputChain(rw, n);
      const nodes = integerNodes(rw, n, q, clip);
      q.q.producer = nodes[nodes.length - 1]!;
      replaced.set(n, nodes);
      for (const r of removed) dropped.add(r);
    } catch (e) {
      if (!(e instanceof NotFolded)) throw e;
      rw.newInits.length = inits; // constants made for a group that stays float
      n.attrs.set('kiln.qdq', { kind: 'string', value: `not folded: ${e.why}` });
    }
  }
  if (replaced.size === 0) return 0;
  const ms = module.opsetFor(MS);
  if ([...replaced.values()].some((ns) => ns.some((n) => n.domain === MS)) && ms === undefined) module.opsets.set(MS, 1);
  // the parameters the replaced nodes read (Relu/Clip bounds, Q's scale when unused now) may die too
  const orphans = new Set<Value>();
  for (const n of [...replaced.keys(), ...dropped]) for (const v of n.inputs) if (v) orphans.add(v);
  // and so may a constant made on the way (a widened 4-bit weight that Gemm re-lays out)
  for (const v of rw.newInits) orphans.add(v);
  graph.nodes = graph.nodes.filter((n) => !dropped.has(n)).flatMap((n) => replaced.get(n) ?? [n]);
  graph.initializers.push(...rw.newInits);
  removeDeadDequantize(graph, orphans);
  return replaced.size;
}

/** DequantizeLinear nodes no longer read, and the constants only they read. */
function removeDeadDequantize(graph: Graph, orphans: Set<Value>): void {
  for (;;) {
    const used = new Set<Value>(graph.outputs);
    for (const n of graph.nodes) for (const v of n.inputs) if (v) used.add(v);
    for (const n of graph.nodes) for (const sg of n.subgraphs()) for (const v of captured(sg)) used.add(v);
    const dead = graph.nodes.filter((n) => n.opType === 'DequantizeLinear' && n.domain === '' && n.outputs.every((o) => !o || !used.has(o)));
    if (dead.length === 0) {
      graph.initializers = graph.initializers.filter((v) => used.has(v) || !orphans.has(v));
      return;
    }
    for (const n of dead) for (const v of n.inputs) if (v) orphans.add(v);
    graph.nodes = graph.nodes.filter((n) => !dead.includes(n));
  }
}

export function foldQdq(module: Module): number {
  const n = foldGraph(module, module.graph);
  if (n > 0) inferModule(module);
  return n;
}

export const foldQdqPass = definePass({
  name: 'fold-qdq',
  description: 'fold DequantizeLinear → op → QuantizeLinear groups into integer ops (QLinearConv, QLinearMatMul, QLinearAdd, …); groups that cannot fold stay float with a kiln.qdq reason',
  options: {},
  run: (module) => foldQdq(module) > 0,
});
