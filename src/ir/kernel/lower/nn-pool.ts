/**
 * Lowerings of pooling: MaxPool (+Indices), AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool,
 * GlobalLpPool, MaxUnpool. Windowed pools loop over output positions; the window loops run over a
 * kernel range clipped to the input, so there is no per-tap bounds check.
 */
import { add, and, cast, div, gt, idx, lit, load, lt, max, min, mul, or, select, sub, un, bin } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { computeType, constOf, isFloatT, req } from './common.js';
import { resolveWindow, windowSpec } from '../../ops/nn-common.js';
import { emitFastPool, fastPoolApplies } from './perf-pool.js';
import { floatRequant, requantize, RequantTable } from './requant.js';
import { MS_DOMAIN } from '../../ops/quant-contrib.js';
import { intRange, type DType } from '../../dtype.js';

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

type Kind = 'max' | 'avg' | 'lp';

function lpP(ctx: LowerContext): number {
  return ctx.opset >= 2 ? ctx.attrs.int('p', 2) : ctx.attrs.float('p', 2);
}

/** |v|^p in type t, with exact forms for p = 1, 2. */
function absPow(v: Expr, p: number, t: ScalarType): Expr {
  const a = un('abs', v);
  if (p === 1) return a;
  if (p === 2) return mul(v, v);
  return bin('pow', a, constOf(t, p));
}

function rootP(s: Expr, p: number, t: ScalarType): Expr {
  if (p === 1) return s;
  if (p === 2) return un('sqrt', s);
  return bin('pow', s, constOf(t, 1 / p));
}

/**
 * com.microsoft QLinearAveragePool's integer form: the window sums x - zp in i32, and each output is
 * requantized by the factor of its window's count (x_scale / (y_scale · count), a fixed-point table
 * indexed by count - 1), or in f64 as the interpreter does (`rq` null).
 */
interface QAvg {
  xz: Expr;
  yz: Expr;
  rq: RequantTable | null;
  xs: number;
  ys: number;
  lo: number;
  hi: number;
}

