/**
 * Fast path for QLinearConv with 1 or 2 spatial dims (any groups, depthwise included), keeping the
 * arithmetic of the generic loop nest bit for bit: each output is bias + Σ (x - x_zp)·(w - w_zp)
 * in wrapping i32 (so the summation order is free) and is requantized by the same sequence
 * (integer multiplier and shift, src/ir/kernel/lower/requant.ts, or f64 with kiln.requant=float).
 *
 * Per group, R output channels at a time, tiles of W output positions keep their sums in a u32
 * scratch (R·W, at most 256 bytes, the only scratch); every tap (c, kh, kw) is a loop over the W
 * positions updating the R rows, so the innermost loop runs over contiguous input with a constant
 * trip count, which a loop vectorizer takes for any kernel size. Where every tap lies inside the
 * input the input zero point leaves the loop: Σ (x - xz)·w' = Σ x·w' - xz·Σ w', the second term
 * folded into the tile's initial value once per channel block. Stride 1: the interior is one run
 * of positions oh·IW + ow across rows (those with ow outside the interior columns read inside the
 * image and are not stored). Strided: row tiles; tiles shorter than `minLoop` keep their sums in
 * locals (register blocking). Border rows and columns are tiles too, with the row's (column's)
 * clipped kernel range; only the corners go one output at a time. Requantization runs over the
 * scratch in place, then the results are copied out.
 *
 * Two shapes take other routes: stride-1 grouped layers over small images (depthwise 3×3 on kws's
 * 25×5) first copy each group's input into a plane padded with the input zero point, so that all
 * of the outputs are interior; and one-group layers with no position loop long enough to
 * vectorize (narrow or strided images) loop over a block of output channels instead
 * (`emitQConvChannels`).
 */
