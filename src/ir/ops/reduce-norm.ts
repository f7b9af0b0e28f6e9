/**
 * Normalizations: LayerNormalization, RMSNormalization, GroupNormalization, InstanceNormalization,
 * BatchNormalization, LpNormalization, MeanVarianceNormalization, LRN.
 */
import { KilnError } from '../errors.js';
import { dtypeFromOnnx, type DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { broadcastShapes, forEachBroadcast, normAxis, requireTensorType, sameAsInput } from './util.js';
import { normAxes, optType, prod, requireFloat, tensorFromF64, toF64 } from './reduce-util.js';

/** Expands a parameter (scale/bias) unidirectionally to `shape`, as float64 values. */
function expandTo(p: Tensor, shape: readonly number[], what: string): Float64Array {
  const src = toF64(p);
  const n = prod(shape);
  if (p.size === n && p.rank <= shape.length && p.shape.every((d, i) => d === shape[shape.length - p.rank + i])) return src;
  let b: number[];
  try {
    b = broadcastShapes(p.shape, shape);
  } catch {
    throw new KilnError('runtime', `${what} of shape [${p.shape.join(',')}] does not broadcast to [${shape.join(',')}]`);
  }
  if (b.length !== shape.length || b.some((d, i) => d !== shape[i])) {
    throw new KilnError('runtime', `${what} of shape [${p.shape.join(',')}] does not broadcast to [${shape.join(',')}]`);
  }
  const out = new Float64Array(n);
  forEachBroadcast(shape, [p.shape], (o, idx) => {
    out[o] = src[idx[0]!]!;
  });
  return out;
}

function stashDType(ctx: { attrs: { int(n: string, d?: number): number } }): DType {
  const code = ctx.attrs.int('stash_type', 1);
  const dt = dtypeFromOnnx(code);
  if (!dt) throw new KilnError('type', `invalid stash_type ${code}`);
  return dt;
}

// ---------------------------------------------------------------- LayerNormalization

function layerNormInfer(ctx: InferContext): ValueType[] {
  const x = requireTensorType(ctx, 0);
  requireFloat(x);
  const out: ValueType[] = [x];
  if (ctx.outputCount > 1) {
    const st = stashDType(ctx);
    let stat: Dim[] | null = null;
    if (x.shape !== null) {
      const a = normAxis(ctx.attrs.int('axis', -1), x.shape.length);
      stat = x.shape.map((d, i) => (i < a ? d : 1));
    }
    out.push(tensorType(st, stat));
    if (ctx.outputCount > 2) out.push(tensorType(st, stat));
  }
  return out;
}

function layerNormKernel(ctx: KernelContext): (Tensor | null)[] {
  const x = ctx.tensor(0);
  const scale = ctx.tensor(1);
  const bias = ctx.optTensor(2);
  const axis = normAxis(ctx.attrs.int('axis', -1), x.rank);
  const eps = ctx.attrs.float('epsilon', 1e-5);
  const outer = prod(x.shape, 0, axis);
  const inner = prod(x.shape, axis);
  const nshape = x.shape.slice(axis);
  const sc = expandTo(scale, nshape, 'LayerNormalization scale');
  const bi = bias ? expandTo(bias, nshape, 'LayerNormalization bias') : null;
  const d = toF64(x);
  const y = new Float64Array(x.size);
  const means = new Float64Array(outer);
  const invs = new Float64Array(outer);
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    let s = 0;
    for (let j = 0; j < inner; j++) s += d[base + j]!;
    const m = s / inner;
    let v = 0;
    for (let j = 0; j < inner; j++) {
      const t = d[base + j]! - m;
      v += t * t;
    }
    v /= inner;
    const inv = 1 / Math.sqrt(v + eps);
    means[o] = m;
    invs[o] = inv;
    for (let j = 0; j < inner; j++) y[base + j] = (d[base + j]! - m) * inv * sc[j]! + (bi ? bi[j]! : 0);
  }
  const statShape = x.shape.map((dd, i) => (i < axis ? dd : 1));
  const st = stashDType(ctx);
  return [
    tensorFromF64(x.dtype, x.shape, y),
    ctx.hasOutput(1) ? tensorFromF64(st, statShape, means) : null,
    ctx.hasOutput(2) ? tensorFromF64(st, statShape, invs) : null,
  ];
}

registerOp({ opType: 'LayerNormalization', since: 17, infer: layerNormInfer, interp: layerNormKernel });

// ---------------------------------------------------------------- RMSNormalization

