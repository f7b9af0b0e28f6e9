/** Runtime tensors (typed arrays), sequences and empty optionals: what the interpreter computes on. */
import { dtypeInfo, isBig, type DType, type TensorData, type NumericArray, type BigArray } from './dtype.js';
import { roundToFormat, isMiniFloat } from './floatfmt.js';
import { KilnError } from './errors.js';
import type { ValueType } from './types.js';
import { MAX_RANK, tensorType } from './types.js';

export type Scalar = number | bigint | string;

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Wraps/rounds a number to what the element type can hold (sub-byte ints wrap, narrow floats round). */
export function normalizeNumber(dt: DType, x: number): number {
  switch (dt) {
    case 'bool':
      return x !== 0 && !Number.isNaN(x) ? 1 : 0;
    case 'i4':
      return wrapSigned(x, 4);
    case 'u4':
      return wrapUnsigned(x, 4);
    case 'i2':
      return wrapSigned(x, 2);
    case 'u2':
      return wrapUnsigned(x, 2);
    default:
      return isMiniFloat(dt) ? roundToFormat(dt, x) : x;
  }
}

function wrapUnsigned(x: number, bits: number): number {
  const m = 2 ** bits;
  const t = Math.trunc(x);
  return ((t % m) + m) % m;
}

function wrapSigned(x: number, bits: number): number {
  const u = wrapUnsigned(x, bits);
  return u >= 2 ** (bits - 1) ? u - 2 ** bits : u;
}

/** Default cap on a single tensor's bytes, so hostile shapes fail before allocation. */
export let maxTensorBytes = 4 * 1024 ** 3;
export function setMaxTensorBytes(n: number): void {
  maxTensorBytes = n;
}

/**
 * Checks a shape before anything is allocated for it: rank, dims, and bytes against the limit. An
 * empty tensor counts as if its zero dims were 1, so a shape like [0, 2^40] (no elements, but a
 * dim that loops and per-dim arrays would be sized by) is refused too.
 */
export function checkAllocation(dt: DType, shape: readonly number[]): number {
  if (shape.length > MAX_RANK) throw new KilnError('limit', `tensor rank ${shape.length} is over Kiln's limit of ${MAX_RANK}`);
  let extent = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new KilnError('runtime', `invalid dimension ${d} in shape [${shape.join(',')}]`);
    extent *= Math.max(1, d);
  }
  const n = shapeSize(shape);
  const elem = Math.max(1, dtypeInfo(dt).bits / 8);
  const bytes = Math.max(n, extent) * elem;
  if (bytes > maxTensorBytes) {
    throw new KilnError('limit', `tensor of shape [${shape.join(',')}] ${dt} needs ${n * elem} bytes${n === 0 ? ` (empty, but its dims span ${extent} elements)` : ''}, over the limit of ${maxTensorBytes}`);
  }
  return n;
}

export class Tensor {
  readonly kind = 'tensor' as const;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TensorData;
  /**
   * Set on a constant read back from text printed without its data (`dense<elided:…>`): the digest
   * of the bytes it stood for. Its `data` is zeros; commands that need the values refuse such a model.
   */
  elidedDigest: string | undefined = undefined;

  constructor(dtype: DType, shape: readonly number[], data: TensorData) {
    this.dtype = dtype;
    this.shape = shape;
    this.data = data;
    if (data.length !== shapeSize(shape)) {
      throw new KilnError('runtime', `tensor data has ${data.length} elements but shape [${shape.join(',')}] needs ${shapeSize(shape)}`);
    }
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  get type(): ValueType {
    return tensorType(this.dtype, this.shape);
  }

  static zeros(dtype: DType, shape: readonly number[]): Tensor {
    const n = checkAllocation(dtype, shape);
    return new Tensor(dtype, [...shape], dtypeInfo(dtype).alloc(n));
  }

  /** A placeholder for a constant whose data was elided when printed (see `elidedDigest`). */
  static elided(dtype: DType, shape: readonly number[], digest: string): Tensor {
    const t = Tensor.zeros(dtype, shape);
    t.elidedDigest = digest;
    return t;
  }

  /** Builds a tensor from JS values, normalizing each to the element type. */
  static from(dtype: DType, shape: readonly number[], values: ArrayLike<Scalar | boolean>): Tensor {
    const t = Tensor.zeros(dtype, shape);
    if (values.length !== t.size) {
      throw new KilnError('runtime', `expected ${t.size} values for shape [${shape.join(',')}], got ${values.length}`);
    }
    for (let i = 0; i < t.size; i++) t.setScalar(i, values[i]!);
    return t;
  }

  static scalar(dtype: DType, value: Scalar | boolean): Tensor {
    return Tensor.from(dtype, [], [value]);
  }

  /** Element i as a JS number (64-bit integers converted, may round above 2^53). */
  num(i: number): number {
    const v = this.data[i]!;
    return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Number(v);
  }

  /** Element i as a bigint (integer types only). */
  big(i: number): bigint {
    const v = this.data[i]!;
    return typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
  }

  get(i: number): Scalar {
    return this.data[i]!;
  }

  /** Stores a JS value at flat index i, converting to the element type. */
  setScalar(i: number, v: Scalar | boolean): void {
    const dt = this.dtype;
    if (dt === 'string') {
      (this.data as string[])[i] = String(v);
      return;
    }
    if (isBig(dt)) {
      const arr = this.data as BigArray;
      if (typeof v === 'bigint') arr[i] = v;
      else if (typeof v === 'boolean') arr[i] = v ? 1n : 0n;
      else {
        const n = Number(v);
        arr[i] = Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
      }
      return;
    }
    const n = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
    (this.data as NumericArray)[i] = normalizeNumber(dt, n);
  }

  /** All elements as numbers (bigints converted). */
  toNumbers(): number[] {
    const out = new Array<number>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.num(i);
    return out;
  }

  /** Integer elements as JS numbers, for shapes/axes/indices; refuses values beyond 2^53. */
  toIndexArray(): number[] {
    const out = new Array<number>(this.size);
    for (let i = 0; i < this.size; i++) {
      const v = this.data[i]!;
      out[i] = typeof v === 'bigint' ? clampBigToNumber(v) : Number(v);
    }
    return out;
  }

  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.dtype, [...shape], this.data);
  }
}

/** Large int64 sentinels (INT64_MAX for "to the end") are clamped to safe integers. */
export function clampBigToNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

export class SequenceValue {
  readonly kind = 'sequence' as const;
  constructor(
    readonly elemType: ValueType | null,
    readonly items: readonly RtValue[],
  ) {}
}

/** An optional that holds nothing. A present optional is represented by its value itself. */
export class NoneValue {
  readonly kind = 'none' as const;
  constructor(readonly type: ValueType | null) {}
}

export type RtValue = Tensor | SequenceValue | NoneValue;

export function isTensor(v: RtValue | undefined | null): v is Tensor {
  return v !== undefined && v !== null && v.kind === 'tensor';
}
