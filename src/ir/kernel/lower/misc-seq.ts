/** Lowerings of RotaryEmbedding, LinearAttention and CausalConvWithState. */
import { KilnError } from '../../errors.js';
import { add, cast, idx, load, lt, max, mul, sub, un } from '../builder.js';
import { registerLowering } from '../lowering.js';
import type { Expr } from '../types.js';
import { computeType, req } from './common.js';
import { fl, ld, sigmoidE } from './misc-util.js';

// ---------- RotaryEmbedding ----------

registerLowering({
  opType: 'RotaryEmbedding',
  lower(ctx) {
    const X = req(ctx.input(0), 'input');
    const cosB = req(ctx.input(1), 'cos_cache');
    const sinB = req(ctx.input(2), 'sin_cache');
    const pos = ctx.input(3);
    const out = req(ctx.output(0), 'output');
    const interleaved = ctx.attrs.int('interleaved', 0) !== 0;
    const numHeads = ctx.attrs.int('num_heads', 0);
    let rdim = ctx.attrs.int('rotary_embedding_dim', 0);
    let B: number, S: number, Hn: number, D: number;
    let off: (b: Expr, s: Expr, h: Expr, d: Expr) => Expr;
    if (X.shape.length === 4) {
      [B, Hn, S, D] = X.shape as [number, number, number, number];
      off = (b, s, h, d) => add(mul(add(mul(add(mul(b, idx(Hn)), h), idx(S)), s), idx(D)), d);
    } else if (X.shape.length === 3) {
      if (numHeads <= 0) throw new KilnError('type', 'RotaryEmbedding with 3-D input needs num_heads');
      const hidden = X.shape[2]!;
      [B, S] = X.shape as [number, number];
      Hn = numHeads;
      D = hidden / numHeads;
      off = (b, s, h, d) => add(add(mul(add(mul(b, idx(S)), s), idx(hidden)), mul(h, idx(D))), d);
    } else throw new KilnError('type', `RotaryEmbedding input must be 3-D or 4-D, got rank ${X.shape.length}`);
    if (rdim === 0) rdim = D;
    if (rdim > D || rdim % 2 !== 0) throw new KilnError('type', `rotary_embedding_dim ${rdim} is invalid for head size ${D}`);
    const half = rdim / 2;
    const ct = computeType(X.dtype);
    const pb = pos ? (pos.shape.length === 2 ? pos.shape[0]! : 1) : 0;
    ctx.kernel((kb) => {
      kb.for(0, B, (b) =>
        kb.for(0, S, (s) => {
          const r = pos
            ? kb.let('index', mul(cast(load(pos, add(mul(pb === 1 ? idx(0) : b, idx(S)), s)), 'index'), idx(half)), 'row')
            : kb.let('index', mul(add(mul(b, idx(S)), s), idx(half)), 'row');
          kb.for(0, Hn, (h) => {
            kb.for(0, half, (k) => {
              const c = kb.let(ct, ld(cosB, add(r, k), ct), 'c');
              const sn = kb.let(ct, ld(sinB, add(r, k), ct), 'sn');
              const i1 = kb.let('index', interleaved ? off(b, s, h, mul(k, idx(2))) : off(b, s, h, k), 'i1');
              const i2 = kb.let('index', interleaved ? add(off(b, s, h, mul(k, idx(2))), idx(1)) : off(b, s, h, add(k, idx(half))), 'i2');
              const x1 = kb.let(ct, ld(X, i1, ct), 'x1');
              const x2 = kb.let(ct, ld(X, i2, ct), 'x2');
              kb.store(out, i1, sub(mul(c, x1), mul(sn, x2)));
              kb.store(out, i2, add(mul(sn, x1), mul(c, x2)));
            });
            if (rdim < D) kb.for(rdim, D, (d) => kb.store(out, off(b, s, h, d), load(X, off(b, s, h, d))));
          });
        }),
      );
    });
  },
});

// ---------- LinearAttention ----------

