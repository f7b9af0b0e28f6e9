/** ONNX opset-27 state-space ops: LinearAttention and CausalConvWithState. */
import { KilnError } from '../errors.js';
import { tensorType, type ValueType } from '../types.js';
import { registerOp } from './registry.js';
import { inputTensorType } from './util.js';
import { dimAdd, dimDiv, dimMul, dimOf, fromF64, requireFloat, sigmoid, toF64 } from './sequence-models-common.js';
import type { Tensor } from '../tensor.js';

// ---------- LinearAttention ----------

const UPDATE_RULES = ['linear', 'gated', 'delta', 'gated_delta'];

function headsAttrs(ctx: { attrs: { optInt(n: string): number | undefined } }): [number, number] {
  const hq = ctx.attrs.optInt('q_num_heads');
  const hkv = ctx.attrs.optInt('kv_num_heads');
  if (hq === undefined || hkv === undefined) throw new KilnError('type', 'LinearAttention needs q_num_heads and kv_num_heads');
  if (hq <= 0 || hkv <= 0 || hq % hkv !== 0) throw new KilnError('type', `q_num_heads ${hq} must be a positive multiple of kv_num_heads ${hkv}`);
  return [hq, hkv];
}

/** (B, T, H*D) -> (B, H, T, D) as doubles. */
function unpack(t: Tensor, heads: number, what: string): { data: Float64Array; D: number } {
  if (t.rank !== 3) throw new KilnError('type', `${what} must be rank 3, got rank ${t.rank}`);
  const [B, T, HD] = t.shape as [number, number, number];
  if (HD % heads !== 0) throw new KilnError('type', `${what} last dimension ${HD} is not divisible by ${heads} heads`);
  const D = HD / heads;
  const src = toF64(t);
  const out = new Float64Array(src.length);
  for (let b = 0; b < B; b++)
    for (let s = 0; s < T; s++)
      for (let h = 0; h < heads; h++)
        for (let d = 0; d < D; d++) out[((b * heads + h) * T + s) * D + d] = src[(b * T + s) * HD + h * D + d]!;
  return { data: out, D };
}

