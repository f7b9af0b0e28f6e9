/** ONNX RotaryEmbedding (opset 23+). */
import { KilnError } from '../errors.js';
import { tensorType } from '../types.js';
import { registerOp } from './registry.js';
import { inputTensorType } from './util.js';
import { fromF64, requireFloat, toF64 } from './sequence-models-common.js';

registerOp({
  opType: 'RotaryEmbedding',
  since: 23,
  attrs: { interleaved: 'int', num_heads: 'int', rotary_embedding_dim: 'int' },
  infer(ctx) {
    const x = inputTensorType(ctx, 0);
    if (!x) return [null];
    requireFloat(x, 'input');
    if (x.shape && x.shape.length !== 3 && x.shape.length !== 4) throw new KilnError('type', `RotaryEmbedding input must be 3-D or 4-D, got rank ${x.shape.length}`);
    return [tensorType(x.dtype, x.shape)];
  },
  interp(ctx) {
    const X = ctx.tensor(0);
    requireFloat(X, 'input');
    const cosT = ctx.tensor(1);
    const sinT = ctx.tensor(2);
    const pos = ctx.optTensor(3);
    const interleaved = ctx.attrs.int('interleaved', 0) !== 0;
    const numHeads = ctx.attrs.int('num_heads', 0);
    let rdim = ctx.attrs.int('rotary_embedding_dim', 0);
    // geometry: element (b, s, h, d) at flat offset
    let B: number, S: number, Hn: number, D: number;
    let off: (b: number, s: number, h: number, d: number) => number;
    if (X.rank === 4) {
      [B, Hn, S, D] = X.shape as [number, number, number, number];
      off = (b, s, h, d) => ((b * Hn + h) * S + s) * D + d;
    } else if (X.rank === 3) {
      if (numHeads <= 0) throw new KilnError('type', 'RotaryEmbedding with 3-D input needs num_heads');
      const hidden = X.shape[2]!;
      if (hidden % numHeads !== 0) throw new KilnError('type', `hidden size ${hidden} is not divisible by num_heads ${numHeads}`);
      [B, S] = X.shape as [number, number];
      Hn = numHeads;
      D = hidden / numHeads;
      off = (b, s, h, d) => (b * S + s) * hidden + h * D + d;
    } else throw new KilnError('type', `RotaryEmbedding input must be 3-D or 4-D, got rank ${X.rank}`);
    if (rdim === 0) rdim = D;
    if (rdim > D || rdim % 2 !== 0) throw new KilnError('type', `rotary_embedding_dim ${rdim} is invalid for head size ${D}`);
    const half = rdim / 2;
    const cosD = toF64(cosT);
    const sinD = toF64(sinT);
    if (cosT.shape[cosT.rank - 1] !== half || sinT.shape[sinT.rank - 1] !== half) throw new KilnError('type', `cos/sin cache last dimension must be ${half}`);
    // row offset into the caches for (b, s)
    let row: (b: number, s: number) => number;
    if (pos) {
      if (cosT.rank !== 2 || sinT.rank !== 2) throw new KilnError('type', 'cos/sin caches must be 2-D when position_ids is given');
      const p = pos.toIndexArray();
      const maxPos = cosT.shape[0]!;
      const pb = pos.rank === 2 ? pos.shape[0]! : 1;
      if (pos.rank !== 2 || (pb !== B && pb !== 1) || pos.shape[1] !== S) throw new KilnError('type', `position_ids shape [${pos.shape.join(',')}] must be [${B},${S}]`);
      row = (b, s) => {
        const id = p[(pb === 1 ? 0 : b) * S + s]!;
        if (id < 0 || id >= maxPos) throw new KilnError('runtime', `position id ${id} out of range [0, ${maxPos})`);
        return id * half;
      };
    } else {
      if (cosT.rank !== 3 || cosT.shape[0] !== B || cosT.shape[1] !== S) throw new KilnError('type', `cos/sin caches must be [${B},${S},${half}] without position_ids`);
      row = (b, s) => (b * S + s) * half;
    }
    const x = toF64(X);
    const out = new Float64Array(x);
    for (let b = 0; b < B; b++)
      for (let s = 0; s < S; s++) {
        const r = row(b, s);
        for (let h = 0; h < Hn; h++)
          for (let k = 0; k < half; k++) {
            const c = cosD[r + k]!;
            const sn = sinD[r + k]!;
            const i1 = interleaved ? off(b, s, h, 2 * k) : off(b, s, h, k);
            const i2 = interleaved ? off(b, s, h, 2 * k + 1) : off(b, s, h, k + half);
            const x1 = x[i1]!;
            const x2 = x[i2]!;
            out[i1] = c * x1 - sn * x2;
            out[i2] = sn * x1 + c * x2;
          }
      }
    return [fromF64(X.dtype, X.shape, out)];
  },
});
