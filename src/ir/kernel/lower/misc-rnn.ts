/**
 * Lowerings of RNN, GRU and LSTM: one kernel per node that loops over time (static sequence
 * length, per-batch lengths at run time) with the hidden/cell state in temp buffers.
 */
import { add, bin, cast, div, ge, gt, idx, load, mul, select, sub, un } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, ScalarType } from '../types.js';
import { computeType, req } from './common.js';
import { checkRnnWeights, rnnActivations, rnnInputDims, rnnConfig, type RnnKind as Kind } from '../../ops/config/rnn.js';
import { fl, ld, sigmoidE } from './misc-util.js';

type Act = (x: Expr) => Expr;

/** What each activation computes in element type t, from its alpha and beta (parsed by ops/config/rnn.ts). */
const ACTS: Record<string, (t: ScalarType, alpha: number, beta: number) => Act> = {
  relu: (t) => (x) => select(gt(x, fl(t, 0)), x, fl(t, 0)),
  tanh: () => (x) => un('tanh', x),
  sigmoid: () => sigmoidE,
  affine: (t, a, b) => (x) => add(mul(fl(t, a), x), fl(t, b)),
  leakyrelu: (t, a) => (x) => select(ge(x, fl(t, 0)), x, mul(fl(t, a), x)),
  thresholdedrelu: (t, a) => (x) => select(gt(x, fl(t, a)), x, fl(t, 0)),
  scaledtanh: (t, a, b) => (x) => mul(fl(t, a), un('tanh', mul(fl(t, b), x))),
  hardsigmoid: (t, a, b) => (x) => bin('max', fl(t, 0), bin('min', fl(t, 1), add(mul(fl(t, a), x), fl(t, b)))),
  elu: (t, a) => (x) => select(ge(x, fl(t, 0)), x, mul(fl(t, a), sub(un('exp', x), fl(t, 1)))),
  softsign: (t) => (x) => div(x, add(fl(t, 1), un('abs', x))),
  softplus: (t) => (x) => select(gt(x, fl(t, 30)), x, un('log', add(fl(t, 1), un('exp', x)))),
};

function activations(ctx: LowerContext, kind: Kind, nd: number, t: ScalarType): Act[][] {
  return rnnActivations(ctx.attrs, kind, nd).map((dir) =>
    dir.map((f) => {
      const make = ACTS[f.name];
      if (!make) throw unsupportedLowering(`${kind} activation ${f.name}`);
      return make(t, f.alpha, f.beta);
    }),
  );
}

