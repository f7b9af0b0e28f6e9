/** Lowerings of Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax and CumSum/CumProd. */
import { bigintRange, dtypeInfo, intRange, type DType } from '../../dtype.js';
import { KilnError } from '../../errors.js';
import {
  add, and, bin, cast, div, eq, flatIndex, gt, idx, lit, load, lt, max, min, mul, or, select, sub, un,
  type KernelBuilder,
} from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { computeType, isFloatT, req } from './common.js';
import { around, forEachLine, shapeIn, axisOf, FALSE, floatCompute, loopAxes, num, prodOf, TRUE } from './reduce-common.js';
import { reduceOps, type ReduceKind } from '../../ops/reduce.js';
import { argReduceConfig, noopWithEmptyAxes, reduceAxesInputFrom, reducedAxes, softmaxLayout } from '../../ops/config/reduce.js';

// ---------------------------------------------------------------- Reduce*


const EXACT_INT: ReadonlySet<ReduceKind> = new Set(['sum', 'mean', 'max', 'min', 'prod', 'l1', 'sumsquare']);

interface ReduceScheme {
  /** Accumulator type. */
  t: ScalarType;
  init: Expr;
  step(acc: Expr, v: Expr, shift: Expr | null): Expr;
  finish(acc: Expr, shift: Expr | null, count: Expr): Expr;
}

/** How a reduction kind accumulates values of element type dt over `count` elements. */
function reduceScheme(kind: ReduceKind, dt: ScalarType): ReduceScheme {
  const info = dtypeInfo(dt as DType);
  const intKind = info.kind === 'int' || info.kind === 'uint';
  const exact = intKind && EXACT_INT.has(kind);
  let t: ScalarType;
  if (exact) {
    // integer results wrap to the element type: ring operations can wrap as they go; the mean needs the exact sum
    if (kind === 'mean') t = info.kind === 'uint' ? 'u64' : 'i64';
    else t = dt;
  } else t = isFloatT(dt) ? computeType(dt) : 'f64';
  let init: Expr;
  if (kind === 'max' || kind === 'min') {
    if (exact && info.bits === 64) {
      const [lo, hi] = bigintRange(dt as DType);
      init = lit(t, kind === 'max' ? lo : hi);
    } else if (info.kind !== 'float') {
      const [lo, hi] = intRange(dt as DType);
      init = num(t, kind === 'max' ? lo : hi);
    } else init = num(t, kind === 'max' ? -Infinity : Infinity);
  } else init = num(t, kind === 'prod' ? 1 : 0);
  const step = (acc: Expr, v: Expr, shift: Expr | null): Expr => {
    switch (kind) {
      case 'sum': case 'mean': case 'logsum': return add(acc, v);
      case 'max': return max(acc, v);
      case 'min': return min(acc, v);
      case 'prod': return mul(acc, v);
      case 'l1': return add(acc, un('abs', v));
      case 'l2': case 'sumsquare': return add(acc, mul(v, v));
      case 'logsumexp': return add(acc, un('exp', sub(v, shift!)));
    }
  };
  const finish = (acc: Expr, shift: Expr | null, count: Expr): Expr => {
    switch (kind) {
      case 'mean': return div(acc, cast(count, t));
      case 'l2': return un('sqrt', acc);
      case 'logsum': return un('log', acc);
      case 'logsumexp': return add(un('log', acc), shift!);
      default: return acc;
    }
  };
  return { t, init, step, finish };
}

