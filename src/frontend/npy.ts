/**
 * NumPy .npy tensors (format versions 1.0, 2.0 and 3.0 read; 1.0, or 2.0 for huge headers, written):
 * little-endian, C order. Fortran order, big-endian data and element types Kiln has no NumPy name
 * for are refused with one line.
 */
import { KilnError } from '../ir/errors.js';
import type { DType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { fillFromBytes, storageBytes, tensorToBytes } from '../ir/rawdata.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy type code (without byte-order mark) of each element type .npy can carry. */
const NPY_CODE: Partial<Record<DType, string>> = {
  bool: 'b1', i8: 'i1', u8: 'u1', i16: 'i2', u16: 'u2', i32: 'i4', u32: 'u4', i64: 'i8', u64: 'u8', f16: 'f2', f32: 'f4', f64: 'f8',
};
const BY_CODE = new Map<string, DType>(Object.entries(NPY_CODE).map(([k, v]) => [v, k as DType]));

function bad(file: string, what: string): KilnError {
  return new KilnError('parse', `${file}: ${what}`);
}

/** Decodes a .npy file's bytes; `file` names it in errors. */
export function decodeNpy(bytes: Uint8Array, file: string): Tensor {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) throw bad(file, 'not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw bad(file, `.npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0, 3.0 are)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw bad(file, 'truncated .npy header');
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes + hlen;
  if (bytes.length < start) throw bad(file, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lenBytes, start));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(file, 'malformed .npy header (wants descr, fortran_order and shape)');
  if (fortran === 'True') throw new KilnError('unsupported', `${file}: fortran_order arrays are not supported; save it in C order (numpy.ascontiguousarray)`);
  const order = descr[0];
  const code = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  const dtype = BY_CODE.get(code);
  if (!dtype) throw new KilnError('unsupported', `${file}: .npy element type '${descr}' is not supported (known: ${[...BY_CODE.keys()].join(', ')})`);
  if (order === '>' && !code.endsWith('1')) throw new KilnError('unsupported', `${file}: big-endian .npy data ('${descr}') is not supported; save it little-endian (astype('<${code}'))`);
  const dims = shapeText.split(',').map((s) => s.trim()).filter(Boolean);
  if (dims.some((d) => !/^\d+L?$/.test(d))) throw bad(file, `malformed .npy shape (${shapeText})`);
  const shape = dims.map((d) => Number(d.replace(/L$/, '')));
  const n = shape.reduce((a, b) => a * b, 1);
  const need = storageBytes(dtype, n);
  if (bytes.length - start !== need) throw bad(file, `.npy data has ${bytes.length - start} bytes, ${dtype}[${shape.join(',')}] needs ${need}`);
  const t = Tensor.zeros(dtype, shape);
  fillFromBytes(t, bytes.subarray(start), false);
  return t;
}

/** Encodes a tensor as .npy (version 1.0, or 2.0 when the header does not fit 1.0's 16-bit length). */
export function encodeNpy(t: Tensor, what: string): Uint8Array {
  const code = NPY_CODE[t.dtype];
  if (!code) throw new KilnError('unsupported', `${what}: element type ${t.dtype} has no .npy equivalent (known: ${Object.keys(NPY_CODE).join(', ')})`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  const dict = `{'descr': '${code.endsWith('1') ? '|' : '<'}${code}', 'fortran_order': False, 'shape': ${shape}, }`;
  let major = 1;
  let pre = 10;
  // the whole header (magic to newline) is padded with spaces to a multiple of 64 bytes
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    major = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const header = dict.padEnd(total - pre - 1, ' ') + '\n';
  const data = tensorToBytes(t, false);
  const out = new Uint8Array(total + data.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(data, total);
  return out;
}
