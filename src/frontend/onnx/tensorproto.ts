/** TensorProto ⇄ Tensor: every storage form (raw_data, typed fields, external data), all element types. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../../ir/errors.js';
import { dtypeFromOnnx, dtypeInfo, dtypeToOnnx, type DType, type NumericArray, type BigArray } from '../../ir/dtype.js';
import { fromBits, isMiniFloat, toBits } from '../../ir/floatfmt.js';
import { Tensor, checkAllocation } from '../../ir/tensor.js';
import { TensorProtoType } from './schema.js';
import { int64ToBigInt, int64ToNumber, type PTensor } from './proto-types.js';

export interface TensorDecodeOptions {
  /** Folder of the model file; external data is resolved inside it and nowhere else. */
  baseDir?: string;
}

const utf8 = new TextDecoder('utf-8');
const utf8enc = new TextEncoder();

export function elementTypeOf(code: number, what: string): DType {
  const dt = dtypeFromOnnx(code);
  if (dt === undefined) throw new KilnError('unsupported', `unsupported element type code ${code}`, { tensor: what });
  if (dt === 'c64' || dt === 'c128') throw new KilnError('unsupported', `unsupported element type ${dt === 'c64' ? 'complex64' : 'complex128'}`, { tensor: what });
  return dt;
}

export function decodeTensor(p: PTensor, opts: TensorDecodeOptions = {}): Tensor {
  const name = p.name || '<unnamed>';
  const dt = elementTypeOf(p.dataType, name);
  const shape = p.dims.map((d) => {
    const n = int64ToNumber(d);
    if (n < 0) throw new KilnError('invalid-model', `tensor has negative dimension ${n}`, { tensor: name });
    return n;
  });
  let n: number;
  try {
    n = checkAllocation(dt, shape);
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(e.code, e.message, { tensor: name });
    throw e;
  }
  const t = Tensor.zeros(dt, shape);
  let raw: Uint8Array | null = null;
  if (p.dataLocation === 1) raw = readExternal(p, opts.baseDir, name);
  else if (p.rawData && p.rawData.length > 0) raw = p.rawData;
  if (raw !== null) {
    decodeRaw(t, raw, name);
    return t;
  }
  decodeTyped(t, p, name);
  if (n > 0 && !hasTypedData(p)) throw new KilnError('invalid-model', `tensor has ${n} elements but no data`, { tensor: name });
  return t;
}

function hasTypedData(p: PTensor): boolean {
  return p.floatData.length + p.int32Data.length + p.stringData.length + p.int64Data.length + p.doubleData.length + p.uint64Data.length > 0;
}

function packedBytes(dt: DType, n: number): number {
  const bits = dtypeInfo(dt).bits;
  return Math.ceil((n * bits) / 8);
}

function decodeRaw(t: Tensor, raw: Uint8Array, name: string): void {
  const dt = t.dtype;
  const n = t.size;
  if (dt === 'string') throw new KilnError('invalid-model', 'string tensors cannot use raw_data', { tensor: name });
  const need = packedBytes(dt, n);
  if (raw.length !== need) throw new KilnError('invalid-model', `raw_data has ${raw.length} bytes, shape and type need ${need}`, { tensor: name });
  const bits = dtypeInfo(dt).bits;
  if (bits < 8) {
    const perByte = 8 / bits;
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
      throw new KilnError('unsupported', `unsupported element type ${dt} in raw_data`, { tensor: name });
  }
}

/** Stores an unsigned bit pattern of a sub-byte or 8/16-bit type at index i. */
function setFromBits(t: Tensor, i: number, u: number, bits: number): void {
  const dt = t.dtype;
  const d = t.data as NumericArray;
  if (isMiniFloat(dt) || dt === 'f16' || dt === 'bf16') d[i] = fromBits(dt, u);
  else if (dtypeInfo(dt).kind === 'int') d[i] = u >= 1 << (bits - 1) ? u - (1 << bits) : u;
  else if (dt === 'bool') d[i] = u ? 1 : 0;
  else d[i] = u;
}

