/**
 * Lowerings of normalizations: LayerNormalization, RMSNormalization, GroupNormalization,
 * InstanceNormalization, BatchNormalization, LpNormalization, MeanVarianceNormalization, LRN.
 * Statistics are accumulated in the compute type (f32 for f32/f16/bf16 data, f64 for f64).
 */
import { KilnError } from '../../errors.js';
import { add, bin, cast, div, eq, flatIndex, idx, load, max, min, mul, select, sub, un, type KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import { req } from './common.js';
import { around, forEachLine, axesOf, shapeIn, axisOf, floatCompute, loopAxes, num, prodOf } from './reduce-common.js';

/** Offset into a parameter broadcast (unidirectionally) to a shape, given that shape's multi-index. */
function paramIndex(ix: readonly Expr[], pShape: readonly number[], shape: readonly number[], what: string): Expr {
  let ps = [...pShape];
  while (ps.length > ix.length && ps[0] === 1) ps = ps.slice(1);
  const off = ix.length - ps.length;
  if (off < 0 || ps.some((d, i) => d !== 1 && d !== shape[off + i])) {
    throw new KilnError('type', `${what} of shape [${pShape.join(',')}] does not broadcast to [${shape.join(',')}]`);
  }
  return flatIndex(ps.map((d, i) => (d === 1 ? idx(0) : ix[off + i]!)), ps);
}

/** Loop over the normalized slice [base, base + prod(nshape)) with its multi-index. */
function sliceLoop(kb: KernelBuilder, nshape: readonly number[], base: Expr, fn: (flat: Expr, ix: Expr[]) => void): void {
  kb.loops(nshape, (ix) => fn(add(base, flatIndex(ix, nshape)), ix));
}

// ---------------------------------------------------------------- LayerNormalization / RMSNormalization

function lowerLayerNorm(ctx: LowerContext, rms: boolean): void {
  const x = req(ctx.input(0), 'X');
  const xShape = shapeIn(ctx, 0);
  const scale = req(ctx.input(1), 'Scale');
  const bias = rms ? null : ctx.input(2);
  const scaleShape = shapeIn(ctx, 1);
  const y = req(ctx.output(0), 'Y');
  const meanOut = rms ? null : ctx.output(1);
  const invOut = rms ? null : ctx.output(2);
  const axis = axisOf(ctx.attrs.int('axis', -1), xShape.length);
  const eps = ctx.attrs.float('epsilon', 1e-5);
  const outer = prodOf(xShape, 0, axis);
  const inner = prodOf(xShape, axis);
  const nshape = xShape.slice(axis);
  const t = floatCompute(x.dtype);
  const what = rms ? 'RMSNormalization' : 'LayerNormalization';
  ctx.kernel((kb) => {
    kb.for(0, outer, (o) => {
      const base = kb.let('index', mul(o, idx(inner)), 'base');
      const xv = (i: Expr): Expr => cast(load(x, i), t);
      let mean: Expr | null = null;
      let inv: Expr;
      if (rms) {
        const s = kb.let(t, num(t, 0), 'ss');
        kb.for(0, inner, (j) => {
          const v = kb.let(t, xv(add(base, j)), 'x');
          kb.set(s, add(s, mul(v, v)));
        });
        inv = kb.let(t, div(num(t, 1), un('sqrt', add(div(s, num(t, inner)), num(t, eps)))), 'inv');
      } else {
        const s = kb.let(t, num(t, 0), 'sum');
        kb.for(0, inner, (j) => kb.set(s, add(s, xv(add(base, j)))));
        mean = kb.let(t, div(s, num(t, inner)), 'mean');
        const m = mean;
        const v = kb.let(t, num(t, 0), 'var');
        kb.for(0, inner, (j) => {
          const d = kb.let(t, sub(xv(add(base, j)), m), 'd');
          kb.set(v, add(v, mul(d, d)));
        });
        inv = kb.let(t, div(num(t, 1), un('sqrt', add(div(v, num(t, inner)), num(t, eps)))), 'inv');
      }
      const m = mean;
      sliceLoop(kb, nshape, base, (i, ix) => {
        let r = mul(mul(m ? sub(xv(i), m) : xv(i), inv), cast(load(scale, paramIndex(ix, scaleShape, nshape, `${what} scale`)), t));
        if (bias) r = add(r, cast(load(bias, paramIndex(ix, shapeIn(ctx, 2), nshape, `${what} bias`)), t));
        kb.store(y, i, r);
      });
      if (meanOut && m) kb.store(meanOut, o, m);
      if (invOut) kb.store(invOut, o, inv);
    });
  });
}

registerLowering({ opType: 'LayerNormalization', lower: (ctx) => lowerLayerNorm(ctx, false) });
registerLowering({ opType: 'RMSNormalization', lower: (ctx) => lowerLayerNorm(ctx, true) });

// ---------------------------------------------------------------- Instance / Group normalization

/**
 * Normalizes N*G contiguous blocks of (C/G)*spatial elements to zero mean and unit variance, then
 * applies the per-channel (or per-group) scale and bias.
 */
function lowerBlockNorm(ctx: LowerContext, G: number, perChannel: boolean, what: string): void {
  const x = req(ctx.input(0), 'X');
  const xShape = shapeIn(ctx, 0);
  const scale = req(ctx.input(1), 'scale');
  const bias = req(ctx.input(2), 'B');
  const y = req(ctx.output(0), 'Y');
  const eps = ctx.attrs.float('epsilon', 1e-5);
  if (xShape.length < 2) throw new KilnError('type', `${what} input must have rank >= 2`);
  const N = xShape[0]!;
  const C = xShape[1]!;
  if (G <= 0 || C % G !== 0) throw new KilnError('type', `${what} channels ${C} are not divisible by num_groups ${G}`);
  const want = perChannel ? C : G;
  if (prodOf(scale.shape) !== want || prodOf(bias.shape) !== want) throw new KilnError('type', `${what} scale and bias must have ${want} elements`);
  const sp = prodOf(xShape, 2);
  const cpg = C / G;
  const len = cpg * sp;
  const t = floatCompute(x.dtype);
  ctx.kernel((kb) => {
    kb.for(0, N * G, (ng) => {
      const base = kb.let('index', mul(ng, idx(len)), 'base');
      const xv = (i: Expr): Expr => cast(load(x, i), t);
      const s = kb.let(t, num(t, 0), 'sum');
      kb.for(0, len, (j) => kb.set(s, add(s, xv(add(base, j)))));
      const mean = kb.let(t, div(s, num(t, len)), 'mean');
      const v = kb.let(t, num(t, 0), 'var');
      kb.for(0, len, (j) => {
        const d = kb.let(t, sub(xv(add(base, j)), mean), 'd');
        kb.set(v, add(v, mul(d, d)));
      });
      const inv = kb.let(t, div(num(t, 1), un('sqrt', add(div(v, num(t, len)), num(t, eps)))), 'inv');
      const g = G === 1 ? idx(0) : kb.let('index', bin('mod', ng, idx(G)), 'g');
      kb.for(0, cpg, (cc) => {
        const k = perChannel ? add(mul(g, idx(cpg)), cc) : g;
        const sc = kb.let(t, cast(load(scale, k), t), 'sc');
        const b = kb.let(t, cast(load(bias, k), t), 'b');
        const cb = kb.let('index', add(base, mul(cc, idx(sp))), 'cb');
        kb.for(0, sp, (j) => {
          const i = add(cb, j);
          kb.store(y, i, add(mul(mul(sub(xv(i), mean), inv), sc), b));
        });
      });
    });
  });
}

registerLowering({
  opType: 'InstanceNormalization',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const xShape = shapeIn(ctx, 0);
    if (xShape.length < 2) throw new KilnError('type', 'InstanceNormalization input must have rank >= 2');
    lowerBlockNorm(ctx, xShape[1]!, true, 'InstanceNormalization');
  },
});

