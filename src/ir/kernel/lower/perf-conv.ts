/**
 * Float Conv (1-D and 2-D, any groups with at least a few output channels per group) as GEMMs:
 * per group, Y[m, p] = bias[m] + Σ_k W[m, k]·col[k, p] with k = (input channel, kernel position)
 * and p the output position. Pointwise stride-1 unpadded convolutions read X as col directly;
 * others gather col (im2col, zeros for padding) one block of output rows at a time into a scratch
 * buffer of K × (rows·OW) values, so the scratch is bounded by the block, not the image. The GEMM
 * is the register-tiled panel of perf-gemm.ts. Whether X is read directly, the rows per block, the
 * register tile and the K block are the ConvSchedule the target's tiling policy chose.
 */
import { add, and, cast, div, ge, idx, load, lt, max, min, mul, select, sub } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { constOf } from './common.js';
import { emitPanel, panelNeedsEdge } from './perf-gemm.js';
import { planar, type ConvGeom } from './conv-geom.js';
import type { ConvProblem, ConvSchedule } from './schedule.js';

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

/**
 * The convolution as the template's tiling policy sees it, or null when the template cannot run it
 * (not a 1-D/2-D float convolution gathered from X, or mixed element types). Whether it pays is
 * the policy's decision (TilePolicy.conv).
 */
export function convGemmProblem(g: ConvGeom, xT: ScalarType, outT: ScalarType, accT: ScalarType): ConvProblem | null {
  const nd = g.qSp.length;
  if (!g.gather || nd < 1 || nd > 2) return null;
  if (accT !== 'f32' && accT !== 'f64') return null;
  if (xT !== accT || outT !== accT) return null;
  const K = g.Cg * prod(g.kernel);
  if (K < 2) return null;
  const { OH, OW, IH, IW, KH, KW, sh, sw, ph, pw } = planar(g);
  const P = OH * OW;
  const direct = KH * KW === 1 && sw === 1 && pw === 0 && OW === IW && sh === 1 && ph === 0 && OH === IH && slpFriendlyStride(P) === P;
  const e = accT === 'f64' ? 8 : 4;
  return { Mg: g.Mg, K, OH, OW, count: g.N * g.G, Cg: g.Cg, IH, IW, KH, SH: sh, canDirect: direct, accT, ioBytes: e * g.N * (g.C * IH * IW + g.M * P) };
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

export function emitConvGemm(ctx: LowerContext, g: ConvGeom, x: KBuffer, w: KBuffer, bias: KBuffer | null, out: KBuffer, accT: ScalarType, sched: ConvSchedule): void {
  const { OH, OW, IH, IW, KH, KW, sh, sw, dh, dw, ph, pw } = planar(g);
  const P = OH * OW;
  const nK = KH * KW;
  const K = g.Cg * nK;
  const nX = IH * IW;
  const W = sched.gemm.W;
  // X itself is B when it is read contiguously (a P that is not a multiple of the tile width gets
  // a narrower last tile instead of padding); else blocks of `rows` output rows are gathered
  const direct = sched.direct;
  const rc = direct ? OH : sched.rows;
  if (OH % rc !== 0) throw new Error(`emitConvGemm: ${rc} rows per block do not divide ${OH}`);
  const cols = rc * OW;
  // col rows hold whole tiles (zero padded) at a stride the SLP vectorizer keeps in registers
  const padded = Math.ceil(cols / W) * W;
  const cs = direct ? P : slpFriendlyStride(padded);
  const nBlocks = OH / rc;
  const col = direct ? null : ctx.temp(accT, [K * cs], 'col');
  const edge = panelNeedsEdge(g.Mg, direct ? P : cols, sched.gemm, direct) ? ctx.temp(accT, [sched.gemm.R * W], 'tile') : null;
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
          const yAt = (i: Expr, j: Expr): Expr => add(add(add(yb, mul(i, idx(P))), p0), j);
          emitPanel(kb, {
            accT,
            schedule: sched.gemm,
            M: g.Mg,
            N: cols,
            K,
            a: w,
            aIndex: (i, k) => add(add(wb, mul(i, idx(K))), k),
            b: col ?? x,
            bRow: (kb2, k) => (col ? mul(k, idx(cs)) : add(add(xb, mul(k, idx(P))), p0)),
            init: (i) => (bias ? cast(load(bias, add(oc0, i)), accT) : constOf(accT, 0)),
            store: (i, j, acc) => kb.store(out, yAt(i, j), acc),
            edge,
            exactCols: direct,
            partial: { load: (i, j) => load(out, yAt(i, j)), store: (i, j, v) => kb.store(out, yAt(i, j), v), isFinal: true },
          });
        };
        if (nBlocks === 1) block(idx(0));
        else kb.for(0, nBlocks, block);
      });
    });
  });
}