function lowerPool(ctx: LowerContext, kind: Kind, q: QAvg | null = null): void {
  const x = req(ctx.input(0), 'X');
  const y = req(ctx.output(0), 'Y');
  const ind = kind === 'max' && ctx.outputCount > 1 ? ctx.output(1) : null;
  const xs = x.shape;
  const nd = xs.length - 2;
  if (nd < 1) throw unsupportedLowering('pool on rank < 3');
  const spec = windowSpec(ctx.attrs, nd);
  const ceil = ctx.attrs.int('ceil_mode', 0) !== 0;
  const inSp = xs.slice(2);
  const win = resolveWindow(ctx.attrs, inSp, spec, ceil);
  const outSp = y.shape.slice(2);
  const NC = xs[0]! * xs[1]!;
  const nIn = prod(inSp);
  const nOut = prod(outSp);
  const float = isFloatT(x.dtype);
  if (kind !== 'max' && !float && !q) throw unsupportedLowering(`${kind} pool on ${x.dtype}`);
  const t: ScalarType = q ? 'i32' : computeType(x.dtype);
  const countPad = ctx.attrs.int('count_include_pad', 0) !== 0;
  const p = kind === 'lp' ? lpP(ctx) : 2;
  if (ind === null && kind !== 'lp' && float && !q && nd <= 2 && spec.dilations.every((d) => d === 1) && fastPoolApplies(t, nd === 2 ? spec.kernel[0]! : 1, spec.kernel[nd - 1]!)) {
    const two = nd === 2;
    ctx.kernel((kb) =>
      emitFastPool(kb, {
        kind, x, y, t, NC,
        IH: two ? inSp[0]! : 1, IW: inSp[nd - 1]!, OH: two ? outSp[0]! : 1, OW: outSp[nd - 1]!,
        KH: two ? spec.kernel[0]! : 1, KW: spec.kernel[nd - 1]!, sh: two ? spec.strides[0]! : 1, sw: spec.strides[nd - 1]!,
        ph: two ? win.pb[0]! : 0, pw: win.pb[nd - 1]!, peh: two ? win.pe[0]! : 0, pew: win.pe[nd - 1]!, countPad,
      }),
    );
    return;
  }
  const colMajor = ind !== null && ctx.attrs.int('storage_order', 0) === 1;
  // strides of the spatial multi-index in the reported index (row- or column-major)
  const idxStride: number[] = [];
  for (let j = 0; j < nd; j++) idxStride.push(colMajor ? prod(inSp.slice(0, j)) : prod(inSp.slice(j + 1)));
  ctx.kernel((kb) => {
    kb.for(0, NC, (nc) => {
      const xb = kb.let('index', mul(nc, idx(nIn)), 'xb');
      const yb = kb.let('index', mul(nc, idx(nOut)), 'yb');
      const outer = (d: number, oOff: Expr, starts: Expr[]): void => {
        kb.for(0, outSp[d]!, (o) => {
          const st = kb.let('index', sub(mul(o, idx(spec.strides[d]!)), idx(win.pb[d]!)), 'st');
          const oo = d < nd - 1 ? kb.let('index', mul(add(oOff, o), idx(outSp[d + 1]!)), 'oo') : add(oOff, o);
          if (d < nd - 1) outer(d + 1, oo, [...starts, st]);
          else body(kb, oo, [...starts, st]);
        });
      };
      const body = (kb: KernelBuilder, oi: Expr, starts: Expr[]): void => {
        // clipped kernel ranges: start + k*dil in [0, in)
        const los: Expr[] = [];
        const his: Expr[] = [];
        for (let j = 0; j < nd; j++) {
          const dl = spec.dilations[j]!;
          const s = starts[j]!;
          los.push(kb.let('index', max(idx(0), div(add(sub(idx(0), s), idx(dl - 1)), idx(dl))), 'klo'));
          const u = sub(idx(inSp[j]! - 1), s);
          his.push(kb.let('index', select(lt(u, idx(0)), idx(0), min(idx(spec.kernel[j]!), add(div(u, idx(dl)), idx(1)))), 'khi'));
        }
        const acc = kb.let(t, kind === 'max' ? (float ? constOf(t, -Infinity) : lit(t, 0)) : constOf(t, 0), 'acc');
        const bi = kind === 'max' ? kb.let('index', idx(-1), 'bi') : null;
        const window = (j: number, xOff: Expr, iOff: Expr): void => {
          kb.for(los[j]!, his[j]!, (k) => {
            const pos = add(starts[j]!, mul(k, idx(spec.dilations[j]!)));
            const xo = j < nd - 1 ? kb.let('index', mul(add(xOff, pos), idx(inSp[j + 1]!)), 'xo') : add(xOff, pos);
            const io = bi ? add(iOff, mul(pos, idx(idxStride[j]!))) : idx(0);
            if (j < nd - 1) {
              window(j + 1, xo, bi ? kb.let('index', io, 'io') : idx(0));
              return;
            }
            const v = kb.let(t, q ? sub(cast(load(x, add(xb, xo)), t), q.xz) : cast(load(x, add(xb, xo)), t), 'v');
            if (kind === 'max') {
              const cond = float ? or(gt(v, acc), and(lt(bi!, idx(0)), un('not', un('isnan', v)))) : or(gt(v, acc), lt(bi!, idx(0)));
              kb.if(cond, () => {
                kb.set(acc, v);
                kb.set(bi!, io);
              });
            } else kb.set(acc, add(acc, kind === 'avg' ? v : absPow(v, p, t)));
          });
        };
        window(0, idx(0), idx(0));
        let r: Expr;
        if (kind === 'max') r = float ? select(lt(bi!, idx(0)), constOf(t, NaN), acc) : acc;
        else if (kind === 'lp') r = rootP(acc, p, t);
        else {
          let cnt: Expr = idx(1);
          for (let j = 0; j < nd; j++) {
            if (countPad) {
              // taps with start + k*dil < in + pe
              const dl = spec.dilations[j]!;
              const u = sub(idx(inSp[j]! + win.pe[j]!), starts[j]!);
              cnt = mul(cnt, max(idx(0), min(idx(spec.kernel[j]!), div(add(u, idx(dl - 1)), idx(dl)))));
            } else cnt = mul(cnt, sub(his[j]!, los[j]!));
          }
          if (!q) r = div(acc, cast(cnt, t));
          else if (q.rq) {
            const c = kb.let('index', max(idx(0), sub(cnt, idx(1))), 'c');
            r = requantize(acc, q.rq.m(c), q.rq.s(c), q.yz, q.lo, q.hi);
          } else {
            const v = div(mul(div(cast(acc, 'f64'), cast(cnt, 'f64')), lit('f64', q.xs)), lit('f64', q.ys));
            r = max(lit('f64', q.lo), min(lit('f64', q.hi), add(un('round', v), cast(q.yz, 'f64'))));
          }
        }
        kb.store(y, add(yb, oi), r);
        if (ind && bi) kb.store(ind, add(yb, oi), cast(select(lt(bi, idx(0)), idx(-1), add(xb, bi)), 'i64'));
      };
      outer(0, idx(0), []);
    });
  });
}

registerLowering({ opType: 'MaxPool', lower: (ctx) => lowerPool(ctx, 'max') });
registerLowering({ opType: 'AveragePool', lower: (ctx) => lowerPool(ctx, 'avg') });

