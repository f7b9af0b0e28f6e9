/**
 * Float Conv (1-D and 2-D, any groups with at least a few output channels per group) as GEMMs:
 * per group, Y[m, p] = bias[m] + Σ_k W[m, k]·col[k, p] with k = (input channel, kernel position)
 * and p the output position. Pointwise stride-1 unpadded convolutions read X as col directly;
 * others gather col (im2col, zeros for padding) one block of output rows at a time into a scratch
 * buffer of K × (rows·OW) values, so the scratch is bounded by the block, not the image. The GEMM
 * is the register-tiled panel of perf-gemm.ts.
 */
import { add, and, cast, div, ge, idx, load, lt, max, min, mul, select, sub } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { constOf } from './common.js';
import { emitPanel, panelNeedsEdge, tileCols, TILE_ROWS } from './perf-gemm.js';
import { planar, type ConvGeom } from './conv-geom.js';

/** Output positions per image below which the direct loop nest is used instead. */
const MIN_GEMM_COLS = 48;

/** Columns a gathered block should at least have (when the image has that many). */
const MIN_BLOCK_COLS = 64;

/** Weight panels (per group) up to this many elements count as small (256 KiB of f32). */
const SMALL_WEIGHT_ELEMS = 1 << 16;

/** Elements of the im2col scratch beyond which a block gets no more output rows. */
const MAX_COL_ELEMS = 1 << 18;

/** Whether pointwise convolutions read X directly when P is not a multiple of the tile width. */
const DIRECT_RAGGED = true;

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/**
 * A row stride for B that GCC's loop vectorizer does not take for an interleaved group (powers of
 * two up to 512 are; it would then vectorize the k loop with in-order reductions instead of
 * keeping the tile in registers).
 */
export function slpFriendlyStride(n: number): number {
  const bad = (v: number): boolean => v <= 512 && (v & (v - 1)) === 0;
  let s = n;
  while (bad(s)) s += 8;
  return s;
}

/** Whether emitConvGemm handles this convolution. */
export function convGemmApplies(g: ConvGeom, xT: ScalarType, outT: ScalarType, accT: ScalarType): boolean {
  const nd = g.qSp.length;
  if (!g.gather || nd < 1 || nd > 2) return false;
  if (accT !== 'f32' && accT !== 'f64') return false;
  if (xT !== accT || outT !== accT) return false;
  const K = g.Cg * prod(g.kernel);
  // depthwise and nearly-depthwise convolutions have too few output rows per group to tile
  // tiny images: most of a 32-wide tile would be padding (and GCC was seen to keep such tiles scalar)
  return g.Mg >= TILE_ROWS / 2 && K >= 2 && prod(g.qSp) >= MIN_GEMM_COLS;
}

/** Largest q range [lo, hi) ⊆ [0, Q) with q*s + off in [0, R); hi >= lo. */
function clipRange(kb: KernelBuilder, off: Expr, s: number, R: number, Q: number): [Expr, Expr] {
  const lo0 = max(idx(0), div(add(sub(idx(0), off), idx(s - 1)), idx(s)));
  const lo = kb.let('index', min(lo0, idx(Q)), 'lo');
  const u = kb.let('index', sub(idx(R - 1), off), 'u');
  const hi0 = select(lt(u, idx(0)), idx(0), min(idx(Q), add(div(u, idx(s)), idx(1))));
  const hi = kb.let('index', max(hi0, lo), 'hi');
  return [lo, hi];
}

