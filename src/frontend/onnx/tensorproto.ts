/** TensorProto ⇄ Tensor: every storage form (raw_data, typed fields, external data), all element types. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../../ir/errors.js';
import { dtypeFromOnnx, dtypeInfo, dtypeToOnnx, type DType, type NumericArray, type BigArray } from '../../ir/dtype.js';
import { fromBits, isMiniFloat, toBits } from '../../ir/floatfmt.js';
import { Tensor, checkAllocation } from '../../ir/tensor.js';
import { fillFromBytes, setFromBits, tensorToBytes, packedBytes } from '../../ir/rawdata.js';
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
    const need = packedBytes(dt, n);
    if (dt === 'string') throw new KilnError('invalid-model', 'string tensors cannot use raw_data', { tensor: name });
    if (raw.length !== need) throw new KilnError('invalid-model', `raw_data has ${raw.length} bytes, shape and type need ${need}`, { tensor: name });
    fillFromBytes(t, raw, true);
    return t;
  }
  decodeTyped(t, p, name);
  if (n > 0 && !hasTypedData(p)) throw new KilnError('invalid-model', `tensor has ${n} elements but no data`, { tensor: name });
  return t;
}

function hasTypedData(p: PTensor): boolean {
  return p.floatData.length + p.int32Data.length + p.stringData.length + p.int64Data.length + p.doubleData.length + p.uint64Data.length > 0;
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

/** A TensorProto message object for a tensor (raw_data form, strings in string_data). */
export function tensorToProto(t: Tensor, name = ''): Record<string, unknown> {
  const msg: Record<string, unknown> = { dims: t.shape.map((d) => d), dataType: dtypeToOnnx(t.dtype), name };
  if (t.dtype === 'string') msg.stringData = (t.data as string[]).map((s) => utf8enc.encode(s));
  else msg.rawData = tensorToBytes(t, true);
  return msg;
}

export function encodeTensor(t: Tensor, name = ''): Uint8Array {
  return TensorProtoType.encode(TensorProtoType.fromObject(tensorToProto(t, name))).finish();
}
