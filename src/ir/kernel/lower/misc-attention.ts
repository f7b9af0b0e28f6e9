/** Lowering of ONNX Attention (opset 23+): masks, causal, GQA, past/present caches, softcap, qk outputs. */
import { KilnError } from '../../errors.js';
import { add, bin, cast, div, eq, ge, gt, idx, load, lt, min, mul, select, sub, un } from '../builder.js';
import { registerLowering, unsupportedLowering } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import { computeType, req } from './common.js';
import { attentionAttrs } from '../../ops/config/attention.js';
import { fl, ld } from './misc-util.js';

registerLowering({
  opType: 'Attention',
  lower(ctx) {
    const Q = req(ctx.input(0), 'Q');
    const K = req(ctx.input(1), 'K');
    const V = req(ctx.input(2), 'V');
    const mask = ctx.input(3);
    const pastK = ctx.input(4);
    const pastV = ctx.input(5);
    const nonpad = ctx.opset >= 24 ? ctx.input(6) : null;
    const { isCausal, qHeads: qh, kvHeads: kvh, softcap, qkOutputMode: mode, scale: scaleAttr } = attentionAttrs(ctx.attrs);
    const rank = Q.shape.length;
    if (K.shape.length !== rank || V.shape.length !== rank) throw new KilnError('type', 'Q, K and V must have the same rank');
    let B: number, Hq: number, Hkv: number, Sq: number, Skv: number, Dk: number, Dv: number;
    if (rank === 4) {
      [B, Hq, Sq, Dk] = Q.shape as [number, number, number, number];
      Hkv = K.shape[1]!;
      Skv = K.shape[2]!;
      Dv = V.shape[3]!;
    } else if (rank === 3) {
      if (!qh || !kvh) throw new KilnError('type', '3-D Attention inputs need q_num_heads and kv_num_heads');
      B = Q.shape[0]!;
      Sq = Q.shape[1]!;
      Hq = qh;
      Hkv = kvh;
      Dk = Q.shape[2]! / qh;
      Skv = K.shape[1]!;
      Dv = V.shape[2]! / kvh;
      if (K.shape[2]! / kvh !== Dk) throw new KilnError('type', 'Q and K head sizes differ');
    } else throw new KilnError('type', `Attention inputs must be 3-D or 4-D, got rank ${rank}`);
    if (Hq % Hkv !== 0) throw new KilnError('type', `q_num_heads ${Hq} is not a multiple of kv_num_heads ${Hkv}`);
    if ((pastK === null) !== (pastV === null)) throw unsupportedLowering('Attention with only one of past_key/past_value');
    const P = pastK ? pastK.shape[2]! : 0;
    const T = P + Skv;
    const group = Hq / Hkv;
    const ct = computeType(Q.dtype);
    const scale = scaleAttr ?? 1 / Math.sqrt(Dk);
    if (ctx.output(3) && (mode < 0 || mode > 3)) throw unsupportedLowering(`Attention qk_matmul_output_mode ${mode}`);

    // index helpers for the new K/V in their input layout
    const kvIn = (buf: KBuffer, D: number) => (b: Expr, h: Expr, j: Expr, d: Expr): Expr =>
      rank === 4
        ? add(mul(add(mul(add(mul(b, idx(Hkv)), h), idx(Skv)), j), idx(D)), d)
        : add(add(mul(add(mul(b, idx(Skv)), j), idx(Hkv * D)), mul(h, idx(D))), d);

    // present caches: materialized when a past is given or the output is requested
    const present = (outIdx: number, src: KBuffer, past: KBuffer | null, D: number, name: string): ((b: Expr, h: Expr, j: Expr, d: Expr) => Expr) => {
      const out = ctx.output(outIdx);
      const at = kvIn(src, D);
      if (!out && !past) return (b, h, j, d) => load(src, at(b, h, j, d));
      const buf = out ?? ctx.temp(src.dtype, [B, Hkv, T, D], name);
      ctx.kernel((kb) => {
        kb.for(0, B, (b) =>
          kb.for(0, Hkv, (h) => {
            const base = kb.let('index', mul(add(mul(b, idx(Hkv)), h), idx(T * D)), 'base');
            if (past) {
              const pb = kb.let('index', mul(add(mul(b, idx(Hkv)), h), idx(P * D)), 'pbase');
              kb.for(0, P * D, (e) => kb.store(buf, add(base, e), load(past, add(pb, e))));
            }
            kb.for(0, Skv, (j) => {
              const ob = kb.let('index', add(base, mul(add(j, idx(P)), idx(D))), 'ob');
              kb.for(0, D, (d) => kb.store(buf, add(ob, d), load(src, at(b, h, j, d))));
            });
          }),
        );
      }, name);
      return (b, h, j, d) => load(buf, add(mul(add(mul(add(mul(b, idx(Hkv)), h), idx(T)), j), idx(D)), d));
    };
    const kAt = present(1, K, pastK, Dk, 'present_key');
    const vAt = present(2, V, pastV, Dv, 'present_value');

    const qAt = (b: Expr, h: Expr, i: Expr, d: Expr): Expr =>
      rank === 4 ? add(mul(add(mul(add(mul(b, idx(Hq)), h), idx(Sq)), i), idx(Dk)), d) : add(add(mul(add(mul(b, idx(Sq)), i), idx(Hq * Dk)), mul(h, idx(Dk))), d);
    const Y = req(ctx.output(0), 'Y');
    const yAt = (b: Expr, h: Expr, i: Expr, d: Expr): Expr =>
      rank === 4 ? add(mul(add(mul(add(mul(b, idx(Hq)), h), idx(Sq)), i), idx(Dv)), d) : add(add(mul(add(mul(b, idx(Sq)), i), idx(Hq * Dv)), mul(h, idx(Dv))), d);
    const QK = ctx.output(3);

    // mask geometry (padded to 4-D; broadcast dims get stride 0; last dim is not broadcast)
    let mStr = [0, 0, 0, 0];
    let mLast = 0;
    if (mask) {
      if (mask.shape.length < 2 || mask.shape.length > 4) throw new KilnError('type', `attn_mask must be 2-D to 4-D, got rank ${mask.shape.length}`);
      const shp = [1, 1, 1, 1];
      mask.shape.forEach((d, i) => (shp[4 - mask.shape.length + i] = d));
      mLast = shp[3]!;
      if (mLast > T) throw new KilnError('type', `attn_mask last dimension ${mLast} exceeds total sequence length ${T}`);
      const full = [B, Hq, Sq, T];
      const st = [shp[1]! * shp[2]! * shp[3]!, shp[2]! * shp[3]!, shp[3]!, 1];
      mStr = st.map((s, i) => (shp[i] === 1 && full[i] !== 1 ? 0 : s));
    }
    const row = ctx.temp(ct, [T], 'row');
    const acc = ctx.temp(ct, [Dv], 'acc');
    const ninf = fl(ct, -Infinity);
    const zero = fl(ct, 0);

    ctx.kernel((kb) => {
      kb.for(0, B, (b) => {
        // causal offset: past length, or (without a past) nonpad_kv_seqlen[b] - Sq
        const np = nonpad ? kb.let('index', cast(load(nonpad, b), 'index'), 'np') : null;
        const causalOff: Expr = !pastK && np ? sub(np, idx(Sq)) : idx(P);
        kb.for(0, Hq, (h) => {
          const kh = kb.let('index', div(h, idx(group)), 'kh');
          kb.for(0, Sq, (i) => {
            const qk = QK ? kb.let('index', mul(add(mul(add(mul(b, idx(Hq)), h), idx(Sq)), i), idx(T)), 'qko') : null;
            const mBase = mask ? kb.let('index', add(add(mul(b, idx(mStr[0]!)), mul(h, idx(mStr[1]!))), mul(i, idx(mStr[2]!))), 'mb') : null;
            kb.for(0, T, (j) => {
              const s = kb.let(ct, zero, 's');
              kb.for(0, Dk, (d) => kb.set(s, add(s, mul(ld(Q, qAt(b, h, i, d), ct), cast(kAt(b, kh, j, d), ct)))));
              kb.set(s, mul(s, fl(ct, scale)));
              if (QK && mode === 0) kb.store(QK, add(qk!, j), s);
              if (softcap > 0) kb.set(s, mul(fl(ct, softcap), un('tanh', div(s, fl(ct, softcap)))));
              if (QK && mode === 1) kb.store(QK, add(qk!, j), s);
              if (mask || isCausal || np) {
                let bias: Expr = zero;
                if (mask) {
                  const jj = mLast < T ? min(j, idx(mLast - 1)) : j;
                  const mv = load(mask, add(mBase!, jj));
                  let mb: Expr = mask.dtype === 'bool' ? select(mv, zero, ninf) : cast(mv, ct);
                  if (mLast < T) mb = select(lt(j, idx(mLast)), mb, ninf);
                  bias = mb;
                }
                const bv = kb.let(ct, bias, 'bias');
                if (isCausal) kb.set(bv, select(gt(j, add(i, causalOff)), add(bv, ninf), bv));
                if (np) kb.set(bv, select(ge(j, np), add(bv, ninf), bv));
                kb.set(s, add(s, bv));
              }
              if (QK && mode === 2) kb.store(QK, add(qk!, j), s);
              kb.store(row, j, s);
            });
            // softmax over the row; a row whose maximum is -inf becomes zeros
            const m = kb.let(ct, ninf, 'm');
            kb.for(0, T, (j) => kb.set(m, bin('max', m, load(row, j))));
            kb.if(
              eq(m, ninf),
              () => kb.for(0, T, (j) => kb.store(row, j, zero)),
              () => {
                const sum = kb.let(ct, zero, 'sum');
                kb.for(0, T, (j) => {
                  const e = kb.let(ct, un('exp', sub(load(row, j), m)), 'e');
                  kb.store(row, j, e);
                  kb.set(sum, add(sum, e));
                });
                kb.for(0, T, (j) => kb.store(row, j, div(load(row, j), sum)));
              },
            );
            if (QK && mode === 3) kb.for(0, T, (j) => kb.store(QK, add(qk!, j), load(row, j)));
            kb.for(0, Dv, (d) => kb.store(acc, d, zero));
            kb.for(0, T, (j) => {
              const p = kb.let(ct, load(row, j), 'p');
              kb.if(bin('ne', p, zero), () => kb.for(0, Dv, (d) => kb.store(acc, d, add(load(acc, d), mul(p, cast(vAt(b, kh, j, d), ct))))));
            });
            kb.for(0, Dv, (d) => kb.store(Y, yAt(b, h, i, d), load(acc, d)));
          });
        });
      });
    });
  },
});