registerLowering({
  opType: 'GroupNormalization',
  lower: (ctx) => lowerBlockNorm(ctx, ctx.attrs.int('num_groups'), ctx.opset >= 21, 'GroupNormalization'),
});

// ---------------------------------------------------------------- BatchNormalization

registerLowering({
  opType: 'BatchNormalization',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const xShape = shapeIn(ctx, 0);
    const scale = req(ctx.input(1), 'scale');
    const bias = req(ctx.input(2), 'B');
    const rmean = req(ctx.input(3), 'input_mean');
    const rvar = req(ctx.input(4), 'input_var');
    const y = req(ctx.output(0), 'Y');
    const eps = ctx.attrs.float('epsilon', 1e-5);
    const momentum = ctx.attrs.float('momentum', 0.9);
    if (ctx.opset < 9 && ctx.attrs.int('spatial', 1) === 0) throw unsupportedLowering('BatchNormalization with spatial=0');
    const training = ctx.opset >= 14 ? ctx.attrs.int('training_mode', 0) !== 0 : ctx.opset < 7 ? ctx.attrs.int('is_test', 0) === 0 && ctx.outputCount > 1 : ctx.outputCount > 1;
    const rank = xShape.length;
    const N = rank >= 1 ? xShape[0]! : 1;
    const C = rank >= 2 ? xShape[1]! : 1;
    const sp = prodOf(xShape, 2);
    for (const [b, nm] of [[scale, 'scale'], [bias, 'B'], [rmean, 'input_mean'], [rvar, 'input_var']] as const) {
      if (prodOf(b.shape) !== C) throw new KilnError('type', `BatchNormalization ${nm} must have ${C} elements`);
    }
    const outs: (KBuffer | null)[] = [];
    for (let i = 1; i < ctx.outputCount; i++) outs.push(ctx.output(i));
    if (!training && outs.some((o) => o !== null)) throw unsupportedLowering('BatchNormalization statistics outputs outside training mode');
    const t = floatCompute(x.dtype);
    const f = (b: KBuffer, i: Expr): Expr => cast(load(b, i), t);
    const at = (n: Expr, c: Expr, s: Expr): Expr => add(mul(add(mul(n, idx(C)), c), idx(sp)), s);
    ctx.kernel((kb) => {
      kb.for(0, C, (c) => {
        let mean: Expr;
        let vari: Expr;
        if (training) {
          const cnt = N * sp;
          const s = kb.let(t, num(t, 0), 'sum');
          kb.for(0, N, (n) => kb.for(0, sp, (j) => kb.set(s, add(s, f(x, at(n, c, j))))));
          mean = kb.let(t, div(s, num(t, cnt)), 'mean');
          const m = mean;
          const v = kb.let(t, num(t, 0), 'var');
          kb.for(0, N, (n) => kb.for(0, sp, (j) => {
            const d = kb.let(t, sub(f(x, at(n, c, j)), m), 'd');
            kb.set(v, add(v, mul(d, d)));
          }));
          vari = kb.let(t, div(v, num(t, cnt)), 'vari');
        } else {
          mean = kb.let(t, f(rmean, c), 'mean');
          vari = f(rvar, c);
        }
        const inv = kb.let(t, div(num(t, 1), un('sqrt', add(vari, num(t, eps)))), 'inv');
        const k = kb.let(t, mul(f(scale, c), inv), 'k');
        const b = kb.let(t, f(bias, c), 'b');
        const m = mean;
        kb.for(0, N, (n) => {
          const base = kb.let('index', at(n, c, idx(0)), 'base');
          kb.for(0, sp, (j) => kb.store(y, add(base, j), add(mul(sub(f(x, add(base, j)), m), k), b)));
        });
        if (training) {
          const [o1, o2, o3, o4] = outs;
          if (o1) kb.store(o1, c, add(mul(f(rmean, c), num(t, momentum)), mul(m, num(t, 1 - momentum))));
          if (o2) kb.store(o2, c, add(mul(f(rvar, c), num(t, momentum)), mul(vari, num(t, 1 - momentum))));
          if (o3) kb.store(o3, c, m);
          if (o4) kb.store(o4, c, inv);
        }
      });
    });
  },
});

