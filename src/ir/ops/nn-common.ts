/** Shared helpers for the nn ops: window/padding arithmetic, float64 views, output writing. */
import { KilnError } from '../errors.js';
import { isBig, type DType, type NumericArray } from '../dtype.js';
import { Tensor } from '../tensor.js';
import type { Dim, TensorType } from '../types.js';
import type { Attrs } from './registry.js';
export { toF64, fromF64, roundHalfEven } from './util.js';

export function shapeOf(t: TensorType | null): readonly Dim[] | null {
  return t === null ? null : t.shape;
}

export function isNum(d: Dim | undefined): d is number {
  return typeof d === 'number';
}

export interface WindowSpec {
  kernel: number[];
  strides: number[];
  dilations: number[];
}

/** Kernel/strides/dilations for nd spatial dims, from attributes with defaults. */
export function windowSpec(a: Attrs, nd: number, kernelFallback?: readonly Dim[] | null): WindowSpec {
  let kernel: number[] | undefined = a.optInts('kernel_shape')?.slice();
  if (!kernel) {
    if (kernelFallback && kernelFallback.every(isNum)) kernel = (kernelFallback as number[]).slice();
    else throw new KilnError('unsupported', 'unsupported unknown kernel shape');
  }
  if (kernel.length !== nd) throw new KilnError('type', `kernel_shape has ${kernel.length} dims, input has ${nd} spatial dims`);
  const strides = a.optInts('strides')?.slice() ?? new Array<number>(nd).fill(1);
  const dilations = a.optInts('dilations')?.slice() ?? new Array<number>(nd).fill(1);
  if (strides.length === 0) strides.push(...new Array<number>(nd).fill(1));
  if (dilations.length === 0) dilations.push(...new Array<number>(nd).fill(1));
  if (strides.length !== nd || dilations.length !== nd) throw new KilnError('type', 'strides/dilations length does not match the spatial rank');
  return { kernel, strides, dilations };
}

export interface Window {
  out: (number | null)[];
  pb: number[];
  pe: number[];
}

/**
 * Output spatial sizes and begin/end pads for a conv/pool window (auto_pad, pads, ceil_mode).
 * Unknown input dims give unknown output dims.
 */
export function resolveWindow(a: Attrs, inSp: readonly Dim[], w: WindowSpec, ceil: boolean): Window {
  const nd = inSp.length;
  const autoPad = a.string('auto_pad', 'NOTSET');
  const out: (number | null)[] = [];
  const pb: number[] = [];
  const pe: number[] = [];
  const pads = a.optInts('pads');
  if (autoPad === 'NOTSET' && pads && pads.length !== 2 * nd && pads.length !== 0) throw new KilnError('type', `pads has ${pads.length} values, expected ${2 * nd}`);
  for (let i = 0; i < nd; i++) {
    const inn = inSp[i];
    const s = w.strides[i]!;
    const dk = (w.kernel[i]! - 1) * w.dilations[i]! + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      if (!isNum(inn)) {
        out.push(null);
        pb.push(0);
        pe.push(0);
        continue;
      }
      const o = Math.ceil(inn / s);
      const total = Math.max(0, (o - 1) * s + dk - inn);
      const small = Math.floor(total / 2);
      const b = autoPad === 'SAME_UPPER' ? small : total - small;
      out.push(o);
      pb.push(b);
      pe.push(total - b);
    } else if (autoPad === 'VALID') {
      pb.push(0);
      pe.push(0);
      out.push(isNum(inn) ? Math.floor((inn - dk) / s) + 1 : null);
    } else if (autoPad === 'NOTSET') {
      const b = pads && pads.length ? pads[i]! : 0;
      const e = pads && pads.length ? pads[i + nd]! : 0;
      pb.push(b);
      pe.push(e);
      if (!isNum(inn)) {
        out.push(null);
        continue;
      }
      const q = (inn + b + e - dk) / s;
      let o: number;
      if (ceil) {
        o = Math.ceil(q) + 1;
        if ((o - 1) * s >= inn + b) o--;
      } else o = Math.floor(q) + 1;
      out.push(o);
    } else throw new KilnError('type', `bad auto_pad '${autoPad}'`);
    const o = out[i];
    if (o !== null && o !== undefined && o <= 0) throw new KilnError('type', `window produces empty output (dim ${i})`);
  }
  return { out, pb, pe };
}

export function staticOut(win: Window): number[] {
  return win.out.map((d) => {
    if (d === null) throw new KilnError('runtime', 'unknown output dim');
    return d;
  });
}

/** All multi-indices of a shape, flattened row-major (count × rank). */
export function multiIndices(shape: readonly number[]): Int32Array {
  const nd = shape.length;
  let n = 1;
  for (const d of shape) n *= d;
  const out = new Int32Array(n * nd);
  const cur = new Array<number>(nd).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < nd; j++) out[i * nd + j] = cur[j]!;
    for (let j = nd - 1; j >= 0; j--) {
      cur[j]!++;
      if (cur[j]! < shape[j]!) break;
      cur[j] = 0;
    }
  }
  return out;
}

export function prod(a: readonly number[]): number {
  let n = 1;
  for (const d of a) n *= d;
  return n;
}

export function requireStatic(shape: readonly number[] | readonly Dim[], what: string): number[] {
  if (!shape.every(isNum)) throw new KilnError('runtime', `${what} has unknown dims`);
  return shape as number[];
}
