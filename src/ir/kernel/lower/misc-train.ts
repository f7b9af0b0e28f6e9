/** Lowerings of ai.onnx.preview.training optimizers: Adagrad, Adam, Momentum (computed in f64). */
import { KilnError } from '../../errors.js';
import { add, bin, cast, div, gt, mul, select, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import { req } from './common.js';
import { fl, ld, scalarOf } from './misc-util.js';

const TRAINING = 'ai.onnx.preview.training';
const F = 'f64';

/** Rounds a value to a buffer's element type (as storing and reloading would) and back to f64. */
const rounded = (e: Expr, b: KBuffer): Expr => cast(cast(e, b.dtype), F);

function groups(ctx: LowerContext, k: number): { n: number; inp: (g: number, i: number) => KBuffer; out: (g: number, i: number) => KBuffer | null } {
  const n = (ctx.inputCount - 2) / k;
  if (!Number.isInteger(n) || n < 1) throw new KilnError('invalid-model', `optimizer needs 2 + ${k}*n inputs`);
  return { n, inp: (g, i) => req(ctx.input(2 + g * n + i), `optimizer input ${2 + g * n + i}`), out: (g, i) => ctx.output(g * n + i) };
}

/** One flat loop over a tensor group; every tensor must have the same size. */
function flatLoop(kb: KernelBuilder, bufs: KBuffer[], body: (e: Expr) => void): void {
  const size = bufs[0]!.shape.reduce((p, q) => p * q, 1);
  for (const b of bufs) if (b.shape.reduce((p, q) => p * q, 1) !== size) throw new KilnError('type', 'optimizer tensors must have the same shape');
  kb.for(0, size, body);
}

registerLowering({
  opType: 'Adagrad',
  domain: TRAINING,
  lower(ctx) {
    const decay = ctx.attrs.float('decay_factor', 0);
    const eps = ctx.attrs.float('epsilon', 0);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const R = req(ctx.input(0), 'R');
    const T = req(ctx.input(1), 'T');
    const { n, inp, out } = groups(ctx, 3);
    ctx.kernel((kb) => {
      const rr = kb.let(F, div(scalarOf(R, F), add(fl(F, 1), mul(scalarOf(T, F), fl(F, decay)))), 'rr');
      for (let i = 0; i < n; i++) {
        const X = inp(0, i);
        const G = inp(1, i);
        const H = inp(2, i);
        const Xo = out(0, i);
        const Ho = out(1, i);
        flatLoop(kb, [X, G, H], (e) => {
          const x = kb.let(F, ld(X, e, F), 'x');
          const gg = kb.let(F, add(mul(fl(F, norm), x), ld(G, e, F)), 'g');
          const hn = kb.let(F, rounded(add(ld(H, e, F), mul(gg, gg)), H), 'h');
          if (Ho) kb.store(Ho, e, hn);
          if (Xo) kb.store(Xo, e, sub(x, div(mul(rr, gg), add(un('sqrt', hn), fl(F, eps)))));
        });
      }
    });
  },
});

registerLowering({
  opType: 'Adam',
  domain: TRAINING,
  lower(ctx) {
    const alpha = ctx.attrs.float('alpha', 0.9);
    const beta = ctx.attrs.float('beta', 0.999);
    const eps = ctx.attrs.float('epsilon', 0);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const normPost = ctx.attrs.float('norm_coefficient_post', 0);
    const R = req(ctx.input(0), 'R');
    const T = req(ctx.input(1), 'T');
    const { n, inp, out } = groups(ctx, 4);
    ctx.kernel((kb) => {
      const r = kb.let(F, scalarOf(R, F), 'r');
      const t = kb.let(F, scalarOf(T, F), 't');
      const adj = div(mul(r, un('sqrt', sub(fl(F, 1), bin('pow', fl(F, beta), t)))), sub(fl(F, 1), bin('pow', fl(F, alpha), t)));
      const rAdj = kb.let(F, select(gt(t, fl(F, 0)), adj, r), 'radj');
      for (let i = 0; i < n; i++) {
        const X = inp(0, i);
        const G = inp(1, i);
        const V = inp(2, i);
        const H = inp(3, i);
        const Xo = out(0, i);
        const Vo = out(1, i);
        const Ho = out(2, i);
        flatLoop(kb, [X, G, V, H], (e) => {
          const x = kb.let(F, ld(X, e, F), 'x');
          const gg = kb.let(F, add(mul(fl(F, norm), x), ld(G, e, F)), 'g');
          const vn = kb.let(F, rounded(add(mul(fl(F, alpha), ld(V, e, F)), mul(fl(F, 1 - alpha), gg)), V), 'v');
          const hn = kb.let(F, rounded(add(mul(fl(F, beta), ld(H, e, F)), mul(mul(fl(F, 1 - beta), gg), gg)), H), 'h');
          if (Vo) kb.store(Vo, e, vn);
          if (Ho) kb.store(Ho, e, hn);
          if (Xo) kb.store(Xo, e, mul(fl(F, 1 - normPost), sub(x, mul(rAdj, div(vn, add(un('sqrt', hn), fl(F, eps)))))));
        });
      }
    });
  },
});

registerLowering({
  opType: 'Momentum',
  domain: TRAINING,
  lower(ctx) {
    const alpha = ctx.attrs.float('alpha');
    const beta = ctx.attrs.float('beta');
    const mode = ctx.attrs.string('mode');
    const norm = ctx.attrs.float('norm_coefficient');
    if (mode !== 'standard' && mode !== 'nesterov') throw new KilnError('type', `unknown Momentum mode '${mode}'`);
    const R = req(ctx.input(0), 'R');
    const T = req(ctx.input(1), 'T');
    const { n, inp, out } = groups(ctx, 3);
    ctx.kernel((kb) => {
      const r = kb.let(F, scalarOf(R, F), 'r');
      const bAdj = kb.let(F, select(gt(scalarOf(T, F), fl(F, 0)), fl(F, beta), fl(F, 1)), 'badj');
      for (let i = 0; i < n; i++) {
        const X = inp(0, i);
        const G = inp(1, i);
        const V = inp(2, i);
        const Xo = out(0, i);
        const Vo = out(1, i);
        flatLoop(kb, [X, G, V], (e) => {
          const x = kb.let(F, ld(X, e, F), 'x');
          const gg = kb.let(F, add(mul(fl(F, norm), x), ld(G, e, F)), 'g');
          const vn = kb.let(F, rounded(add(mul(fl(F, alpha), ld(V, e, F)), mul(bAdj, gg)), V), 'v');
          if (Vo) kb.store(Vo, e, vn);
          if (Xo) kb.store(Xo, e, mode === 'standard' ? sub(x, mul(r, vn)) : sub(x, mul(r, add(gg, mul(fl(F, alpha), vn)))));
        });
      }
    });
  },
});