registerLowering({
  opType: 'QLinearAveragePool',
  domain: MS_DOMAIN,
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    if (x.dtype !== 'i8' && x.dtype !== 'u8') throw unsupportedLowering(`QLinearAveragePool on ${x.dtype}`);
    if (ctx.attrs.int('channels_last', 0) !== 0) throw unsupportedLowering('QLinearAveragePool with channels_last = 1');
    if (ctx.attrs.int('ceil_mode', 0) !== 0 && ctx.attrs.int('count_include_pad', 0) !== 0) throw unsupportedLowering('QLinearAveragePool with ceil_mode and count_include_pad');
    const param = (i: number, what: string, def: number | null): number => {
      if (!ctx.input(i)) {
        if (def === null) throw unsupportedLowering(`missing ${what}`);
        return def;
      }
      const t = ctx.constant(i);
      if (!t || t.size !== 1) throw unsupportedLowering(`QLinearAveragePool with a non-constant or per-axis ${what}`);
      return t.num(0);
    };
    const xs = Math.fround(param(1, 'x_scale', null));
    const xz = param(2, 'x_zero_point', 0);
    const ys = Math.fround(param(3, 'y_scale', null));
    const yz = param(4, 'y_zero_point', 0);
    const nK = prod(windowSpec(ctx.attrs, x.shape.length - 2).kernel);
    const rq = floatRequant(ctx) ? null : new RequantTable(ctx, Array.from({ length: nK }, (_, c) => xs / (ys * (c + 1))), 'rq');
    const [lo, hi] = intRange(x.dtype as DType);
    lowerPool(ctx, 'avg', { xz: lit('i32', xz), yz: lit(rq && !rq.pow2 ? 'i64' : 'i32', yz), rq, xs, ys, lo, hi });
  },
});
registerLowering({ opType: 'LpPool', lower: (ctx) => lowerPool(ctx, 'lp') });

function lowerGlobal(ctx: LowerContext, kind: Kind): void {
  const x = req(ctx.input(0), 'X');
  const y = req(ctx.output(0), 'Y');
  const xs = x.shape;
  if (xs.length < 3) throw unsupportedLowering('global pool on rank < 3');
  const NC = xs[0]! * xs[1]!;
  const nIn = prod(xs.slice(2));
  const float = isFloatT(x.dtype);
  if (!float) throw unsupportedLowering(`global pool on ${x.dtype}`);
  const t = computeType(x.dtype);
  const p = kind === 'lp' ? lpP(ctx) : 2;
  ctx.kernel((kb) => {
    kb.for(0, NC, (nc) => {
      const xb = kb.let('index', mul(nc, idx(nIn)), 'xb');
      const acc = kb.let(t, constOf(t, kind === 'max' ? -Infinity : 0), 'acc');
      kb.for(0, nIn, (i) => {
        const v = cast(load(x, add(xb, i)), t);
        if (kind === 'max') kb.set(acc, bin('max', acc, v));
        else kb.set(acc, add(acc, kind === 'avg' ? v : absPow(v, p, t)));
      });
      const r = kind === 'avg' ? div(acc, constOf(t, nIn)) : kind === 'lp' ? rootP(acc, p, t) : acc;
      kb.store(y, nc, r);
    });
  });
}

registerLowering({ opType: 'GlobalMaxPool', lower: (ctx) => lowerGlobal(ctx, 'max') });
registerLowering({ opType: 'GlobalAveragePool', lower: (ctx) => lowerGlobal(ctx, 'avg') });
registerLowering({ opType: 'GlobalLpPool', lower: (ctx) => lowerGlobal(ctx, 'lp') });

// ---------- MaxUnpool ----------

registerLowering({
  opType: 'MaxUnpool',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const ind = req(ctx.input(1), 'I');
    const y = req(ctx.output(0), 'output');
    const xs = x.shape;
    const nd = xs.length - 2;
    const spec = windowSpec(ctx.attrs, nd);
    const pads = ctx.attrs.optInts('pads') ?? new Array<number>(2 * nd).fill(0);
    const inferred = [xs[0]!, xs[1]!, ...xs.slice(2).map((d, i) => (d - 1) * spec.strides[i]! - (pads[i] ?? 0) - (pads[i + nd] ?? 0) + spec.kernel[i]!)];
    const shape = y.shape;
    const same = shape.length === inferred.length && shape.every((d, i) => d === inferred[i]);
    const nX = prod(xs);
    const nY = prod(shape);
    const nInf = prod(inferred);
    const r = inferred.length;
    ctx.kernel((kb) => {
      kb.for(0, nY, (i) => kb.store(y, i, constOf(computeType(y.dtype), 0)));
      kb.for(0, nX, (i) => {
        const t = kb.let('index', cast(load(ind, i), 'index'), 't');
        kb.if(and(bin('ge', t, idx(0)), lt(t, idx(nInf))), () => {
          if (same) {
            kb.store(y, t, load(x, i));
            return;
          }
          // place the inferred-shape position in the leading corner of the output shape
          let off: Expr = idx(0);
          let ok: Expr | null = null;
          let rest = t;
          const coords: Expr[] = new Array<Expr>(r);
          for (let j = r - 1; j >= 0; j--) {
            const dj = inferred[j]!;
            coords[j] = dj === 1 ? idx(0) : kb.let('index', bin('mod', rest, idx(dj)), 'c');
            if (dj > 1 && inferred.slice(0, j).some((v) => v > 1)) rest = kb.let('index', div(rest, idx(dj)), 'q');
          }
          for (let j = 0; j < r; j++) {
            off = add(mul(off, idx(shape[j]!)), coords[j]!);
            const c = lt(coords[j]!, idx(shape[j]!));
            ok = ok ? and(ok, c) : c;
          }
          kb.if(ok!, () => kb.store(y, off, load(x, i)));
        });
      });
    });
  },
});