import { Tensor } from '../../tensor.js';
import { add, and, cast, div, ge, idx, lit, load, lt, max, min, mod, mul, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { clip } from './nn-conv.js';
import { planar } from './conv-geom.js';
import { requantize, type RequantTable } from './requant.js';

/**
 * Tile shape: `ocs` output channels per block and `cols` output positions per tile (their sums in a
 * u32 scratch of ocs·cols). The positions' loop is the innermost one of every tap and must stay a
 * loop for a loop vectorizer to take it: GCC 12 at -O3 peels loops of at most 16 iterations into
 * straight code, where its SLP vectorizer then gave up on every tile with several taps.
 */
export interface QConvTile {
  ocs: number;
  cols: number;
  /**
   * Tiles of fewer positions keep their sums in locals, every tap unrolled over the positions
   * (register blocking): a loop that short is peeled into straight code anyway.
   */
  minLoop: number;
}
/**
 * The default tile: 64 sums (256 bytes of scratch, as before), one channel per block, loops of up
 * to 64 positions; GCC 12 peels loops of up to 16 iterations (its max-completely-peel-times). On
 * this host (gcc 12, -march=native with AVX-512) one channel of 64 beat two of 32 on all three int8
 * CNN samples in wall time, though not in callgrind's AVX2 instruction counts for resnet8.
 */
export const DEFAULT_QCONV_TILE: QConvTile = { ocs: 1, cols: 64, minLoop: 17 };

/** Largest padded input plane (one group's channels, bytes of int8) a stride-1 QLinearConv copies its input into. */
const PAD_PLANE_BYTES = 512;
/** Most tiles of a flat run whose code is unrolled (see the flat branch of `emitQConv`). */
const MAX_UNROLLED_TILES = 4;

export interface QConvSpec {
  x: KBuffer;
  w: KBuffer;
  y: KBuffer;
  bias: KBuffer | null;
  xsc: KBuffer;
  xzp: KBuffer | null;
  wsc: KBuffer;
  wzp: KBuffer | null;
  ysc: KBuffer;
  yzp: KBuffer | null;
  N: number;
  G: number;
  Cg: number;
  Mg: number;
  inSp: readonly number[];
  outSp: readonly number[];
  kernel: readonly number[];
  strides: readonly number[];
  dilations: readonly number[];
  padsBegin: readonly number[];
  qlo: number;
  qhi: number;
  /** integer requantization (src/ir/kernel/lower/requant.ts); null keeps the f64 sequence */
  rq: RequantTable | null;
  /** tile shape (DEFAULT_QCONV_TILE when absent) */
  tile?: QConvTile;
}

export function qconvFastApplies(s: QConvSpec): boolean {
  const nd = s.inSp.length;
  return nd >= 1 && nd <= 2 && s.outSp.every((d) => d > 0);
}

/** [lo, hi) of outputs o in [0, O) whose taps o*s - p + k*d (k < K) all lie in [0, I). */
function interior(O: number, I: number, K: number, s: number, p: number, d: number): [number, number] {
  const span = (K - 1) * d + 1;
  const lo = Math.min(O, Math.ceil(p / s));
  const hi = Math.max(lo, Math.min(O, Math.floor((I - span + p) / s) + 1));
  return [lo, hi];
}

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/**
 * The value shared by every element of a constant buffer, else null. A per-channel weight zero
 * point that is the same for every channel (usually 0) then is one literal: GCC's SLP vectorizer
 * gave up on tiles whose rows subtract different zero points.
 */
function uniformConst(b: KBuffer): number | null {
  if (b.role !== 'const' || !b.data || b.data.size === 0) return null;
  const v0 = b.data.get(0);
  if (typeof v0 !== 'number') return null;
  for (let i = 1; i < b.data.size; i++) if (b.data.get(i) !== v0) return null;
  return v0;
}
const f64Of = (e: Expr): Expr => cast(e, 'f64');

export function emitQConv(ctx: LowerContext, s: QConvSpec): void {
  const geom = planar({ qSp: s.outSp, rSp: s.inSp, kernel: s.kernel, strides: s.strides, dilations: s.dilations, pb: s.padsBegin });
  const { KH, KW, sh, sw, dh, dw } = geom;
  let { OH, OW, IH, IW, ph, pw } = geom;
  // pointwise, stride 1, unpadded: the image is one long row
  if (KH === 1 && KW === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && OH === IH && OW === IW) {
    OW = OH * OW;
    IW = OW;
    OH = 1;
    IH = 1;
  }
  const { w, y, Cg, Mg, G, N } = s;
  const C = Cg * G;
  const M = Mg * G;
  // stride 1 with padding over a small image (depthwise layers of kws's 25×5, mobilenet's last
  // ones): the group's input is copied into a plane with the padding filled with the input zero
  // point, (xz - xz)·w = 0, so every output is an interior one (one flat run of positions, no
  // border tiles or clipped corners). The plane is a scratch of at most PAD_PLANE_BYTES.
  const [x0H, x0W] = [IH, IW];
  const nX0 = IH * IW;
  const padH = Math.max(0, (OH - 1) + (KH - 1) * dh + 1 - IH - ph);
  const padW = Math.max(0, (OW - 1) + (KW - 1) * dw + 1 - IW - pw);
  const [ph0, pw0] = [ph, pw];
  const w4 = w.dtype === 'i4' || w.dtype === 'u4';
  // (4-bit weights keep the border tiles: their loop order re-runs images per channel block)
  const padded = !w4 && G > 1 && sh === 1 && sw === 1 && ph >= 0 && pw >= 0 && ph + pw + padH + padW > 0 && Cg * (IH + ph + padH) * (IW + pw + padW) <= PAD_PLANE_BYTES;
  const plane = padded ? ctx.temp(s.x.dtype, [Cg * (IH + ph + padH) * (IW + pw + padW)], 'qpad') : null;
  if (padded) {
    IH += ph + padH;
    IW += pw + padW;
    ph = 0;
    pw = 0;
  }
  const x = plane ?? s.x;
  const nX = IH * IW;
  const nY = OH * OW;
  const nK = KH * KW;
  // u32 sums are the i32 sums' bits (both wrap) and render without the signed<->unsigned casts
  // that keep GCC from vectorizing the tile
  const T: ScalarType = 'u32';
  const tp = s.tile ?? DEFAULT_QCONV_TILE;
  const [rLo, rHi] = interior(OH, IH, KH, sh, ph, dh);
  const [cLo, cHi] = interior(OW, IW, KW, sw, pw, dw);
  const Wi = cHi - cLo;
  const Hi = rHi - rLo;
  // the scratch holds ocs·cols sums: fewer channels per block leave room for more positions. R
  // channels per block: the divisor of Mg up to ocs with the least work per channel, counting
  // the positions computed (tiles overlap when they do not divide the interior) and each input
  // load (with its widening, about twice a multiply-add) shared by the block's R channels
  const interiorRun = sh === 1 && sw === 1 ? (Hi > 0 && Wi > 0 ? (rHi - 1) * IW + cHi - (rLo * IW + cLo) : 0) : Wi;
  const work = (r: number): number => {
    const w = Math.max(1, Math.min(Math.floor((tp.ocs * tp.cols) / r), interiorRun));
    return Math.ceil(interiorRun / w) * w * (1 + 2 / r);
  };
  let R = 1;
  for (let r = 2; r <= Math.min(tp.ocs, Mg); r++) if (Mg % r === 0 && work(r) <= work(R)) R = r;
  const budget = Math.max(1, Math.floor((tp.ocs * tp.cols) / R));
  // stride 1: the interior is one range of positions p = oh·IW + ow (the input's row pitch), so a
  // tile spans rows and its loads are contiguous; positions with ow outside [cLo, cHi) read inside
  // the image (between two interior positions) and are computed but not stored. (With stride s
  // the same range wastes 1 - 1/s of it and its loads are strided: slower than row tiles.)
  const flat = sh === 1 && sw === 1 && Hi > 0 && Wi > 0;
  const P0 = rLo * IW + cLo;
  const Pn = Hi > 0 && Wi > 0 ? (flat ? (rHi - 1) * IW + cHi - P0 : Wi) : 0;
  const hasInterior = Pn > 0;
  // positions per tile: the scratch's row pitch
  const SW = Math.max(1, Math.min(budget, Math.max(Pn, Wi, Hi)));
  // border rows (columns) outside the interior's, with their clipped kernel rows (columns)
  const clipped = (o: number, I: number, K: number, st: number, pd: number, dl: number): [number, number] => {
    const k0 = o * st - pd;
    let lo = 0;
    while (lo < K && k0 + lo * dl < 0) lo++;
    let hi = K;
    while (hi > lo && k0 + (hi - 1) * dl >= I) hi--;
    return [lo, hi];
  };
  const range = (lo: number, hi: number): number[] => Array.from({ length: Math.max(0, hi - lo) }, (_, i) => lo + i);
  // (rendered one by one: at most as many per side as the kernel is long, else the generic border)
  const edgeTiles = rLo <= Math.max(KH, KW) && OH - rHi <= Math.max(KH, KW) && cLo <= Math.max(KH, KW) && OW - cHi <= Math.max(KH, KW);
  const edgeRows = edgeTiles && Wi > 0 ? [...range(0, Math.min(rLo, OH)), ...range(Math.max(rHi, rLo), OH)] : [];
  const edgeCols = edgeTiles && Hi > 0 ? [...range(0, Math.min(cLo, OW)), ...range(Math.max(cHi, cLo), OW)] : [];
  const useScratch = hasInterior || edgeRows.length > 0 || edgeCols.length > 0;
  const one = (b: KBuffer | null): boolean => b !== null && prod(b.shape) === 1;
  const present = (b: KBuffer | null): b is KBuffer => b !== null && prod(b.shape) > 0;
  const wzConst = present(s.wzp) ? uniformConst(s.wzp) : null;
  // no position loop long enough to vectorize (narrow or strided images: kws's 10×4 stride-2
  // first layer over a 49×10 input has interiors of 3 columns): a loop over output channels instead
  const positionsVectorize = hasInterior && (flat ? Pn >= tp.minLoop : Wi >= tp.minLoop);
  if (!positionsVectorize && s.rq && G === 1) {
    const cb = channelBlock(Mg, tp.ocs * tp.cols);
    if (cb > 0 && !w4 && s.w.role === 'const' && s.w.data && (!present(s.wzp) || wzConst !== null)) {
      emitQConvChannels(ctx, s, { OH, OW, IH, IW, KH, KW, sh, sw, dh, dw, ph, pw }, cb, s.rq, present(s.wzp) && wzConst !== 0 ? wzConst : null);
      return;
    }
  }
  const sums = useScratch ? ctx.temp(T, [R * SW], 'qsum') : null;
  // 4-bit weights (stored packed, src/passes/pack-subbyte.ts) are unpacked once per channel block
  // into a byte per value (R·Cg·nK bytes), so the taps read bytes as with 8-bit weights
  const rowLen = R * Cg * nK;
  const wrow = w4 ? ctx.temp(w.dtype === 'i4' ? 'i8' : 'u8', [rowLen], 'wrow') : null;
  ctx.kernel((kb: KernelBuilder) => {
    const xz = present(s.xzp) ? kb.let(T, cast(load(s.xzp, idx(0)), T), 'xz') : null;
    const rq = s.rq;
    const xscale = rq ? null : kb.let('f64', f64Of(load(s.xsc, idx(0))), 'xs');
    const yscale = rq ? null : kb.let('f64', f64Of(load(s.ysc, idx(0))), 'ys');
    const yz = rq ? kb.let('i32', present(s.yzp) ? cast(load(s.yzp, idx(0)), 'i32') : lit('i32', 0), 'yz') : kb.let('f64', present(s.yzp) ? f64Of(load(s.yzp, idx(0))) : lit('f64', 0), 'yz');
    const xval = (i: Expr): Expr => {
      const v = cast(load(x, i), T);
      return xz ? sub(v, xz) : v;
    };
    // x offset of image n's group g's first channel in `x`: with the padded plane, the group's
    // channels are first copied into it (offset 0)
    const xgOf = (n: Expr, g: Expr): Expr => {
      const xg0 = kb.let('index', mul(add(mul(n, idx(C)), mul(g, idx(Cg))), idx(nX0)), 'xg');
      if (!plane) return xg0;
      const fill = present(s.xzp) ? load(s.xzp, idx(0)) : lit(s.x.dtype, 0);
      kb.for(0, Cg * nX, (i) => kb.store(plane, i, fill));
      kb.for(0, Cg, (c) => kb.for(0, x0H, (ih) => {
        const src = kb.let('index', add(xg0, add(mul(c, idx(nX0)), mul(ih, idx(x0W)))), 'xs');
        const dst = kb.let('index', add(mul(c, idx(nX)), add(mul(add(ih, idx(ph0)), idx(IW)), idx(pw0))), 'xd');
        kb.for(0, x0W, (iw) => kb.store(plane, add(dst, iw), load(s.x, add(src, iw))));
      }));
      return idx(0);
    };
    // channel block ob of group g for image n
    const block = (n: Expr, g: Expr, xg: Expr, ob: Expr): void => {
        const oc0 = kb.let('index', add(mul(g, idx(Mg)), mul(ob, idx(R))), 'oc');
        const ocs: Expr[] = [];
        const wzs: (Expr | null)[] = [];
        const wscs: Expr[] = [];
        const mults: { m: Expr | null; s: Expr }[] = [];
        const inits: Expr[] = [];
        const ybs: Expr[] = [];
        for (let r = 0; r < R; r++) {
          const oc = r === 0 ? oc0 : add(oc0, idx(r));
          ocs.push(oc);
          wzs.push(!present(s.wzp) || wzConst === 0 ? null : wzConst !== null ? cast(lit(s.wzp.dtype, wzConst), T) : kb.let(T, cast(load(s.wzp, one(s.wzp) ? idx(0) : oc), T), 'wz'));
          if (rq) mults.push(rq.locals(kb, oc));
          else wscs.push(kb.let('f64', f64Of(load(s.wsc, one(s.wsc) ? idx(0) : oc)), 'wsc'));
          inits.push(s.bias ? kb.let(T, cast(load(s.bias, oc), T), 'b') : lit(T, 0));
          ybs.push(kb.let('index', mul(add(mul(n, idx(M)), oc), idx(nY)), 'yb'));
        }
        const wb = kb.let('index', mul(oc0, idx(Cg * nK)), 'wb');
        const wval = (r: number, i: Expr): Expr => {
          const v = cast(wrow ? load(wrow, add(sub(i, wb), idx(r * Cg * nK))) : load(w, add(i, idx(r * Cg * nK))), T);
          const z = wzs[r];
          return z ? sub(v, z) : v;
        };
        const requant = (r: number, yi: Expr, acc: Expr): void => {
          if (rq) {
            kb.store(y, add(ybs[r]!, yi), requantize(cast(acc, 'i32'), mults[r]!.m, mults[r]!.s, yz, s.qlo, s.qhi, kb));
            return;
          }
          const scaled = div(mul(mul(f64Of(cast(acc, 'i32')), xscale!), wscs[r]!), yscale!);
          kb.store(y, add(ybs[r]!, yi), max(lit('f64', s.qlo), min(lit('f64', s.qhi), add(un('round', scaled), yz))));
        };
        // one output position for the R channels, kernel ranges clipped to the input
        const border = (oh: Expr, ow: Expr): void => {
          const accs = inits.map((i0) => kb.let(T, i0, 'acc'));
          const kh0 = kb.let('index', sub(mul(oh, idx(sh)), idx(ph)), 'kh');
          const kw0 = kb.let('index', sub(mul(ow, idx(sw)), idx(pw)), 'kw');
          const [hlo, hhi] = KH === 1 && IH === 1 && OH === 1 ? [idx(0), idx(1)] : clip(kb, kh0, dh, IH, KH);
          const [wlo, whi] = clip(kb, kw0, dw, IW, KW);
          kb.for(0, Cg, (c) => {
            const xc = kb.let('index', add(xg, mul(c, idx(nX))), 'xc');
            const wc = kb.let('index', add(wb, mul(c, idx(nK))), 'wc');
            kb.for(hlo, hhi, (kh) => {
              const xr = kb.let('index', add(xc, add(mul(add(kh0, mul(kh, idx(dh))), idx(IW)), kw0)), 'xr');
              const wr = kb.let('index', add(wc, mul(kh, idx(KW))), 'wr');
              kb.for(wlo, whi, (kw) => {
                const xv = kb.let(T, xval(add(xr, mul(kw, idx(dw)))), 'x');
                for (let r = 0; r < R; r++) kb.set(accs[r]!, add(accs[r]!, mul(xv, wval(r, add(wr, kw)))));
              });
            });
          });
          const yi = kb.let('index', add(mul(oh, idx(OW)), ow), 'yi');
          for (let r = 0; r < R; r++) requant(r, yi, accs[r]!);
        };
        // the tiles' initial values: an interior output sums over every tap, so
        // Σ (x - xz)·w' = Σ x·w' - xz·Σ w' (wrapping): xz·Σ w' leaves the taps' loop
        const tileInits: Expr[] = inits.map((i0, r) => {
          if (!hasInterior || !xz) return i0;
          const wsum = kb.let(T, lit(T, 0), 'wsum');
          kb.for(0, Cg * nK, (t) => kb.set(wsum, add(wsum, wval(r, add(wb, t)))));
          return kb.let(T, sub(i0, mul(xz, wsum)), 'ti');
        });
        const sum = (r: number, j: Expr): Expr => load(sums!, add(idx(r * SW), j));
        /**
         * Sums of W positions whose input offset for tap (c, kh, kw) is xbase + c·nX + kh·dh·IW +
         * kw·dw + j·step, over the taps kh in [kh0, kh1), kw in [kw0, kw1) (all inside the input).
         * The positions' loop is the innermost, over contiguous input for step 1. `all`: every tap
         * of the kernel, so the zero point's share is the precomputed one.
         */
        const accumulate = (W: number, xbase: Expr, step: number, [kh0, kh1]: [number, number], [kw0, kw1]: [number, number]): void => {
          const all = hasInterior && kh0 === 0 && kh1 === KH && kw0 === 0 && kw1 === KW;
          if (W < tp.minLoop) {
            accumulateRegs(W, xbase, step, [kh0, kh1], [kw0, kw1], all);
            return;
          }
          for (let r = 0; r < R; r++) kb.for(0, W, (j) => kb.store(sums!, add(idx(r * SW), j), all ? tileInits[r]! : inits[r]!));
          const loop = (lo: number, hi: number, body: (v: Expr) => void): void => (hi - lo === 1 ? body(idx(lo)) : kb.for(lo, hi, body));
          loop(0, Cg, (c) => loop(kh0, kh1, (kh) => loop(kw0, kw1, (kw) => {
            const xt = kb.let('index', add(xbase, add(add(mul(c, idx(nX)), mul(kh, idx(dh * IW))), mul(kw, idx(dw)))), 'xt');
            const t = add(mul(add(mul(c, idx(KH)), kh), idx(KW)), kw);
            const ws: Expr[] = [];
            for (let r = 0; r < R; r++) ws.push(kb.let(T, wval(r, add(wb, t)), 'w'));
            kb.for(0, W, (j) => {
              const xi = add(xt, step === 1 ? j : mul(j, idx(step)));
              const xv = kb.let(T, all ? cast(load(x, xi), T) : xval(xi), 'x');
              for (let r = 0; r < R; r++) {
                const si = add(idx(r * SW), j);
                kb.store(sums!, si, add(load(sums!, si), mul(ws[r]!, xv)));
              }
            });
          })));
        };
        // the same sums in R·W locals (every tap loads R weights and W inputs once), then stored
        const accumulateRegs = (W: number, xbase: Expr, step: number, [kh0, kh1]: [number, number], [kw0, kw1]: [number, number], all: boolean): void => {
          const accs: Expr[][] = inits.map((i0, r) => Array.from({ length: W }, () => kb.let(T, all ? tileInits[r]! : i0, 'a')));
          const loop = (lo: number, hi: number, body: (v: Expr) => void): void => (hi - lo === 1 ? body(idx(lo)) : kb.for(lo, hi, body));
          loop(0, Cg, (c) => loop(kh0, kh1, (kh) => loop(kw0, kw1, (kw) => {
            const xt = kb.let('index', add(xbase, add(add(mul(c, idx(nX)), mul(kh, idx(dh * IW))), mul(kw, idx(dw)))), 'xt');
            const t = add(mul(add(mul(c, idx(KH)), kh), idx(KW)), kw);
            const ws: Expr[] = [];
            for (let r = 0; r < R; r++) ws.push(kb.let(T, wval(r, add(wb, t)), 'w'));
            const xs: Expr[] = [];
            for (let j = 0; j < W; j++) {
              const xi = add(xt, idx(j * step));
              xs.push(kb.let(T, all ? cast(load(x, xi), T) : xval(xi), 'x'));
            }
            for (let r = 0; r < R; r++) for (let j = 0; j < W; j++) kb.set(accs[r]![j]!, add(accs[r]![j]!, mul(ws[r]!, xs[j]!)));
          })));
          for (let r = 0; r < R; r++) for (let j = 0; j < W; j++) kb.store(sums!, idx(r * SW + j), accs[r]![j]!);
        };
        // integer requantization runs over the whole scratch in place (a loop without conditions
        // or narrow stores, which vectorizes); the stores then copy the results out
        const requantTile = (W: number): void => {
          if (!rq) return;
          for (let r = 0; r < R; r++) {
            kb.for(0, W, (j) => kb.store(sums!, add(idx(r * SW), j), cast(requantize(cast(sum(r, j), 'i32'), mults[r]!.m, mults[r]!.s, yz, s.qlo, s.qhi, kb), 'i32')));
          }
        };
        const put = (r: number, yi: Expr, j: Expr): void => {
          if (rq) kb.store(y, add(ybs[r]!, yi), cast(sum(r, j), 'i32'));
          else requant(r, yi, sum(r, j));
        };
        /**
         * n positions in tiles of up to SW (the last one shifted back to end at n): tile t starts at
         * position `start`; its input base and output index come from `at`.
         */
        const tiles = (n: number, body: (W: number, start: Expr) => void): void => {
          const W = Math.min(SW, n);
          const nT = Math.ceil(n / W);
          kb.for(0, nT, (t) => body(W, nT === 1 ? idx(0) : kb.let('index', min(mul(t, idx(W)), idx(n - W)), 'p')));
        };
        const fullH: [number, number] = [0, KH];
        const fullW: [number, number] = [0, KW];
        // flat run with columns to skip, in a few tiles: the tiles are unrolled, so each one's rows
        // and their stored columns are constants (computed per row at run time, GCC's code for
        // those short runs cost more than the sums)
        const Wt = Math.min(SW, Pn);
        const nTiles = Math.ceil(Pn / Wt);
        if (hasInterior && flat && !(cLo === 0 && cHi === IW) && nTiles <= MAX_UNROLLED_TILES) {
          for (let t = 0; t < nTiles; t++) {
            const start = P0 + Math.min(t * Wt, Pn - Wt);
            accumulate(Wt, add(xg, idx(start - (ph * IW + pw))), 1, fullH, fullW);
            requantTile(Wt);
            const first = Math.floor(start / IW);
            const last = Math.floor((start + Wt - 1) / IW);
            const cols = (oh: number): [number, number] => [Math.max(cLo, start - oh * IW), Math.min(cHi, start + Wt - oh * IW)];
            const row = (oh: Expr, lo: number, hi: number): void => {
              if (hi <= lo) return;
              const yr = kb.let('index', mul(oh, idx(OW)), 'yr');
              const q = kb.let('index', sub(mul(oh, idx(IW)), idx(start)), 'q');
              kb.for(lo, hi, (ow) => {
                for (let r = 0; r < R; r++) put(r, add(yr, ow), add(q, ow));
              });
            };
            const full = (oh: number): boolean => cols(oh)[0] === cLo && cols(oh)[1] === cHi;
            let a = first;
            while (a <= last && !full(a)) row(idx(a), ...cols(a)), a++;
            let b = last;
            while (b >= a && !full(b)) b--;
            if (b >= a) kb.for(a, b + 1, (oh) => row(oh, cLo, cHi));
            for (let oh = b + 1; oh <= last; oh++) if (oh >= a) row(idx(oh), ...cols(oh));
          }
        } else if (hasInterior && flat) {
          tiles(Pn, (W, t0) => {
            const p0 = kb.let('index', add(idx(P0), t0), 'p');
            accumulate(W, add(xg, sub(mul(p0, idx(sh)), idx(ph * IW + pw))), sh, fullH, fullW);
            requantTile(W);
            if (cLo === 0 && cHi === IW) {
              kb.for(0, W, (j) => {
                const p = kb.let('index', add(p0, j), 'q');
                const oh = kb.let('index', div(p, idx(IW)), 'oh');
                const ow = kb.let('index', sub(p, mul(oh, idx(IW))), 'ow');
                for (let r = 0; r < R; r++) put(r, add(mul(oh, idx(OW)), ow), j);
              });
            } else {
              // the tile's rows, each with its interior columns inside the tile (a division per
              // row, not per position, and no test per position)
              kb.for(div(p0, idx(IW)), add(div(add(p0, idx(W - 1)), idx(IW)), idx(1)), (oh) => {
                const q = kb.let('index', sub(mul(oh, idx(IW)), p0), 'q');
                const lo = max(idx(cLo), sub(idx(0), q));
                const hi = min(idx(cHi), sub(idx(W), q));
                const yr = kb.let('index', mul(oh, idx(OW)), 'yr');
                kb.for(lo, hi, (ow) => {
                  for (let r = 0; r < R; r++) put(r, add(yr, ow), add(q, ow));
                });
              });
            }
          });
        } else if (hasInterior) {
          kb.for(rLo, rHi, (oh) => tiles(Wi, (W, t0) => {
            const ow0 = kb.let('index', add(idx(cLo), t0), 'ow');
            accumulate(W, add(xg, add(mul(sub(mul(oh, idx(sh)), idx(ph)), idx(IW)), sub(mul(ow0, idx(sw)), idx(pw)))), sw, fullH, fullW);
            requantTile(W);
            const yr = kb.let('index', add(mul(oh, idx(OW)), ow0), 'yr');
            for (let r = 0; r < R; r++) kb.for(0, W, (j) => put(r, add(yr, j), j));
          }));
        }
        // border rows: the interior's columns with the row's kernel rows; border columns: the
        // interior's rows with the column's kernel columns (input step sh·IW, output step OW)
        for (const oh of edgeRows) {
          const khr = clipped(oh, IH, KH, sh, ph, dh);
          tiles(Wi, (W, t0) => {
            const ow0 = kb.let('index', add(idx(cLo), t0), 'ow');
            accumulate(W, add(xg, add(idx((oh * sh - ph) * IW), sub(mul(ow0, idx(sw)), idx(pw)))), sw, khr, fullW);
            requantTile(W);
            const yr = kb.let('index', add(idx(oh * OW), ow0), 'yr');
            for (let r = 0; r < R; r++) kb.for(0, W, (j) => put(r, add(yr, j), j));
          });
        }
        for (const ow of edgeCols) {
          const kwr = clipped(ow, IW, KW, sw, pw, dw);
          tiles(Hi, (W, t0) => {
            const oh0 = kb.let('index', add(idx(rLo), t0), 'oh');
            accumulate(W, add(xg, add(mul(sub(mul(oh0, idx(sh)), idx(ph)), idx(IW)), idx(ow * sw - pw))), sh * IW, fullH, kwr);
            requantTile(W);
            const yr = kb.let('index', add(mul(oh0, idx(OW)), idx(ow)), 'yr');
            for (let r = 0; r < R; r++) kb.for(0, W, (j) => put(r, add(yr, mul(j, idx(OW))), j));
          });
        }
        // what no tile covers (the corners; every output of an image without an interior): one
        // output at a time, the kernel ranges clipped at run time
        const rowRanges: [number, number][] = [[0, Math.min(rLo, OH)], [Math.max(rHi, rLo), OH]];
        const colRanges: [number, number][] = [[0, Math.min(cLo, OW)], [Math.max(cHi, cLo), OW]];
        const each = (rows: [number, number][], cols: [number, number][]): void => {
          for (const [r0, r1] of rows) {
            for (const [c0, c1] of cols) if (r1 > r0 && c1 > c0) kb.for(r0, r1, (oh) => kb.for(c0, c1, (ow) => border(oh, ow)));
          }
        };
        if (edgeTiles) each(Hi > 0 ? rowRanges : [[0, OH]], Wi > 0 ? colRanges : [[0, OW]]);
        else if (hasInterior) {
          each(rowRanges, [[0, OW]]);
          each([[rLo, rHi]], colRanges);
        } else each([[0, OH]], [[0, OW]]);
    };
    if (wrow) {
      // 4-bit weights: each channel block's rows are unpacked once, before the images that use them
      // (contiguous from oc0·Cg·nK; in pairs when a row's length is even, so each pair's loads
      // share one packed byte whose nibbles are known statically)
      // (no loop over one group: the channel blocks' loop is then the outermost, for parallelize)
      const groups = (f: (g: Expr) => void): void => (G === 1 ? f(idx(0)) : kb.for(0, G, f));
      groups((g) => {
        kb.for(0, Mg / R, (ob) => {
          const from = mul(add(mul(g, idx(Mg)), mul(ob, idx(R))), idx(Cg * nK));
          const copy = (t: Expr): void => kb.store(wrow, t, cast(load(w, add(from, t)), wrow.dtype));
          if ((Cg * nK) % 2 === 0) {
            kb.for(0, rowLen / 2, (j) => {
              copy(mul(j, idx(2)));
              copy(add(mul(j, idx(2)), idx(1)));
            });
          } else kb.for(0, rowLen, (t) => copy(t));
          kb.for(0, N, (n) => block(n, g, xgOf(n, g), ob));
        });
      });
      return;
    }
    kb.for(0, N * G, (ng) => {
      const g = G === 1 ? idx(0) : N === 1 ? ng : kb.let('index', sub(ng, mul(idx(G), div(ng, idx(G)))), 'g');
      const n = N === 1 ? idx(0) : G === 1 ? ng : kb.let('index', div(ng, idx(G)), 'n');
      const xg = xgOf(n, g);
      kb.for(0, Mg / R, (ob) => block(n, g, xg, ob));
    });
  });
}

/**
 * Output channels per block of the channel-vectorized path: the largest divisor of M up to the
 * scratch's `budget` sums, at least 8 (one 256-bit vector of u32 sums), else 0 (not taken).
 */
function channelBlock(M: number, budget: number): number {
  for (let cb = Math.min(M, budget); cb >= 8; cb--) if (M % cb === 0) return cb;
  return 0;
}

interface Planar {
  OH: number;
  OW: number;
  IH: number;
  IW: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  ph: number;
  pw: number;
}

/**
 * QLinearConv (one group) as a loop over output positions whose innermost loop runs over a block
 * of CB output channels: per position the block's CB sums (the u32 scratch) start at the bias,
 * every tap inside the input (ranges clipped per position) adds (x - xz)·(w - wz) with one input
 * value for the whole block, the weights read from a copy transposed to [tap][channel] (contiguous
 * in the channel), then the block is requantized in place (a vector loop; per-channel multiplier
 * and shift read from their tables) and stored. Same sums as the generic loop nest (wrapping u32,
 * the order is free), same requantization: bit for bit the same outputs. Taken where no loop over
 * positions is long enough to vectorize: narrow or strided images.
 */
function emitQConvChannels(ctx: LowerContext, s: QConvSpec, g: Planar, CB: number, rq: RequantTable, wzConst: number | null): void {
  const { OH, OW, IH, IW, KH, KW, sh, sw, dh, dw, ph, pw } = g;
  const { x, w, y, Cg, N } = s;
  const M = s.Mg;
  const nX = IH * IW;
  const nY = OH * OW;
  const nK = KH * KW;
  const nT = Cg * nK;
  const T: ScalarType = 'u32';
  const wd = w.data!;
  const tv: number[] = new Array<number>(nT * M);
  for (let m = 0; m < M; m++) for (let t = 0; t < nT; t++) tv[t * M + m] = wd.num(m * nT + t);
  const wt = ctx.constTable(Tensor.from(wd.dtype, [nT, M], tv), 'wt');
  const prodShape = (b: KBuffer): number => b.shape.reduce((a, d) => a * d, 1);
  const present = (b: KBuffer | null): b is KBuffer => b !== null && prodShape(b) > 0;
  const sums = ctx.temp(T, [CB], 'qsum');
  ctx.kernel((kb: KernelBuilder) => {
    const xz = present(s.xzp) ? kb.let(T, cast(load(s.xzp, idx(0)), T), 'xz') : null;
    const yz = kb.let('i32', present(s.yzp) ? cast(load(s.yzp, idx(0)), 'i32') : lit('i32', 0), 'yz');
    // a weight zero point the same for every channel (0: none)
    const wz = wzConst !== null && present(s.wzp) ? cast(lit(s.wzp.dtype, wzConst), T) : null;
    kb.for(0, N, (n) => {
      const xn = kb.let('index', mul(n, idx(Cg * nX)), 'xn');
      kb.for(0, M / CB, (ob) => {
        const oc0 = kb.let('index', mul(ob, idx(CB)), 'oc');
        kb.for(0, OH, (oh) => kb.for(0, OW, (ow) => {
          const kh0 = kb.let('index', sub(mul(oh, idx(sh)), idx(ph)), 'kh');
          const kw0 = kb.let('index', sub(mul(ow, idx(sw)), idx(pw)), 'kw');
          const [hlo, hhi] = KH === 1 && IH === 1 && OH === 1 ? [idx(0), idx(1)] : clip(kb, kh0, dh, IH, KH);
          const [wlo, whi] = clip(kb, kw0, dw, IW, KW);
          kb.for(0, CB, (m) => kb.store(sums, m, s.bias ? cast(load(s.bias, add(oc0, m)), T) : lit(T, 0)));
          kb.for(0, Cg, (c) => {
            const xc = kb.let('index', add(xn, mul(c, idx(nX))), 'xc');
            kb.for(hlo, hhi, (kh) => {
              const xr = kb.let('index', add(xc, add(mul(add(kh0, mul(kh, idx(dh))), idx(IW)), kw0)), 'xr');
              const tr = kb.let('index', mul(add(mul(c, idx(KH)), kh), idx(KW)), 'tr');
              kb.for(wlo, whi, (kw) => {
                const xl = cast(load(x, add(xr, mul(kw, idx(dw)))), T);
                const xv = kb.let(T, xz ? sub(xl, xz) : xl, 'x');
                const wr = kb.let('index', add(mul(add(tr, kw), idx(M)), oc0), 'wr');
                kb.for(0, CB, (m) => {
                  const wl = cast(load(wt, add(wr, m)), T);
                  kb.store(sums, m, add(load(sums, m), mul(wz ? sub(wl, wz) : wl, xv)));
                });
              });
            });
          });
          kb.for(0, CB, (m) => {
            const oc = add(oc0, m);
            kb.store(sums, m, cast(requantize(cast(load(sums, m), 'i32'), rq.m(oc), rq.s(oc), yz, s.qlo, s.qhi, kb), 'i32'));
          });
          const yp = kb.let('index', add(mul(add(mul(n, idx(M)), oc0), idx(nY)), add(mul(oh, idx(OW)), ow)), 'yp');
          kb.for(0, CB, (m) => kb.store(y, add(yp, mul(m, idx(nY))), cast(load(sums, m), 'i32')));
        }));
      });
    });
  });
}
