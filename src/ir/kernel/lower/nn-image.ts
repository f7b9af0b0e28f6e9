/** Lowerings of GridSample, AffineGrid and Col2Im (f64 coordinate math, as in the reference). */
import { KilnError } from '../../errors.js';
import { add, and, bin, cast, div, eq, ge, gt, idx, lit, load, lt, max, min, mul, ne, or, select, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, ScalarType } from '../types.js';
import { req } from './common.js';
import { clip } from './nn-conv.js';
import { gridSampleConfig } from '../../ops/config/grid-sample.js';

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);
/**
 * The coordinate type: f64 as in the reference; GPU targets (WGSL has no f64) f32, as onnxruntime
 * computes GridSample and AffineGrid for f32 data.
 */
const floatOf = (ctx: LowerContext): ScalarType => (ctx.style === 'gpu' ? 'f32' : 'f64');
const helpers = (ft: ScalarType): { F: (v: number) => Expr; f64: (e: Expr) => Expr } => ({ F: (v) => lit(ft, v), f64: (e) => cast(e, ft) });

/** reflect(x, lo, hi) of the reference, on f64 expressions. */
function reflect(kb: KernelBuilder, x: Expr, lo: number, hi: number, ft: ScalarType): Expr {
  const { F } = helpers(ft);
  const rng = hi - lo;
  const dxl = kb.let(ft, sub(F(lo), x), 'dl');
  const nl = kb.let(ft, un('trunc', div(dxl, F(rng))), 'nl');
  const rl = sub(dxl, mul(nl, F(rng)));
  const dxh = kb.let(ft, sub(x, F(hi)), 'dh');
  const nh = kb.let(ft, un('trunc', div(dxh, F(rng))), 'nh');
  const rh = sub(dxh, mul(nh, F(rng)));
  const evenL = eq(bin('fmod', nl, F(2)), F(0));
  const evenH = eq(bin('fmod', nh, F(2)), F(0));
  return select(lt(x, F(lo)), select(evenL, add(F(lo), rl), sub(F(hi), rl)), select(gt(x, F(hi)), select(evenH, sub(F(hi), rh), add(F(lo), rh)), x));
}

function cubicCoeffs(t: Expr, ft: ScalarType): Expr[] {
  const { F } = helpers(ft);
  const A = -0.75;
  const x = un('abs', t);
  const x1 = add(x, F(1));
  const y = sub(F(1), x);
  const z = sub(F(2), x);
  return [
    sub(mul(add(mul(sub(mul(F(A), x1), F(5 * A)), x1), F(8 * A)), x1), F(4 * A)),
    add(mul(mul(sub(mul(F(A + 2), x), F(A + 3)), x), x), F(1)),
    add(mul(mul(sub(mul(F(A + 2), y), F(A + 3)), y), y), F(1)),
    sub(mul(add(mul(sub(mul(F(A), z), F(5 * A)), z), F(8 * A)), z), F(4 * A)),
  ];
}

