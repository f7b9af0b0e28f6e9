/** ONNX Attention (opset 23+): scaled dot-product attention with masks, caches, GQA and softcap. */
import { KilnError } from '../errors.js';
import { tensorType, type TensorType, type ValueType } from '../types.js';
import { attentionAttrs } from './config/attention.js';
import { registerOp } from './registry.js';
import { inputTensorType } from './util.js';
import { dimAdd, dimDiv, dimMul, dimOf, fromF64, requireFloat, softmaxInPlace, toF64 } from './sequence-models-common.js';
import type { Tensor } from '../tensor.js';

interface Geo {
  B: number;
  Hq: number;
  Hkv: number;
  Sq: number;
  Skv: number;
  Dk: number;
  Dv: number;
}

/** Converts [B,S,H*D] to [B,H,S,D] (or copies a 4-D tensor). */
function toHeads(t: Tensor, heads: number | undefined, what: string): { data: Float64Array; B: number; H: number; S: number; D: number } {
  const src = toF64(t);
  if (t.rank === 4) {
    const [B, H, S, D] = t.shape as [number, number, number, number];
    return { data: src, B, H, S, D };
  }
  if (t.rank !== 3) throw new KilnError('type', `${what} must be 3-D or 4-D, got rank ${t.rank}`);
  if (heads === undefined || heads <= 0) throw new KilnError('type', `${what} is 3-D: q_num_heads and kv_num_heads are required`);
  const [B, S, HD] = t.shape as [number, number, number];
  if (HD % heads !== 0) throw new KilnError('type', `${what} hidden size ${HD} is not divisible by ${heads} heads`);
  const D = HD / heads;
  const H = heads;
  const out = new Float64Array(src.length);
  for (let b = 0; b < B; b++)
    for (let s = 0; s < S; s++)
      for (let h = 0; h < H; h++)
        for (let d = 0; d < D; d++) out[((b * H + h) * S + s) * D + d] = src[(b * S + s) * HD + h * D + d]!;
  return { data: out, B, H, S, D };
}

function concatSeq(past: Tensor | null, cur: { data: Float64Array; B: number; H: number; S: number; D: number }, what: string): { data: Float64Array; T: number; P: number } {
  if (!past) return { data: cur.data, T: cur.S, P: 0 };
  if (past.rank !== 4) throw new KilnError('type', `${what} must be 4-D`);
  const [pb, ph, P, pd] = past.shape as [number, number, number, number];
  if (pb !== cur.B || ph !== cur.H || pd !== cur.D) throw new KilnError('type', `${what} shape [${past.shape.join(',')}] does not match [${cur.B},${cur.H},?,${cur.D}]`);
  const p = toF64(past);
  const T = P + cur.S;
  const out = new Float64Array(cur.B * cur.H * T * cur.D);
  for (let bh = 0; bh < cur.B * cur.H; bh++) {
    out.set(p.subarray(bh * P * cur.D, (bh + 1) * P * cur.D), bh * T * cur.D);
    out.set(cur.data.subarray(bh * cur.S * cur.D, (bh + 1) * cur.S * cur.D), bh * T * cur.D + P * cur.D);
  }
  return { data: out, T, P };
}

