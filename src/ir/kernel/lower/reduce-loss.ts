/** Lowerings of losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss. */
import { KilnError } from '../../errors.js';
import { add, and, cast, div, ge, idx, lit, load, lt, max, mul, ne, select, sub, un, type KernelBuilder } from '../builder.js';
import { registerLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import { req } from './common.js';
import { floatCompute, num, prodOf, shapeIn } from './reduce-common.js';

type Reduction = 'none' | 'sum' | 'mean';

function reductionOf(ctx: LowerContext): Reduction {
  const r = ctx.attrs.string('reduction', 'mean');
  if (r !== 'none' && r !== 'sum' && r !== 'mean') throw new KilnError('type', `invalid reduction '${r}'`);
  return r;
}

/**
 * Weighted negative log-likelihood of `logp` (N, C, D...) at `target` (N, D...) into `out`. Targets
 * equal to ignore_index (or out of range) contribute nothing, to the loss or to the weight sum.
 */
function emitNll(kb: KernelBuilder, ctx: LowerContext, logp: KBuffer, shape: readonly number[], out: KBuffer): void {
  const target = req(ctx.input(1), 'target');
  const weight = ctx.input(2);
  const red = reductionOf(ctx);
  const ignore = ctx.attrs.optInt('ignore_index');
  if (shape.length < 2) throw new KilnError('type', 'loss input must have rank >= 2 (N, C, ...)');
  const N = shape[0]!;
  const C = shape[1]!;
  const D = prodOf(shape, 2);
  if (prodOf(target.shape) !== N * D) throw new KilnError('type', `target shape [${target.shape.join(',')}] does not match input shape [${shape.join(',')}]`);
  if (weight && prodOf(weight.shape) !== C) throw new KilnError('type', `loss weight must have ${C} elements`);
  const t = floatCompute(logp.dtype);
  const s = red === 'none' ? null : kb.let(t, num(t, 0), 'sum');
  const ws = red === 'mean' ? kb.let(t, num(t, 0), 'wsum') : null;
  kb.for(0, N, (n) => {
    kb.for(0, D, (d) => {
      const i = kb.let('index', add(mul(n, idx(D)), d), 'i');
      const tv = kb.let(target.dtype, load(target, i), 'tg');
      const c = kb.let('index', cast(tv, 'index'), 'c');
      let valid: Expr = and(ge(c, idx(0)), lt(c, idx(C)));
      if (ignore !== undefined) valid = and(ne(tv, lit(target.dtype, ignore)), valid);
      const ok = kb.let('bool', valid, 'ok');
      const cc = kb.let('index', select(ok, c, idx(0)), 'cc');
      const w = weight ? kb.let(t, cast(load(weight, cc), t), 'w') : num(t, 1);
      const lp = cast(load(logp, add(mul(add(mul(n, idx(C)), cc), idx(D)), d)), t);
      const loss = weight ? mul(un('neg', lp), w) : un('neg', lp);
      if (red === 'none') {
        kb.store(out, i, select(ok, loss, num(t, 0)));
        return;
      }
      kb.if(ok, () => {
        kb.set(s!, add(s!, loss));
        if (ws) kb.set(ws, add(ws, w));
      });
    });
  });
  if (s) kb.store(out, idx(0), ws ? div(s, ws) : s);
}

registerLowering({
  opType: 'NegativeLogLikelihoodLoss',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xShape = shapeIn(ctx, 0);
    const out = req(ctx.output(0), 'loss');
    ctx.kernel((kb) => emitNll(kb, ctx, x, xShape, out));
  },
});

registerLowering({
  opType: 'SoftmaxCrossEntropyLoss',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'scores');
    const xShape = shapeIn(ctx, 0);
    const out = req(ctx.output(0), 'output');
    if (xShape.length < 2) throw new KilnError('type', 'loss input must have rank >= 2 (N, C, ...)');
    const N = xShape[0]!;
    const C = xShape[1]!;
    const D = prodOf(xShape, 2);
    // log-probabilities are rounded to the input's element type before the loss reads them
    const lpBuf = ctx.output(1) ?? ctx.temp(x.dtype, xShape, 'logprob');
    const t = floatCompute(x.dtype);
    ctx.kernel((kb) => {
      kb.for(0, N, (n) => {
        kb.for(0, D, (k) => {
          const base = kb.let('index', add(mul(n, idx(C * D)), k), 'base');
          const at = (c: Expr): Expr => add(base, mul(c, idx(D)));
          const xv = (c: Expr): Expr => cast(load(x, at(c)), t);
          const m = kb.let(t, num(t, -Infinity), 'm');
          kb.for(0, C, (c) => kb.set(m, max(m, xv(c))));
          const shift = kb.let(t, select(un('isnan', m), m, select(un('isinf', m), num(t, 0), m)), 'shift');
          const s = kb.let(t, num(t, 0), 'sum');
          kb.for(0, C, (c) => kb.set(s, add(s, un('exp', sub(xv(c), shift)))));
          const off = kb.let(t, add(shift, un('log', s)), 'off');
          kb.for(0, C, (c) => kb.store(lpBuf, at(c), sub(xv(c), off)));
        });
      });
      emitNll(kb, ctx, lpBuf, xShape, out);
    });
  },
});