registerLowering({
  opType: 'LinearAttention',
  lower(ctx) {
    const Q = req(ctx.input(0), 'query');
    const K = req(ctx.input(1), 'key');
    const V = req(ctx.input(2), 'value');
    const past = ctx.input(3);
    const decayB = ctx.input(4);
    const betaB = ctx.input(5);
    const eraseB = ctx.input(6);
    const hq = ctx.attrs.optInt('q_num_heads');
    const hkv = ctx.attrs.optInt('kv_num_heads');
    if (hq === undefined || hkv === undefined || hq <= 0 || hkv <= 0 || hq % hkv !== 0) throw new KilnError('type', 'LinearAttention needs q_num_heads a positive multiple of kv_num_heads');
    const rule = ctx.attrs.string('update_rule', 'gated_delta');
    const gating = rule === 'gated' || rule === 'gated_delta';
    const delta = rule === 'delta' || rule === 'gated_delta';
    if (!['linear', 'gated', 'delta', 'gated_delta'].includes(rule)) throw new KilnError('type', `invalid update_rule '${rule}'`);
    if (gating !== (decayB !== null)) throw new KilnError('type', `update_rule '${rule}' ${gating ? 'requires' : 'forbids'} the decay input`);
    if (delta !== (betaB !== null)) throw new KilnError('type', `update_rule '${rule}' ${delta ? 'requires' : 'forbids'} the beta input`);
    if (eraseB && !delta) throw new KilnError('type', `update_rule '${rule}' forbids the erase_gate input`);
    const [B, T] = Q.shape as [number, number];
    const dk = Q.shape[2]! / hq;
    const dv = V.shape[2]! / hkv;
    const group = hq / hkv;
    const ct = computeType(Q.dtype);
    let decayPerDim = false;
    if (decayB) {
      const last = decayB.shape[2]!;
      if (last === hkv * dk && last !== hkv) decayPerDim = true;
      else if (last !== hkv) throw new KilnError('type', `decay last dimension ${last} must be ${hkv} or ${hkv * dk}`);
    }
    const betaLast = betaB ? betaB.shape[2]! : 1;
    const sc = ctx.attrs.optFloat('scale');
    const scale = sc === undefined || sc === 0 ? 1 / Math.sqrt(dk) : sc;
    const out = req(ctx.output(0), 'output');
    const presentOut = ctx.output(1);
    const state = ctx.temp(ct, [B, hkv, dk, dv], 'state');
    const kv = ctx.temp(ct, [dv], 'kv');
    const nState = B * hkv * dk * dv;
    ctx.kernel((kb) => {
      kb.for(0, nState, (e) => kb.store(state, e, past ? ld(past, e, ct) : fl(ct, 0)));
      kb.for(0, B, (b) =>
        kb.for(0, T, (t) => {
          const bt = kb.let('index', add(mul(b, idx(T)), t), 'bt');
          kb.for(0, hkv, (h) => {
            const sBase = kb.let('index', mul(add(mul(b, idx(hkv)), h), idx(dk * dv)), 'sb');
            const kOff = kb.let('index', add(mul(bt, idx(hkv * dk)), mul(h, idx(dk))), 'ko');
            const vOff = kb.let('index', add(mul(bt, idx(hkv * dv)), mul(h, idx(dv))), 'vo');
            const S = (d: Expr, m: Expr): Expr => add(add(sBase, mul(d, idx(dv))), m);
            if (decayB) {
              kb.for(0, dk, (d) => {
                const gi = decayPerDim ? add(mul(bt, idx(hkv * dk)), add(mul(h, idx(dk)), d)) : add(mul(bt, idx(hkv)), h);
                const f = kb.let(ct, un('exp', ld(decayB, gi, ct)), 'f');
                kb.for(0, dv, (m) => kb.store(state, S(d, m), mul(load(state, S(d, m)), f)));
              });
            }
            kb.for(0, dv, (m) => kb.store(kv, m, ld(V, add(vOff, m), ct)));
            if (betaB) {
              const bv = kb.let(ct, ld(betaB, add(mul(bt, idx(betaLast)), betaLast === 1 ? idx(0) : h), ct), 'beta');
              kb.for(0, dv, (m) => {
                const r = kb.let(ct, fl(ct, 0), 'r');
                kb.for(0, dk, (d) => {
                  const kd = ld(K, add(kOff, d), ct);
                  const ke = eraseB ? mul(ld(eraseB, add(kOff, d), ct), kd) : kd;
                  kb.set(r, add(r, mul(load(state, S(d, m)), ke)));
                });
                kb.store(kv, m, mul(bv, sub(load(kv, m), r)));
              });
            }
            kb.for(0, dk, (d) => {
              const kd = kb.let(ct, ld(K, add(kOff, d), ct), 'kd');
              kb.for(0, dv, (m) => kb.store(state, S(d, m), add(load(state, S(d, m)), mul(kd, load(kv, m)))));
            });
            kb.for(0, group, (g) => {
              const qh = kb.let('index', add(mul(h, idx(group)), g), 'qh');
              const qOff = kb.let('index', add(mul(bt, idx(hq * dk)), mul(qh, idx(dk))), 'qo');
              const oOff = kb.let('index', add(mul(bt, idx(hq * dv)), mul(qh, idx(dv))), 'oo');
              kb.for(0, dv, (m) => {
                const s = kb.let(ct, fl(ct, 0), 's');
                kb.for(0, dk, (d) => kb.set(s, add(s, mul(ld(Q, add(qOff, d), ct), load(state, S(d, m))))));
                kb.store(out, add(oOff, m), mul(fl(ct, scale), s));
              });
            });
          });
        }),
      );
      if (presentOut) kb.for(0, nState, (e) => kb.store(presentOut, e, load(state, e)));
    });
  },
});

