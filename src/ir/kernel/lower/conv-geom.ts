/**
 * Convolution geometry shared by the direct Conv/ConvTranspose lowering (nn-conv.ts) and its fast
 * paths (perf-conv.ts, perf-dwconv.ts), kept apart so those modules import it instead of each other.
 */

export interface ConvGeom {
  N: number;
  G: number;
  /** channels per group on the x side (input channels) and y side (output channels) */
  Cg: number;
  Mg: number;
  C: number;
  M: number;
  /** spatial extents the loops iterate (q) and the clipped partner extents (r) */
  qSp: number[];
  rSp: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  pb: number[];
  /** true: conv (y indexed by q, x by r); false: transpose (x indexed by q, y by r) */
  gather: boolean;
}

/** A 1-D or 2-D geometry as height/width extents (1-D: height 1), as the fast paths loop over them. */
export function planar(g: { readonly [K in 'qSp' | 'rSp' | 'kernel' | 'strides' | 'dilations' | 'pb']: readonly number[] }): { OH: number; OW: number; IH: number; IW: number; KH: number; KW: number; sh: number; sw: number; dh: number; dw: number; ph: number; pw: number } {
  const nd = g.qSp.length;
  const two = nd === 2;
  const at = (a: readonly number[], fallback: number): [number, number] => [two ? a[0]! : fallback, a[nd - 1]!];
  const [OH, OW] = at(g.qSp, 1);
  const [IH, IW] = at(g.rSp, 1);
  const [KH, KW] = at(g.kernel, 1);
  const [sh, sw] = at(g.strides, 1);
  const [dh, dw] = at(g.dilations, 1);
  const [ph, pw] = at(g.pb, 0);
  return { OH, OW, IH, IW, KH, KW, sh, sw, dh, dw, ph, pw };
}