registerOp({
  opType: 'LinearAttention',
  since: 27,
  attrs: { chunk_size: 'int', kv_num_heads: 'int', q_num_heads: 'int', scale: 'float', update_rule: 'string' },
  infer(ctx) {
    const q = inputTensorType(ctx, 0);
    const v = inputTensorType(ctx, 2);
    const ps = inputTensorType(ctx, 3);
    if (!q) return new Array<ValueType | null>(ctx.outputCount).fill(null);
    requireFloat(q, 'query');
    const [hq, hkv] = headsAttrs(ctx);
    const rule = ctx.attrs.string('update_rule', 'gated_delta');
    if (!UPDATE_RULES.includes(rule)) throw new KilnError('type', `invalid update_rule '${rule}'`);
    const dk = dimDiv(dimOf(q, 2), hq);
    const dv = dimDiv(dimOf(v, 2), hkv);
    const out: (ValueType | null)[] = [tensorType(q.dtype, [dimOf(q, 0), dimOf(q, 1), dimMul(hq, dv)])];
    if (ctx.outputCount > 1) out.push(tensorType(ps ? ps.dtype : q.dtype, [dimOf(q, 0), hkv, dk, dv]));
    return out;
  },
  interp(ctx) {
    const Q = ctx.tensor(0);
    const K = ctx.tensor(1);
    const V = ctx.tensor(2);
    requireFloat(Q, 'query');
    const past = ctx.optTensor(3);
    const decayT = ctx.optTensor(4);
    const betaT = ctx.optTensor(5);
    const eraseT = ctx.optTensor(6);
    const [hq, hkv] = headsAttrs(ctx);
    const rule = ctx.attrs.string('update_rule', 'gated_delta');
    if (!UPDATE_RULES.includes(rule)) throw new KilnError('type', `invalid update_rule '${rule}'`);
    const gating = rule === 'gated' || rule === 'gated_delta';
    const delta = rule === 'delta' || rule === 'gated_delta';
    if (gating !== (decayT !== null)) throw new KilnError('type', `update_rule '${rule}' ${gating ? 'requires' : 'forbids'} the decay input`);
    if (delta !== (betaT !== null)) throw new KilnError('type', `update_rule '${rule}' ${delta ? 'requires' : 'forbids'} the beta input`);
    if (eraseT && !delta) throw new KilnError('type', `update_rule '${rule}' forbids the erase_gate input`);
    if (Q.rank !== 3) throw new KilnError('type', 'query must be rank 3');
    const [B, T] = Q.shape as [number, number];
    const q = unpack(Q, hq, 'query');
    const k = unpack(K, hkv, 'key');
    const v = unpack(V, hkv, 'value');
    const dk = q.D;
    const dv = v.D;
    if (k.D !== dk) throw new KilnError('type', `key head size ${k.D} differs from query head size ${dk}`);
    if (K.shape[0] !== B || K.shape[1] !== T || V.shape[0] !== B || V.shape[1] !== T) throw new KilnError('type', 'query, key and value batch/sequence dimensions differ');
    const group = hq / hkv;
    // decay: per head (last = hkv) or per key dim (last = hkv*dk)
    let decay: Float64Array | null = null;
    let decayPerDim = false;
    if (decayT) {
      if (decayT.rank !== 3 || decayT.shape[0] !== B || decayT.shape[1] !== T) throw new KilnError('type', `decay shape [${decayT.shape.join(',')}] is invalid`);
      const last = decayT.shape[2]!;
      if (last === hkv) decayPerDim = false;
      else if (last === hkv * dk) decayPerDim = true;
      else throw new KilnError('type', `decay last dimension ${last} must be ${hkv} or ${hkv * dk}`);
      decay = toF64(decayT);
    }
    let beta: Float64Array | null = null;
    let betaLast = 1;
    if (betaT) {
      if (betaT.rank !== 3 || betaT.shape[0] !== B || betaT.shape[1] !== T) throw new KilnError('type', `beta shape [${betaT.shape.join(',')}] is invalid`);
      betaLast = betaT.shape[2]!;
      if (betaLast !== hkv && betaLast !== 1) throw new KilnError('type', `beta last dimension ${betaLast} must be ${hkv} or 1`);
      beta = toF64(betaT);
    }
    let erase: Float64Array | null = null;
    if (eraseT) {
      const e = unpack(eraseT, hkv, 'erase_gate');
      if (e.D !== dk) throw new KilnError('type', 'erase_gate head size must equal the key head size');
      erase = e.data;
    }
    const state = new Float64Array(B * hkv * dk * dv);
    if (past) {
      const want = [B, hkv, dk, dv];
      if (past.rank !== 4 || past.shape.some((s, i) => s !== want[i])) throw new KilnError('type', `past_state shape [${past.shape.join(',')}] must be [${want.join(',')}]`);
      state.set(toF64(past));
    }
    const sc = ctx.attrs.optFloat('scale');
    const scale = sc === undefined || sc === 0 ? 1 / Math.sqrt(dk) : sc;
    const out = new Float64Array(B * T * hq * dv);
    const kv = new Float64Array(dv);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < hkv; h++) {
          const S = state.subarray(((b * hkv + h) * dk) * dv, ((b * hkv + h + 1) * dk) * dv);
          const kOff = ((b * hkv + h) * T + t) * dk;
          const vOff = ((b * hkv + h) * T + t) * dv;
          if (decay) {
            for (let d = 0; d < dk; d++) {
              const g = decayPerDim ? decay[(b * T + t) * hkv * dk + h * dk + d]! : decay[(b * T + t) * hkv + h]!;
              const f = Math.exp(g);
              for (let m = 0; m < dv; m++) S[d * dv + m] = S[d * dv + m]! * f;
            }
          }
          for (let m = 0; m < dv; m++) kv[m] = v.data[vOff + m]!;
          if (beta) {
            const bt = beta[(b * T + t) * betaLast + (betaLast === 1 ? 0 : h)]!;
            for (let m = 0; m < dv; m++) {
              let r = 0;
              for (let d = 0; d < dk; d++) {
                const ke = erase ? erase[kOff + d]! * k.data[kOff + d]! : k.data[kOff + d]!;
                r += S[d * dv + m]! * ke;
              }
              kv[m] = bt * (kv[m]! - r);
            }
          }
          for (let d = 0; d < dk; d++) {
            const kd = k.data[kOff + d]!;
            for (let m = 0; m < dv; m++) S[d * dv + m] = S[d * dv + m]! + kd * kv[m]!;
          }
          for (let g = 0; g < group; g++) {
            const qh = h * group + g;
            const qOff = ((b * hq + qh) * T + t) * dk;
            const oOff = (b * T + t) * hq * dv + qh * dv;
            for (let m = 0; m < dv; m++) {
              let s = 0;
              for (let d = 0; d < dk; d++) s += q.data[qOff + d]! * S[d * dv + m]!;
              out[oOff + m] = scale * s;
            }
          }
        }
      }
    const res: (Tensor | null)[] = [fromF64(Q.dtype, [B, T, hq * dv], out)];
    if (ctx.outputCount > 1) res.push(ctx.hasOutput(1) ? fromF64(past ? past.dtype : Q.dtype, [B, hkv, dk, dv], state) : null);
    return res;
  },
});

