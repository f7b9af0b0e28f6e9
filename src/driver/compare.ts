/** Comparing runtime values with expected ones: floats within rtol/atol, integers and strings exactly. */
import { isFloat } from '../ir/dtype.js';
import type { RtValue, Tensor } from '../ir/tensor.js';

export interface Tolerance {
  rtol: number;
  atol: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-5 };

/** null when equal, else a one-line description of the first difference. */
export function compareValues(actual: RtValue, expected: RtValue, tol: Tolerance = DEFAULT_TOLERANCE): string | null {
  if (expected.kind === 'none' || actual.kind === 'none') {
    return expected.kind === actual.kind ? null : `expected ${expected.kind === 'none' ? 'an empty optional' : 'a value'}, got ${actual.kind === 'none' ? 'an empty optional' : 'a value'}`;
  }
  if (expected.kind === 'sequence') {
    if (actual.kind !== 'sequence') return `expected a sequence, got a ${actual.kind}`;
    if (actual.items.length !== expected.items.length) return `sequence length ${actual.items.length}, expected ${expected.items.length}`;
    for (let i = 0; i < expected.items.length; i++) {
      const d = compareValues(actual.items[i]!, expected.items[i]!, tol);
      if (d) return `item ${i}: ${d}`;
    }
    return null;
  }
  if (actual.kind !== 'tensor') return `expected a tensor, got a ${actual.kind}`;
  return compareTensors(actual, expected, tol);
}

export function compareTensors(a: Tensor, e: Tensor, tol: Tolerance): string | null {
  if (a.shape.length !== e.shape.length || a.shape.some((d, i) => d !== e.shape[i])) {
    return `shape [${a.shape.join(',')}], expected [${e.shape.join(',')}]`;
  }
  if (a.dtype !== e.dtype) return `element type ${a.dtype}, expected ${e.dtype}`;
  const n = e.size;
  if (isFloat(e.dtype)) {
    for (let i = 0; i < n; i++) {
      const x = a.num(i);
      const y = e.num(i);
      if (Number.isNaN(y)) {
        if (!Number.isNaN(x)) return `at ${i}: ${x}, expected NaN`;
        continue;
      }
      if (x === y) continue;
      if (!(Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y))) return `at ${i}: ${x}, expected ${y} (rtol ${tol.rtol}, atol ${tol.atol})`;
    }
    return null;
  }
  for (let i = 0; i < n; i++) {
    if (a.get(i) !== e.get(i)) return `at ${i}: ${String(a.get(i))}, expected ${String(e.get(i))}`;
  }
  return null;
}

export interface ErrorStats {
  /** Largest |actual - expected| over the elements (0 when equal; null when not numeric or shapes differ). */
  maxAbsError: number | null;
  /** Largest |actual - expected| / |expected| over elements with expected != 0. */
  maxRelError: number | null;
}

/** Error statistics of a tensor (sequence items: the worst over the items) against the expected value. */
export function errorStats(actual: RtValue, expected: RtValue): ErrorStats {
  const none: ErrorStats = { maxAbsError: null, maxRelError: null };
  if (actual.kind === 'sequence' && expected.kind === 'sequence' && actual.items.length === expected.items.length) {
    const parts = actual.items.map((a, i) => errorStats(a, expected.items[i]!));
    if (parts.length === 0 || parts.some((p) => p.maxAbsError === null)) return none;
    return { maxAbsError: Math.max(...parts.map((p) => p.maxAbsError!)), maxRelError: Math.max(...parts.map((p) => p.maxRelError!)) };
  }
  if (actual.kind !== 'tensor' || expected.kind !== 'tensor' || actual.dtype === 'string' || expected.dtype === 'string') return none;
  if (actual.size !== expected.size || actual.shape.some((d, i) => d !== expected.shape[i])) return none;
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < expected.size; i++) {
    const x = actual.num(i);
    const y = expected.num(i);
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y);
    if (Number.isNaN(d)) return { maxAbsError: Number.NaN, maxRelError: Number.NaN };
    abs = Math.max(abs, d);
    if (y !== 0) rel = Math.max(rel, d / Math.abs(y));
  }
  return { maxAbsError: abs, maxRelError: rel };
}