function lowerReduce(ctx: LowerContext, opType: string, kind: ReduceKind): void {
  const x = req(ctx.input(0), 'data');
  const xShape = shapeIn(ctx, 0);
  const rank = xShape.length;
  let axes: readonly number[] = [];
  const fromInput = ctx.opset >= reduceAxesInputFrom(opType);
  const s = reduceScheme(kind, x.dtype);
  if (fromInput) {
    const ab = ctx.input(1);
    if (ab !== null) {
      const c = ctx.constant(1);
      if (c) axes = c.toIndexArray();
      else if (prodOf(ab.shape) > 0) {
        lowerReduceRuntimeAxes(ctx, x, xShape, req(ctx.output(0), 'reduced'), ab, kind, s);
        return;
      }
    }
  } else axes = ctx.attrs.optInts('axes') ?? [];
  if (axes.length === 0 && noopWithEmptyAxes(ctx.attrs, ctx.opset, opType)) {
    ctx.alias(0, 0);
    return;
  }
  const out = req(ctx.output(0), 'reduced');
  const red = reducedAxes(axes, rank);
  const keptAxes = xShape.map((_, i) => i).filter((i) => !red.includes(i));
  const keptShape = xShape.map((d, i) => (red.includes(i) ? 1 : d));
  const count = num(s.t, red.reduce((p, a) => p * xShape[a]!, 1));
  const val = (ix: Expr[]): Expr => cast(load(x, flatIndex(ix, xShape)), s.t);
  const zeros = (): Expr[] => xShape.map(() => idx(0));
  const outN = prodOf(keptShape);

  if (rank > 0 && !red.includes(rank - 1) && kind !== 'logsumexp') {
    // the last axis is kept: accumulate into a buffer in input order (contiguous innermost loop)
    const acc = out.dtype === s.t ? out : ctx.temp(s.t, keptShape, 'acc');
    ctx.kernel((kb) => {
      kb.for(0, outN, (o) => kb.store(acc, o, s.init));
      kb.loops(xShape, (ix) => {
        const o = flatIndex(ix.map((v, i) => (red.includes(i) ? idx(0) : v)), keptShape);
        kb.store(acc, o, s.step(load(acc, o), val(ix), null));
      });
      if (acc !== out || FINISHED.has(kind)) {
        kb.for(0, outN, (o) => kb.store(out, o, s.finish(load(acc, o), null, count)));
      }
    });
    return;
  }

  // reduced axes innermost: one local accumulator per output element
  ctx.kernel((kb) => {
    loopAxes(kb, xShape, keptAxes, zeros(), (oix) => {
      const o = flatIndex(oix, keptShape);
      let shift: Expr | null = null;
      if (kind === 'logsumexp') {
        const m = kb.let(s.t, num(s.t, -Infinity), 'm');
        loopAxes(kb, xShape, red, oix, (ix) => {
          const v = kb.let(s.t, val(ix), 'x');
          kb.set(m, select(gt(v, m), v, m));
        });
        shift = kb.let(s.t, select(un('isinf', m), num(s.t, 0), m), 'shift');
      }
      const acc = kb.let(s.t, s.init, 'acc');
      loopAxes(kb, xShape, red, oix, (ix) => kb.set(acc, s.step(acc, val(ix), shift)));
      kb.store(out, o, s.finish(acc, shift, count));
    });
  });
}

/** Kinds whose result is not the accumulator itself. */
const FINISHED: ReadonlySet<ReduceKind> = new Set(['mean', 'l2', 'logsum', 'logsumexp']);

/**
 * Axes known only at run time: the kernel reads them, marks the reduced dims, and maps each input
 * element to its output element through run-time strides of the kept shape (the output layout is
 * the same with or without keepdims).
 */
function lowerReduceRuntimeAxes(ctx: LowerContext, x: KBuffer, xShape: readonly number[], out: KBuffer, axesBuf: KBuffer, kind: ReduceKind, s: ReduceScheme): void {
  const rank = xShape.length;
  const outN = prodOf(out.shape);
  const lse = kind === 'logsumexp';
  const acc = out.dtype === s.t && !lse ? out : ctx.temp(s.t, [outN], 'acc');
  const mbuf = lse ? ctx.temp(s.t, [outN], 'max') : null;
  const big = xShape.map((_, d) => d).filter((d) => xShape[d]! > 1);
  ctx.kernel((kb) => {
    const flag = new Map<number, Expr>();
    for (const d of big) flag.set(d, kb.let('bool', FALSE, 'red'));
    if (big.length > 0) {
      kb.for(0, prodOf(axesBuf.shape), (a) => {
        const v = kb.let('index', cast(load(axesBuf, a), 'index'), 'ax');
        const n = kb.let('index', select(lt(v, idx(0)), add(v, idx(rank)), v), 'axn');
        for (const d of big) kb.set(flag.get(d)!, or(flag.get(d)!, eq(n, idx(d))));
      });
    }
    // output strides of the kept dims
    const os = new Map<number, Expr>();
    let cur: Expr = idx(1);
    for (let k = big.length - 1; k >= 0; k--) {
      const d = big[k]!;
      const st = kb.let('index', cur, 'os');
      os.set(d, st);
      cur = mul(st, select(flag.get(d)!, idx(1), idx(xShape[d]!)));
    }
    let count: Expr = idx(1);
    if (kind === 'mean') {
      for (const d of big) count = mul(count, select(flag.get(d)!, idx(xShape[d]!), idx(1)));
      count = kb.let('index', count, 'count');
    }
    const oOf = (ix: Expr[]): Expr => big.reduce<Expr>((e, d) => add(e, select(flag.get(d)!, idx(0), mul(ix[d]!, os.get(d)!))), idx(0));
    const val = (ix: Expr[]): Expr => cast(load(x, flatIndex(ix, xShape)), s.t);
    kb.for(0, outN, (o) => {
      kb.store(acc, o, s.init);
      if (mbuf) kb.store(mbuf, o, num(s.t, -Infinity));
    });
    if (mbuf) {
      kb.loops(xShape, (ix) => {
        const o = kb.let('index', oOf(ix), 'o');
        const v = kb.let(s.t, val(ix), 'x');
        const m = load(mbuf, o);
        kb.store(mbuf, o, select(gt(v, m), v, m));
      });
      kb.for(0, outN, (o) => {
        const m = load(mbuf, o);
        kb.store(mbuf, o, select(un('isinf', m), num(s.t, 0), m));
      });
    }
    kb.loops(xShape, (ix) => {
      const o = kb.let('index', oOf(ix), 'o');
      kb.store(acc, o, s.step(load(acc, o), val(ix), mbuf ? load(mbuf, o) : null));
    });
    if (acc !== out || FINISHED.has(kind)) {
      kb.for(0, outN, (o) => kb.store(out, o, s.finish(load(acc, o), mbuf ? load(mbuf, o) : null, count)));
    }
  });
}

