/** Cast, CastLike, BitCast. */
import { KilnError } from '../errors.js';
import { dtypeFromOnnx, dtypeInfo, isBig, type DType, type BigArray, type NumericArray } from '../dtype.js';
import { roundToFormat, isMiniFloat, toBits, fromBits } from '../floatfmt.js';
import { Tensor } from '../tensor.js';
import { tensorType } from '../types.js';
import { registerOp, type Attrs } from './registry.js';
import { tt } from './shape-common.js';

const SATURATING = new Set<DType>(['f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz']);

function targetType(attrs: Attrs): DType {
  const code = attrs.int('to');
  const dt = dtypeFromOnnx(code);
  if (!dt) throw new KilnError('unsupported', `unsupported Cast target type code ${code}`);
  if (dt === 'c64' || dt === 'c128') throw new KilnError('unsupported', `unsupported Cast to ${dt}`);
  return dt;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** f32 → f8e8m0 per the ONNX conversion (exponent of the float32 bits with rounding). */
function toE8M0(x: number, saturate: boolean, mode: string): number {
  f32buf[0] = x;
  const bits = u32buf[0]!;
  let exponent = (bits >>> 23) & 0xff;
  if (exponent === 0xff) return NaN;
  if (mode === 'nearest') {
    const g = (bits & 0x400000) !== 0;
    const r = (bits & 0x200000) !== 0;
    const s = (bits & 0x1fffff) !== 0;
    const lsb = exponent > 0;
    const up = g && (r || s || lsb);
    if (up && !(saturate && exponent === 0xfe)) exponent++;
  } else if (mode === 'up') {
    const up = (bits & 0x7fffff) !== 0;
    if (up && !(saturate && exponent === 0xfe)) exponent++;
  } else if (mode !== 'down') {
    throw new KilnError('type', `unknown round_mode '${mode}'`);
  }
  if (exponent >= 0xff) return NaN;
  return 2 ** (exponent - 127);
}

/** Float-to-string as numpy prints float32/float64 values (shortest round-trip form). */
function floatToString(v: number, dt: DType): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  let s: string;
  if (dt === 'f64') s = String(v);
  else {
    s = String(v);
    for (let p = 1; p <= 9; p++) {
      const c = v.toPrecision(p);
      const back = dt === 'f32' ? Math.fround(Number(c)) : isMiniFloat(dt) ? roundToFormat(dt, Number(c)) : Number(c);
      if (back === v) {
        s = String(Number(c));
        break;
      }
    }
  }
  const abs = Math.abs(v);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    // numpy scientific form: 1e-05, 1.5e+16
    const [m, e] = Number(s).toExponential().split('e');
    const en = Number(e);
    return `${m}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  if (!s.includes('.') && !s.includes('e')) s += '.0';
  return s;
}

function parseNumber(s: string): number {
  const t = s.trim();
  const l = t.toLowerCase();
  if (l === 'nan' || l === '+nan' || l === '-nan') return NaN;
  if (l === 'inf' || l === '+inf' || l === 'infinity' || l === '+infinity') return Infinity;
  if (l === '-inf' || l === '-infinity') return -Infinity;
  if (t === '') throw new KilnError('runtime', `cannot parse '' as a number`);
  const n = Number(t);
  if (Number.isNaN(n)) throw new KilnError('runtime', `cannot parse '${s}' as a number`);
  return n;
}

function wrapInt(v: number, dt: DType): number {
  const { bits, kind } = dtypeInfo(dt);
  if (kind === 'bool') return v !== 0 ? 1 : 0;
  const m = 2 ** bits;
  let u = ((v % m) + m) % m;
  if (kind === 'int' && u >= m / 2) u -= m;
  return u;
}

/** Converts one tensor to another element type with ONNX Cast semantics. */
export function castTensor(x: Tensor, to: DType, saturate = true, roundMode = 'up'): Tensor {
  const from = x.dtype;
  const out = Tensor.zeros(to, x.shape);
  const n = x.size;
  const toInfo = dtypeInfo(to);
  const fromInfo = dtypeInfo(from);
  if (from === 'c64' || from === 'c128') throw new KilnError('unsupported', `unsupported Cast from ${from}`);
  if (from === to) {
    for (let i = 0; i < n; i++) (out.data as unknown as unknown[])[i] = (x.data as unknown as unknown[])[i];
    return out;
  }
  if (to === 'string') {
    const dst = out.data as string[];
    for (let i = 0; i < n; i++) {
      const v = x.data[i]!;
      if (fromInfo.kind === 'float') dst[i] = floatToString(Number(v), from);
      else if (fromInfo.kind === 'bool') dst[i] = Number(v) ? 'True' : 'False';
      else dst[i] = String(v);
    }
    return out;
  }
  const sat = saturate && SATURATING.has(to);
  const storeNum = (i: number, v: number): void => {
    // v is a JS number (double) that already went through the source type
    if (toInfo.kind === 'float') {
      if (to === 'f32' || to === 'f64') (out.data as NumericArray)[i] = v;
      else if (to === 'f8e8m0') (out.data as NumericArray)[i] = toE8M0(v, saturate, roundMode);
      else if (to === 'f4e2m1' && Number.isNaN(v)) (out.data as NumericArray)[i] = 0; // no NaN: ml_dtypes maps NaN to +0
      else (out.data as NumericArray)[i] = isMiniFloat(to) ? roundToFormat(to, v, sat) : v;
    } else if (toInfo.kind === 'bool') {
      (out.data as NumericArray)[i] = v !== 0 ? 1 : 0; // NaN → true, as numpy
    } else if (isBig(to)) {
      const t = Math.trunc(v);
      (out.data as BigArray)[i] = Number.isFinite(t) ? (to === 'i64' ? BigInt.asIntN(64, BigInt(t)) : BigInt.asUintN(64, BigInt(t))) : to === 'i64' ? -(1n << 63n) : 1n << 63n;
    } else {
      const t = Math.trunc(v);
      (out.data as NumericArray)[i] = Number.isFinite(t) ? wrapInt(t, to) : wrapInt(0, to);
    }
  };
  if (from === 'string') {
    const src = x.data as string[];
    for (let i = 0; i < n; i++) {
      const s = src[i]!;
      if (isBig(to)) {
        const t = s.trim();
        let b: bigint;
        if (/^[+-]?\d+$/.test(t)) b = BigInt(t);
        else {
          const v = parseNumber(t);
          b = Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
        }
        (out.data as BigArray)[i] = to === 'i64' ? BigInt.asIntN(64, b) : BigInt.asUintN(64, b);
      } else if (toInfo.kind === 'bool') {
        const l = s.trim().toLowerCase();
        (out.data as NumericArray)[i] = l === 'true' ? 1 : l === 'false' ? 0 : parseNumber(s) !== 0 ? 1 : 0;
      } else storeNum(i, parseNumber(s));
    }
    return out;
  }
  if (isBig(from)) {
    const src = x.data as BigArray;
    if (isBig(to)) {
      const dst = out.data as BigArray;
      for (let i = 0; i < n; i++) dst[i] = to === 'i64' ? BigInt.asIntN(64, src[i]!) : BigInt.asUintN(64, src[i]!);
    } else if (toInfo.kind === 'int' || toInfo.kind === 'uint') {
      const dst = out.data as NumericArray;
      const bits = BigInt(toInfo.bits);
      for (let i = 0; i < n; i++) dst[i] = Number(toInfo.kind === 'int' ? BigInt.asIntN(Number(bits), src[i]!) : BigInt.asUintN(Number(bits), src[i]!));
    } else {
      for (let i = 0; i < n; i++) storeNum(i, Number(src[i]!));
    }
    return out;
  }
  const src = x.data as NumericArray;
  if (isBig(to) && (fromInfo.kind === 'int' || fromInfo.kind === 'uint' || fromInfo.kind === 'bool')) {
    const dst = out.data as BigArray;
    for (let i = 0; i < n; i++) dst[i] = to === 'i64' ? BigInt(src[i]!) : BigInt.asUintN(64, BigInt(src[i]!));
    return out;
  }
  for (let i = 0; i < n; i++) storeNum(i, src[i]!);
  return out;
}

registerOp({
  opType: 'Cast',
  since: 1,
  infer: (ctx) => {
    const to = targetType(ctx.attrs);
    const x = tt(ctx, 0);
    return [tensorType(to, x ? x.shape : null)];
  },
  interp: (ctx) => {
    const to = targetType(ctx.attrs);
    const saturate = ctx.opset >= 19 ? ctx.attrs.int('saturate', 1) !== 0 : true;
    const roundMode = ctx.attrs.string('round_mode', 'up');
    return [castTensor(ctx.tensor(0), to, saturate, roundMode)];
  },
});

registerOp({
  opType: 'CastLike',
  since: 15,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const like = tt(ctx, 1);
    if (!like) return [tensorType(x?.dtype ?? 'f32', x ? x.shape : null)];
    return [tensorType(like.dtype, x ? x.shape : null)];
  },
  interp: (ctx) => {
    const saturate = ctx.attrs.int('saturate', 1) !== 0;
    const roundMode = ctx.attrs.string('round_mode', 'up');
    return [castTensor(ctx.tensor(0), ctx.tensor(1).dtype, saturate, roundMode)];
  },
});

// ---------- BitCast ----------

function elemBytes(dt: DType): number {
  const b = dtypeInfo(dt).bits;
  if (b % 8 !== 0 || b === 0 || dt === 'c64' || dt === 'c128') throw new KilnError('unsupported', `unsupported BitCast element type ${dt}`);
  return b / 8;
}

function toBytes(x: Tensor): DataView {
  const w = elemBytes(x.dtype);
  const buf = new DataView(new ArrayBuffer(x.size * w));
  for (let i = 0; i < x.size; i++) {
    const off = i * w;
    const v = x.data[i]!;
    switch (x.dtype) {
      case 'f32': buf.setFloat32(off, v as number, true); break;
      case 'f64': buf.setFloat64(off, v as number, true); break;
      case 'i64': buf.setBigInt64(off, v as bigint, true); break;
      case 'u64': buf.setBigUint64(off, v as bigint, true); break;
      case 'i32': buf.setInt32(off, v as number, true); break;
      case 'u32': buf.setUint32(off, v as number, true); break;
      case 'i16': buf.setInt16(off, v as number, true); break;
      case 'u16': buf.setUint16(off, v as number, true); break;
      case 'i8': buf.setInt8(off, v as number); break;
      case 'u8': case 'bool': buf.setUint8(off, v as number); break;
      default:
        if (w === 2) buf.setUint16(off, toBits(x.dtype, v as number), true);
        else buf.setUint8(off, toBits(x.dtype, v as number));
    }
  }
  return buf;
}

function fromBytes(dt: DType, shape: readonly number[], buf: DataView): Tensor {
  const w = elemBytes(dt);
  const out = Tensor.zeros(dt, shape);
  const d = out.data as unknown as unknown[];
  for (let i = 0; i < out.size; i++) {
    const off = i * w;
    switch (dt) {
      case 'f32': d[i] = buf.getFloat32(off, true); break;
      case 'f64': d[i] = buf.getFloat64(off, true); break;
      case 'i64': d[i] = buf.getBigInt64(off, true); break;
      case 'u64': d[i] = buf.getBigUint64(off, true); break;
      case 'i32': d[i] = buf.getInt32(off, true); break;
      case 'u32': d[i] = buf.getUint32(off, true); break;
      case 'i16': d[i] = buf.getInt16(off, true); break;
      case 'u16': d[i] = buf.getUint16(off, true); break;
      case 'i8': d[i] = buf.getInt8(off); break;
      case 'u8': d[i] = buf.getUint8(off); break;
      case 'bool': d[i] = buf.getUint8(off) !== 0 ? 1 : 0; break;
      default:
        d[i] = fromBits(dt, w === 2 ? buf.getUint16(off, true) : buf.getUint8(off));
    }
  }
  return out;
}

registerOp({
  opType: 'BitCast',
  since: 1,
  infer: (ctx) => {
    const to = targetType(ctx.attrs);
    const x = tt(ctx, 0);
    if (x && x.dtype !== 'string' && to !== 'string' && elemBytes(x.dtype) !== elemBytes(to)) {
      throw new KilnError('type', `BitCast between ${x.dtype} and ${to} of different widths`);
    }
    if (to === 'string' || x?.dtype === 'string') throw new KilnError('type', 'BitCast does not accept strings');
    return [tensorType(to, x ? x.shape : null)];
  },
  interp: (ctx) => {
    const to = targetType(ctx.attrs);
    const x = ctx.tensor(0);
    if (elemBytes(x.dtype) !== elemBytes(to)) throw new KilnError('type', `BitCast between ${x.dtype} and ${to} of different widths`);
    return [fromBytes(to, x.shape, toBytes(x))];
  },
});
