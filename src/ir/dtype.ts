/**
 * Element types. Kiln names follow MLIR style (f32, i8, u8, bf16, f8e4m3fn …); each carries its ONNX
 * TensorProto code, its width in bits and how the interpreter stores it.
 *
 * Storage: narrow floats (f16, bf16, f8*, f4e2m1) are held as Float32Array values that are exactly
 * representable in the narrow type; 64-bit integers as BigInt64Array/BigUint64Array; sub-byte
 * integers in Int8Array/Uint8Array; bool in Uint8Array (0/1); strings as string[].
 */

export type DType =
  | 'bool'
  | 'i2' | 'u2' | 'i4' | 'u4'
  | 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64'
  | 'f16' | 'bf16' | 'f32' | 'f64'
  | 'f8e4m3fn' | 'f8e4m3fnuz' | 'f8e5m2' | 'f8e5m2fnuz' | 'f8e8m0' | 'f4e2m1'
  | 'string' | 'c64' | 'c128';

export type DTypeKind = 'bool' | 'int' | 'uint' | 'float' | 'string' | 'complex';

export type NumericArray =
  | Float32Array | Float64Array
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
export type BigArray = BigInt64Array | BigUint64Array;
export type TensorData = NumericArray | BigArray | string[];

export interface DTypeInfo {
  readonly name: DType;
  readonly onnx: number;
  readonly bits: number;
  readonly kind: DTypeKind;
  /** Allocates storage for n elements. */
  readonly alloc: (n: number) => TensorData;
}

const f32 = (n: number) => new Float32Array(n);
const table: DTypeInfo[] = [
  { name: 'f32', onnx: 1, bits: 32, kind: 'float', alloc: f32 },
  { name: 'u8', onnx: 2, bits: 8, kind: 'uint', alloc: (n) => new Uint8Array(n) },
  { name: 'i8', onnx: 3, bits: 8, kind: 'int', alloc: (n) => new Int8Array(n) },
  { name: 'u16', onnx: 4, bits: 16, kind: 'uint', alloc: (n) => new Uint16Array(n) },
  { name: 'i16', onnx: 5, bits: 16, kind: 'int', alloc: (n) => new Int16Array(n) },
  { name: 'i32', onnx: 6, bits: 32, kind: 'int', alloc: (n) => new Int32Array(n) },
  { name: 'i64', onnx: 7, bits: 64, kind: 'int', alloc: (n) => new BigInt64Array(n) },
  { name: 'string', onnx: 8, bits: 0, kind: 'string', alloc: (n) => new Array<string>(n).fill('') },
  { name: 'bool', onnx: 9, bits: 8, kind: 'bool', alloc: (n) => new Uint8Array(n) },
  { name: 'f16', onnx: 10, bits: 16, kind: 'float', alloc: f32 },
  { name: 'f64', onnx: 11, bits: 64, kind: 'float', alloc: (n) => new Float64Array(n) },
  { name: 'u32', onnx: 12, bits: 32, kind: 'uint', alloc: (n) => new Uint32Array(n) },
  { name: 'u64', onnx: 13, bits: 64, kind: 'uint', alloc: (n) => new BigUint64Array(n) },
  { name: 'c64', onnx: 14, bits: 64, kind: 'complex', alloc: f32 },
  { name: 'c128', onnx: 15, bits: 128, kind: 'complex', alloc: (n) => new Float64Array(n) },
  { name: 'bf16', onnx: 16, bits: 16, kind: 'float', alloc: f32 },
  { name: 'f8e4m3fn', onnx: 17, bits: 8, kind: 'float', alloc: f32 },
  { name: 'f8e4m3fnuz', onnx: 18, bits: 8, kind: 'float', alloc: f32 },
  { name: 'f8e5m2', onnx: 19, bits: 8, kind: 'float', alloc: f32 },
  { name: 'f8e5m2fnuz', onnx: 20, bits: 8, kind: 'float', alloc: f32 },
  { name: 'u4', onnx: 21, bits: 4, kind: 'uint', alloc: (n) => new Uint8Array(n) },
  { name: 'i4', onnx: 22, bits: 4, kind: 'int', alloc: (n) => new Int8Array(n) },
  { name: 'f4e2m1', onnx: 23, bits: 4, kind: 'float', alloc: f32 },
  { name: 'f8e8m0', onnx: 24, bits: 8, kind: 'float', alloc: f32 },
  { name: 'u2', onnx: 25, bits: 2, kind: 'uint', alloc: (n) => new Uint8Array(n) },
  { name: 'i2', onnx: 26, bits: 2, kind: 'int', alloc: (n) => new Int8Array(n) },
];

const byName = new Map<string, DTypeInfo>(table.map((t) => [t.name, t]));
const byOnnx = new Map<number, DTypeInfo>(table.map((t) => [t.onnx, t]));

export const ALL_DTYPES: readonly DType[] = table.map((t) => t.name);

export function dtypeInfo(dt: DType): DTypeInfo {
  const info = byName.get(dt);
  if (!info) throw new Error(`unknown element type ${dt}`);
  return info;
}

export function isDType(s: string): s is DType {
  return byName.has(s);
}

/** ONNX TensorProto.DataType code → DType (undefined for unknown codes). */
export function dtypeFromOnnx(code: number): DType | undefined {
  return byOnnx.get(code)?.name;
}

export function dtypeToOnnx(dt: DType): number {
  return dtypeInfo(dt).onnx;
}

/** ONNX's spelling of an element type, for messages users compare with the ONNX spec. */
const onnxNames: Record<DType, string> = {
  f32: 'float', u8: 'uint8', i8: 'int8', u16: 'uint16', i16: 'int16', i32: 'int32', i64: 'int64',
  string: 'string', bool: 'bool', f16: 'float16', f64: 'double', u32: 'uint32', u64: 'uint64',
  c64: 'complex64', c128: 'complex128', bf16: 'bfloat16', f8e4m3fn: 'float8e4m3fn',
  f8e4m3fnuz: 'float8e4m3fnuz', f8e5m2: 'float8e5m2', f8e5m2fnuz: 'float8e5m2fnuz', u4: 'uint4',
  i4: 'int4', f4e2m1: 'float4e2m1', f8e8m0: 'float8e8m0', u2: 'uint2', i2: 'int2',
};
export function onnxTypeName(dt: DType): string {
  return onnxNames[dt];
}

export const isFloat = (dt: DType): boolean => dtypeInfo(dt).kind === 'float';
export const isInteger = (dt: DType): boolean => {
  const k = dtypeInfo(dt).kind;
  return k === 'int' || k === 'uint';
};
export const isSigned = (dt: DType): boolean => {
  const k = dtypeInfo(dt).kind;
  return k === 'int' || k === 'float';
};
export const isBig = (dt: DType): boolean => dt === 'i64' || dt === 'u64';
/** Bytes one element takes in packed (ONNX raw_data) form; sub-byte types round up per tensor. */
export const byteWidth = (dt: DType): number => Math.max(1, dtypeInfo(dt).bits / 8);

/** Range of an integer type as numbers (64-bit types are approximate; use bigintRange for them). */
export function intRange(dt: DType): [number, number] {
  const { bits, kind } = dtypeInfo(dt);
  if (kind === 'bool') return [0, 1];
  if (kind === 'uint') return [0, 2 ** bits - 1];
  return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

export function bigintRange(dt: DType): [bigint, bigint] {
  const { bits, kind } = dtypeInfo(dt);
  const b = BigInt(bits);
  if (kind === 'uint') return [0n, (1n << b) - 1n];
  return [-(1n << (b - 1n)), (1n << (b - 1n)) - 1n];
}
