/**
 * Lowerings of Resize and Upsample. Scales/sizes may be runtime inputs (only the output shape is
 * static), so per axis a small kernel builds the interpolation table (neighbor indices and weights,
 * computed in f64 exactly as the reference does), then the axes are applied one after another
 * (last axis first) through f64 scratch buffers, skipping weights that are zero.
 */
import { KilnError } from '../../errors.js';
import { add, cast, div, eq, ge, gt, idx, le, lit, load, lt, max, min, mul, or, select, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { req } from './common.js';
import { normAxis } from '../../ops/util.js';
import { resizeOptions, type ResizeOpts } from '../../ops/config/resize.js';

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);
/**
 * The type the tables and the passes between axes compute in: f64, exactly as the reference; GPU
 * targets (WGSL has no f64) f32, as onnxruntime computes Resize for f32 data.
 */
const floatOf = (ctx: LowerContext): ScalarType => (ctx.style === 'gpu' ? 'f32' : 'f64');
const helpers = (ft: ScalarType): { F: (v: number) => Expr; f64: (e: Expr) => Expr } => ({ F: (v) => lit(ft, v), f64: (e) => cast(e, ft) });
const floor = (e: Expr): Expr => un('floor', e);
const abs = (e: Expr): Expr => un('abs', e);

/** Per-axis scale: an f64 expression (runtime or constant), plus a lower bound (for tap counts) and whether it is the constant 1. */
interface AxisScale {
  scale: (kb: KernelBuilder) => Expr;
  minScale: number;
  isOne: boolean;
}

/** Most filter taps per output Kiln unrolls (antialiased downscaling by up to about 1/500). */
const MAX_RESIZE_TAPS = 1024;

/** Number of taps a table slot holds (an upper bound for antialiasing). */
function tapCount(o: ResizeOpts, minScale: number): number {
  if (o.simpleNearest && o.mode === 'nearest') return 1;
  if (!o.antialias) return o.mode === 'cubic' ? 4 : 2;
  const sc = Math.min(Math.max(minScale, 1e-9), 1);
  if (o.mode === 'linear') return 2 - 2 * (Math.floor(-1 / sc) + 1);
  const iStart = Math.floor(-2 / sc) + 1;
  return 2 - 2 * iStart;
}