// ---------- CausalConvWithState ----------

registerLowering({
  opType: 'CausalConvWithState',
  lower(ctx) {
    const X = req(ctx.input(0), 'input');
    const W = req(ctx.input(1), 'weight');
    const bias = ctx.input(2);
    const past = ctx.input(3);
    const act = ctx.attrs.string('activation', 'none');
    if (act !== 'none' && act !== 'silu' && act !== 'swish') throw new KilnError('type', `invalid activation '${act}'`);
    const silu = act !== 'none';
    const [B, C, L] = X.shape as [number, number, number];
    const Kw = W.shape[2]!;
    const P = Kw - 1;
    const ct = computeType(X.dtype);
    const out = req(ctx.output(0), 'output');
    const present = ctx.output(1);
    ctx.kernel((kb) => {
      kb.for(0, B, (b) =>
        kb.for(0, C, (c) => {
          const bc = kb.let('index', add(mul(b, idx(C)), c), 'bc');
          const xBase = kb.let('index', mul(bc, idx(L)), 'xb');
          const pBase = P > 0 && (past || present) ? kb.let('index', mul(bc, idx(P)), 'pb') : idx(0);
          const wBase = kb.let('index', mul(c, idx(Kw)), 'wb');
          // padded[u] = u < P ? past[u] : x[u - P]
          kb.for(0, L, (t) => {
            const s = kb.let(ct, bias ? ld(bias, c, ct) : fl(ct, 0), 's');
            const split = kb.let('index', max(sub(idx(P), t), idx(0)), 'split');
            if (past && P > 0) kb.for(0, split, (j) => kb.set(s, add(s, mul(ld(W, add(wBase, j), ct), ld(past, add(pBase, add(t, j)), ct)))));
            kb.for(split, Kw, (j) => kb.set(s, add(s, mul(ld(W, add(wBase, j), ct), ld(X, add(xBase, sub(add(t, j), idx(P))), ct)))));
            if (silu) {
              const r = kb.let(ct, cast(cast(s, X.dtype), ct), 'r');
              kb.set(s, mul(r, sigmoidE(r)));
            }
            kb.store(out, add(xBase, t), s);
          });
          if (present) {
            // (a zero-trip loop when P = 0 still references the empty output)
            // present[j] = padded[L + j]
            kb.for(0, P, (j) => {
              const u = add(idx(L), j);
              if (L >= P) kb.store(present, add(pBase, j), load(X, add(xBase, sub(u, idx(P)))));
              else {
                kb.if(
                  lt(u, idx(P)),
                  () => kb.store(present, add(pBase, j), past ? load(past, add(pBase, u)) : fl(ct, 0)),
                  () => kb.store(present, add(pBase, j), load(X, add(xBase, sub(u, idx(P))))),
                );
              }
            });
          }
        }),
      );
    });
  },
});
