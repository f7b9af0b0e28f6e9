/**
 * Quantized contrib operators of the com.microsoft domain that onnxruntime implements and its
 * quantizer emits (QOperator format): QLinearAdd and QLinearGlobalAveragePool. They keep int8/uint8
 * activations in memory where the standard opset would need a DequantizeLinear → f32 → QuantizeLinear
 * round trip of a whole feature map.
 */
import { KilnError } from '../errors.js';
import { intRange, type DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { tensorType, type Dim, type TensorType } from '../types.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { averagePoolOf, poolOutType } from './nn-pool.js';
import { broadcastDims, broadcastShapes, forEachBroadcast, inputTensorType, normAxis, roundHalfEven } from './util.js';

export const MS_DOMAIN = 'com.microsoft';

/** Scalar quantization parameter (scale or zero point); per-axis ones are not defined for these ops. */
function scalarParam(ctx: KernelContext, i: number, what: string, def: number | null): number {
  const t = ctx.optTensor(i);
  if (!t || t.size === 0) {
    if (def === null) throw new KilnError('invalid-model', `missing ${what}`);
    return def;
  }
  if (t.size !== 1) throw new KilnError('unsupported', `unsupported ${ctx.node.opType} with a per-axis ${what}`);
  return t.num(0);
}

function checkInt8(dt: DType, op: string): void {
  if (dt !== 'i8' && dt !== 'u8') throw new KilnError('type', `${op} takes int8 or uint8 tensors, got ${dt}`);
}

/** Result type of QLinearAdd/QLinearMul: A (input 0) and B (input 3) of one 8-bit type, broadcast. */
function binaryInfer(ctx: InferContext, op: string): TensorType[] {
  const a = inputTensorType(ctx, 0);
  const b = inputTensorType(ctx, 3);
  const dt = a?.dtype ?? 'u8';
  checkInt8(dt, op);
  if (b && b.dtype !== dt) throw new KilnError('type', `${op} inputs differ in type: ${dt} and ${b.dtype}`);
  if (!a || !b || a.shape === null || b.shape === null) return [tensorType(dt, null)];
  return [tensorType(dt, broadcastDims(a.shape, b.shape))];
}

/** Scales and zero points of a QLinearAdd/QLinearMul (inputs 1, 2, 4, 5, 6, 7). */
interface BinaryQParams {
  as: number;
  az: number;
  bs: number;
  bz: number;
  cs: number;
  cz: number;
}

/**
 * Interprets a QLinearAdd/QLinearMul: A (input 0) and B (input 3) of one 8-bit type, broadcast;
 * `combine` gets the parameters once and returns the rounded (unclamped) result of one element pair.
 */
function binaryInterp(ctx: KernelContext, op: string, combine: (p: BinaryQParams) => (x: number, y: number) => number): Tensor[] {
  const a = ctx.tensor(0);
  const b = ctx.tensor(3);
  checkInt8(a.dtype, op);
  if (b.dtype !== a.dtype) throw new KilnError('type', `${op} inputs differ in type: ${a.dtype} and ${b.dtype}`);
  const value = combine({
    as: scalarParam(ctx, 1, 'A_scale', null),
    az: scalarParam(ctx, 2, 'A_zero_point', 0),
    bs: scalarParam(ctx, 4, 'B_scale', null),
    bz: scalarParam(ctx, 5, 'B_zero_point', 0),
    cs: scalarParam(ctx, 6, 'C_scale', null),
    cz: scalarParam(ctx, 7, 'C_zero_point', 0),
  });
  const [lo, hi] = intRange(a.dtype);
  const shape = broadcastShapes(a.shape, b.shape);
  const out = Tensor.zeros(a.dtype, shape);
  const A = a.data as Int8Array | Uint8Array;
  const B = b.data as Int8Array | Uint8Array;
  const C = out.data as Int8Array | Uint8Array;
  forEachBroadcast(shape, [a.shape, b.shape], (o, ix) => {
    C[o] = Math.min(hi, Math.max(lo, value(A[ix[0]!]!, B[ix[1]!]!)));
  });
  return [out];
}

/**
 * QLinearAdd: C = quantize(dequantize(A) + dequantize(B)) with numpy broadcasting. As in
 * onnxruntime the scales enter as the f32 ratios A_scale/C_scale and B_scale/C_scale, and the zero
 * point C_zero_point is added before rounding (half to even; it decides ties when it is odd); the
 * sum is exact in f64.
 */
registerOp({
  opType: 'QLinearAdd',
  domain: MS_DOMAIN,
  since: 1,
  infer: (ctx) => binaryInfer(ctx, 'QLinearAdd'),
  interp: (ctx) =>
    binaryInterp(ctx, 'QLinearAdd', (p) => {
      const ra = Math.fround(p.as / p.cs);
      const rb = Math.fround(p.bs / p.cs);
      return (x, y) => roundHalfEven(ra * (x - p.az) + rb * (y - p.bz) + p.cz);
    }),
});

/** Output dims of a global pool: [N, C, 1, ...] (NCHW) or [N, 1, ..., C] (channels_last). */
function gapDims(shape: readonly Dim[], channelsLast: boolean): Dim[] {
  if (shape.length < 3) throw new KilnError('type', `QLinearGlobalAveragePool needs rank >= 3, got ${shape.length}`);
  const r = shape.length;
  return shape.map((d, i) => (i === 0 || i === (channelsLast ? r - 1 : 1) ? d : 1));
}

/**
 * QLinearGlobalAveragePool: the integer sum of (x - x_zero_point) over the spatial dims times the
 * f32 factor x_scale / (y_scale · size), the product rounded to f32 as onnxruntime computes it,
 * then rounded half to even, offset by y_zero_point and saturated.
 */
registerOp({
  opType: 'QLinearGlobalAveragePool',
  domain: MS_DOMAIN,
  since: 1,
  attrs: { channels_last: 'int' },
  infer: (ctx) => {
    const x = inputTensorType(ctx, 0);
    const dt = x?.dtype ?? 'u8';
    checkInt8(dt, 'QLinearGlobalAveragePool');
    if (!x || x.shape === null) return [tensorType(dt, null)];
    return [tensorType(dt, gapDims(x.shape, ctx.attrs.int('channels_last', 0) !== 0))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    checkInt8(x.dtype, 'QLinearGlobalAveragePool');
    const channelsLast = ctx.attrs.int('channels_last', 0) !== 0;
    const xs = scalarParam(ctx, 1, 'x_scale', null);
    const xz = scalarParam(ctx, 2, 'x_zero_point', 0);
    const ys = scalarParam(ctx, 3, 'y_scale', null);
    const yz = scalarParam(ctx, 4, 'y_zero_point', 0);
    const shape = gapDims(x.shape, channelsLast) as number[];
    const r = x.rank;
    const N = x.shape[0]!;
    const C = x.shape[channelsLast ? r - 1 : 1]!;
    const size = x.size / (N * C);
    const factor = qgapFactor(xs, ys, size);
    const [lo, hi] = intRange(x.dtype);
    const out = Tensor.zeros(x.dtype, shape);
    const X = x.data as Int8Array | Uint8Array;
    const Y = out.data as Int8Array | Uint8Array;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let s = 0; s < size; s++) acc += X[channelsLast ? (n * size + s) * C + c : (n * C + c) * size + s]! - xz;
        Y[n * C + c] = Math.min(hi, Math.max(lo, roundHalfEven(Math.fround(acc * factor)) + yz));
      }
    }
    return [out];
  },
});