registerLowering({
  opType: 'GridSample',
  lower: (ctx) => {
    const X = req(ctx.input(0), 'X');
    const Gb = req(ctx.input(1), 'grid');
    const ft = floatOf(ctx);
    const { F, f64 } = helpers(ft);
    const Y = req(ctx.output(0), 'Y');
    const { mode, padding: pad, alignCorners: ac, N, C, dims, outSp, strides, lo, hi } = gridSampleConfig(ctx.attrs, ctx.opset, X.shape, Gb.shape);
    const nd = dims.length;
    const nOut = prod(outSp);
    const nIn = prod(dims);
    const taps = mode === 'cubic' ? 4 : mode === 'linear' ? 2 : 1;
    if (taps ** nd > 256) throw unsupportedLowering('GridSample with this many taps');
    ctx.kernel((kb) => {
      kb.for(0, N, (n) => {
        kb.for(0, nOut, (o) => {
          const gb = kb.let('index', mul(add(mul(n, idx(nOut)), o), idx(nd)), 'gb');
          // per dim: tap indices (index, -1 = zero) and weights
          const ti: Expr[][] = [];
          const tw: Expr[][] = [];
          for (let d = 0; d < nd; d++) {
            const L = dims[d]!;
            const g = f64(load(Gb, add(gb, idx(nd - 1 - d))));
            const raw = ac ? mul(div(add(g, F(1)), F(2)), F(L - 1)) : div(sub(mul(add(g, F(1)), F(L)), F(1)), F(2));
            let x = kb.let(ft, f64(cast(raw, 'f32')), 'gx');
            if (mode === 'nearest') kb.set(x, un('round', x));
            if (pad === 'border') x = kb.let(ft, select(or(lt(x, F(lo[d]!)), gt(x, F(hi[d]!))), min(F(L - 1), max(F(0), x)), x), 'gx');
            else if (pad === 'reflection') x = kb.let(ft, reflect(kb, x, lo[d]!, hi[d]!, ft), 'gx');
            const fix = (i: Expr): Expr => {
              // i is an integer-valued f64
              const inRange = and(ge(i, F(0)), lt(i, F(L)));
              let v: Expr;
              if (pad === 'zeros') v = F(-1);
              else if (pad === 'border') v = min(F(L - 1), max(F(0), i));
              else v = un('trunc', reflect(kb, i, lo[d]!, hi[d]!, ft));
              return kb.let('index', cast(select(inRange, i, v), 'index'), 'ti');
            };
            if (mode === 'nearest') {
              ti.push([fix(un('trunc', x))]);
              tw.push([F(1)]);
            } else {
              const x0 = kb.let(ft, un('floor', x), 'x0');
              const t = kb.let(ft, sub(x, x0), 't');
              if (mode === 'linear') {
                ti.push([fix(x0), fix(add(x0, F(1)))]);
                tw.push([sub(F(1), t), t]);
              } else {
                ti.push([0, 1, 2, 3].map((j) => fix(add(x0, F(j - 1)))));
                tw.push(cubicCoeffs(t, ft).map((e) => kb.let(ft, e, 'cw')));
              }
            }
          }
          // tap combinations
          const ws: Expr[] = [];
          const offs: Expr[] = [];
          for (let t = 0; t < taps ** nd; t++) {
            let rem = t;
            let w: Expr = F(1);
            let off: Expr = idx(0);
            let ok: Expr | null = null;
            for (let d = nd - 1; d >= 0; d--) {
              const j = rem % taps;
              rem = Math.floor(rem / taps);
              const ii = ti[d]![j]!;
              w = mul(w, tw[d]![j]!);
              off = add(off, mul(ii, idx(strides[d]!)));
              const c = ge(ii, idx(0));
              ok = ok ? and(ok, c) : c;
            }
            const wl = kb.let(ft, w, 'w');
            ws.push(kb.let(ft, select(and(ok!, ne(wl, F(0))), wl, F(0)), 'w'));
            offs.push(kb.let('index', select(ok!, off, idx(0)), 'off'));
          }
          kb.for(0, C, (c) => {
            const xb = kb.let('index', mul(add(mul(n, idx(C)), c), idx(nIn)), 'xb');
            let acc: Expr = F(0);
            for (let t = 0; t < ws.length; t++) acc = add(acc, select(eq(ws[t]!, F(0)), F(0), mul(ws[t]!, f64(load(X, add(xb, offs[t]!))))));
            kb.store(Y, add(mul(add(mul(n, idx(C)), c), idx(nOut)), o), acc);
          });
        });
      });
    });
  },
});

registerLowering({
  opType: 'AffineGrid',
  lower: (ctx) => {
    const theta = req(ctx.input(0), 'theta');
    const { F, f64 } = helpers(floatOf(ctx));
    const Y = req(ctx.output(0), 'grid');
    const ac = ctx.attrs.int('align_corners', 0) !== 0;
    const N = Y.shape[0]!;
    const sp = Y.shape.slice(1, -1);
    const nd = sp.length;
    if (nd !== 2 && nd !== 3) throw new KilnError('type', 'AffineGrid supports 2-D and 3-D sizes');
    const nOut = prod(sp);
    ctx.kernel((kb) => {
      kb.for(0, N, (n) => {
        kb.loops(sp, (ix) => {
          const o = ix.reduce((a, e, d) => add(mul(a, idx(sp[d]!)), e), idx(0) as Expr);
          const pt: Expr[] = [];
          for (let d = nd - 1; d >= 0; d--) {
            const L = sp[d]!;
            const i = f64(ix[d]!);
            pt.push(ac ? (L === 1 ? F(-1) : add(F(-1), div(mul(F(2), i), F(L - 1)))) : sub(div(add(mul(F(2), i), F(1)), F(L)), F(1)));
          }
          pt.push(F(1));
          const ob = kb.let('index', mul(add(mul(n, idx(nOut)), o), idx(nd)), 'ob');
          for (let r = 0; r < nd; r++) {
            let acc: Expr = F(0);
            for (let k = 0; k <= nd; k++) acc = add(acc, mul(f64(load(theta, add(mul(add(mul(n, idx(nd)), idx(r)), idx(nd + 1)), idx(k)))), pt[k]!));
            kb.store(Y, add(ob, idx(r)), acc);
          }
        });
      });
    });
  },
});

