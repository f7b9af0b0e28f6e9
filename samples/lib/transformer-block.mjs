// A small pre-LayerNorm transformer decoder block (GPT-2 style) written with standard ONNX ops
// only: LayerNormalization (opset 17), MatMul/Add projections, 4-head causal self-attention with
// Reshape/Transpose/MatMul/Softmax and an additive causal mask constant, and a GELU MLP where
// GELU is spelled with Erf. Sequence 16, d_model 64, 4 heads, MLP width 256.
import { Builder, sample } from './builder.mjs';

export function transformerBlock({ seq = 16, dModel = 64, heads = 4, mlp = 4 } = {}) {
  const b = new Builder('transformer_block', { seed: 505, opset: 17 });
  const dh = dModel / heads;
  const x = b.input('input', [1, seq, dModel]);

  // --- causal self-attention
  const h = b.layernorm(x, { name: 'ln1' });
  const split = (t) => b.transpose(b.reshape(t, [1, seq, heads, dh]), [0, 2, 1, 3]); // [1, H, S, dh]
  const q = split(b.linear(h, dModel, { name: 'attn.q', gain: 1 }));
  const kT = b.transpose(b.reshape(b.linear(h, dModel, { name: 'attn.k', gain: 1 }), [1, seq, heads, dh]), [0, 2, 3, 1]); // [1, H, dh, S]
  const v = split(b.linear(h, dModel, { name: 'attn.v', gain: 1 }));
  let scores = b.mul(b.matmul(q, kT), b.scalar(1 / Math.sqrt(dh), 'attn.scale'));
  const mask = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) mask[i * seq + j] = -1e9;
  scores = b.add(scores, b.param('attn.causal_mask', [seq, seq], mask));
  const attn = b.matmul(b.softmax(scores, -1), v); // [1, H, S, dh]
  const merged = b.reshape(b.transpose(attn, [0, 2, 1, 3]), [1, seq, dModel]);
  const x1 = b.add(x, b.linear(merged, dModel, { name: 'attn.out', gain: 0.5 }));

  // --- MLP
  const h2 = b.layernorm(x1, { name: 'ln2' });
  const up = b.gelu(b.linear(h2, dModel * mlp, { name: 'mlp.fc1' }));
  const x2 = b.add(x1, b.linear(up, dModel, { name: 'mlp.fc2', gain: 0.5 }));
  return sample('transformer-block', b, [x2], { names: ['output'] });
}