/** The f32 requantization factor x_scale / (y_scale · size), each step rounded to f32. */
export function qgapFactor(xs: number, ys: number, size: number): number {
  return Math.fround(Math.fround(xs) / Math.fround(Math.fround(ys) * size));
}

/**
 * QLinearMul: C = quantize(dequantize(A) · dequantize(B)) with numpy broadcasting, each step in f32
 * as the DequantizeLinear → Mul → QuantizeLinear model computes it (and onnxruntime's reference
 * kernel, but for the zero point: it adds C_zero_point before rounding, which can decide a tie
 * differently when the zero point is odd).
 */
registerOp({
  opType: 'QLinearMul',
  domain: MS_DOMAIN,
  since: 1,
  infer: (ctx) => binaryInfer(ctx, 'QLinearMul'),
  interp: (ctx) =>
    binaryInterp(ctx, 'QLinearMul', (p) => {
      const f = Math.fround;
      const [as, bs, cs] = [f(p.as), f(p.bs), f(p.cs)];
      return (x, y) => roundHalfEven(f(f(f(as * (x - p.az)) * f(bs * (y - p.bz))) / cs)) + p.cz;
    }),
});

/**
 * The 256-entry table of an 8-bit requantization through f: entry i is what
 * QuantizeLinear(f(DequantizeLinear(lo + i))) gives in f32 (lo the input type's minimum), so a
 * gather through it is exactly the float DQ → f → Q computation for every input value.
 */
export function requantLut(inType: DType, xs: number, xz: number, outType: DType, ys: number, yz: number, fn: (v: number) => number = (v) => v): number[] {
  const f = Math.fround;
  const [lo, hi] = intRange(inType);
  const [olo, ohi] = intRange(outType);
  const out: number[] = [];
  for (let q = lo; q <= hi; q++) {
    const v = f(f(fn(f((q - xz) * f(xs)))) / f(ys));
    out.push(Number.isNaN(v) ? Math.max(olo, Math.min(ohi, yz)) : Math.min(ohi, Math.max(olo, roundHalfEven(v) + yz)));
  }
  return out;
}