// ---------------------------------------------------------------- LpNormalization

registerLowering({
  opType: 'LpNormalization',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xShape = shapeIn(ctx, 0);
    const y = req(ctx.output(0), 'output');
    const axis = axisOf(ctx.attrs.int('axis', -1), xShape.length);
    const p = ctx.attrs.int('p', 2);
    if (p !== 1 && p !== 2) throw new KilnError('type', `LpNormalization p must be 1 or 2, got ${p}`);
    const [outer, len, inner] = around(xShape, axis);
    const t = floatCompute(x.dtype);
    ctx.kernel((kb) => {
      forEachLine(kb, outer, len, inner, (at, base, o, k) => {
        const s = kb.let(t, num(t, 0), 'sum');
        kb.for(0, len, (j) => {
          const v = kb.let(t, cast(load(x, at(j)), t), 'x');
          kb.set(s, add(s, p === 1 ? un('abs', v) : mul(v, v)));
        });
        const nrm = kb.let(t, p === 1 ? s : un('sqrt', s), 'nrm');
        // a zero vector stays zero
        kb.for(0, len, (j) => kb.store(y, at(j), select(eq(nrm, num(t, 0)), num(t, 0), div(cast(load(x, at(j)), t), nrm))));
      });
    });
  },
});

// ---------------------------------------------------------------- MeanVarianceNormalization