function decodeTyped(t: Tensor, p: PTensor, name: string): void {
  const dt = t.dtype;
  const n = t.size;
  const check = (len: number, field: string): void => {
    if (len !== n) throw new KilnError('invalid-model', `${field} has ${len} values, shape needs ${n}`, { tensor: name });
  };
  const bits = dtypeInfo(dt).bits;
  switch (dt) {
    case 'f32':
      if (p.floatData.length === 0) return;
      check(p.floatData.length, 'float_data');
      (t.data as Float32Array).set(p.floatData);
      return;
    case 'f64':
      if (p.doubleData.length === 0) return;
      check(p.doubleData.length, 'double_data');
      (t.data as Float64Array).set(p.doubleData);
      return;
    case 'i64':
      if (p.int64Data.length === 0) return;
      check(p.int64Data.length, 'int64_data');
      for (let i = 0; i < n; i++) (t.data as BigInt64Array)[i] = BigInt.asIntN(64, int64ToBigInt(p.int64Data[i]));
      return;
    case 'u32':
    case 'u64':
      if (p.uint64Data.length === 0) return;
      check(p.uint64Data.length, 'uint64_data');
      for (let i = 0; i < n; i++) {
        const v = int64ToBigInt(p.uint64Data[i], true);
        if (dt === 'u64') (t.data as BigUint64Array)[i] = BigInt.asUintN(64, v);
        else (t.data as Uint32Array)[i] = Number(BigInt.asUintN(32, v));
      }
      return;
    case 'string':
      if (p.stringData.length === 0) return;
      check(p.stringData.length, 'string_data');
      for (let i = 0; i < n; i++) (t.data as string[])[i] = utf8.decode(new Uint8Array(p.stringData[i]!));
      return;
    default: {
      if (p.int32Data.length === 0) return;
      if (bits < 8) {
        const perWord = 8 / bits;
        const need = Math.ceil(n / perWord);
        if (p.int32Data.length !== need) throw new KilnError('invalid-model', `int32_data has ${p.int32Data.length} values, shape needs ${need}`, { tensor: name });
        const mask = (1 << bits) - 1;
        for (let i = 0; i < n; i++) setFromBits(t, i, (p.int32Data[Math.floor(i / perWord)]! >> ((i % perWord) * bits)) & mask, bits);
        return;
      }
      check(p.int32Data.length, 'int32_data');
      for (let i = 0; i < n; i++) {
        const v = p.int32Data[i]!;
        if (dt === 'f16' || dt === 'bf16' || isMiniFloat(dt)) (t.data as NumericArray)[i] = fromBits(dt, v & (bits === 16 ? 0xffff : 0xff));
        else t.setScalar(i, v);
      }
    }
  }
}

/** Resolves an external-data location inside the model's folder; anything leaving it is refused. */
export function resolveInside(baseDir: string, location: string, what: string): string {
  if (location === '' || path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || location.startsWith('\\')) {
    throw new KilnError('security', `external data path '${location}' must be relative to the model folder`, { tensor: what });
  }
  const base = fs.realpathSync(baseDir);
  const joined = path.resolve(base, location);
  const rel = path.relative(base, joined);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new KilnError('security', `external data path '${location}' leaves the model folder`, { tensor: what });
  }
  let real: string;
  try {
    real = fs.realpathSync(joined);
  } catch {
    throw new KilnError('io', `external data file '${location}' not found`, { tensor: what });
  }
  const relReal = path.relative(base, real);
  if (relReal.startsWith('..') || path.isAbsolute(relReal)) {
    throw new KilnError('security', `external data path '${location}' resolves outside the model folder (symlink)`, { tensor: what });
  }
  return real;
}

function readExternal(p: PTensor, baseDir: string | undefined, name: string): Uint8Array {
  const kv = new Map(p.externalData.map((e) => [e.key, e.value]));
  const location = kv.get('location');
  if (location === undefined) throw new KilnError('invalid-model', 'external data has no location', { tensor: name });
  if (baseDir === undefined) throw new KilnError('security', 'external data needs a model folder to resolve against', { tensor: name });
  const file = resolveInside(baseDir, location, name);
  const offset = kv.has('offset') ? Number(kv.get('offset')) : 0;
  const dt = elementTypeOf(p.dataType, name);
  const n = p.dims.reduce((a: number, d) => a * int64ToNumber(d), 1);
  const length = kv.has('length') ? Number(kv.get('length')) : packedBytes(dt, n);
  const size = fs.statSync(file).size;
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new KilnError('invalid-model', `external data range ${offset}+${length} is outside '${location}' (${size} bytes)`, { tensor: name });
  }
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, offset);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------- encoding ----------

/** Little-endian packed bytes of a tensor (ONNX raw_data layout). */
export function tensorToRaw(t: Tensor): Uint8Array {
  const dt = t.dtype;
  const n = t.size;
  if (dt === 'string') throw new KilnError('unsupported', 'string tensors have no raw form');
  const bits = dtypeInfo(dt).bits;
  const out = new Uint8Array(packedBytes(dt, n));
  if (bits < 8) {
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    for (let i = 0; i < n; i++) {
      const v = t.num(i);
      const u = isMiniFloat(dt) ? toBits(dt, v) : v & mask;
      out[Math.floor(i / perByte)]! |= (u & mask) << ((i % perByte) * bits);
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

/** A TensorProto message object for a tensor (raw_data form, strings in string_data). */
export function tensorToProto(t: Tensor, name = ''): Record<string, unknown> {
  const msg: Record<string, unknown> = { dims: t.shape.map((d) => d), dataType: dtypeToOnnx(t.dtype), name };
  if (t.dtype === 'string') msg.stringData = (t.data as string[]).map((s) => utf8enc.encode(s));
  else msg.rawData = tensorToRaw(t);
  return msg;
}

export function encodeTensor(t: Tensor, name = ''): Uint8Array {
  return TensorProtoType.encode(TensorProtoType.fromObject(tensorToProto(t, name))).finish();
}