/** Builds the table for one axis: ti[x*n + j] (i32, -1 = extrapolate), tw[x*n + j] (f64). */
function buildTable(ctx: LowerContext, o: ResizeOpts, L: number, O: number, n: number, sc: AxisScale, roi: [Expr, Expr] | null): { ti: KBuffer; tw: KBuffer } {
  const ft = floatOf(ctx);
  const { F, f64 } = helpers(ft);
  const ti = ctx.temp('i32', [O * n], 'ridx');
  const tw = ctx.temp(ft, [O * n], 'rw');
  ctx.kernel((kb) => {
    const s = kb.let(ft, sc.scale(kb), 'sc');
    const outW = mul(s, F(L));
    kb.for(0, O, (x) => {
      const xf = kb.let(ft, f64(x), 'xf');
      const base = kb.let('index', mul(x, idx(n)), 'tb');
      const put = (j: number, i: Expr, w: Expr): void => {
        kb.store(ti, add(base, idx(j)), cast(i, 'i32'));
        kb.store(tw, add(base, idx(j)), w);
      };
      const general = (): void => {
        let xoE: Expr;
        switch (o.ctm) {
          case 'align_corners':
            xoE = select(eq(outW, F(1)), F(0), div(mul(xf, F(L - 1)), sub(outW, F(1))));
            break;
          case 'asymmetric':
            xoE = div(xf, s);
            break;
          case 'tf_crop_and_resize': {
            const [rs, re] = roi!;
            const d = sub(re, rs);
            xoE = add(select(eq(outW, F(1)), div(mul(d, F(L - 1)), F(2)), div(mul(mul(xf, d), F(L - 1)), sub(outW, F(1)))), mul(rs, F(L - 1)));
            break;
          }
          case 'pytorch_half_pixel':
            xoE = select(eq(outW, F(1)), F(-0.5), sub(div(add(xf, F(0.5)), s), F(0.5)));
            break;
          case 'half_pixel':
            xoE = sub(div(add(xf, F(0.5)), s), F(0.5));
            break;
          case 'tf_half_pixel_for_nn':
            xoE = div(add(xf, F(0.5)), s);
            break;
          case 'half_pixel_symmetric': {
            const adj = div(F(O), outW);
            xoE = sub(add(mul(F(L / 2), sub(F(1), adj)), div(add(xf, F(0.5)), s)), F(0.5));
            break;
          }
          default:
            throw new KilnError('type', `bad coordinate_transformation_mode '${o.ctm}'`);
        }
        const xo = kb.let(ft, xoE, 'xo');
        const body = (): void => {
          if (o.simpleNearest && o.mode === 'nearest') {
            const p = select(lt(s, F(1)), un('ceil', xo), floor(xo));
            put(0, max(F(0), min(F(L - 1), p)), F(1));
            return;
          }
          const fl = kb.let(ft, floor(xo), 'fl');
          const isInt = eq(fl, xo);
          const i0 = kb.let(ft, select(isInt, sub(xo, F(1)), fl), 'i0');
          const ratio = kb.let(ft, select(isInt, F(1), sub(xo, fl)), 'rt');
          // coefficients c[j], j < n; nr = the number actually used (runtime for antialias)
          const c: Expr[] = [];
          let nr: Expr = F(n);
          const A = o.cubicA;
          if (o.mode === 'nearest') {
            let pair: [Expr, Expr];
            switch (o.nearestMode) {
              case 'round_prefer_floor': pair = [le(ratio, F(0.5)), gt(ratio, F(0.5))]; break;
              case 'round_prefer_ceil': pair = [lt(ratio, F(0.5)), ge(ratio, F(0.5))]; break;
              case 'floor': pair = [eq(F(0), F(0)), eq(F(0), F(1))]; break;
              case 'ceil': pair = [eq(F(0), F(1)), eq(F(0), F(0))]; break;
              default: throw new KilnError('type', `bad nearest_mode '${o.nearestMode}'`);
            }
            const one = eq(ratio, F(1));
            c.push(kb.let(ft, select(one, F(0), select(pair[0], F(1), F(0))), 'c'));
            c.push(kb.let(ft, select(one, F(1), select(pair[1], F(1), F(0))), 'c'));
          } else if (!o.antialias) {
            if (o.mode === 'linear') {
              c.push(kb.let(ft, sub(F(1), ratio), 'c'), ratio);
            } else {
              const r1 = add(ratio, F(1));
              const q = kb.let(ft, sub(F(1), ratio), 'q');
              const q1 = add(q, F(1));
              c.push(kb.let(ft, sub(mul(add(mul(sub(mul(F(A), r1), F(5 * A)), r1), F(8 * A)), r1), F(4 * A)), 'c'));
              c.push(kb.let(ft, add(mul(mul(sub(mul(F(A + 2), ratio), F(A + 3)), ratio), ratio), F(1)), 'c'));
              c.push(kb.let(ft, add(mul(mul(sub(mul(F(A + 2), q), F(A + 3)), q), q), F(1)), 'c'));
              c.push(kb.let(ft, sub(mul(add(mul(sub(mul(F(A), q1), F(5 * A)), q1), F(8 * A)), q1), F(4 * A)), 'c'));
            }
          } else {
            const sc2 = kb.let(ft, min(s, F(1)), 'sc2');
            const st = kb.let(ft, add(floor(div(F(o.mode === 'linear' ? -1 : -2), sc2)), F(1)), 'st');
            nr = kb.let(ft, sub(F(2), mul(F(2), st)), 'nr');
            const sum = kb.let(ft, F(0), 'sum');
            for (let j = 0; j < n; j++) {
              const t = add(st, F(j));
              let v: Expr;
              if (o.mode === 'linear') v = min(F(1), max(F(0), sub(F(1), abs(mul(sub(t, ratio), sc2)))));
              else {
                const xx = kb.let(ft, abs(mul(sc2, sub(t, ratio))), 'ax');
                const x2 = mul(xx, xx);
                const x3 = mul(x2, xx);
                v = select(le(xx, F(1)), add(sub(mul(F(A + 2), x3), mul(F(A + 3), x2)), F(1)), select(lt(xx, F(2)), sub(add(sub(mul(F(A), x3), mul(F(5 * A), x2)), mul(F(8 * A), xx)), F(4 * A)), F(0)));
              }
              const cj = kb.let(ft, select(lt(F(j), nr), v, F(0)), 'c');
              kb.set(sum, add(sum, cj));
              c.push(cj);
            }
            for (let j = 0; j < n; j++) kb.set(c[j]!, div(c[j]!, sum));
          }
          const half = kb.let(ft, div(nr, F(2)), 'hf');
          const start = kb.let(ft, min(sub(F(L), half), max(sub(F(0), half), add(sub(i0, half), F(1)))), 'sp');
          if (o.excludeOutside) {
            const sum = kb.let(ft, F(0), 'sum');
            const cs = c.map((cj, j) => {
              const p = add(start, F(j));
              const v = kb.let(ft, select(or(lt(p, F(0)), ge(p, F(L))), F(0), cj), 'c');
              kb.set(sum, add(sum, v));
              return v;
            });
            c.length = 0;
            for (const v of cs) c.push(div(v, sum));
          }
          for (let j = 0; j < n; j++) {
            const p = max(F(0), min(F(L - 1), add(start, F(j))));
            put(j, p, c[j]!);
          }
        };
        if (o.ctm === 'tf_crop_and_resize') {
          kb.if(or(lt(xo, F(0)), gt(xo, F(L - 1))), () => {
            for (let j = 0; j < n; j++) put(j, F(-1), F(0));
          }, body);
        } else body();
      };
      if (o.ctm !== 'tf_crop_and_resize' && L === O) {
        // identity along this axis when the scale is 1
        kb.if(eq(s, F(1)), () => {
          for (let j = 0; j < n; j++) put(j, f64(x), F(j === 0 ? 1 : 0));
        }, general);
      } else general();
    });
  });
  return { ti, tw };
}

