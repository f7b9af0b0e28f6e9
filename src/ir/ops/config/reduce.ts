/**
 * Attribute parsing for the reductions and the Softmax family, shared by the reference interpreter
 * (ops/reduce.ts) and the lowerings (kernel/lower/reduce-basic.ts). The accumulation itself stays
 * with each side.
 */
import { KilnError } from '../../errors.js';
import type { Attrs } from '../registry.js';
import { normAxis } from '../util.js';
import { normAxes, prod } from '../reduce-util.js';

/** Opset from which a Reduce* op takes its axes as input 1 instead of an attribute. */
export function reduceAxesInputFrom(opType: string): number {
  return opType === 'ReduceSum' ? 13 : 18;
}

/** Whether empty axes mean "no reduction" (an identity) rather than "reduce everything". */
export function noopWithEmptyAxes(attrs: Attrs, opset: number, opType: string): boolean {
  return opset >= reduceAxesInputFrom(opType) && attrs.int('noop_with_empty_axes', 0) !== 0;
}

/** The normalized axes a reduction folds: every axis when none are given. */
export function reducedAxes(axes: readonly number[], rank: number): number[] {
  return axes.length === 0 ? Array.from({ length: rank }, (_, i) => i) : normAxes(axes, rank);
}

/** ArgMax/ArgMin: the normalized axis and the flags. */
export function argReduceConfig(attrs: Attrs, rank: number): { axis: number; keepdims: boolean; selectLastIndex: boolean } {
  return {
    axis: normAxis(attrs.int('axis', 0), rank),
    keepdims: attrs.int('keepdims', 1) !== 0,
    selectLastIndex: attrs.int('select_last_index', 0) !== 0,
  };
}

/** (outer, len, inner) of Softmax's normalized slices: coerced 2-D before opset 13, one axis after. */
export function softmaxLayout(shape: readonly number[], opset: number, axisAttr: number | undefined): [number, number, number] {
  const rank = shape.length;
  if (opset < 13) {
    let a = axisAttr ?? 1;
    if (a < 0) a += rank;
    if (a < 0 || a > rank) throw new KilnError('type', `axis ${axisAttr} is out of range for rank ${rank}`);
    return [prod(shape, 0, a), prod(shape, a), 1];
  }
  const a = normAxis(axisAttr ?? -1, rank);
  return [prod(shape, 0, a), shape[a]!, prod(shape, a + 1)];
}
