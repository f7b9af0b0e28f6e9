/**
 * Resize/Upsample attribute parsing, shared by the reference interpreter (ops/nn-resize.ts) and the
 * lowering (kernel/lower/nn-resize.ts). The interpolation itself stays with each side.
 */
import { KilnError } from '../../errors.js';
import type { Attrs } from '../registry.js';

export interface ResizeOpts {
  mode: 'nearest' | 'linear' | 'cubic';
  ctm: string;
  nearestMode: string;
  cubicA: number;
  excludeOutside: boolean;
  extrapolation: number;
  antialias: boolean;
  /** opset-10 / Upsample nearest: floor for upsampling, ceil for downsampling */
  simpleNearest: boolean;
}

/** Reads the interpolation options; Upsample and Resize before opset 11 have fixed ones. */
export function resizeOptions(a: Attrs, opset: number, upsample: boolean): ResizeOpts {
  const modeRaw = a.string('mode', 'nearest');
  const mode = modeRaw === 'bilinear' || modeRaw === 'trilinear' ? 'linear' : modeRaw;
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'cubic') throw new KilnError('type', `bad Resize mode '${modeRaw}'`);
  if (upsample && mode === 'cubic') throw new KilnError('type', 'Upsample does not support cubic');
  const old = upsample || opset < 11;
  const o: ResizeOpts = {
    mode,
    ctm: old ? 'asymmetric' : a.string('coordinate_transformation_mode', 'half_pixel'),
    nearestMode: old ? 'floor' : a.string('nearest_mode', 'round_prefer_floor'),
    cubicA: old ? -0.75 : a.float('cubic_coeff_a', -0.75),
    excludeOutside: !old && a.int('exclude_outside', 0) !== 0,
    extrapolation: old ? 0 : a.float('extrapolation_value', 0),
    antialias: opset >= 18 && !old && a.int('antialias', 0) !== 0,
    simpleNearest: old,
  };
  if (o.antialias && mode === 'nearest') throw new KilnError('unsupported', 'unsupported Resize antialias with nearest mode');
  return o;
}
