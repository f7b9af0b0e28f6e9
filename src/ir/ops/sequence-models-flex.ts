/** ai.onnx.preview FlexAttention (version 1): attention with score/mask/prob modification subgraphs. */
import { KilnError } from '../errors.js';
import { isFloat, type DType } from '../dtype.js';
import type { Graph } from '../graph.js';
import type { Tensor } from '../tensor.js';
import { tensorType } from '../types.js';
import { registerOp, type KernelContext } from './registry.js';
import { inputTensorType } from './util.js';
import { dimOf, fromF64, requireFloat, softmaxInPlace, toF64 } from './sequence-models-common.js';

const MODS = ['score_mod', 'mask_mod', 'prob_mod'] as const;

function optGraph(ctx: { attrs: { has(n: string): boolean; graph(n: string): Graph } }, name: string): Graph | null {
  return ctx.attrs.has(name) ? ctx.attrs.graph(name) : null;
}

/** Runs a one-input, one-output modifier subgraph on a [B,H,L,S] tensor. */
function applyMod(ctx: KernelContext, g: Graph, name: string, x: Tensor): Float64Array {
  if (g.inputs.length !== 1 || g.outputs.length !== 1) throw new KilnError('unsupported', `unsupported ${name} subgraph with ${g.inputs.length} inputs and ${g.outputs.length} outputs`);
  const [out] = ctx.runSubgraph(g, [x]);
  if (!out || out.kind !== 'tensor') throw new KilnError('type', `${name} must produce a tensor`);
  if (out.size !== x.size || out.rank !== x.rank || out.shape.some((d, i) => d !== x.shape[i])) {
    throw new KilnError('type', `${name} output shape [${out.shape.join(',')}] differs from its input shape [${x.shape.join(',')}]`);
  }
  return toF64(out);
}

/** Element type the modifier subgraphs see: the declared subgraph input type, else f32 (f64 for f64 inputs). */
function modDType(g: Graph | null, q: DType): DType {
  const t = g?.inputs[0]?.type;
  if (t && t.kind === 'tensor' && isFloat(t.dtype)) return t.dtype;
  return q === 'f64' ? 'f64' : 'f32';
}

registerOp({
  opType: 'FlexAttention',
  domain: 'ai.onnx.preview',
  since: 1,
  attrs: { score_mod: 'graph', mask_mod: 'graph', prob_mod: 'graph', scale: 'float' },
  infer(ctx) {
    const q = inputTensorType(ctx, 0);
    const v = inputTensorType(ctx, 2);
    if (!q || !v) return [v ? tensorType(v.dtype, null) : null];
    requireFloat(q, 'Q');
    requireFloat(v, 'V');
    for (const t of [q, inputTensorType(ctx, 1), v]) {
      if (t && t.shape && t.shape.length !== 4) throw new KilnError('type', `FlexAttention inputs must be 4-D, got rank ${t.shape.length}`);
    }
    return [tensorType(v.dtype, [dimOf(q, 0), dimOf(q, 1), dimOf(q, 2), dimOf(v, 3)])];
  },
  interp(ctx) {
    const Qt = ctx.tensor(0);
    const Kt = ctx.tensor(1);
    const Vt = ctx.tensor(2);
    requireFloat(Qt, 'Q');
    requireFloat(Vt, 'V');
    if (Qt.rank !== 4 || Kt.rank !== 4 || Vt.rank !== 4) throw new KilnError('type', 'FlexAttention inputs must be 4-D');
    const [B, Hq, L, D] = Qt.shape as [number, number, number, number];
    const [kb, Hkv, S, kd] = Kt.shape as [number, number, number, number];
    const [vb, vh, vs, Dv] = Vt.shape as [number, number, number, number];
    if (kb !== B || vb !== B) throw new KilnError('type', 'Q, K and V batch sizes differ');
    if (kd !== D) throw new KilnError('type', `K head size ${kd} differs from Q head size ${D}`);
    if (vh !== Hkv || vs !== S) throw new KilnError('type', 'K and V head counts / sequence lengths differ');
    if (Hq % Hkv !== 0) throw new KilnError('type', `Q heads ${Hq} are not a multiple of K/V heads ${Hkv}`);
    const group = Hq / Hkv;
    const scale = ctx.attrs.optFloat('scale') ?? 1 / Math.sqrt(D);
    const q = toF64(Qt);
    const k = toF64(Kt);
    const v = toF64(Vt);
    let scores: Float64Array = new Float64Array(B * Hq * L * S);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < Hq; h++) {
        const kh = Math.floor(h / group);
        for (let i = 0; i < L; i++) {
          const qOff = ((b * Hq + h) * L + i) * D;
          for (let j = 0; j < S; j++) {
            const kOff = ((b * Hkv + kh) * S + j) * D;
            let s = 0;
            for (let d = 0; d < D; d++) s += q[qOff + d]! * k[kOff + d]!;
            scores[((b * Hq + h) * L + i) * S + j] = s * scale;
          }
        }
      }
    const graphs = MODS.map((m) => optGraph(ctx, m));
    const shape = [B, Hq, L, S];
    const sdt = modDType(graphs.find((g) => g !== null) ?? null, Qt.dtype);
    for (let m = 0; m < 2; m++) {
      const g = graphs[m];
      if (g) scores = applyMod(ctx, g, MODS[m]!, fromF64(modDType(g, Qt.dtype), shape, scores));
    }
    // softmax at the modifier precision
    const rounded = toF64(fromF64(sdt, shape, scores));
    for (let r = 0; r < B * Hq * L; r++) softmaxInPlace(rounded, r * S, S);
    let probs: Float64Array = rounded;
    if (graphs[2]) probs = applyMod(ctx, graphs[2], 'prob_mod', fromF64(modDType(graphs[2], Qt.dtype), shape, probs));
    const Y = new Float64Array(B * Hq * L * Dv);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < Hq; h++) {
        const kh = Math.floor(h / group);
        for (let i = 0; i < L; i++) {
          const pOff = ((b * Hq + h) * L + i) * S;
          const yOff = ((b * Hq + h) * L + i) * Dv;
          for (let j = 0; j < S; j++) {
            const p = probs[pOff + j]!;
            if (p === 0) continue;
            const vOff = ((b * Hkv + kh) * S + j) * Dv;
            for (let d = 0; d < Dv; d++) Y[yOff + d] += p * v[vOff + d]!;
          }
        }
      }
    return [fromF64(Vt.dtype, [B, Hq, L, Dv], Y)];
  },
});