/** The QLinearConcat inputs: (X, X_scale, X_zero_point) tuples after Y_scale and Y_zero_point. */
function concatParts(n: number): number[] {
  if (n < 5 || (n - 2) % 3 !== 0) throw new KilnError('invalid-model', `QLinearConcat takes Y_scale, Y_zero_point and (X, X_scale, X_zero_point) tuples, got ${n} inputs`);
  return Array.from({ length: (n - 2) / 3 }, (_, i) => 2 + 3 * i);
}

/**
 * QLinearConcat: each input is requantized to the output's scale and zero point (DequantizeLinear
 * then QuantizeLinear in f32, as onnxruntime's lookup tables compute it; an input already in the
 * output's quantization is copied) and the results are concatenated along `axis`.
 */
registerOp({
  opType: 'QLinearConcat',
  domain: MS_DOMAIN,
  since: 1,
  attrs: { axis: 'int' },
  infer: (ctx) => {
    const parts = concatParts(ctx.inputs.length);
    const ts = parts.map((i) => inputTensorType(ctx, i));
    const dt = inputTensorType(ctx, 1)?.dtype ?? ts.find((t) => t)?.dtype ?? 'u8';
    checkInt8(dt, 'QLinearConcat');
    for (const t of ts) if (t && t.dtype !== dt) throw new KilnError('type', `QLinearConcat input is ${t.dtype}, output ${dt}`);
    if (ts.some((t) => !t || t.shape === null)) return [tensorType(dt, null)];
    const shapes = ts.map((t) => t!.shape!);
    const rank = shapes[0]!.length;
    const axis = normAxis(ctx.attrs.int('axis'), rank);
    const out: Dim[] = [...shapes[0]!];
    let sum: number | null = 0;
    for (const s of shapes) {
      if (s.length !== rank) throw new KilnError('type', 'QLinearConcat inputs have different ranks');
      const d = s[axis];
      sum = sum !== null && typeof d === 'number' ? sum + d : null;
    }
    out[axis] = sum;
    return [tensorType(dt, out)];
  },
  interp: (ctx) => {
    const parts = concatParts(ctx.inputs.length);
    const ys = scalarParam(ctx, 0, 'Y_scale', null);
    const yz = scalarParam(ctx, 1, 'Y_zero_point', 0);
    const xs = parts.map((i) => ctx.tensor(i));
    const dt = xs[0]!.dtype;
    checkInt8(dt, 'QLinearConcat');
    const rank = xs[0]!.rank;
    const axis = normAxis(ctx.attrs.int('axis'), rank);
    const mapped = xs.map((x, j) => {
      if (x.dtype !== dt) throw new KilnError('type', `QLinearConcat inputs differ in type: ${dt} and ${x.dtype}`);
      const s = scalarParam(ctx, parts[j]! + 1, 'X_scale', null);
      const z = scalarParam(ctx, parts[j]! + 2, 'X_zero_point', 0);
      const lut = requantLut(dt, s, z, dt, ys, yz);
      const lo = intRange(dt)[0];
      const src = x.data as Int8Array | Uint8Array;
      return Tensor.from(dt, x.shape, Array.from(src, (q) => lut[q - lo]!));
    });
    for (const x of mapped) {
      if (x.rank !== rank || x.shape.some((d, i) => i !== axis && d !== xs[0]!.shape[i])) throw new KilnError('type', 'QLinearConcat inputs disagree in shape');
    }
    const outer = xs[0]!.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    const inner = xs[0]!.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const total = mapped.reduce((p, x) => p + x.shape[axis]!, 0);
    const shape = [...xs[0]!.shape];
    shape[axis] = total;
    const out = Tensor.zeros(dt, shape);
    const Y = out.data as Int8Array | Uint8Array;
    let off = 0;
    for (const x of mapped) {
      const len = x.shape[axis]! * inner;
      const X = x.data as Int8Array | Uint8Array;
      for (let o = 0; o < outer; o++) Y.set(X.subarray(o * len, (o + 1) * len), o * total * inner + off);
      off += len;
    }
    return [out];
  },
});

/**
 * Why ceil_mode with count_include_pad is refused: onnxruntime's QLinearAveragePool divides a
 * window that ceil_mode adds past the end padding by more taps than AveragePool does (measured:
 * up to 23 LSB apart), so neither convention would be right for both.
 */
export const CEIL_COUNT_PAD = 'unsupported QLinearAveragePool with ceil_mode and count_include_pad (onnxruntime counts the taps past the end padding that AveragePool does not)';

