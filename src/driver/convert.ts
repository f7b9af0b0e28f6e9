/**
 * `kiln convert`: one tensor between the formats users hand around: ONNX TensorProto (.pb, the test
 * data layout), NumPy (.npy) and raw little-endian element data (.bin/.raw: what the generated
 * harness reads and writes; reading it needs the element type and shape).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../ir/errors.js';
import { isDType, type DType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { fillFromBytes, storageBytes, tensorToBytes } from '../ir/rawdata.js';
import { decodeValue, encodeValue } from '../frontend/onnx/values.js';
import { decodeNpy, encodeNpy } from '../frontend/npy.js';
import { writeFileAtomic } from './output.js';

export type TensorFormat = 'pb' | 'npy' | 'raw';

export interface ConvertOptions {
  /** Element type of a raw input. */
  dtype?: string;
  /** Shape of a raw input. */
  shape?: readonly number[];
  /** Tensor name written into a .pb output (default: the input's name, or the output file's stem). */
  name?: string;
  /** Replace an existing output file. */
  force?: boolean;
}

export function formatOf(file: string): TensorFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.pb') return 'pb';
  if (ext === '.npy') return 'npy';
  if (ext === '.bin' || ext === '.raw') return 'raw';
  throw new KilnError('usage', `${file}: unknown tensor file type '${ext || '(none)'}' (known: .pb, .npy, .bin, .raw)`);
}

function readBytes(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KilnError('io', `cannot read '${file}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : code ?? 'error'}`);
  }
}

function readRaw(bytes: Uint8Array, file: string, opts: ConvertOptions): Tensor {
  if (opts.dtype === undefined || opts.shape === undefined) throw new KilnError('usage', `${file}: a raw tensor file needs --dtype and --shape`);
  if (!isDType(opts.dtype) || opts.dtype === 'string') throw new KilnError('usage', `--dtype '${opts.dtype}' is not a numeric element type (e.g. f32, i8, u8, i32, i64)`);
  const dtype: DType = opts.dtype;
  const n = opts.shape.reduce((a, b) => a * b, 1);
  const need = storageBytes(dtype, n);
  if (bytes.length !== need) throw new KilnError('usage', `${file} has ${bytes.length} bytes, ${dtype}[${opts.shape.join(',')}] needs ${need}`);
  const t = Tensor.zeros(dtype, opts.shape);
  fillFromBytes(t, bytes, false);
  return t;
}

/** Reads one tensor and its name ('' when the format has none). */
export function readTensorFile(file: string, opts: ConvertOptions = {}): { tensor: Tensor; name: string } {
  const fmt = formatOf(file);
  if (fmt !== 'raw' && (opts.dtype !== undefined || opts.shape !== undefined)) throw new KilnError('usage', `--dtype/--shape apply to raw (.bin/.raw) input, not ${file}`);
  const bytes = readBytes(file);
  if (bytes.length === 0 && fmt !== 'raw') throw new KilnError('parse', `${file}: empty file`);
  if (fmt === 'npy') return { tensor: decodeNpy(bytes, file), name: '' };
  if (fmt === 'raw') return { tensor: readRaw(bytes, file, opts), name: '' };
  const v = decodeValue(bytes, null, file);
  if (v.kind !== 'tensor') throw new KilnError('unsupported', `${file} holds a ${v.kind}, not a tensor`);
  return { tensor: v, name: '' };
}

/** Writes `t` in the format the file's extension names. */
export function encodeTensorFile(t: Tensor, file: string, name: string): Uint8Array {
  switch (formatOf(file)) {
    case 'pb': return encodeValue(t, null, name);
    case 'npy': return encodeNpy(t, file);
    case 'raw':
      if (t.dtype === 'string') throw new KilnError('unsupported', `${file}: string tensors have no raw form`);
      return tensorToBytes(t, false);
  }
}

export interface ConvertResult {
  dtype: DType;
  shape: number[];
  bytes: number;
}

export function convertTensorFile(input: string, output: string, opts: ConvertOptions = {}): ConvertResult {
  if (path.resolve(input) === path.resolve(output)) throw new KilnError('usage', `convert: input and output are the same file (${output})`);
  const outFmt = formatOf(output);
  if (fs.existsSync(output) && !opts.force) throw new KilnError('io', `${output} exists; pass --force to replace it`);
  const { tensor } = readTensorFile(input, opts);
  const name = opts.name ?? path.basename(output).replace(/\.[^.]*$/, '');
  const data = encodeTensorFile(tensor, output, outFmt === 'pb' ? name : '');
  writeFileAtomic(output, data);
  return { dtype: tensor.dtype, shape: [...tensor.shape], bytes: data.length };
}
