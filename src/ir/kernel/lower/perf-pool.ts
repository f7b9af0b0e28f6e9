/**
 * Fast path for float MaxPool (without Indices) and AveragePool over 1-D/2-D windows without
 * dilation: outputs whose whole window lies inside the input are computed by a loop over
 * contiguous output columns with the window taps written out, so it vectorizes; the border outputs
 * use clipped window loops. Results are those of the generic lowering: MaxPool skips NaN inputs
 * and gives NaN for a window of only NaNs (or no taps); AveragePool divides by the tap count
 * (count_include_pad counts the padded taps).
 */
import { add, cast, div, gt, idx, load, max, min, mul, ne, or, select, sub } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { constOf } from './common.js';

export interface FastPoolSpec {
  kind: 'max' | 'avg';
  x: KBuffer;
  y: KBuffer;
  t: ScalarType;
  /** spatial extents (1-D pools use OH = IH = KH = 1) */
  NC: number;
  IH: number;
  IW: number;
  OH: number;
  OW: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  /** end pads (for count_include_pad) */
  peh: number;
  pew: number;
  countPad: boolean;
}

const MAX_TAPS = 64;

export function fastPoolApplies(t: ScalarType, KH: number, KW: number): boolean {
  return (t === 'f32' || t === 'f64') && KH * KW <= MAX_TAPS;
}

/** [lo, hi) of outputs o in [0, O) whose window o*s - p + [0, k) lies in [0, I). */
function interior(O: number, I: number, k: number, s: number, p: number): [number, number] {
  const lo = Math.min(O, Math.ceil(p / s));
  const hi = Math.max(lo, Math.min(O, Math.floor((I - k + p) / s) + 1));
  return [lo, hi];
}

export function emitFastPool(kb: KernelBuilder, f: FastPoolSpec): void {
  const { t, x, y } = f;
  const nIn = f.IH * f.IW;
  const nOut = f.OH * f.OW;
  const [rLo, rHi] = interior(f.OH, f.IH, f.KH, f.sh, f.ph);
  const [cLo, cHi] = interior(f.OW, f.IW, f.KW, f.sw, f.pw);
  const step = (acc: Expr, v: Expr): Expr => (f.kind === 'max' ? select(or(gt(v, acc), ne(acc, acc)), v, acc) : add(acc, v));
  const init = (): Expr => constOf(t, f.kind === 'max' ? NaN : 0);
  kb.for(0, f.NC, (nc) => {
    const xb = kb.let('index', mul(nc, idx(nIn)), 'xb');
    const yb = kb.let('index', mul(nc, idx(nOut)), 'yb');
    // one output with clipped window ranges
    const border = (oh: Expr, ow: Expr): void => {
      const hs = kb.let('index', sub(mul(oh, idx(f.sh)), idx(f.ph)), 'hs');
      const ws = kb.let('index', sub(mul(ow, idx(f.sw)), idx(f.pw)), 'ws');
      const khLo = kb.let('index', max(idx(0), sub(idx(0), hs)), 'klo');
      const khHi = kb.let('index', max(khLo, min(idx(f.KH), sub(idx(f.IH), hs))), 'khi');
      const kwLo = kb.let('index', max(idx(0), sub(idx(0), ws)), 'klo');
      const kwHi = kb.let('index', max(kwLo, min(idx(f.KW), sub(idx(f.IW), ws))), 'khi');
      const acc = kb.let(t, init(), 'acc');
      kb.for(khLo, khHi, (kh) => {
        const xr = kb.let('index', add(xb, add(mul(add(hs, kh), idx(f.IW)), ws)), 'xr');
        kb.for(kwLo, kwHi, (kw) => kb.set(acc, step(acc, cast(load(x, add(xr, kw)), t))));
      });
      let r: Expr = acc;
      if (f.kind === 'avg') {
        const cnt = f.countPad
          ? mul(max(idx(0), min(idx(f.KH), sub(idx(f.IH + f.peh), hs))), max(idx(0), min(idx(f.KW), sub(idx(f.IW + f.pew), ws))))
          : mul(sub(khHi, khLo), sub(kwHi, kwLo));
        r = div(acc, cast(cnt, t));
      }
      kb.store(y, add(yb, add(mul(oh, idx(f.OW)), ow)), r);
    };
    const inner = (oh: Expr): void => {
      const xr = kb.let('index', add(xb, mul(sub(mul(oh, idx(f.sh)), idx(f.ph)), idx(f.IW))), 'xr');
      const yr = kb.let('index', add(yb, mul(oh, idx(f.OW))), 'yr');
      kb.for(cLo, cHi, (ow) => {
        const base = kb.let('index', add(xr, sub(mul(ow, idx(f.sw)), idx(f.pw))), 'xo');
        let acc: Expr | null = null;
        for (let kh = 0; kh < f.KH; kh++) {
          for (let kw = 0; kw < f.KW; kw++) {
            const v = kb.let(t, cast(load(x, add(base, idx(kh * f.IW + kw))), t), 'v');
            // every partial result is a named local, so the select never duplicates a subtree
            acc = kb.let(t, acc === null ? v : step(acc, v), 'm');
          }
        }
        const r = f.kind === 'avg' ? div(acc!, constOf(t, f.KH * f.KW)) : acc!;
        kb.store(y, add(yr, ow), r);
      });
    };
    const allBorder = (oh: Expr): void => kb.for(0, f.OW, (ow) => border(oh, ow));
    if (cHi <= cLo || rHi <= rLo) {
      kb.for(0, f.OH, allBorder);
      return;
    }
    // border rows, interior rows, border rows as three loops (a row test inside one loop made GCC
    // guess the interior branch never taken and leave its loop scalar as cold code)
    if (rLo > 0) kb.for(0, rLo, allBorder);
    kb.for(rLo, rHi, (oh) => {
      if (cLo > 0) kb.for(0, cLo, (ow) => border(oh, ow));
      inner(oh);
      if (cHi < f.OW) kb.for(cHi, f.OW, (ow) => border(oh, ow));
    });
    if (rHi < f.OH) kb.for(rHi, f.OH, allBorder);
  });
}
