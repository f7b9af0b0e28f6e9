/**
 * GridSample attribute and shape parsing, shared by the reference interpreter (ops/nn-misc.ts) and
 * the lowering (kernel/lower/nn-image.ts). The sampling arithmetic stays with each side.
 */
import { KilnError } from '../../errors.js';
import type { Attrs } from '../registry.js';

export interface GridSampleConfig {
  mode: 'linear' | 'nearest' | 'cubic';
  /** padding_mode: 'zeros', 'border' or 'reflection' */
  padding: string;
  alignCorners: boolean;
  N: number;
  C: number;
  /** input spatial dims, output spatial dims, and row-major strides of the input's spatial dims */
  dims: number[];
  outSp: number[];
  strides: number[];
  /** per spatial dim: the unnormalized coordinate range the grid's [-1, 1] maps to */
  lo: number[];
  hi: number[];
}

export function gridSampleConfig(attrs: Attrs, opset: number, xShape: readonly number[], gShape: readonly number[]): GridSampleConfig {
  let mode = attrs.string('mode', opset >= 20 ? 'linear' : 'bilinear');
  if (mode === 'bilinear') mode = 'linear';
  if (mode === 'bicubic') mode = 'cubic';
  if (mode !== 'linear' && mode !== 'nearest' && mode !== 'cubic') throw new KilnError('type', `bad GridSample mode '${mode}'`);
  const alignCorners = attrs.int('align_corners', 0) !== 0;
  const dims = xShape.slice(2);
  const nd = dims.length;
  if (gShape[gShape.length - 1] !== nd || gShape.length !== xShape.length) throw new KilnError('type', 'GridSample grid shape does not match input');
  const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);
  return {
    mode,
    padding: attrs.string('padding_mode', 'zeros'),
    alignCorners,
    N: xShape[0]!,
    C: xShape[1]!,
    dims,
    outSp: gShape.slice(1, -1),
    strides: dims.map((_, i) => prod(dims.slice(i + 1))),
    lo: dims.map(() => (alignCorners ? 0 : -0.5)),
    hi: dims.map((d) => (alignCorners ? d - 1 : d - 0.5)),
  };
}
