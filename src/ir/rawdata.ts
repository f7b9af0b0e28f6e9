/**
 * Tensors as little-endian bytes: the ONNX raw_data layout (`packed`: sub-byte types two or four to
 * a byte, low bits first) or the in-memory storage layout of generated code (one element per byte
 * for sub-byte types). Narrow floats are their bit patterns in both.
 */
import { KilnError } from './errors.js';
import { dtypeInfo, type DType, type NumericArray, type BigArray } from './dtype.js';
import { fromBits, isMiniFloat, toBits } from './floatfmt.js';
import { Tensor } from './tensor.js';

/** Bytes of n elements in the packed (ONNX) layout. */
export function packedBytes(dt: DType, n: number): number {
  return Math.ceil((n * dtypeInfo(dt).bits) / 8);
}

/** Bytes of n elements in the storage layout (sub-byte types one per byte). */
export function storageBytes(dt: DType, n: number): number {
  return n * Math.max(1, dtypeInfo(dt).bits / 8);
}

/** Fills t from bytes in the packed or storage layout (sizes are checked by the caller). */
export function fillFromBytes(t: Tensor, raw: Uint8Array, packed: boolean): void {
  const dt = t.dtype;
  const n = t.size;
  const bits = dtypeInfo(dt).bits;
  if (bits < 8) {
    const perByte = packed ? 8 / bits : 1;
    const mask = (1 << bits) - 1;
    for (let i = 0; i < n; i++) {
      const b = raw[Math.floor(i / perByte)]!;
      const u = (b >> ((i % perByte) * bits)) & mask;
      setFromBits(t, i, u, bits);
    }
    return;
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const d = t.data;
  switch (dt) {
    case 'f32': for (let i = 0; i < n; i++) (d as NumericArray)[i] = view.getFloat32(i * 4, true); break;
    case 'f64': for (let i = 0; i < n; i++) (d as NumericArray)[i] = view.getFloat64(i * 8, true); break;
    case 'i8': for (let i = 0; i < n; i++) (d as NumericArray)[i] = view.getInt8(i); break;
    case 'u8': case 'bool': for (let i = 0; i < n; i++) (d as NumericArray)[i] = dt === 'bool' ? (view.getUint8(i) ? 1 : 0) : view.getUint8(i); break;
    case 'i16': for (let i = 0; i < n; i++) (d as NumericArray)[i] = view.getInt16(i * 2, true); break;
    case 'u16': for (let i = 0; i < n; i++) (d as NumericArray)[i] = view.getUint16(i * 2, true); break;
    case 'i32': for (let i = 0; i < n; i++) (d as NumericArray)[i] = view.getInt32(i * 4, true); break;
    case 'u32': for (let i = 0; i < n; i++) (d as NumericArray)[i] = view.getUint32(i * 4, true); break;
    case 'i64': for (let i = 0; i < n; i++) (d as BigArray)[i] = view.getBigInt64(i * 8, true); break;
    case 'u64': for (let i = 0; i < n; i++) (d as BigArray)[i] = view.getBigUint64(i * 8, true); break;
    case 'f16': case 'bf16': for (let i = 0; i < n; i++) (d as NumericArray)[i] = fromBits(dt, view.getUint16(i * 2, true)); break;
    default:
      if (isMiniFloat(dt) && bits === 8) {
        for (let i = 0; i < n; i++) (d as NumericArray)[i] = fromBits(dt, view.getUint8(i));
        break;
      }
      throw new KilnError('unsupported', `unsupported element type ${dt} in raw data`);
  }
}

/** Stores an unsigned bit pattern of a sub-byte or 8/16-bit type at index i. */
export function setFromBits(t: Tensor, i: number, u: number, bits: number): void {
  const dt = t.dtype;
  const d = t.data as NumericArray;
  if (isMiniFloat(dt) || dt === 'f16' || dt === 'bf16') d[i] = fromBits(dt, u);
  else if (dtypeInfo(dt).kind === 'int') d[i] = u >= 1 << (bits - 1) ? u - (1 << bits) : u;
  else if (dt === 'bool') d[i] = u ? 1 : 0;
  else d[i] = u;
}

/** Little-endian bytes of a tensor in the packed (ONNX) or storage layout. */
export function tensorToBytes(t: Tensor, packed: boolean): Uint8Array {
  const dt = t.dtype;
  const n = t.size;
  if (dt === 'string') throw new KilnError('unsupported', 'string tensors have no raw form');
  const bits = dtypeInfo(dt).bits;
  const out = new Uint8Array(packed ? packedBytes(dt, n) : storageBytes(dt, n));
  if (bits < 8) {
    const perByte = packed ? 8 / bits : 1;
    const mask = (1 << bits) - 1;
    for (let i = 0; i < n; i++) {
      const v = t.num(i);
      const u = isMiniFloat(dt) ? toBits(dt, v) : v & mask;
      // storage layout: one element per byte, signed types sign-extended to the whole byte
      if (!packed) out[i] = isMiniFloat(dt) ? u : v & 0xff;
      else out[Math.floor(i / perByte)]! |= (u & mask) << ((i % perByte) * bits);
    }
    return out;
  }
  const view = new DataView(out.buffer);
  const d = t.data;
  for (let i = 0; i < n; i++) {
    switch (dt) {
      case 'f32': view.setFloat32(i * 4, (d as NumericArray)[i]!, true); break;
      case 'f64': view.setFloat64(i * 8, (d as NumericArray)[i]!, true); break;
      case 'i8': view.setInt8(i, (d as NumericArray)[i]!); break;
      case 'u8': case 'bool': view.setUint8(i, (d as NumericArray)[i]!); break;
      case 'i16': view.setInt16(i * 2, (d as NumericArray)[i]!, true); break;
      case 'u16': view.setUint16(i * 2, (d as NumericArray)[i]!, true); break;
      case 'i32': view.setInt32(i * 4, (d as NumericArray)[i]!, true); break;
      case 'u32': view.setUint32(i * 4, (d as NumericArray)[i]!, true); break;
      case 'i64': view.setBigInt64(i * 8, (d as BigArray)[i] as bigint, true); break;
      case 'u64': view.setBigUint64(i * 8, (d as BigArray)[i] as bigint, true); break;
      case 'f16': case 'bf16': view.setUint16(i * 2, toBits(dt, (d as NumericArray)[i]!), true); break;
      default: view.setUint8(i, toBits(dt, (d as NumericArray)[i]!));
    }
  }
  return out;
}