registerOp({
  opType: 'RMSNormalization',
  since: 23,
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    requireFloat(x);
    if (x.shape !== null) normAxis(ctx.attrs.int('axis', -1), x.shape.length);
    return [x];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const scale = ctx.tensor(1);
    const axis = normAxis(ctx.attrs.int('axis', -1), x.rank);
    const eps = ctx.attrs.float('epsilon', 1e-5);
    const outer = prod(x.shape, 0, axis);
    const inner = prod(x.shape, axis);
    const sc = expandTo(scale, x.shape.slice(axis), 'RMSNormalization scale');
    const d = toF64(x);
    const y = new Float64Array(x.size);
    for (let o = 0; o < outer; o++) {
      const base = o * inner;
      let s = 0;
      for (let j = 0; j < inner; j++) s += d[base + j]! * d[base + j]!;
      const inv = 1 / Math.sqrt(s / inner + eps);
      for (let j = 0; j < inner; j++) y[base + j] = d[base + j]! * inv * sc[j]!;
    }
    return [tensorFromF64(x.dtype, x.shape, y)];
  },
});

// ---------------------------------------------------------------- Instance / Group normalization

/**
 * Normalizes `groups` contiguous blocks of `len` elements each to zero mean and unit variance,
 * then applies y = n * scale(i) + bias(i), with the affine index i = chanOf(flat index).
 */
function blockNorm(d: Float64Array, groups: number, len: number, eps: number, affine: (i: number, v: number) => number): Float64Array {
  const y = new Float64Array(d.length);
  for (let g = 0; g < groups; g++) {
    const base = g * len;
    let s = 0;
    for (let j = 0; j < len; j++) s += d[base + j]!;
    const m = s / len;
    let v = 0;
    for (let j = 0; j < len; j++) {
      const t = d[base + j]! - m;
      v += t * t;
    }
    const inv = 1 / Math.sqrt(v / len + eps);
    for (let j = 0; j < len; j++) y[base + j] = affine(base + j, (d[base + j]! - m) * inv);
  }
  return y;
}

function channelInfer(ctx: InferContext): ValueType[] {
  const x = requireTensorType(ctx, 0);
  requireFloat(x);
  if (x.shape !== null && x.shape.length < 2) throw new KilnError('type', `${ctx.node.opType} input must have rank >= 2`);
  return [x];
}

registerOp({
  opType: 'InstanceNormalization',
  since: 1,
  infer: channelInfer,
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const sc = toF64(ctx.tensor(1));
    const b = toF64(ctx.tensor(2));
    const eps = ctx.attrs.float('epsilon', 1e-5);
    if (x.rank < 2) throw new KilnError('runtime', 'InstanceNormalization input must have rank >= 2');
    const C = x.shape[1]!;
    if (sc.length !== C || b.length !== C) throw new KilnError('runtime', `InstanceNormalization scale and B must have ${C} elements`);
    const sp = prod(x.shape, 2);
    const y = blockNorm(toF64(x), prod(x.shape, 0, 2), sp, eps, (i, v) => {
      const c = Math.floor(i / sp) % C;
      return v * sc[c]! + b[c]!;
    });
    return [tensorFromF64(x.dtype, x.shape, y)];
  },
});

registerOp({
  opType: 'GroupNormalization',
  since: 18,
  infer: (ctx) => {
    const [x] = channelInfer(ctx);
    const t = x as { shape: readonly Dim[] | null };
    const G = ctx.attrs.int('num_groups');
    if (t.shape !== null && typeof t.shape[1] === 'number' && t.shape[1] % G !== 0) {
      throw new KilnError('type', `GroupNormalization channels ${t.shape[1]} are not divisible by num_groups ${G}`);
    }
    return [x!];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const sc = toF64(ctx.tensor(1));
    const b = toF64(ctx.tensor(2));
    const eps = ctx.attrs.float('epsilon', 1e-5);
    const G = ctx.attrs.int('num_groups');
    if (x.rank < 2) throw new KilnError('runtime', 'GroupNormalization input must have rank >= 2');
    const N = x.shape[0]!;
    const C = x.shape[1]!;
    if (G <= 0 || C % G !== 0) throw new KilnError('runtime', `GroupNormalization channels ${C} are not divisible by num_groups ${G}`);
    const sp = prod(x.shape, 2);
    const perChannel = ctx.opset >= 21;
    const want = perChannel ? C : G;
    if (sc.length !== want || b.length !== want) throw new KilnError('runtime', `GroupNormalization scale and bias must have ${want} elements`);
    const cpg = C / G;
    const y = blockNorm(toF64(x), N * G, cpg * sp, eps, (i, v) => {
      const c = Math.floor(i / sp) % C;
      const k = perChannel ? c : Math.floor(c / cpg);
      return v * sc[k]! + b[k]!;
    });
    return [tensorFromF64(x.dtype, x.shape, y)];
  },
});