function emitResize(ctx: LowerContext, o: ResizeOpts, x: KBuffer, out: KBuffer, scales: AxisScale[], roi: ((ax: number) => [Expr, Expr]) | null): void {
  const ft = floatOf(ctx);
  const { F, f64 } = helpers(ft);
  const r = x.shape.length;
  const outShape = out.shape;
  let cur = x;
  const shape = [...x.shape];
  const work: number[] = [];
  for (let ax = r - 1; ax >= 0; ax--) {
    const sc = scales[ax]!;
    if (outShape[ax] === shape[ax] && sc.isOne && o.ctm !== 'tf_crop_and_resize') continue;
    work.push(ax);
  }
  if (work.length === 0) {
    ctx.kernel((kb) => kb.for(0, prod(outShape), (i) => kb.store(out, i, load(x, i))));
    return;
  }
  work.forEach((ax, wi) => {
    const L = shape[ax]!;
    const O = outShape[ax]!;
    const n = tapCount(o, scales[ax]!.minScale);
    // taps are unrolled into the kernel: a scale near 0 (e.g. from a hostile input dim) would need billions
    if (n > MAX_RESIZE_TAPS) throw new KilnError('limit', `Resize along axis ${ax} (${L} to ${O}) needs ${n} filter taps per output, over Kiln's limit of ${MAX_RESIZE_TAPS}`);
    const { ti, tw } = buildTable(ctx, o, L, O, n, scales[ax]!, roi ? roi(ax) : null);
    const outer = prod(shape.slice(0, ax));
    const inner = prod(shape.slice(ax + 1));
    const last = wi === work.length - 1;
    const nextShape = [...shape];
    nextShape[ax] = O;
    const dst = last ? out : ctx.temp(ft, nextShape, 'rs');
    const src = cur;
    ctx.kernel((kb) => {
      kb.for(0, outer, (a) => {
        kb.for(0, O, (xo) => {
          const ob = kb.let('index', mul(add(mul(a, idx(O)), xo), idx(inner)), 'ob');
          const tb = kb.let('index', mul(xo, idx(n)), 'tb');
          const ii: Expr[] = [];
          const ww: Expr[] = [];
          for (let j = 0; j < n; j++) {
            ii.push(kb.let('index', mul(add(mul(a, idx(L)), cast(load(ti, add(tb, idx(j))), 'index')), idx(inner)), 'ib'));
            ww.push(kb.let(ft, load(tw, add(tb, idx(j))), 'w'));
          }
          const interp = (): void => {
            kb.for(0, inner, (k) => {
              let acc: Expr = F(0);
              for (let j = 0; j < n; j++) {
                const v = f64(load(src, add(ii[j]!, k)));
                acc = add(acc, select(eq(ww[j]!, F(0)), F(0), mul(ww[j]!, v)));
              }
              kb.store(dst, add(ob, k), acc);
            });
          };
          if (o.ctm === 'tf_crop_and_resize') {
            kb.if(lt(load(ti, tb), lit('i32', 0)), () => {
              kb.for(0, inner, (k) => kb.store(dst, add(ob, k), F(o.extrapolation)));
            }, interp);
          } else interp();
        });
      });
    });
    cur = dst;
    shape[ax] = O;
  });
}