for (const [opType, kind] of reduceOps) {
  registerLowering({ opType, lower: (ctx) => lowerReduce(ctx, opType, kind) });
}

// ---------------------------------------------------------------- ArgMax / ArgMin

function lowerArg(ctx: LowerContext, isMax: boolean): void {
  const x = req(ctx.input(0), 'data');
  const xShape = shapeIn(ctx, 0);
  const out = req(ctx.output(0), 'reduced');
  const { axis, selectLastIndex: last } = argReduceConfig(ctx.attrs, xShape.length);
  const [outer, len, inner] = around(xShape, axis);
  if (outer * inner > 0 && len === 0) throw unsupportedLowering(`${isMax ? 'ArgMax' : 'ArgMin'} over an empty axis`);
  const fl = isFloatT(x.dtype);
  const vt = fl ? computeType(x.dtype) : x.dtype;
  ctx.kernel((kb) => {
    forEachLine(kb, outer, len, inner, (at, base, o, k) => {
      const best = kb.let(vt, cast(load(x, base), vt), 'best');
      const bi = kb.let('index', idx(0), 'bi');
      kb.for(1, len, (j) => {
        const v = kb.let(vt, cast(load(x, at(j)), vt), 'x');
        let cmp = isMax ? gt(v, best) : lt(v, best);
        if (last) cmp = or(cmp, eq(v, best));
        let take = cmp;
        if (fl) {
          const vN = un('isnan', v);
          take = select(un('isnan', best), last ? vN : FALSE, or(vN, cmp));
        }
        kb.if(take, () => {
          kb.set(best, v);
          kb.set(bi, j);
        });
      });
      kb.store(out, add(mul(o, idx(inner)), k), bi);
    });
  });
}

registerLowering({ opType: 'ArgMax', lower: (ctx) => lowerArg(ctx, true) });
registerLowering({ opType: 'ArgMin', lower: (ctx) => lowerArg(ctx, false) });

// ---------------------------------------------------------------- Softmax family

type SoftKind = 'softmax' | 'logsoftmax' | 'hardmax';

function lowerSoft(ctx: LowerContext, kind: SoftKind): void {
  const x = req(ctx.input(0), 'input');
  const xShape = shapeIn(ctx, 0);
  const out = req(ctx.output(0), 'output');
  const [outer, len, inner] = softmaxLayout(xShape, ctx.opset, ctx.attrs.optInt('axis'));
  const t = floatCompute(x.dtype);
  ctx.kernel((kb) => {
    forEachLine(kb, outer, len, inner, (at, base, o, k) => {
      const xv = (j: Expr): Expr => cast(load(x, at(j)), t);
      const m = kb.let(t, num(t, -Infinity), 'm');
      const nan = kb.let('bool', FALSE, 'nan');
      if (kind === 'hardmax') {
        const found = kb.let('bool', FALSE, 'found');
        const mi = kb.let('index', idx(0), 'mi');
        const ni = kb.let('index', idx(0), 'ni');
        kb.for(0, len, (j) => {
          const v = kb.let(t, xv(j), 'x');
          kb.if(un('isnan', v), () => {
            kb.if(un('not', nan), () => {
              kb.set(nan, TRUE);
              kb.set(ni, j);
            });
          }, () => {
            kb.if(or(un('not', found), gt(v, m)), () => {
              kb.set(m, v);
              kb.set(mi, j);
              kb.set(found, TRUE);
            });
          });
        });
        const pick = kb.let('index', select(nan, ni, mi), 'at');
        const any = kb.let('bool', or(nan, found), 'any');
        kb.for(0, len, (j) => kb.store(out, at(j), select(and(any, eq(j, pick)), num(t, 1), num(t, 0))));
        return;
      }
      kb.for(0, len, (j) => {
        const v = kb.let(t, xv(j), 'x');
        kb.set(nan, or(nan, un('isnan', v)));
        kb.set(m, select(gt(v, m), v, m));
      });
      const shift = kb.let(t, select(nan, num(t, NaN), select(un('isinf', m), num(t, 0), m)), 'shift');
      const sum = kb.let(t, num(t, 0), 'sum');
      kb.for(0, len, (j) => kb.set(sum, add(sum, un('exp', sub(xv(j), shift)))));
      if (kind === 'softmax') {
        const r = kb.let(t, div(num(t, 1), sum), 'r');
        kb.for(0, len, (j) => kb.store(out, at(j), mul(un('exp', sub(xv(j), shift)), r)));
      } else {
        const off = kb.let(t, add(shift, un('log', sum)), 'off');
        kb.for(0, len, (j) => kb.store(out, at(j), sub(xv(j), off)));
      }
    });
  });
}