// ---------------------------------------------------------------- BatchNormalization

function batchNormInfer(ctx: InferContext): ValueType[] {
  const x = requireTensorType(ctx, 0);
  requireFloat(x);
  const out: ValueType[] = [x];
  const C: Dim = x.shape !== null && x.shape.length >= 2 ? x.shape[1]! : null;
  for (let i = 1; i < ctx.outputCount; i++) {
    const src = optType(ctx, i <= 2 ? i + 2 : 3) ?? optType(ctx, 1);
    out.push(tensorType(src?.dtype ?? x.dtype, [C]));
  }
  return out;
}

function batchNormKernel(ctx: KernelContext): (Tensor | null)[] {
  const x = ctx.tensor(0);
  const scaleT = ctx.tensor(1);
  const biasT = ctx.tensor(2);
  const meanT = ctx.tensor(3);
  const varT = ctx.tensor(4);
  const eps = ctx.attrs.float('epsilon', 1e-5);
  const momentum = ctx.attrs.float('momentum', 0.9);
  if (ctx.opset < 9 && ctx.attrs.int('spatial', 1) === 0) throw new KilnError('unsupported', 'unsupported BatchNormalization with spatial=0');
  const training = ctx.opset >= 14 ? ctx.attrs.int('training_mode', 0) !== 0 : ctx.opset < 7 ? ctx.attrs.int('is_test', 0) === 0 && ctx.outputCount > 1 : ctx.outputCount > 1;
  const C = x.rank >= 2 ? x.shape[1]! : 1;
  const sp = prod(x.shape, 2);
  const N = x.rank >= 1 ? x.shape[0]! : 1;
  const sc = toF64(scaleT);
  const b = toF64(biasT);
  const rm = toF64(meanT);
  const rv = toF64(varT);
  for (const [t, nm] of [[sc, 'scale'], [b, 'B'], [rm, 'input_mean'], [rv, 'input_var']] as const) {
    if (t.length !== C) throw new KilnError('runtime', `BatchNormalization ${nm} must have ${C} elements`);
  }
  const d = toF64(x);
  let mean = rm;
  let vari = rv;
  if (training) {
    mean = new Float64Array(C);
    vari = new Float64Array(C);
    const cnt = N * sp;
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < sp; s++) mean[c] += d[(n * C + c) * sp + s]!;
    for (let c = 0; c < C; c++) mean[c] /= cnt;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        for (let s = 0; s < sp; s++) {
          const t = d[(n * C + c) * sp + s]! - mean[c]!;
          vari[c] += t * t;
        }
      }
    }
    for (let c = 0; c < C; c++) vari[c] /= cnt;
  }
  const y = new Float64Array(x.size);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = sc[c]! / Math.sqrt(vari[c]! + eps);
      for (let s = 0; s < sp; s++) {
        const i = (n * C + c) * sp + s;
        y[i] = (d[i]! - mean[c]!) * k + b[c]!;
      }
    }
  }
  const outs: (Tensor | null)[] = [tensorFromF64(x.dtype, x.shape, y)];
  if (ctx.outputCount > 1) {
    if (!training) {
      for (let i = 1; i < ctx.outputCount; i++) outs.push(null);
      if (outs.some((o, i) => i > 0 && ctx.hasOutput(i))) throw new KilnError('runtime', 'BatchNormalization statistics outputs need training mode');
      return outs;
    }
    const runMean = new Float64Array(C);
    const runVar = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      runMean[c] = rm[c]! * momentum + mean[c]! * (1 - momentum);
      runVar[c] = rv[c]! * momentum + vari[c]! * (1 - momentum);
    }
    outs.push(ctx.hasOutput(1) ? tensorFromF64(meanT.dtype, [C], runMean) : null);
    if (ctx.outputCount > 2) outs.push(ctx.hasOutput(2) ? tensorFromF64(varT.dtype, [C], runVar) : null);
    if (ctx.outputCount > 3) {
      // opsets before 14: saved mean and saved inverse standard deviation
      const inv = new Float64Array(C);
      for (let c = 0; c < C; c++) inv[c] = 1 / Math.sqrt(vari[c]! + eps);
      outs.push(ctx.hasOutput(3) ? tensorFromF64(meanT.dtype, [C], mean) : null);
      if (ctx.outputCount > 4) outs.push(ctx.hasOutput(4) ? tensorFromF64(varT.dtype, [C], inv) : null);
    }
  }
  return outs;
}