// ---------- CausalConvWithState ----------

function convActivation(name: string): boolean {
  if (name === 'none') return false;
  if (name === 'silu' || name === 'swish') return true;
  throw new KilnError('type', `invalid activation '${name}' (expected none, silu or swish)`);
}

registerOp({
  opType: 'CausalConvWithState',
  since: 27,
  attrs: { activation: 'string' },
  infer(ctx) {
    const x = inputTensorType(ctx, 0);
    const w = inputTensorType(ctx, 1);
    if (!x) return new Array<ValueType | null>(ctx.outputCount).fill(null);
    requireFloat(x, 'input');
    convActivation(ctx.attrs.string('activation', 'none'));
    if (x.shape && x.shape.length !== 3) throw new KilnError('type', `input must be rank 3, got rank ${x.shape.length}`);
    if (w && w.shape && w.shape.length !== 3) throw new KilnError('type', `weight must be rank 3, got rank ${w.shape.length}`);
    const out: (ValueType | null)[] = [tensorType(x.dtype, x.shape)];
    if (ctx.outputCount > 1) out.push(tensorType(x.dtype, [dimOf(x, 0), dimOf(x, 1), dimAdd(dimOf(w, 2), -1)]));
    return out;
  },
  interp(ctx) {
    const X = ctx.tensor(0);
    const W = ctx.tensor(1);
    requireFloat(X, 'input');
    const biasT = ctx.optTensor(2);
    const past = ctx.optTensor(3);
    const silu = convActivation(ctx.attrs.string('activation', 'none'));
    if (X.rank !== 3) throw new KilnError('type', `input must be rank 3, got rank ${X.rank}`);
    if (W.rank !== 3) throw new KilnError('type', `weight must be rank 3, got rank ${W.rank}`);
    const [B, C, L] = X.shape as [number, number, number];
    const K = W.shape[2]!;
    if (W.shape[0] !== C || W.shape[1] !== 1 || K < 1) throw new KilnError('type', `weight shape [${W.shape.join(',')}] must be [${C},1,k]`);
    if (biasT && (biasT.rank !== 1 || biasT.shape[0] !== C)) throw new KilnError('type', `bias must have shape [${C}]`);
    const P = K - 1;
    if (past && (past.rank !== 3 || past.shape[0] !== B || past.shape[1] !== C || past.shape[2] !== P)) throw new KilnError('type', `past_state shape [${past.shape.join(',')}] must be [${B},${C},${P}]`);
    const x = toF64(X);
    const w = toF64(W);
    const bias = biasT ? toF64(biasT) : null;
    const pst = past ? toF64(past) : null;
    const N = L + P;
    const padded = new Float64Array(N);
    const out = new Float64Array(B * C * L);
    const present = new Float64Array(B * C * P);
    for (let b = 0; b < B; b++)
      for (let c = 0; c < C; c++) {
        for (let j = 0; j < P; j++) padded[j] = pst ? pst[(b * C + c) * P + j]! : 0;
        for (let j = 0; j < L; j++) padded[P + j] = x[(b * C + c) * L + j]!;
        for (let t = 0; t < L; t++) {
          let s = bias ? bias[c]! : 0;
          for (let j = 0; j < K; j++) s += w[c * K + j]! * padded[t + j]!;
          out[(b * C + c) * L + t] = s;
        }
        for (let j = 0; j < P; j++) present[(b * C + c) * P + j] = padded[N - P + j]!;
      }
    let y = fromF64(X.dtype, [B, C, L], out);
    if (silu) {
      // the activation sees the convolution result rounded to the element type
      const r = toF64(y);
      for (let i = 0; i < r.length; i++) r[i] = r[i]! * sigmoid(r[i]!);
      y = fromF64(X.dtype, [B, C, L], r);
    }
    const res: (Tensor | null)[] = [y];
    if (ctx.outputCount > 1) res.push(ctx.hasOutput(1) ? fromF64(past ? past.dtype : X.dtype, [B, C, P], present) : null);
    return res;
  },
});