/**
 * QLinearAveragePool (NCHW; channels_last is refused): the exact integer sum of x - x_zero_point
 * over each window, divided by the window's count (count_include_pad as AveragePool), times
 * x_scale / y_scale, in f64, rounded half to even, plus y_zero_point. onnxruntime dequantizes and
 * pools in f32 instead: its sum may round, so the two can differ by 1 LSB near a half-way point.
 */
registerOp({
  opType: 'QLinearAveragePool',
  domain: MS_DOMAIN,
  since: 1,
  attrs: { auto_pad: 'string', ceil_mode: 'int', channels_last: 'int', count_include_pad: 'int', kernel_shape: 'ints', pads: 'ints', strides: 'ints' },
  infer: (ctx) => {
    const dt = inputTensorType(ctx, 0)?.dtype ?? 'u8';
    checkInt8(dt, 'QLinearAveragePool');
    if (ctx.attrs.int('channels_last', 0) !== 0) throw new KilnError('unsupported', 'unsupported QLinearAveragePool with channels_last = 1');
    return [poolOutType(ctx)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    checkInt8(x.dtype, 'QLinearAveragePool');
    if (ctx.attrs.int('channels_last', 0) !== 0) throw new KilnError('unsupported', 'unsupported QLinearAveragePool with channels_last = 1');
    if (ctx.attrs.int('ceil_mode', 0) !== 0 && ctx.attrs.int('count_include_pad', 0) !== 0) throw new KilnError('unsupported', CEIL_COUNT_PAD);
    const xs = Math.fround(scalarParam(ctx, 1, 'x_scale', null));
    const xz = scalarParam(ctx, 2, 'x_zero_point', 0);
    const ys = Math.fround(scalarParam(ctx, 3, 'y_scale', null));
    const yz = scalarParam(ctx, 4, 'y_zero_point', 0);
    const centered = Tensor.from('f64', x.shape, Array.from(x.data as Int8Array | Uint8Array, (q) => q - xz));
    const avg = averagePoolOf(ctx, centered);
    const [lo, hi] = intRange(x.dtype);
    const av = avg.data as Float64Array;
    return [Tensor.from(x.dtype, avg.shape, Array.from(av, (v) => Math.min(hi, Math.max(lo, roundHalfEven((v * xs) / ys) + yz))))];
  },
});

/**
 * The float function a table-driven com.microsoft op applies between dequantization and
 * quantization (f32 steps), keyed by op type: QLinearSigmoid and QLinearLeakyRelu.
 */
export const LUT_OPS: ReadonlyMap<string, (alpha: number) => (v: number) => number> = new Map([
  ['QLinearSigmoid', () => (v: number) => Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-v))))],
  ['QLinearLeakyRelu', (alpha: number) => (v: number) => (v >= 0 ? v : Math.fround(Math.fround(alpha) * v))],
]);

/** LeakyRelu's alpha attribute (default 0.01) as the table functions take it. */
export function lutAlpha(attrs: { float(name: string, def?: number): number }): number {
  return attrs.float('alpha', 0.01);
}

for (const [opType, fnOf] of LUT_OPS) {
  /**
   * QLinearSigmoid / QLinearLeakyRelu: Y = quantize(f(dequantize(X))) through the 256-entry table
   * of every int8/uint8 input value (requantLut), as onnxruntime builds it; f is computed in f32
   * here and may differ from onnxruntime's vectorized exp in the last bit, which moves an entry by
   * 1 LSB only where the value lies on a rounding boundary.
   */
  registerOp({
    opType,
    domain: MS_DOMAIN,
    since: 1,
    attrs: opType === 'QLinearLeakyRelu' ? { alpha: 'float' } : {},
    infer: (ctx) => {
      const x = inputTensorType(ctx, 0);
      const dt = x?.dtype ?? 'u8';
      checkInt8(dt, opType);
      const yz = inputTensorType(ctx, 4);
      if (yz && yz.dtype !== dt) throw new KilnError('type', `${opType} output zero point is ${yz.dtype}, input ${dt}`);
      return [tensorType(dt, x?.shape ?? null)];
    },
    interp: (ctx) => {
      const x = ctx.tensor(0);
      checkInt8(x.dtype, opType);
      const lut = requantLut(x.dtype, scalarParam(ctx, 1, 'X_scale', null), scalarParam(ctx, 2, 'X_zero_point', 0), x.dtype, scalarParam(ctx, 3, 'Y_scale', null), scalarParam(ctx, 4, 'Y_zero_point', 0), fnOf(lutAlpha(ctx.attrs)));
      const lo = intRange(x.dtype)[0];
      return [Tensor.from(x.dtype, x.shape, Array.from(x.data as Int8Array | Uint8Array, (q) => lut[q - lo]!))];
    },
  });
}