/** Scale of an axis given as a constant. */
function constScale(v: number, ft: ScalarType): AxisScale {
  return { scale: () => lit(ft, v), minScale: v, isOne: v === 1 };
}

registerLowering({
  opType: 'Resize',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const out = req(ctx.output(0), 'Y');
    const ft = floatOf(ctx);
    const { F, f64 } = helpers(ft);
    const o = resizeOptions(ctx.attrs, ctx.opset, false);
    const r = x.shape.length;
    const xs = x.shape;
    const os = out.shape;
    const scales: AxisScale[] = xs.map(() => constScale(1, ft));
    if (ctx.opset < 11) {
      const sb = req(ctx.input(1), 'scales');
      const cs = ctx.constant(1);
      xs.forEach((_, ax) => {
        scales[ax] = cs ? constScale(cs.num(ax), ft) : { scale: () => f64(load(sb, idx(ax))), minScale: os[ax]! / xs[ax]!, isOne: false };
      });
      emitResize(ctx, o, x, out, scales, null);
      return;
    }
    const axesAttr = ctx.opset >= 18 ? ctx.attrs.optInts('axes') : undefined;
    const axes = axesAttr ? axesAttr.map((v) => normAxis(v, r, 'Resize axis')) : [...Array(r).keys()];
    const sizes = ctx.input(3);
    const scalesB = ctx.input(2);
    if (sizes && prod(sizes.shape) > 0) {
      const policy = ctx.opset >= 18 ? ctx.attrs.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
      const cs = ctx.constant(3);
      if (policy === 'stretch') {
        axes.forEach((ax, i) => {
          scales[ax] = cs ? constScale(cs.num(i) / xs[ax]!, ft) : { scale: () => div(f64(load(sizes, idx(i))), F(xs[ax]!)), minScale: os[ax]! / xs[ax]!, isOne: false };
        });
      } else {
        if (policy !== 'not_larger' && policy !== 'not_smaller') throw new KilnError('type', `bad keep_aspect_ratio_policy '${policy}'`);
        const pick = (a: Expr, b: Expr): Expr => (policy === 'not_larger' ? min(a, b) : max(a, b));
        const sExpr = (): Expr => axes.map((ax, i) => div(f64(load(sizes, idx(i))), F(xs[ax]!))).reduce(pick);
        const minS = Math.min(...axes.map((ax) => (os[ax]! - 0.5) / xs[ax]!));
        for (const ax of axes) scales[ax] = { scale: sExpr, minScale: minS, isOne: false };
      }
    } else if (scalesB && prod(scalesB.shape) > 0) {
      const cs = ctx.constant(2);
      axes.forEach((ax, i) => {
        scales[ax] = cs ? constScale(cs.num(i), ft) : { scale: () => f64(load(scalesB, idx(i))), minScale: os[ax]! / xs[ax]!, isOne: false };
      });
    } else throw new KilnError('type', 'Resize needs scales or sizes');
    let roi: ((ax: number) => [Expr, Expr]) | null = null;
    if (o.ctm === 'tf_crop_and_resize') {
      const rb = ctx.input(1);
      if (!rb || prod(rb.shape) === 0) throw new KilnError('type', 'Resize tf_crop_and_resize needs roi');
      roi = (ax) => {
        if (axesAttr) {
          const i = axes.indexOf(ax);
          if (i < 0) return [F(0), F(1)];
          return [f64(load(rb, idx(i))), f64(load(rb, idx(axes.length + i)))];
        }
        return [f64(load(rb, idx(ax))), f64(load(rb, idx(r + ax)))];
      };
    }
    emitResize(ctx, o, x, out, scales, roi);
  },
});

registerLowering({
  opType: 'Upsample',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const out = req(ctx.output(0), 'Y');
    const ft = floatOf(ctx);
    const { F, f64 } = helpers(ft);
    const o = resizeOptions(ctx.attrs, ctx.opset, true);
    const xs = x.shape;
    let scales: AxisScale[];
    if (ctx.opset >= 9) {
      const sb = req(ctx.input(1), 'scales');
      const cs = ctx.constant(1);
      scales = xs.map((_, ax) => (cs ? constScale(cs.num(ax), ft) : { scale: () => f64(load(sb, idx(ax))), minScale: out.shape[ax]! / xs[ax]!, isOne: false }));
    } else {
      const sc = ctx.attrs.floats('scales');
      scales = xs.map((_, ax) => constScale(sc[ax]!, ft));
    }
    emitResize(ctx, o, x, out, scales, null);
  },
});