export function emitConvGemm(ctx: LowerContext, g: ConvGeom, x: KBuffer, w: KBuffer, bias: KBuffer | null, out: KBuffer, accT: ScalarType): void {
  const { OH, OW, IH, IW, KH, KW, sh, sw, dh, dw, ph, pw } = planar(g);
  const P = OH * OW;
  const nK = KH * KW;
  const K = g.Cg * nK;
  const nX = IH * IW;
  const W = tileCols(accT);
  // X itself is B when it is read contiguously and whole tiles never run past a row
  // (a P that is not a multiple of the tile width gets a narrower last tile instead of padding)
  const direct = nK === 1 && sw === 1 && pw === 0 && OW === IW && sh === 1 && ph === 0 && OH === IH && (P % W === 0 || DIRECT_RAGGED) && slpFriendlyStride(P) === P;
  // rows per gathered block: a divisor of OH with at least MIN_BLOCK_COLS columns (fewer blocks
  // means fewer passes over the weights) whose column count wastes the least of the last tile
  // (ties: fewer rows), within the scratch budget
  let rc = OH;
  if (!direct) {
    const pad = (c: number): number => Math.ceil(c / W) * W;
    rc = 0;
    let best = Infinity;
    // small weight panels are cheap to re-read, so their blocks may be a single tile wide
    const want = Math.min(P, g.Mg * K <= SMALL_WEIGHT_ELEMS ? W : MIN_BLOCK_COLS);
    for (let d = 1; d <= OH; d++) {
      if (OH % d !== 0 || (d * OW < want && d < OH)) continue;
      if (rc > 0 && K * pad(d * OW) > MAX_COL_ELEMS) break;
      const waste = pad(d * OW) / (d * OW);
      if (waste < best - 1e-9) {
        best = waste;
        rc = d;
      }
    }
  }
  const cols = rc * OW;
  // col rows hold whole tiles (zero padded) at a stride the SLP vectorizer keeps in registers
  const padded = Math.ceil(cols / W) * W;
  const cs = direct ? P : slpFriendlyStride(padded);
  const nBlocks = OH / rc;
  const col = direct ? null : ctx.temp(accT, [K * cs], 'col');
  const edge = panelNeedsEdge(g.Mg, direct ? (P % W === 0 ? P : W) : cols, accT) ? ctx.temp(accT, [TILE_ROWS * W], 'tile') : null;
  ctx.kernel((kb) => {
    kb.for(0, g.N, (n) => {
      kb.for(0, g.G, (gi) => {
        const xb = kb.let('index', mul(add(mul(n, idx(g.C)), mul(gi, idx(g.Cg))), idx(nX)), 'xb');
        const oc0 = kb.let('index', mul(gi, idx(g.Mg)), 'oc');
        const yb = kb.let('index', mul(add(mul(n, idx(g.M)), oc0), idx(P)), 'yb');
        const wb = kb.let('index', mul(oc0, idx(K)), 'wb');
        const block = (blk: Expr): void => {
          const p0 = kb.let('index', mul(blk, idx(cols)), 'p0');
          if (col) {
            // gather: col[((c*KH + kh)*KW + kw)*cs + r*OW + ow] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
            kb.for(0, g.Cg, (c) => {
              const xc = kb.let('index', add(xb, mul(c, idx(nX))), 'xc');
              kb.for(0, KH, (kh) => {
                kb.for(0, KW, (kw) => {
                  const kr = kb.let('index', mul(add(mul(add(mul(c, idx(KH)), kh), idx(KW)), kw), idx(cs)), 'kr');
                  const wo = kb.let('index', sub(mul(kw, idx(dw)), idx(pw)), 'wo');
                  const [lo, hi] = clipRange(kb, wo, sw, IW, OW);
                  kb.for(0, rc, (r) => {
                    const ih = kb.let('index', add(sub(mul(add(mul(blk, idx(rc)), r), idx(sh)), idx(ph)), mul(kh, idx(dh))), 'ih');
                    const cr = kb.let('index', add(kr, mul(r, idx(OW))), 'cr');
                    const zero = (a: Expr, b: Expr): void => kb.for(a, b, (o) => kb.store(col, add(cr, o), constOf(accT, 0)));
                    kb.if(
                      and(ge(ih, idx(0)), lt(ih, idx(IH))),
                      () => {
                        const xr = kb.let('index', add(add(xc, mul(ih, idx(IW))), wo), 'xr');
                        zero(idx(0), lo);
                        kb.for(lo, hi, (o) => kb.store(col, add(cr, o), cast(load(x, add(xr, mul(o, idx(sw)))), accT)));
                        zero(hi, idx(OW));
                      },
                      () => zero(idx(0), idx(OW)),
                    );
                  });
                  if (padded > cols) kb.for(cols, padded, (o) => kb.store(col, add(kr, o), constOf(accT, 0)));
                });
              });
            });
          }
          emitPanel(kb, {
            accT,
            M: g.Mg,
            N: cols,
            K,
            a: w,
            aIndex: (i, k) => add(add(wb, mul(i, idx(K))), k),
            b: col ?? x,
            bRow: (kb2, k) => (col ? mul(k, idx(cs)) : add(add(xb, mul(k, idx(P))), p0)),
            init: (i) => (bias ? cast(load(bias, add(oc0, i)), accT) : constOf(accT, 0)),
            store: (i, j, acc) => kb.store(out, add(add(add(yb, mul(i, idx(P))), p0), j), acc),
            edge,
            exactCols: direct,
          });
        };
        if (nBlocks === 1) block(idx(0));
        else kb.for(0, nBlocks, block);
      });
    });
  });
}
