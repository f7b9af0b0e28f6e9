/** Losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss. */
import { KilnError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { requireTensorType } from './util.js';
import { optType, prod, requireFloat, tensorFromF64, toF64, unifyDim } from './reduce-util.js';

type Reduction = 'none' | 'sum' | 'mean';

function reductionOf(attrs: { string(n: string, d?: string): string }): Reduction {
  const r = attrs.string('reduction', 'mean');
  if (r !== 'none' && r !== 'sum' && r !== 'mean') throw new KilnError('type', `invalid reduction '${r}'`);
  return r;
}

function lossInfer(ctx: InferContext, withLogProb: boolean): ValueType[] {
  const x = requireTensorType(ctx, 0);
  const t = requireTensorType(ctx, 1);
  requireFloat(x);
  if (t.dtype !== 'i32' && t.dtype !== 'i64') throw new KilnError('type', `target must be int32 or int64, got ${t.dtype}`);
  const red = reductionOf(ctx.attrs);
  let lossShape: Dim[] | null = red === 'none' ? null : [];
  if (x.shape !== null && x.shape.length < 2) throw new KilnError('type', 'loss input must have rank >= 2 (N, C, ...)');
  if (x.shape !== null && t.shape !== null) {
    if (t.shape.length !== x.shape.length - 1) throw new KilnError('type', `target rank ${t.shape.length} must be input rank ${x.shape.length} - 1`);
    const merged = t.shape.map((d, i) => unifyDim(d, x.shape![i === 0 ? 0 : i + 1]!, 'loss target shape'));
    if (red === 'none') lossShape = merged;
  } else if (red === 'none' && t.shape !== null) lossShape = [...t.shape];
  else if (red === 'none' && x.shape !== null) lossShape = x.shape.filter((_, i) => i !== 1);
  const w = optType(ctx, 2);
  if (w && w.shape !== null && w.shape.length !== 1) throw new KilnError('type', 'loss weight must be 1-D');
  const out: ValueType[] = [tensorType(x.dtype, lossShape)];
  if (withLogProb && ctx.outputCount > 1) out.push(x);
  return out;
}

/** Weighted negative log-likelihood of `logp` (N, C, D...) at `target` (N, D...). */
function nll(logp: Float64Array, shape: readonly number[], target: Tensor, weight: Tensor | null, red: Reduction, ignore: number | undefined): { vals: Float64Array; shape: number[] } {
  if (shape.length < 2) throw new KilnError('runtime', 'loss input must have rank >= 2 (N, C, ...)');
  const N = shape[0]!;
  const C = shape[1]!;
  const D = prod(shape, 2);
  const tshape = [N, ...shape.slice(2)];
  if (target.rank !== tshape.length || target.shape.some((d, i) => d !== tshape[i])) {
    throw new KilnError('runtime', `target shape [${target.shape.join(',')}] does not match input shape [${shape.join(',')}]`);
  }
  const w = weight ? toF64(weight) : null;
  if (w && w.length !== C) throw new KilnError('runtime', `loss weight must have ${C} elements`);
  const tg = target.toIndexArray();
  const loss = new Float64Array(N * D);
  let wsum = 0;
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const i = n * D + d;
      const c = tg[i]!;
      if (ignore !== undefined && c === ignore) continue;
      if (c < 0 || c >= C) throw new KilnError('runtime', `target class ${c} is out of range [0, ${C})`);
      const wc = w ? w[c]! : 1;
      loss[i] = -logp[(n * C + c) * D + d]! * wc;
      wsum += wc;
    }
  }
  if (red === 'none') return { vals: loss, shape: tshape };
  let s = 0;
  for (let i = 0; i < loss.length; i++) s += loss[i]!;
  return { vals: Float64Array.of(red === 'sum' ? s : s / wsum), shape: [] };
}

registerOp({
  opType: 'NegativeLogLikelihoodLoss',
  since: 12,
  infer: (ctx) => lossInfer(ctx, false),
  interp: (ctx: KernelContext) => {
    const x = ctx.tensor(0);
    const r = nll(toF64(x), x.shape, ctx.tensor(1), ctx.optTensor(2), reductionOf(ctx.attrs), ctx.attrs.optInt('ignore_index'));
    return [tensorFromF64(x.dtype, r.shape, r.vals)];
  },
});

registerOp({
  opType: 'SoftmaxCrossEntropyLoss',
  since: 12,
  infer: (ctx) => lossInfer(ctx, true),
  interp: (ctx: KernelContext) => {
    const x = ctx.tensor(0);
    if (x.rank < 2) throw new KilnError('runtime', 'loss input must have rank >= 2 (N, C, ...)');
    const N = x.shape[0]!;
    const C = x.shape[1]!;
    const D = prod(x.shape, 2);
    const d = toF64(x);
    const lp = new Float64Array(x.size);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < D; k++) {
        const base = n * C * D + k;
        let m = -Infinity;
        for (let c = 0; c < C; c++) m = Math.max(m, d[base + c * D]!);
        if (!Number.isFinite(m)) m = Number.isNaN(m) ? m : 0;
        let s = 0;
        for (let c = 0; c < C; c++) s += Math.exp(d[base + c * D]! - m);
        const ls = Math.log(s);
        for (let c = 0; c < C; c++) lp[base + c * D] = d[base + c * D]! - m - ls;
      }
    }
    // the loss is computed from log-probabilities rounded to the input's element type
    const lpT = tensorFromF64(x.dtype, x.shape, lp);
    const r = nll(toF64(lpT), x.shape, ctx.tensor(1), ctx.optTensor(2), reductionOf(ctx.attrs), ctx.attrs.optInt('ignore_index'));
    return [tensorFromF64(x.dtype, r.shape, r.vals), ctx.hasOutput(1) ? lpT : null];
  },
});
