/** Value types of the graph IR: tensors with static/symbolic/unknown dims, sequences, optionals, maps. */
import type { DType } from './dtype.js';
import { KilnError } from './errors.js';

/**
 * Largest tensor rank Kiln accepts. Every tensor type and every runtime tensor is checked against
 * it, so code that builds per-dim arrays or loops over dims never sees a rank taken from hostile
 * data (a dim value, a shape tensor's length) that was not checked first.
 */
export const MAX_RANK = 64;

/** A dimension: a static size, a named symbol ("N", "batch"), or unknown (null, printed `?`). */
export type Dim = number | string | null;

/** Quantization annotation: per-tensor (one scale) or per-axis (one per slice along `axis`). */
export interface QuantParams {
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  readonly axis?: number;
  /** Element type of the zero point / the quantized storage. */
  readonly storage?: DType;
}

/** Where a tensor lives once placed: unset at graph level; backends and memory passes assign it. */
export type MemorySpace = string;

export interface TensorType {
  readonly kind: 'tensor';
  readonly dtype: DType;
  /** null when even the rank is unknown. */
  readonly shape: readonly Dim[] | null;
  readonly quant?: QuantParams;
  readonly space?: MemorySpace;
}

export interface SequenceType {
  readonly kind: 'sequence';
  /** null when the element type is not known yet. */
  readonly elem: ValueType | null;
}

export interface OptionalType {
  readonly kind: 'optional';
  readonly elem: ValueType | null;
}

export interface MapType {
  readonly kind: 'map';
  readonly key: DType;
  readonly value: ValueType;
}

export type ValueType = TensorType | SequenceType | OptionalType | MapType;

export function tensorType(dtype: DType, shape: readonly Dim[] | null, extra: { quant?: QuantParams; space?: MemorySpace } = {}): TensorType {
  if (shape !== null && shape.length > MAX_RANK) throw new KilnError('limit', `tensor rank ${shape.length} is over Kiln's limit of ${MAX_RANK}`);
  const t: { kind: 'tensor'; dtype: DType; shape: readonly Dim[] | null; quant?: QuantParams; space?: MemorySpace } = { kind: 'tensor', dtype, shape };
  if (extra.quant) t.quant = extra.quant;
  if (extra.space) t.space = extra.space;
  return t;
}

export function sequenceType(elem: ValueType | null): SequenceType {
  return { kind: 'sequence', elem };
}

export function optionalType(elem: ValueType | null): OptionalType {
  return { kind: 'optional', elem };
}

export function isStaticShape(shape: readonly Dim[] | null): shape is readonly number[] {
  return shape !== null && shape.every((d) => typeof d === 'number');
}

/** Number of elements when the shape is static, else undefined. */
export function staticSize(t: TensorType): number | undefined {
  if (!isStaticShape(t.shape)) return undefined;
  return t.shape.reduce((a, b) => a * b, 1);
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a === b && a !== null;
}

export function typesEqual(a: ValueType | null, b: ValueType | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'tensor': {
      const bt = b as TensorType;
      if (a.dtype !== bt.dtype) return false;
      if (a.shape === null || bt.shape === null) return a.shape === bt.shape;
      return a.shape.length === bt.shape.length && a.shape.every((d, i) => d === bt.shape![i]);
    }
    case 'sequence':
    case 'optional':
      return typesEqual(a.elem, (b as SequenceType | OptionalType).elem);
    case 'map': {
      const bm = b as MapType;
      return a.key === bm.key && typesEqual(a.value, bm.value);
    }
  }
}

/** Whether `actual` fits `declared` (unknown/symbolic declared dims accept anything). */
export function typeCompatible(declared: ValueType | null, actual: ValueType | null): boolean {
  if (declared === null || actual === null) return true;
  if (declared.kind !== actual.kind) return false;
  switch (declared.kind) {
    case 'tensor': {
      const at = actual as TensorType;
      if (declared.dtype !== at.dtype) return false;
      if (declared.shape === null || at.shape === null) return true;
      if (declared.shape.length !== at.shape.length) return false;
      return declared.shape.every((d, i) => typeof d !== 'number' || typeof at.shape![i] !== 'number' || d === at.shape![i]);
    }
    case 'sequence':
    case 'optional':
      return typeCompatible(declared.elem, (actual as SequenceType | OptionalType).elem);
    case 'map':
      return declared.key === (actual as MapType).key && typeCompatible(declared.value, (actual as MapType).value);
  }
}