registerLowering({ opType: 'Softmax', lower: (ctx) => lowerSoft(ctx, 'softmax') });
registerLowering({ opType: 'LogSoftmax', lower: (ctx) => lowerSoft(ctx, 'logsoftmax') });
registerLowering({ opType: 'Hardmax', lower: (ctx) => lowerSoft(ctx, 'hardmax') });

// ---------------------------------------------------------------- CumSum / CumProd

function lowerCum(ctx: LowerContext, isProd: boolean): void {
  const x = req(ctx.input(0), 'x');
  const xShape = shapeIn(ctx, 0);
  const out = req(ctx.output(0), 'y');
  const axisBuf = req(ctx.input(1), 'axis');
  if (prodOf(axisBuf.shape) !== 1) throw new KilnError('type', 'axis must be a scalar');
  const c = ctx.constant(1);
  const rank = xShape.length;
  const exclusive = ctx.attrs.int('exclusive', 0) !== 0;
  const reverse = ctx.attrs.int('reverse', 0) !== 0;
  const t = isFloatT(x.dtype) ? computeType(x.dtype) : x.dtype;
  const op = (a: Expr, b: Expr): Expr => bin(isProd ? 'mul' : 'add', a, b);
  const step = (kb: KernelBuilder, acc: Expr, p: Expr): void => {
    const v = cast(load(x, p), t);
    if (exclusive) {
      kb.store(out, p, acc);
      kb.set(acc, op(acc, v));
    } else {
      kb.set(acc, op(acc, v));
      kb.store(out, p, acc);
    }
  };
  ctx.kernel((kb) => {
    let outer: Expr;
    let len: Expr;
    let inner: Expr;
    if (c) {
      const [o, l, i] = around(xShape, axisOf(c.toIndexArray()[0]!, rank));
      [outer, len, inner] = [idx(o), idx(l), idx(i)];
    } else {
      // axis known only at run time: the (outer, len, inner) view is computed by the kernel
      const v = kb.let('index', cast(load(axisBuf, idx(0)), 'index'), 'ax');
      const a = kb.let('index', select(lt(v, idx(0)), add(v, idx(rank)), v), 'axis');
      let o: Expr = idx(1);
      let l: Expr = idx(1);
      let i: Expr = idx(1);
      xShape.forEach((d, k) => {
        if (d === 1) return;
        o = mul(o, select(lt(idx(k), a), idx(d), idx(1)));
        l = mul(l, select(eq(idx(k), a), idx(d), idx(1)));
        i = mul(i, select(gt(idx(k), a), idx(d), idx(1)));
      });
      outer = kb.let('index', o, 'outer');
      len = kb.let('index', l, 'len');
      inner = kb.let('index', i, 'inner');
    }
    const last = sub(len, idx(1));
    kb.for(0, outer, (o) => {
      if (inner.k === 'const' && Number(inner.v) === 1) {
        const acc = kb.let(t, num(t, isProd ? 1 : 0), 'acc');
        const base = kb.let('index', mul(o, len), 'base');
        kb.for(0, len, (jj) => step(kb, acc, add(base, reverse ? sub(last, jj) : jj)));
        return;
      }
      kb.for(0, inner, (k) => {
        const acc = kb.let(t, num(t, isProd ? 1 : 0), 'acc');
        const base = kb.let('index', add(mul(o, mul(len, inner)), k), 'base');
        kb.for(0, len, (jj) => step(kb, acc, add(base, mul(reverse ? sub(last, jj) : jj, inner))));
      });
    });
  });
}

registerLowering({ opType: 'CumSum', lower: (ctx) => lowerCum(ctx, false) });
registerLowering({ opType: 'CumProd', lower: (ctx) => lowerCum(ctx, true) });