registerOp({
  opType: 'Attention',
  since: 23,
  attrs: { is_causal: 'int', kv_num_heads: 'int', q_num_heads: 'int', qk_matmul_output_mode: 'int', scale: 'float', softcap: 'float', softmax_precision: 'int' },
  infer(ctx) {
    const q = inputTensorType(ctx, 0);
    const k = inputTensorType(ctx, 1);
    const v = inputTensorType(ctx, 2);
    if (!q || !k || !v) return new Array<ValueType | null>(ctx.outputCount).fill(null);
    requireFloat(q, 'Q');
    const pk = inputTensorType(ctx, 4);
    const rank = q.shape?.length ?? k.shape?.length ?? null;
    const qHeads = ctx.attrs.optInt('q_num_heads');
    const kvHeads = ctx.attrs.optInt('kv_num_heads');
    const dt = q.dtype;
    let B = dimOf(q, 0);
    let Hq: import('../types.js').Dim = null;
    let Hkv: import('../types.js').Dim = null;
    let Sq: import('../types.js').Dim = null;
    let Skv: import('../types.js').Dim = null;
    let Dk: import('../types.js').Dim = null;
    let Dv: import('../types.js').Dim = null;
    if (rank === 4) {
      Hq = dimOf(q, 1);
      Sq = dimOf(q, 2);
      Hkv = dimOf(k, 1);
      Skv = dimOf(k, 2);
      Dk = dimOf(k, 3);
      Dv = dimOf(v, 3);
    } else if (rank === 3) {
      if (qHeads === undefined || kvHeads === undefined) throw new KilnError('type', '3-D Attention inputs need q_num_heads and kv_num_heads');
      Hq = qHeads;
      Hkv = kvHeads;
      Sq = dimOf(q, 1);
      Skv = dimOf(k, 1);
      Dk = dimDiv(dimOf(k, 2), kvHeads);
      Dv = dimDiv(dimOf(v, 2), kvHeads);
    } else if (rank !== null) {
      throw new KilnError('type', `Attention inputs must be 3-D or 4-D, got rank ${rank}`);
    }
    if (B === null) B = dimOf(k, 0);
    const P = pk ? dimOf(pk, 2) : 0;
    const T = dimAdd(P, Skv);
    const Y: TensorType = rank === 3 ? tensorType(dt, [B, Sq, dimMul(Hq, Dv)]) : rank === 4 ? tensorType(dt, [B, Hq, Sq, Dv]) : tensorType(dt, null);
    const out: (ValueType | null)[] = [Y];
    if (ctx.outputCount > 1) out.push(tensorType(k.dtype, rank === null ? null : [B, Hkv, T, Dk]));
    if (ctx.outputCount > 2) out.push(tensorType(v.dtype, rank === null ? null : [B, Hkv, T, Dv]));
    if (ctx.outputCount > 3) out.push(tensorType(dt, rank === null ? null : [B, Hq, Sq, T]));
    return out;
  },
  interp(ctx) {
    const Qt = ctx.tensor(0);
    const Kt = ctx.tensor(1);
    const Vt = ctx.tensor(2);
    requireFloat(Qt, 'Q');
    const mask = ctx.optTensor(3);
    const pastK = ctx.optTensor(4);
    const pastV = ctx.optTensor(5);
    const nonpad = ctx.opset >= 24 ? ctx.optTensor(6) : null;
    const { isCausal, qHeads, kvHeads, softcap, qkOutputMode: mode, scale: scaleAttr } = attentionAttrs(ctx.attrs);
    if (Qt.rank !== Kt.rank || Qt.rank !== Vt.rank) throw new KilnError('type', 'Q, K and V must have the same rank');
    const rank3 = Qt.rank === 3;
    const q = toHeads(Qt, qHeads, 'Q');
    const k = toHeads(Kt, kvHeads, 'K');
    const v = toHeads(Vt, kvHeads, 'V');
    if (k.B !== q.B || v.B !== q.B) throw new KilnError('type', 'Q, K and V batch sizes differ');
    if (k.H !== v.H) throw new KilnError('type', 'K and V head counts differ');
    if (k.S !== v.S) throw new KilnError('type', 'K and V sequence lengths differ');
    if (k.D !== q.D) throw new KilnError('type', `Q head size ${q.D} differs from K head size ${k.D}`);
    if (q.H % k.H !== 0) throw new KilnError('type', `q_num_heads ${q.H} is not a multiple of kv_num_heads ${k.H}`);
    const pk = concatSeq(pastK, k, 'past_key');
    const pv = concatSeq(pastV, v, 'past_value');
    if (pk.T !== pv.T) throw new KilnError('type', 'past_key and past_value sequence lengths differ');
    const g: Geo = { B: q.B, Hq: q.H, Hkv: k.H, Sq: q.S, Skv: k.S, Dk: k.D, Dv: v.D };
    const T = pk.T;
    const P = pk.P;
    const scale = scaleAttr ?? 1 / Math.sqrt(q.D);
    const group = g.Hq / g.Hkv;

    // mask: broadcast index function
    let maskData: Float64Array | null = null;
    let maskBool = false;
    let mStr: number[] = [0, 0, 0, 0];
    let mLast = 0;
    if (mask) {
      if (mask.rank < 2 || mask.rank > 4) throw new KilnError('type', `attn_mask must be 2-D to 4-D, got rank ${mask.rank}`);
      maskBool = mask.dtype === 'bool';
      maskData = toF64(mask);
      const shp = [1, 1, 1, 1];
      for (let i = 0; i < mask.rank; i++) shp[4 - mask.rank + i] = mask.shape[i]!;
      const full = [g.B, g.Hq, g.Sq, T];
      mLast = shp[3]!;
      if (mLast > T) throw new KilnError('type', `attn_mask last dimension ${mLast} exceeds total sequence length ${T}`);
      const st = [shp[1]! * shp[2]! * shp[3]!, shp[2]! * shp[3]!, shp[3]!, 1];
      mStr = st.map((s, i) => (shp[i] === 1 && full[i] !== 1 ? 0 : s));
      for (let i = 0; i < 3; i++) {
        if (shp[i] !== 1 && shp[i] !== full[i]) throw new KilnError('type', `attn_mask shape [${mask.shape.join(',')}] does not broadcast to [${full.join(',')}]`);
      }
    }
    const np = nonpad ? nonpad.toIndexArray() : null;
    if (np && np.length !== g.B) throw new KilnError('type', `nonpad_kv_seqlen must have ${g.B} elements`);

    const Y = new Float64Array(g.B * g.Hq * g.Sq * g.Dv);
    const wantQK = ctx.hasOutput(3);
    const QK = wantQK ? new Float64Array(g.B * g.Hq * g.Sq * T) : null;
    const row = new Float64Array(T);
    for (let b = 0; b < g.B; b++) {
      const causalOff = pastK === null && np ? np[b]! - g.Sq : P;
      for (let h = 0; h < g.Hq; h++) {
        const kh = Math.floor(h / group);
        const kBase = (b * g.Hkv + kh) * T;
        for (let i = 0; i < g.Sq; i++) {
          const qOff = ((b * g.Hq + h) * g.Sq + i) * g.Dk;
          const qkOff = ((b * g.Hq + h) * g.Sq + i) * T;
          for (let j = 0; j < T; j++) {
            const kOff = (kBase + j) * g.Dk;
            let s = 0;
            for (let d = 0; d < g.Dk; d++) s += q.data[qOff + d]! * pk.data[kOff + d]!;
            s *= scale;
            if (QK && mode === 0) QK[qkOff + j] = s;
            if (softcap > 0) s = softcap * Math.tanh(s / softcap);
            if (QK && mode === 1) QK[qkOff + j] = s;
            // bias
            let bias = 0;
            if (maskData) {
              if (j >= mLast) bias = -Infinity;
              else {
                const mv = maskData[b * mStr[0]! + h * mStr[1]! + i * mStr[2]! + j * mStr[3]!]!;
                bias = maskBool ? (mv !== 0 ? 0 : -Infinity) : mv;
              }
            }
            if (isCausal && j > i + causalOff) bias += -Infinity;
            if (np && j >= np[b]!) bias += -Infinity;
            s += bias;
            if (QK && mode === 2) QK[qkOff + j] = s;
            row[j] = s;
          }
          softmaxInPlace(row, 0, T);
          if (QK && mode === 3) QK.set(row, qkOff);
          const yOff = ((b * g.Hq + h) * g.Sq + i) * g.Dv;
          for (let j = 0; j < T; j++) {
            const p = row[j]!;
            if (p === 0) continue;
            const vOff = (kBase + j) * g.Dv;
            for (let d = 0; d < g.Dv; d++) Y[yOff + d] += p * pv.data[vOff + d]!;
          }
        }
      }
    }
    if (QK && (mode < 0 || mode > 3)) throw new KilnError('unsupported', `unsupported qk_matmul_output_mode ${mode}`);
    let yOut: Tensor;
    if (rank3) {
      const HD = g.Hq * g.Dv;
      const y3 = new Float64Array(Y.length);
      for (let b = 0; b < g.B; b++)
        for (let h = 0; h < g.Hq; h++)
          for (let s = 0; s < g.Sq; s++)
            for (let d = 0; d < g.Dv; d++) y3[(b * g.Sq + s) * HD + h * g.Dv + d] = Y[((b * g.Hq + h) * g.Sq + s) * g.Dv + d]!;
      yOut = fromF64(Qt.dtype, [g.B, g.Sq, HD], y3);
    } else {
      yOut = fromF64(Qt.dtype, [g.B, g.Hq, g.Sq, g.Dv], Y);
    }
    const res: (Tensor | null)[] = [yOut];
    if (ctx.outputCount > 1) res.push(ctx.hasOutput(1) ? fromF64(Kt.dtype, [g.B, g.Hkv, T, g.Dk], pk.data) : null);
    if (ctx.outputCount > 2) res.push(ctx.hasOutput(2) ? fromF64(Vt.dtype, [g.B, g.Hkv, T, g.Dv], pv.data) : null);
    if (ctx.outputCount > 3) res.push(QK ? fromF64(Qt.dtype, [g.B, g.Hq, g.Sq, T], QK) : null);
    return res;
  },
});