registerOp({ opType: 'BatchNormalization', since: 1, infer: batchNormInfer, interp: batchNormKernel });

// ---------------------------------------------------------------- LpNormalization

registerOp({
  opType: 'LpNormalization',
  since: 1,
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    requireFloat(x);
    const p = ctx.attrs.int('p', 2);
    if (p !== 1 && p !== 2) throw new KilnError('type', `LpNormalization p must be 1 or 2, got ${p}`);
    if (x.shape !== null) normAxis(ctx.attrs.int('axis', -1), x.shape.length);
    return [x];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const axis = normAxis(ctx.attrs.int('axis', -1), x.rank);
    const p = ctx.attrs.int('p', 2);
    const outer = prod(x.shape, 0, axis);
    const len = x.shape[axis]!;
    const inner = prod(x.shape, axis + 1);
    const d = toF64(x);
    const y = new Float64Array(x.size);
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < inner; k++) {
        const base = o * len * inner + k;
        let s = 0;
        for (let j = 0; j < len; j++) {
          const v = d[base + j * inner]!;
          s += p === 1 ? Math.abs(v) : v * v;
        }
        const nrm = p === 1 ? s : Math.sqrt(s);
        // a zero vector stays zero rather than becoming 0/0 = NaN (as the ONNX reference does)
        for (let j = 0; j < len; j++) y[base + j * inner] = nrm === 0 ? 0 : d[base + j * inner]! / nrm;
      }
    }
    return [tensorFromF64(x.dtype, x.shape, y)];
  },
});

// ---------------------------------------------------------------- MeanVarianceNormalization

registerOp({
  opType: 'MeanVarianceNormalization',
  since: 9,
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    requireFloat(x);
    if (x.shape !== null) normAxes(ctx.attrs.ints('axes', [0, 2, 3]), x.shape.length);
    return [x];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const red = normAxes(ctx.attrs.ints('axes', [0, 2, 3]), x.rank);
    const kept = x.shape.map((d, i) => (red.includes(i) ? 1 : d));
    const outN = prod(kept);
    const cnt = red.reduce((p, a) => p * x.shape[a]!, 1);
    const d = toF64(x);
    const mean = new Float64Array(outN);
    const sq = new Float64Array(outN);
    const oidx = new Int32Array(x.size);
    forEachBroadcast(x.shape, [kept], (i, idx) => {
      const o = idx[0]!;
      oidx[i] = o;
      mean[o] += d[i]!;
    });
    for (let o = 0; o < outN; o++) mean[o] /= cnt;
    for (let i = 0; i < x.size; i++) {
      const t = d[i]! - mean[oidx[i]!]!;
      sq[oidx[i]!] += t * t;
    }
    const std = new Float64Array(outN);
    for (let o = 0; o < outN; o++) std[o] = Math.sqrt(sq[o]! / cnt);
    const y = new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) y[i] = (d[i]! - mean[oidx[i]!]!) / (std[oidx[i]!]! + 1e-9);
    return [tensorFromF64(x.dtype, x.shape, y)];
  },
});

// ---------------------------------------------------------------- LRN

registerOp({
  opType: 'LRN',
  since: 1,
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    requireFloat(x);
    if (x.shape !== null && x.shape.length < 2) throw new KilnError('type', 'LRN input must have rank >= 2');
    return sameAsInput(ctx);
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const size = ctx.attrs.int('size');
    const alpha = ctx.attrs.float('alpha', 1e-4);
    const beta = ctx.attrs.float('beta', 0.75);
    const bias = ctx.attrs.float('bias', 1);
    if (x.rank < 2) throw new KilnError('runtime', 'LRN input must have rank >= 2');
    const N = x.shape[0]!;
    const C = x.shape[1]!;
    const sp = prod(x.shape, 2);
    const lo = Math.floor((size - 1) / 2);
    const hi = Math.ceil((size - 1) / 2);
    const d = toF64(x);
    const y = new Float64Array(x.size);
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < sp; s++) {
        // running window sum over channels keeps this linear in C
        const sq = new Float64Array(C + 1);
        for (let c = 0; c < C; c++) {
          const v = d[(n * C + c) * sp + s]!;
          sq[c + 1] = sq[c]! + v * v;
        }
        for (let c = 0; c < C; c++) {
          const a = Math.max(0, c - lo);
          const b = Math.min(C - 1, c + hi);
          const sum = sq[b + 1]! - sq[a]!;
          const i = (n * C + c) * sp + s;
          y[i] = d[i]! / Math.pow(bias + (alpha / size) * sum, beta);
        }
      }
    }
    return [tensorFromF64(x.dtype, x.shape, y)];
  },
});