function lowerRecurrent(ctx: LowerContext, kind: Kind): void {
  const { layout, direction, nd, clip, gates: G, hiddenSize, linearBeforeReset, inputForget } = rnnConfig(ctx.attrs, kind);
  const X = req(ctx.input(0), 'X');
  const W = req(ctx.input(1), 'W');
  const R = req(ctx.input(2), 'R');
  const Bb = ctx.input(3);
  const seqB = ctx.input(4);
  const h0 = ctx.input(5);
  const c0 = kind === 'LSTM' ? ctx.input(6) : null;
  const Pb = kind === 'LSTM' ? ctx.input(7) : null;
  const [S, batch, I] = rnnInputDims(layout, X.shape);
  const H = hiddenSize ?? R.shape[2]!;
  checkRnnWeights(nd, G, H, I, W.shape, R.shape);
  const ct = computeType(X.dtype);
  const acts = activations(ctx, kind, nd, ct);
  const Y = ctx.output(0);
  const Yh = ctx.output(1);
  const Yc = kind === 'LSTM' ? ctx.output(2) : null;
  const GH = G * H;
  const hs = ctx.temp(ct, [nd, batch, H], 'h');
  const cs = kind === 'LSTM' ? ctx.temp(ct, [nd, batch, H], 'c') : null;
  const gx = ctx.temp(ct, [GH], 'gx');
  const gh = ctx.temp(ct, [GH], 'gh');
  const hNew = ctx.temp(ct, [H], 'hnew');
  const rVec = kind === 'GRU' && !linearBeforeReset ? ctx.temp(ct, [H], 'r') : null;
  const zero = fl(ct, 0);
  const one = fl(ct, 1);
  const cl = (v: Expr): Expr => (clip === undefined ? v : bin('max', fl(ct, -clip), bin('min', fl(ct, clip), v)));
  // state element (d, b, k) in the [nd, batch, H] layout 0 / [batch, nd, H] layout 1 of the I/O tensors
  const stIO = (d: number, b: Expr, k: Expr): Expr => (layout === 0 ? add(mul(add(mul(idx(d), idx(batch)), b), idx(H)), k) : add(mul(add(mul(b, idx(nd)), idx(d)), idx(H)), k));
  const st = (d: number, b: Expr, k: Expr): Expr => add(mul(add(mul(idx(d), idx(batch)), b), idx(H)), k);
  const xAt = (t: Expr, b: Expr, i: Expr): Expr => (layout === 0 ? add(mul(add(mul(t, idx(batch)), b), idx(I)), i) : add(mul(add(mul(b, idx(S)), t), idx(I)), i));
  const yAt = (t: Expr, d: number, b: Expr, k: Expr): Expr =>
    layout === 0 ? add(mul(add(mul(add(mul(t, idx(nd)), idx(d)), idx(batch)), b), idx(H)), k) : add(mul(add(mul(add(mul(b, idx(S)), t), idx(nd)), idx(d)), idx(H)), k);

  ctx.kernel((kb) => {
    if (Y) kb.for(0, Y.shape.reduce((p, q) => p * q, 1), (e) => kb.store(Y, e, zero));
    for (let d = 0; d < nd; d++) {
      kb.for(0, batch, (b) =>
        kb.for(0, H, (k) => {
          kb.store(hs, st(d, b, k), h0 ? ld(h0, stIO(d, b, k), ct) : zero);
          if (cs) kb.store(cs, st(d, b, k), c0 ? ld(c0, stIO(d, b, k), ct) : zero);
        }),
      );
    }
    for (let d = 0; d < nd; d++) {
      const reverse = direction === 'reverse' || d === 1;
      const [f, g, hAct] = acts[d]!;
      const wOff = d * GH * I;
      const rOff = d * GH * H;
      const bOff = d * 2 * GH;
      const pOff = d * 3 * H;
      const bias = (r: Expr): Expr => (Bb ? ld(Bb, add(idx(bOff), r), ct) : zero);
      const peep = (r: Expr): Expr => (Pb ? ld(Pb, add(idx(pOff), r), ct) : zero);
      kb.for(0, batch, (b) => {
        const L = seqB ? kb.let('index', cast(load(seqB, b), 'index'), 'len') : idx(S);
        const hb = kb.let('index', st(d, b, idx(0)), 'hb');
        kb.for(0, L, (step) => {
          const t = kb.let('index', reverse ? sub(sub(L, idx(1)), step) : step, 't');
          const xb = kb.let('index', xAt(t, b, idx(0)), 'xb');
          kb.for(0, GH, (r) => {
            const s = kb.let(ct, bias(r), 's');
            const wr = kb.let('index', add(idx(wOff), mul(r, idx(I))), 'wr');
            kb.for(0, I, (i) => kb.set(s, add(s, mul(ld(W, add(wr, i), ct), ld(X, add(xb, i), ct)))));
            kb.store(gx, r, s);
            const s2 = kb.let(ct, bias(add(r, idx(GH))), 's');
            const rr = kb.let('index', add(idx(rOff), mul(r, idx(H))), 'rr');
            kb.for(0, H, (j) => kb.set(s2, add(s2, mul(ld(R, add(rr, j), ct), load(hs, add(hb, j))))));
            kb.store(gh, r, s2);
          });
          const G_ = (buf: typeof gx, gate: number, k: Expr): Expr => load(buf, add(idx(gate * H), k));
          const hPrev = (k: Expr): Expr => load(hs, add(hb, k));
          if (kind === 'RNN') {
            kb.for(0, H, (k) => kb.store(hNew, k, f!(cl(add(G_(gx, 0, k), G_(gh, 0, k))))));
          } else if (kind === 'GRU') {
            if (rVec) kb.for(0, H, (k) => kb.store(rVec, k, f!(cl(add(G_(gx, 1, k), G_(gh, 1, k))))));
            kb.for(0, H, (k) => {
              const z = kb.let(ct, f!(cl(add(G_(gx, 0, k), G_(gh, 0, k)))), 'z');
              let pre: Expr;
              if (!rVec) {
                const rg = kb.let(ct, f!(cl(add(G_(gx, 1, k), G_(gh, 1, k)))), 'rg');
                pre = add(G_(gx, 2, k), mul(rg, G_(gh, 2, k)));
              } else {
                // (r ⊙ h_prev) Rh^T + Rbh
                const s = kb.let(ct, bias(add(idx(GH + 2 * H), k)), 's');
                const rr = kb.let('index', add(idx(rOff + 2 * H * H), mul(k, idx(H))), 'rr');
                kb.for(0, H, (j) => kb.set(s, add(s, mul(ld(R, add(rr, j), ct), mul(load(rVec, j), hPrev(j))))));
                pre = add(G_(gx, 2, k), s);
              }
              const hh = kb.let(ct, g!(cl(pre)), 'hh');
              kb.store(hNew, k, add(mul(sub(one, z), hh), mul(z, hPrev(k))));
            });
          } else {
            const cb = hb;
            kb.for(0, H, (k) => {
              const cPrev = kb.let(ct, load(cs!, add(cb, k)), 'cp');
              const ig = kb.let(ct, f!(cl(add(add(G_(gx, 0, k), G_(gh, 0, k)), mul(peep(k), cPrev)))), 'ig');
              const fg = kb.let(ct, inputForget ? sub(one, ig) : f!(cl(add(add(G_(gx, 2, k), G_(gh, 2, k)), mul(peep(add(idx(2 * H), k)), cPrev)))), 'fg');
              const cc = kb.let(ct, g!(cl(add(G_(gx, 3, k), G_(gh, 3, k)))), 'cc');
              const c = kb.let(ct, add(mul(fg, cPrev), mul(ig, cc)), 'c');
              kb.store(cs!, add(cb, k), c);
              const og = kb.let(ct, f!(cl(add(add(G_(gx, 1, k), G_(gh, 1, k)), mul(peep(add(idx(H), k)), c)))), 'og');
              kb.store(hNew, k, mul(og, hAct!(c)));
            });
          }
          kb.for(0, H, (k) => {
            const v = kb.let(ct, load(hNew, k), 'hv');
            kb.store(hs, add(hb, k), v);
            if (Y) kb.store(Y, yAt(t, d, b, k), v);
          });
        });
      });
    }
    for (let d = 0; d < nd; d++) {
      kb.for(0, batch, (b) =>
        kb.for(0, H, (k) => {
          if (Yh) kb.store(Yh, stIO(d, b, k), load(hs, st(d, b, k)));
          if (Yc) kb.store(Yc, stIO(d, b, k), load(cs!, st(d, b, k)));
        }),
      );
    }
  });
}

for (const kind of ['RNN', 'GRU', 'LSTM'] as const) registerLowering({ opType: kind, lower: (ctx) => lowerRecurrent(ctx, kind) });