registerLowering({
  opType: 'Col2Im',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const Y = req(ctx.output(0), 'output');
    const blkB = req(ctx.input(2), 'block_shape');
    const blkT = ctx.constant(2);
    const img = Y.shape.slice(2);
    const nd = img.length;
    const dil = ctx.attrs.optInts('dilations') ?? new Array<number>(nd).fill(1);
    const pads = ctx.attrs.optInts('pads') ?? new Array<number>(2 * nd).fill(0);
    const str = ctx.attrs.optInts('strides') ?? new Array<number>(nd).fill(1);
    const [N, CK, L] = x.shape as [number, number, number];
    const C = Y.shape[1]!;
    const K = CK / C;
    const nImg = prod(img);
    const isF64 = Y.dtype === 'f64';
    const accT = isF64 ? 'f64' : 'f32';
    const acc = Y.dtype === accT ? Y : ctx.temp(accT, Y.shape, 'acc');
    ctx.kernel((kb) => {
      kb.for(0, N * C * nImg, (i) => kb.store(acc, i, lit(accT, 0)));
      kb.for(0, N * C, (nc) => {
        const yb = kb.let('index', mul(nc, idx(nImg)), 'yb');
        // block dims: compile-time constants when known, else read at run time
        const blk: Expr[] = [];
        const nb: Expr[] = [];
        for (let d = 0; d < nd; d++) {
          const bd = blkT ? idx(blkT.toIndexArray()[d]!) : kb.let('index', cast(load(blkB, idx(d)), 'index'), 'bs');
          blk.push(bd);
          const num = sub(idx(img[d]! + pads[d]! + pads[d + nd]! - 1), mul(idx(dil[d]!), sub(bd, idx(1))));
          nb.push(kb.let('index', add(div(num, idx(str[d]!)), idx(1)), 'nb'));
        }
        const kix: Expr[] = [];
        const kl = (j: number): void => {
          if (j < nd) {
            kb.for(idx(0), blk[j]!, (k) => {
              kix.push(k);
              kl(j + 1);
              kix.pop();
            });
            return;
          }
          const kf = kix.reduce((a, e, d) => add(mul(a, blk[d]!), e), idx(0) as Expr);
          const xb = kb.let('index', mul(add(mul(nc, idx(K)), kf), idx(L)), 'xb');
          const koffs = kix.map((k, d) => kb.let('index', sub(mul(k, idx(dil[d]!)), idx(pads[d]!)), 'ko'));
          const sp = (d: number, qOff: Expr, rOff: Expr): void => {
            const [lo, hi] = clip(kb, koffs[d]!, str[d]!, img[d]!, nb[d]!);
            kb.for(lo, hi, (q) => {
              const r = add(mul(q, idx(str[d]!)), koffs[d]!);
              if (d < nd - 1) {
                sp(d + 1, kb.let('index', mul(add(qOff, q), nb[d + 1]!), 'qo'), kb.let('index', mul(add(rOff, r), idx(img[d + 1]!)), 'ro'));
                return;
              }
              const yi = add(yb, add(rOff, r));
              kb.store(acc, yi, add(load(acc, yi), cast(load(x, add(xb, add(qOff, q))), accT)));
            });
          };
          sp(0, idx(0), idx(0));
        };
        kl(0);
      });
      if (acc !== Y) kb.for(0, N * C * nImg, (i) => kb.store(Y, i, load(acc, i)));
    });
  },
});
