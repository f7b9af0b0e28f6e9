/**
 * Attention (opset 23+) attribute parsing, shared by the reference interpreter
 * (ops/sequence-models-attention.ts) and the lowering (kernel/lower/misc-attention.ts).
 */
import type { Attrs } from '../registry.js';

export interface AttentionAttrs {
  isCausal: boolean;
  /** head counts, required for 3-D inputs */
  qHeads: number | undefined;
  kvHeads: number | undefined;
  softcap: number;
  /** which stage of the scores the optional 4th output shows (0 to 3) */
  qkOutputMode: number;
  /** the scale attribute; 1/sqrt(head size) when absent */
  scale: number | undefined;
}

export function attentionAttrs(a: Attrs): AttentionAttrs {
  return {
    isCausal: a.int('is_causal', 0) !== 0,
    qHeads: a.optInt('q_num_heads'),
    kvHeads: a.optInt('kv_num_heads'),
    softcap: a.float('softcap', 0),
    qkOutputMode: a.int('qk_matmul_output_mode', 0),
    scale: a.optFloat('scale'),
  };
}
