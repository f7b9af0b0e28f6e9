/** C spellings of Kiln scalar types: storage type in memory, value type in expressions. */
import { KilnError } from '../../ir/errors.js';
import type { ScalarType } from '../../ir/kernel/types.js';

/** How a buffer element is stored (narrow floats as their bit patterns, sub-byte ints one per byte). */
export function storageCType(t: ScalarType): string {
  switch (t) {
    case 'f32': return 'float';
    case 'f64': return 'double';
    case 'i8': case 'i4': case 'i2': return 'int8_t';
    case 'u8': case 'u4': case 'u2': case 'bool': return 'uint8_t';
    case 'i16': return 'int16_t';
    case 'u16': return 'uint16_t';
    case 'i32': case 'index': return 'int32_t';
    case 'u32': return 'uint32_t';
    case 'i64': return 'int64_t';
    case 'u64': return 'uint64_t';
    case 'f16': case 'bf16': return 'uint16_t';
    case 'f8e4m3fn': case 'f8e4m3fnuz': case 'f8e5m2': case 'f8e5m2fnuz': case 'f8e8m0': case 'f4e2m1': return 'uint8_t';
  }
}

/** The C type of a value of type t inside an expression (narrow floats compute as float). */
export function valueCType(t: ScalarType): string {
  if (isNarrowFloat(t)) return 'float';
  return storageCType(t);
}

export function isNarrowFloat(t: ScalarType): boolean {
  return t === 'f16' || t === 'bf16' || t.startsWith('f8') || t === 'f4e2m1';
}

export function isFloatC(t: ScalarType): boolean {
  return t === 'f32' || t === 'f64' || isNarrowFloat(t);
}

export function isSignedInt(t: ScalarType): boolean {
  return t === 'i8' || t === 'i16' || t === 'i32' || t === 'i64' || t === 'i4' || t === 'i2' || t === 'index';
}

export function isUnsignedInt(t: ScalarType): boolean {
  return t === 'u8' || t === 'u16' || t === 'u32' || t === 'u64' || t === 'u4' || t === 'u2' || t === 'bool';
}

/** Unsigned type of the same width, for wrapping arithmetic without undefined behaviour. */
export function unsignedOf(t: ScalarType): string {
  switch (storageCType(t)) {
    case 'int8_t': case 'uint8_t': return 'uint8_t';
    case 'int16_t': case 'uint16_t': return 'uint16_t';
    case 'int32_t': case 'uint32_t': return 'uint32_t';
    case 'int64_t': case 'uint64_t': return 'uint64_t';
    default: throw new KilnError('type', `no unsigned counterpart for ${t}`);
  }
}

/** Short suffix naming a type in helper function names (kiln_div_i32 …). */
export function typeTag(t: ScalarType): string {
  if (t === 'index') return 'i32';
  if (t === 'i4' || t === 'i2') return 'i8';
  if (t === 'u4' || t === 'u2' || t === 'bool') return 'u8';
  return t;
}
