/**
 * Fast path for float depthwise Conv (group == C_in == C_out, 1-D or 2-D): per channel, the weights
 * are loaded into locals once; output rows whose window rows all lie inside the input run a loop
 * over contiguous output columns with every kernel tap written out (no padding checks), which GCC
 * vectorizes; the border columns of those rows and the border rows check each tap. Per output the
 * sum is bias + Σ taps in (kh, kw) order, skipping padded taps, as in the generic loop nest.
 */
import { add, and, cast, div, ge, idx, load, lt, mul, sub } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { constOf } from './common.js';
import { planar, type ConvGeom } from './conv-geom.js';

/** Most kernel taps written out per output (7×7). */
const MAX_TAPS = 49;
/** Most border rows at either end written out one by one (more: a loop of checked outputs). */
const MAX_BORDER_ROWS = 3;

export function dwConvApplies(g: ConvGeom, xT: ScalarType, outT: ScalarType, accT: ScalarType): boolean {
  const nd = g.qSp.length;
  if (!g.gather || nd < 1 || nd > 2) return false;
  if (accT !== 'f32' && accT !== 'f64') return false;
  if (xT !== accT || outT !== accT) return false;
  return g.Cg === 1 && g.Mg === 1 && g.G === g.C && g.kernel.reduce((a, b) => a * b, 1) <= MAX_TAPS;
}

/** [lo, hi) of outputs o in [0, O) whose taps o*s - p + k*d (k < K) all lie in [0, I). */
function interior(O: number, I: number, K: number, s: number, p: number, d: number): [number, number] {
  const span = (K - 1) * d + 1;
  const lo = Math.min(O, Math.ceil(p / s));
  const hi = Math.max(lo, Math.min(O, Math.floor((I - span + p) / s) + 1));
  return [lo, hi];
}

export function emitDwConv(ctx: LowerContext, g: ConvGeom, x: KBuffer, w: KBuffer, bias: KBuffer | null, out: KBuffer, accT: ScalarType): void {
  const two = g.qSp.length === 2;
  const { OH, OW, IH, IW, KH, KW, sh, sw, dh, dw, ph, pw } = planar(g);
  const nX = IH * IW;
  const nY = OH * OW;
  const nK = KH * KW;
  const [rLo, rHi] = interior(OH, IH, KH, sh, ph, dh);
  const [cLo, cHi] = interior(OW, IW, KW, sw, pw, dw);
  ctx.kernel((kb: KernelBuilder) => {
    kb.for(0, g.N * g.C, (nc) => {
      const c = g.N === 1 ? nc : kb.let('index', sub(nc, mul(idx(g.C), div(nc, idx(g.C)))), 'c');
      const xb = kb.let('index', mul(nc, idx(nX)), 'xb');
      const yb = kb.let('index', mul(nc, idx(nY)), 'yb');
      const wb = kb.let('index', mul(c, idx(nK)), 'wb');
      const ws: Expr[] = [];
      for (let k = 0; k < nK; k++) ws.push(kb.let(accT, cast(load(w, add(wb, idx(k))), accT), 'w'));
      const b0 = kb.let(accT, bias ? cast(load(bias, c), accT) : constOf(accT, 0), 'b');
      // one output, checking every tap against the input bounds
      const border = (oh: Expr, ow: Expr): void => {
        const hs = kb.let('index', sub(mul(oh, idx(sh)), idx(ph)), 'hs');
        const wsx = kb.let('index', sub(mul(ow, idx(sw)), idx(pw)), 'ws');
        const acc = kb.let(accT, b0, 'acc');
        for (let kh = 0; kh < KH; kh++) {
          const ih = kh * dh === 0 ? hs : kb.let('index', add(hs, idx(kh * dh)), 'ih');
          const inH = and(ge(ih, idx(0)), lt(ih, idx(IH)));
          const tapsW = (): void => {
            const xr = kb.let('index', add(xb, mul(ih, idx(IW))), 'xr');
            for (let kw = 0; kw < KW; kw++) {
              const iw = kw * dw === 0 ? wsx : add(wsx, idx(kw * dw));
              kb.if(and(ge(iw, idx(0)), lt(iw, idx(IW))), () => kb.set(acc, add(acc, mul(ws[kh * KW + kw]!, cast(load(x, add(xr, iw)), accT)))));
            }
          };
          if (two) kb.if(inH, tapsW);
          else tapsW();
        }
        kb.store(out, add(yb, add(mul(oh, idx(OW)), ow)), acc);
      };
      // a row's outputs from column cLo to cHi, with the taps of kernel rows khs only (all inside)
      const inner = (oh: Expr, khs: readonly number[]): void => {
        const xr = kb.let('index', add(xb, sub(mul(sub(mul(oh, idx(sh)), idx(ph)), idx(IW)), idx(pw))), 'xr');
        const yr = kb.let('index', add(yb, mul(oh, idx(OW))), 'yr');
        kb.for(cLo, cHi, (ow) => {
          const base = kb.let('index', add(xr, mul(ow, idx(sw))), 'xo');
          let acc: Expr = b0;
          for (const kh of khs) {
            for (let kw = 0; kw < KW; kw++) {
              acc = add(acc, mul(ws[kh * KW + kw]!, cast(load(x, add(base, idx(kh * dh * IW + kw * dw))), accT)));
            }
          }
          kb.store(out, add(yr, ow), acc);
        });
      };
      const allBorder = (oh: Expr): void => kb.for(0, OW, (ow) => border(oh, ow));
      if (cHi <= cLo || rHi <= rLo) {
        kb.for(0, OH, allBorder);
        return;
      }
      const allRows = Array.from({ length: KH }, (_, kh) => kh);
      const row = (oh: Expr, khs: readonly number[]): void => {
        if (cLo > 0) kb.for(0, cLo, (ow) => border(oh, ow));
        inner(oh, khs);
        if (cHi < OW) kb.for(cHi, OW, (ow) => border(oh, ow));
      };
      // a few border rows one by one: their interior columns skip the kernel rows outside the input
      // (known here), so they too are a loop without tests
      const borderRows = (lo: number, hi: number): void => {
        if (hi - lo > MAX_BORDER_ROWS) {
          kb.for(lo, hi, allBorder);
          return;
        }
        for (let oh = lo; oh < hi; oh++) {
          const khs = allRows.filter((kh) => oh * sh - ph + kh * dh >= 0 && oh * sh - ph + kh * dh < IH);
          if (khs.length === 0) allBorder(idx(oh));
          else row(idx(oh), khs);
        }
      };
      // border rows, interior rows, border rows as separate loops: a row test inside one loop over
      // all rows made GCC guess the interior branch never taken (and leave its loop scalar as cold)
      borderRows(0, rLo);
      kb.for(rLo, rHi, (oh) => row(oh, allRows));
      borderRows(rHi, OH);
    });
  });
}
