/**
 * Quantization parameters and quantized constants: per-tensor activation scales and zero points,
 * symmetric per-channel weights (int8 or int4, narrow range ±(2^(b-1)-1) so that -w is representable
 * and no kernel needs the asymmetric extreme), int32 biases at scale in_scale × w_scale.
 * Scales are float32 (what the ONNX file stores), and every quantized value is computed from the
 * stored float32 scale, so Kiln, onnxruntime and the integer kernels read the same numbers.
 */
import { KilnError } from '../ir/errors.js';
import { Tensor } from '../ir/tensor.js';
import type { Range } from './ranges.js';

/** Element types of quantized activations. */
export type ActType = 'i8' | 'u8' | 'i16';
export const ACT_TYPES: readonly ActType[] = ['i8', 'u8', 'i16'];
/** Weight widths. */
export type WeightBits = 8 | 4;

export interface ActParams {
  dtype: ActType;
  scale: number;
  zeroPoint: number;
}

const f = Math.fround;
const ACT_LIMITS: Record<ActType, [number, number]> = { i8: [-128, 127], u8: [0, 255], i16: [-32768, 32767] };

/** Round half to even, as QuantizeLinear does. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Per-tensor parameters for an activation range: 8-bit types are asymmetric (the zero point puts
 * every level inside [lo, hi]; 0 stays exactly representable); int16 is symmetric with zero point 0
 * (as TFLite's 16x8 scheme: an int16 zero point buys nothing at that resolution and costs a subtraction).
 */
export function activationParams(r: Range, dtype: ActType): ActParams {
  const [qmin, qmax] = ACT_LIMITS[dtype];
  if (dtype === 'i16') {
    const m = Math.max(-r.lo, r.hi);
    return { dtype, scale: m > 0 ? f(m / qmax) : 1, zeroPoint: 0 };
  }
  const span = r.hi - r.lo;
  if (!(span > 0)) return { dtype, scale: 1, zeroPoint: dtype === 'u8' ? 0 : 0 };
  const scale = f(span / (qmax - qmin));
  const zp = Math.min(qmax, Math.max(qmin, roundEven(qmin - r.lo / scale)));
  return { dtype, scale, zeroPoint: zp };
}

export interface QuantizedWeight {
  /** int8 or int4 values, same shape as the float weight. */
  q: Tensor;
  /** One float32 scale per channel along `axis`. */
  scales: Float32Array;
  axis: number;
}

/** Symmetric per-channel quantization of a float weight along `axis`. */
export function quantizeWeight(w: Tensor, axis: number, bits: WeightBits): QuantizedWeight {
  const shape = w.shape;
  if (axis < 0 || axis >= shape.length) throw new KilnError('unsupported', `weight of shape [${shape.join(',')}] has no axis ${axis}`);
  const channels = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const qmax = (1 << (bits - 1)) - 1;
  const data = w.toNumbers();
  const absMax = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % channels;
    absMax[c] = Math.max(absMax[c]!, Math.abs(data[i]!));
  }
  // an all-zero channel gets scale 1 (its values are 0 whatever the scale)
  const scales = Float32Array.from(absMax, (m) => (m > 0 ? m / qmax : 1));
  if (bits === 4) clipForMse(data, channels, inner, absMax, qmax, scales);
  const q = Tensor.zeros(bits === 8 ? 'i8' : 'i4', shape);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % channels;
    q.setScalar(i, Math.min(qmax, Math.max(-qmax, roundEven(data[i]! / scales[c]!))));
  }
  return { q, scales, axis };
}

/** Bytes a weight takes stored with `bits` per value (packed), plus its float32 scales. */
export function weightBytes(elements: number, channels: number, bits: WeightBits | 32): number {
  return bits === 32 ? 4 * elements : Math.ceil((elements * bits) / 8) + 4 * channels;
}

/**
 * With 7 levels a side, clipping the largest weights buys resolution for all the others: each
 * channel's scale is the one of max·α (α from 1 down to 0.5) with the least squared error.
 */
function clipForMse(data: readonly number[], channels: number, inner: number, absMax: Float64Array, qmax: number, scales: Float32Array): void {
  const outer = data.length / (channels * inner);
  for (let c = 0; c < channels; c++) {
    if (!(absMax[c]! > 0)) continue;
    let best = Infinity;
    for (let k = 0; k <= 20; k++) {
      const s = Math.fround((absMax[c]! * (1 - k / 40)) / qmax);
      let err = 0;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          const w = data[(o * channels + c) * inner + j]!;
          const q = Math.min(qmax, Math.max(-qmax, roundEven(w / s)));
          err += (w - q * s) ** 2;
        }
      }
      if (err < best) {
        best = err;
        scales[c] = s;
      }
    }
  }
}

export interface QuantizedBias {
  q: Tensor;
  scales: Float32Array;
  /** Values that did not fit int32 and were saturated. */
  clamped: number;
}

/** int32 bias per channel at scale in_scale × w_scale[c] (the accumulator's scale), zero point 0. */
export function quantizeBias(b: Tensor, inScale: number, wScales: Float32Array): QuantizedBias {
  if (b.size !== wScales.length) throw new KilnError('unsupported', `bias of ${b.size} values for ${wScales.length} weight channels`);
  const scales = Float32Array.from(wScales, (s) => f(inScale * s));
  const q = Tensor.zeros('i32', [b.size]);
  let clamped = 0;
  const data = b.toNumbers();
  for (let i = 0; i < b.size; i++) {
    const v = roundEven(data[i]! / scales[i]!);
    const c = Math.min(2147483647, Math.max(-2147483648, v));
    if (c !== v) clamped++;
    q.setScalar(i, c);
  }
  return { q, scales, clamped };
}