registerLowering({
  opType: 'MeanVarianceNormalization',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const xShape = shapeIn(ctx, 0);
    const y = req(ctx.output(0), 'Y');
    const rank = xShape.length;
    const red = axesOf(ctx.attrs.ints('axes', [0, 2, 3]), rank);
    const kept = xShape.map((_, i) => i).filter((i) => !red.includes(i));
    const cnt = red.reduce((p, a) => p * xShape[a]!, 1);
    const t = floatCompute(x.dtype);
    const xv = (ix: Expr[]): Expr => cast(load(x, flatIndex(ix, xShape)), t);
    ctx.kernel((kb) => {
      loopAxes(kb, xShape, kept, xShape.map(() => idx(0)), (oix) => {
        const s = kb.let(t, num(t, 0), 'sum');
        loopAxes(kb, xShape, red, oix, (ix) => kb.set(s, add(s, xv(ix))));
        const mean = kb.let(t, div(s, num(t, cnt)), 'mean');
        const v = kb.let(t, num(t, 0), 'var');
        loopAxes(kb, xShape, red, oix, (ix) => {
          const d = kb.let(t, sub(xv(ix), mean), 'd');
          kb.set(v, add(v, mul(d, d)));
        });
        const den = kb.let(t, add(un('sqrt', div(v, num(t, cnt))), num(t, 1e-9)), 'den');
        loopAxes(kb, xShape, red, oix, (ix) => kb.store(y, flatIndex(ix, xShape), div(sub(xv(ix), mean), den)));
      });
    });
  },
});

// ---------------------------------------------------------------- LRN

registerLowering({
  opType: 'LRN',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const xShape = shapeIn(ctx, 0);
    const y = req(ctx.output(0), 'Y');
    const size = ctx.attrs.int('size');
    const alpha = ctx.attrs.float('alpha', 1e-4);
    const beta = ctx.attrs.float('beta', 0.75);
    const biasV = ctx.attrs.float('bias', 1);
    if (xShape.length < 2) throw new KilnError('type', 'LRN input must have rank >= 2');
    const N = xShape[0]!;
    const C = xShape[1]!;
    const sp = prodOf(xShape, 2);
    const lo = Math.floor((size - 1) / 2);
    const hi = Math.ceil((size - 1) / 2);
    const t = floatCompute(x.dtype);
    if (N * C * sp === 0) return;
    // per (n, c): sum of squares over the channel window, one spatial row at a time
    const sq = ctx.temp(t, [sp], 'sq');
    const xv = (i: Expr): Expr => cast(load(x, i), t);
    ctx.kernel((kb) => {
      kb.for(0, N, (n) => {
        kb.for(0, C, (c) => {
          kb.for(0, sp, (j) => kb.store(sq, j, num(t, 0)));
          const a = kb.let('index', max(sub(c, idx(lo)), idx(0)), 'lo');
          const b = kb.let('index', min(add(c, idx(hi + 1)), idx(C)), 'hi');
          kb.for(a, b, (cc) => {
            const cb = kb.let('index', mul(add(mul(n, idx(C)), cc), idx(sp)), 'cb');
            kb.for(0, sp, (j) => {
              const v = kb.let(t, xv(add(cb, j)), 'x');
              kb.store(sq, j, add(load(sq, j), mul(v, v)));
            });
          });
          const ob = kb.let('index', mul(add(mul(n, idx(C)), c), idx(sp)), 'ob');
          kb.for(0, sp, (j) => {
            const den = bin('pow', add(num(t, biasV), mul(num(t, alpha / size), load(sq, j))), num(t, beta));
            kb.store(y, add(ob, j), div(xv(add(ob, j)), den));
          });
        });
      });
    });
  },
});

