/**
 * Quantized contrib operators of the com.microsoft domain that onnxruntime implements and its
 * quantizer emits (QOperator format): QLinearAdd and QLinearGlobalAveragePool. They keep int8/uint8
 * activations in memory where the standard opset would need a DequantizeLinear → f32 → QuantizeLinear
 * round trip of a whole feature map.
 */
import { KilnError } from '../errors.js';
import { intRange, type DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { tensorType, type Dim } from '../types.js';
import { registerOp, type KernelContext } from './registry.js';
import { broadcastDims, broadcastShapes, forEachBroadcast, inputTensorType, roundHalfEven } from './util.js';

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
  infer: (ctx) => {
    const a = inputTensorType(ctx, 0);
    const b = inputTensorType(ctx, 3);
    const dt = a?.dtype ?? 'u8';
    checkInt8(dt, 'QLinearAdd');
    if (b && b.dtype !== dt) throw new KilnError('type', `QLinearAdd inputs differ in type: ${dt} and ${b.dtype}`);
    if (!a || !b || a.shape === null || b.shape === null) return [tensorType(dt, null)];
    return [tensorType(dt, broadcastDims(a.shape, b.shape))];
  },
  interp: (ctx) => {
    const a = ctx.tensor(0);
    const b = ctx.tensor(3);
    checkInt8(a.dtype, 'QLinearAdd');
    if (b.dtype !== a.dtype) throw new KilnError('type', `QLinearAdd inputs differ in type: ${a.dtype} and ${b.dtype}`);
    const as = scalarParam(ctx, 1, 'A_scale', null);
    const az = scalarParam(ctx, 2, 'A_zero_point', 0);
    const bs = scalarParam(ctx, 4, 'B_scale', null);
    const bz = scalarParam(ctx, 5, 'B_zero_point', 0);
    const cs = scalarParam(ctx, 6, 'C_scale', null);
    const cz = scalarParam(ctx, 7, 'C_zero_point', 0);
    const ra = Math.fround(as / cs);
    const rb = Math.fround(bs / cs);
    const [lo, hi] = intRange(a.dtype);
    const shape = broadcastShapes(a.shape, b.shape);
    const out = Tensor.zeros(a.dtype, shape);
    const A = a.data as Int8Array | Uint8Array;
    const B = b.data as Int8Array | Uint8Array;
    const C = out.data as Int8Array | Uint8Array;
    forEachBroadcast(shape, [a.shape, b.shape], (o, ix) => {
      const v = ra * (A[ix[0]!]! - az) + rb * (B[ix[1]!]! - bz) + cz;
      C[o] = Math.min(hi, Math.max(lo, roundHalfEven(v)));
    });
    return [out];
  },
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
