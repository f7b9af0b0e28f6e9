/**
 * Signal ops (DFT, STFT, window functions, MelWeightMatrix), ai.onnx.preview.training optimizers
 * (Adagrad, Adam, Momentum; Gradient is refused), random-number ops (types only) and ImageDecoder.
 */
import { KilnError } from '../errors.js';
import { dtypeFromOnnx, isFloat, type DType } from '../dtype.js';
import { Tensor, shapeSize } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { broadcastShapes, requireTensorType } from './util.js';
import './misc-image.js';

function outDType(code: number | undefined, def: DType): DType {
  if (code === undefined) return def;
  const dt = dtypeFromOnnx(code);
  if (!dt) throw new KilnError('type', `unknown element type code ${code}`);
  return dt;
}

function scalarNum(t: Tensor, what: string): number {
  if (t.size !== 1) throw new KilnError('runtime', `${what} must be a scalar`);
  return t.num(0);
}

// ---------- DFT ----------

/**
 * Complex DFT of length L along one axis of a line; re/im are the (zero-padded or truncated) inputs.
 * sign -1 forward, +1 inverse (unscaled).
 */
function dftLine(re: Float64Array, im: Float64Array, L: number, sign: number, outLen: number, outRe: Float64Array, outIm: Float64Array): void {
  const cos = new Float64Array(L);
  const sin = new Float64Array(L);
  for (let k = 0; k < L; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / L);
    sin[k] = Math.sin((2 * Math.PI * k) / L);
  }
  for (let k = 0; k < outLen; k++) {
    let sr = 0;
    let si = 0;
    for (let j = 0; j < L; j++) {
      const idx = (j * k) % L;
      const c = cos[idx]!;
      const s = sign * sin[idx]!;
      sr += re[j]! * c - im[j]! * s;
      si += re[j]! * s + im[j]! * c;
    }
    outRe[k] = sr;
    outIm[k] = si;
  }
}

interface DftParams {
  axis: number;
  length: number | null;
  inverse: boolean;
  onesided: boolean;
}

function dftParamsInfer(ctx: InferContext, rank: number | null): DftParams {
  const inverse = ctx.attrs.int('inverse', 0) === 1;
  const onesided = ctx.attrs.int('onesided', 0) === 1;
  let length: number | null = null;
  if (ctx.hasInput(1)) {
    const c = ctx.constInput(1);
    length = c ? c.toIndexArray()[0]! : null;
  }
  let axis: number;
  if (ctx.opset < 20) axis = ctx.attrs.int('axis', 1);
  else {
    const c = ctx.hasInput(2) ? ctx.constInput(2) : null;
    if (ctx.hasInput(2) && !c) return { axis: -1, length, inverse, onesided };
    axis = c ? c.toIndexArray()[0]! : -2;
  }
  if (rank !== null) axis = normDftAxis(axis, rank);
  return { axis, length, inverse, onesided };
}

function normDftAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank - 1) throw new KilnError('type', `DFT axis ${axis} is out of range for rank ${rank}`);
  return a;
}

registerOp({
  opType: 'DFT',
  since: 17,
  attrs: { axis: 'int', inverse: 'int', onesided: 'int' },
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    if (!isFloat(x.dtype)) throw new KilnError('type', `DFT input must be floating point, got ${x.dtype}`);
    if (x.shape === null) return [tensorType(x.dtype, null)];
    const p = dftParamsInfer(ctx, x.shape.length);
    const shape: Dim[] = [...x.shape];
    const c2r = p.inverse && p.onesided;
    shape[shape.length - 1] = c2r ? 1 : 2;
    if (p.axis < 0) return [tensorType(x.dtype, shape.map((d, i) => (i === shape.length - 1 ? d : null)))];
    const n = x.shape[p.axis]!;
    if (c2r) {
      shape[p.axis] = p.length ?? (typeof n === 'number' ? 2 * (n - 1) : null);
      return [tensorType(x.dtype, shape)];
    }
    const L = p.length ?? n;
    shape[p.axis] = typeof L === 'number' ? (p.onesided ? Math.floor(L / 2) + 1 : L) : null;
    return [tensorType(x.dtype, shape)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const r = x.rank;
    const inverse = ctx.attrs.int('inverse', 0) === 1;
    const onesided = ctx.attrs.int('onesided', 0) === 1;
    let axis: number;
    if (ctx.opset < 20) axis = ctx.attrs.int('axis', 1);
    else {
      const a = ctx.optTensor(2);
      axis = a ? scalarNum(a, 'DFT axis') : -2;
    }
    axis = normDftAxis(axis, r);
    const lenT = ctx.optTensor(1);
    if (inverse && onesided) {
      const L = lenT ? scalarNum(lenT, 'dft_length') : 2 * (x.shape[axis]! - 1);
      if (!Number.isInteger(L) || L < 1) throw new KilnError('runtime', `dft_length ${L} must be positive`);
      return [irfftTensor(x, axis, L)];
    }
    const L = lenT ? scalarNum(lenT, 'dft_length') : x.shape[axis]!;
    if (!Number.isInteger(L) || L < 1) throw new KilnError('runtime', `dft_length ${L} must be positive`);
    return [dftTensor(x, axis, L, inverse, onesided)];
  },
});

function dftTensor(x: Tensor, axis: number, L: number, inverse: boolean, onesided: boolean): Tensor {
  const r = x.rank;
  const c = x.shape[r - 1]!;
  if (c !== 1 && c !== 2) throw new KilnError('runtime', `DFT input's last dimension must be 1 or 2, got ${c}`);
  const n = x.shape[axis]!;
  const outer = shapeSize(x.shape.slice(0, axis));
  const inner = shapeSize(x.shape.slice(axis + 1, r - 1));
  const outLen = onesided ? Math.floor(L / 2) + 1 : L;
  const outShape = [...x.shape];
  outShape[axis] = outLen;
  outShape[r - 1] = 2;
  const out = Tensor.zeros(x.dtype, outShape);
  const re = new Float64Array(L);
  const im = new Float64Array(L);
  const oRe = new Float64Array(outLen);
  const oIm = new Float64Array(outLen);
  const scale = inverse ? 1 / L : 1;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      re.fill(0);
      im.fill(0);
      for (let k = 0; k < Math.min(n, L); k++) {
        const base = ((o * n + k) * inner + i) * c;
        re[k] = x.num(base);
        im[k] = c === 2 ? x.num(base + 1) : 0;
      }
      dftLine(re, im, L, inverse ? 1 : -1, outLen, oRe, oIm);
      for (let k = 0; k < outLen; k++) {
        const base = ((o * outLen + k) * inner + i) * 2;
        out.setScalar(base, oRe[k]! * scale);
        out.setScalar(base + 1, oIm[k]! * scale);
      }
    }
  }
  return out;
}

/** Inverse of a one-sided (Hermitian) spectrum: a real signal of length L (last dim 1), like numpy's irfft. */
function irfftTensor(x: Tensor, axis: number, L: number): Tensor {
  const r = x.rank;
  const c = x.shape[r - 1]!;
  if (c !== 1 && c !== 2) throw new KilnError('runtime', `DFT input's last dimension must be 1 or 2, got ${c}`);
  const n = x.shape[axis]!;
  const outer = shapeSize(x.shape.slice(0, axis));
  const inner = shapeSize(x.shape.slice(axis + 1, r - 1));
  const half = Math.floor(L / 2) + 1;
  const outShape = [...x.shape];
  outShape[axis] = L;
  outShape[r - 1] = 1;
  const out = Tensor.zeros(x.dtype, outShape);
  const re = new Float64Array(L);
  const im = new Float64Array(L);
  const oRe = new Float64Array(L);
  const oIm = new Float64Array(L);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      re.fill(0);
      im.fill(0);
      for (let k = 0; k < Math.min(n, half); k++) {
        const base = ((o * n + k) * inner + i) * c;
        re[k] = x.num(base);
        im[k] = c === 2 ? x.num(base + 1) : 0;
      }
      im[0] = 0;
      if (L % 2 === 0) im[L / 2] = 0;
      for (let k = half; k < L; k++) {
        re[k] = re[L - k]!;
        im[k] = -im[L - k]!;
      }
      dftLine(re, im, L, 1, L, oRe, oIm);
      for (let k = 0; k < L; k++) out.setScalar((o * L + k) * inner + i, oRe[k]! / L);
    }
  }
  return out;
}

// ---------- STFT ----------

registerOp({
  opType: 'STFT',
  since: 17,
  attrs: { onesided: 'int' },
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    const onesided = ctx.attrs.int('onesided', 1) === 1;
    const step = ctx.constInput(1);
    const win = ctx.inputs[2];
    const flC = ctx.hasInput(3) ? ctx.constInput(3) : null;
    let fl: Dim = null;
    if (flC) fl = flC.toIndexArray()[0]!;
    else if (!ctx.hasInput(3) && win && win.kind === 'tensor' && win.shape && win.shape.length === 1) fl = win.shape[0]!;
    const batch = x.shape ? x.shape[0]! : null;
    const sigLen = x.shape ? x.shape[1]! : null;
    let frames: Dim = null;
    if (step && typeof fl === 'number' && typeof sigLen === 'number') frames = Math.floor((sigLen - fl) / step.toIndexArray()[0]!) + 1;
    const bins: Dim = typeof fl === 'number' ? (onesided ? Math.floor(fl / 2) + 1 : fl) : null;
    return [tensorType(x.dtype, [batch, frames, bins, 2])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    if (x.rank !== 3) throw new KilnError('runtime', 'STFT signal must be [batch, length, 1 or 2]');
    const onesided = ctx.attrs.int('onesided', 1) === 1;
    const step = scalarNum(ctx.tensor(1), 'frame_step');
    const win = ctx.optTensor(2);
    const flT = ctx.optTensor(3);
    const fl = flT ? scalarNum(flT, 'frame_length') : win ? win.size : NaN;
    if (!Number.isInteger(fl) || fl < 1) throw new KilnError('runtime', 'STFT needs a window or a frame_length');
    if (win && win.size !== fl) throw new KilnError('runtime', `STFT window length ${win.size} differs from frame_length ${fl}`);
    const [batch, sigLen, c] = x.shape as [number, number, number];
    if (c !== 1 && c !== 2) throw new KilnError('runtime', 'STFT signal last dimension must be 1 or 2');
    if (onesided && c === 2) throw new KilnError('runtime', 'STFT onesided output needs a real signal');
    const frames = Math.floor((sigLen - fl) / step) + 1;
    if (frames < 0) throw new KilnError('runtime', 'STFT frame_length exceeds the signal length');
    const bins = onesided ? Math.floor(fl / 2) + 1 : fl;
    const out = Tensor.zeros(x.dtype, [batch, frames, bins, 2]);
    const re = new Float64Array(fl);
    const im = new Float64Array(fl);
    const oRe = new Float64Array(bins);
    const oIm = new Float64Array(bins);
    for (let b = 0; b < batch; b++) {
      for (let f = 0; f < frames; f++) {
        for (let t = 0; t < fl; t++) {
          const w = win ? win.num(t) : 1;
          const base = (b * sigLen + f * step + t) * c;
          re[t] = x.num(base) * w;
          im[t] = c === 2 ? x.num(base + 1) * w : 0;
        }
        dftLine(re, im, fl, -1, bins, oRe, oIm);
        for (let k = 0; k < bins; k++) {
          const base = ((b * frames + f) * bins + k) * 2;
          out.setScalar(base, oRe[k]!);
          out.setScalar(base + 1, oIm[k]!);
        }
      }
    }
    return [out];
  },
});

// ---------- windows ----------

function windowOp(opType: string, fn: (n: number, denom: number) => number): void {
  registerOp({
    opType,
    since: 17,
    attrs: { output_datatype: 'int', periodic: 'int' },
    infer: (ctx) => {
      const dt = outDType(ctx.attrs.optInt('output_datatype'), 'f32');
      const c = ctx.constInput(0);
      return [tensorType(dt, [c ? c.toIndexArray()[0]! : null])];
    },
    interp: (ctx) => {
      const dt = outDType(ctx.attrs.optInt('output_datatype'), 'f32');
      const periodic = ctx.attrs.int('periodic', 1) === 1;
      const size = scalarNum(ctx.tensor(0), 'size');
      if (!Number.isInteger(size) || size < 0) throw new KilnError('runtime', `window size ${size} must be a non-negative integer`);
      const denom = periodic ? size : size - 1;
      const out = Tensor.zeros(dt, [size]);
      for (let i = 0; i < size; i++) out.setScalar(i, denom === 0 ? 1 : fn(i, denom));
      return [out];
    },
  });
}

windowOp('HannWindow', (n, N) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / N));
windowOp('HammingWindow', (n, N) => 25 / 46 - (21 / 46) * Math.cos((2 * Math.PI * n) / N));
windowOp('BlackmanWindow', (n, N) => 0.42 - 0.5 * Math.cos((2 * Math.PI * n) / N) + 0.08 * Math.cos((4 * Math.PI * n) / N));

// ---------- MelWeightMatrix ----------

registerOp({
  opType: 'MelWeightMatrix',
  since: 17,
  attrs: { output_datatype: 'int' },
  infer: (ctx) => {
    const dt = outDType(ctx.attrs.optInt('output_datatype'), 'f32');
    const mel = ctx.constInput(0);
    const dft = ctx.constInput(1);
    return [tensorType(dt, [dft ? Math.floor(dft.toIndexArray()[0]! / 2) + 1 : null, mel ? mel.toIndexArray()[0]! : null])];
  },
  interp: (ctx) => {
    const dt = outDType(ctx.attrs.optInt('output_datatype'), 'f32');
    const numMel = scalarNum(ctx.tensor(0), 'num_mel_bins');
    const dftLen = scalarNum(ctx.tensor(1), 'dft_length');
    const sampleRate = scalarNum(ctx.tensor(2), 'sample_rate');
    const lower = scalarNum(ctx.tensor(3), 'lower_edge_hertz');
    const upper = scalarNum(ctx.tensor(4), 'upper_edge_hertz');
    const nSpec = Math.floor(dftLen / 2) + 1;
    const lowMel = 2595 * Math.log10(1 + lower / 700);
    const highMel = 2595 * Math.log10(1 + upper / 700);
    const step = (highMel - lowMel) / (numMel + 2);
    const bins: number[] = [];
    for (let i = 0; i < numMel + 2; i++) {
      const hz = 700 * (Math.pow(10, (i * step + lowMel) / 2595) - 1);
      bins.push(Math.floor(((dftLen + 1) * hz) / sampleRate));
    }
    const out = new Float64Array(nSpec * numMel);
    const set = (j: number, i: number, v: number): void => {
      if (j < 0 || j >= nSpec) throw new KilnError('runtime', 'MelWeightMatrix frequency bin out of range');
      out[j * numMel + i] = v;
    };
    for (let i = 0; i < numMel; i++) {
      const lo = bins[i]!;
      const ce = bins[i + 1]!;
      const hi = bins[i + 2]!;
      if (ce - lo === 0) set(ce, i, 1);
      else for (let j = lo; j <= ce; j++) set(j, i, (j - lo) / (ce - lo));
      if (hi - ce > 0) for (let j = ce; j < hi; j++) set(j, i, (hi - j) / (hi - ce));
    }
    return [Tensor.from(dt, [nSpec, numMel], Array.from(out))];
  },
});

// ---------- training (ai.onnx.preview.training) ----------

const TRAINING = 'ai.onnx.preview.training';

/** Output i of an n-tensor optimizer group has the type of input (2 + offset*n + i). */
function optimizerInfer(ctx: InferContext, groups: number, outGroups: number[]): (ValueType | null)[] {
  const n = (ctx.inputs.length - 2) / groups;
  if (!Number.isInteger(n) || n < 1) throw new KilnError('type', `optimizer needs 2 + ${groups}*n inputs, got ${ctx.inputs.length}`);
  const res: (ValueType | null)[] = [];
  for (const g of outGroups) for (let i = 0; i < n; i++) res.push(ctx.inputs[2 + g * n + i] ?? null);
  return res;
}

function elementwiseN(ts: Tensor[], outDt: DType, fn: (v: number[]) => number): Tensor {
  const shape = broadcastShapes(...ts.map((t) => t.shape));
  for (const t of ts) if (t.size !== shapeSize(shape)) throw new KilnError('runtime', 'optimizer tensors must have the same shape');
  const out = Tensor.zeros(outDt, shape);
  const vals = new Array<number>(ts.length);
  for (let i = 0; i < out.size; i++) {
    for (let k = 0; k < ts.length; k++) vals[k] = ts[k]!.num(i);
    out.setScalar(i, fn(vals));
  }
  return out;
}

function optimizerGroups(ctx: KernelContext, groups: number): { r: number; t: number; n: number; g: (k: number, i: number) => Tensor } {
  const n = (ctx.inputs.length - 2) / groups;
  if (!Number.isInteger(n) || n < 1) throw new KilnError('runtime', `optimizer needs 2 + ${groups}*n inputs`);
  return { r: scalarNum(ctx.tensor(0), 'R'), t: scalarNum(ctx.tensor(1), 'T'), n, g: (k, i) => ctx.tensor(2 + k * n + i) };
}

registerOp({
  opType: 'Adagrad',
  domain: TRAINING,
  since: 1,
  infer: (ctx) => optimizerInfer(ctx, 3, [0, 2]),
  interp: (ctx) => {
    const decay = ctx.attrs.float('decay_factor', 0);
    const eps = ctx.attrs.float('epsilon', 0);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const { r, t, n, g } = optimizerGroups(ctx, 3);
    const xs: Tensor[] = [];
    const hs: Tensor[] = [];
    const rr = r / (1 + t * decay);
    for (let i = 0; i < n; i++) {
      const X = g(0, i);
      const G = g(1, i);
      const H = g(2, i);
      const hNew = elementwiseN([X, G, H], H.dtype, ([x, gr, h]) => {
        const gg = norm * x! + gr!;
        return h! + gg * gg;
      });
      xs.push(
        elementwiseN([X, G, hNew], X.dtype, ([x, gr, hn]) => {
          const gg = norm * x! + gr!;
          return x! - (rr * gg) / (Math.sqrt(hn!) + eps);
        }),
      );
      hs.push(hNew);
    }
    return [...xs, ...hs];
  },
});

registerOp({
  opType: 'Adam',
  domain: TRAINING,
  since: 1,
  infer: (ctx) => optimizerInfer(ctx, 4, [0, 2, 3]),
  interp: (ctx) => {
    const alpha = ctx.attrs.float('alpha', 0.9);
    const beta = ctx.attrs.float('beta', 0.999);
    const eps = ctx.attrs.float('epsilon', 0);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const normPost = ctx.attrs.float('norm_coefficient_post', 0);
    const { r, t, n, g } = optimizerGroups(ctx, 4);
    const rAdj = t > 0 ? (r * Math.sqrt(1 - Math.pow(beta, t))) / (1 - Math.pow(alpha, t)) : r;
    const xs: Tensor[] = [];
    const vs: Tensor[] = [];
    const hs: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const X = g(0, i);
      const G = g(1, i);
      const V = g(2, i);
      const H = g(3, i);
      const vNew = elementwiseN([X, G, V], V.dtype, ([x, gr, v]) => alpha * v! + (1 - alpha) * (norm * x! + gr!));
      const hNew = elementwiseN([X, G, H], H.dtype, ([x, gr, h]) => {
        const gg = norm * x! + gr!;
        return beta * h! + (1 - beta) * gg * gg;
      });
      xs.push(elementwiseN([X, vNew, hNew], X.dtype, ([x, v, h]) => (1 - normPost) * (x! - rAdj * (v! / (Math.sqrt(h!) + eps)))));
      vs.push(vNew);
      hs.push(hNew);
    }
    return [...xs, ...vs, ...hs];
  },
});

registerOp({
  opType: 'Momentum',
  domain: TRAINING,
  since: 1,
  infer: (ctx) => optimizerInfer(ctx, 3, [0, 2]),
  interp: (ctx) => {
    const alpha = ctx.attrs.float('alpha');
    const beta = ctx.attrs.float('beta');
    const mode = ctx.attrs.string('mode');
    const norm = ctx.attrs.float('norm_coefficient');
    if (mode !== 'standard' && mode !== 'nesterov') throw new KilnError('type', `unknown Momentum mode '${mode}'`);
    const { r, t, n, g } = optimizerGroups(ctx, 3);
    const bAdj = t > 0 ? beta : 1;
    const xs: Tensor[] = [];
    const vs: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const X = g(0, i);
      const G = g(1, i);
      const V = g(2, i);
      const vNew = elementwiseN([X, G, V], V.dtype, ([x, gr, v]) => alpha * v! + bAdj * (norm * x! + gr!));
      xs.push(
        elementwiseN([X, G, vNew], X.dtype, ([x, gr, vn]) => {
          const gg = norm * x! + gr!;
          return mode === 'standard' ? x! - r * vn! : x! - r * (gg + alpha * vn!);
        }),
      );
      vs.push(vNew);
    }
    return [...xs, ...vs];
  },
});

registerOp({
  opType: 'Gradient',
  domain: TRAINING,
  since: 1,
  infer: () => {
    throw new KilnError('unsupported', 'unsupported op Gradient: it needs automatic differentiation of the graph, which Kiln does not implement');
  },
  interp: () => {
    throw new KilnError('unsupported', 'unsupported op Gradient: it needs automatic differentiation of the graph, which Kiln does not implement');
  },
});

// ---------- random ops: types only ----------

function randomUnsupported(op: string): never {
  throw new KilnError('unsupported', `unsupported ${op} at run time: its output depends on a random generator and cannot be reproduced`);
}

registerOp({
  opType: 'Bernoulli',
  since: 15,
  attrs: { dtype: 'int', seed: 'float' },
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    return [tensorType(outDType(ctx.attrs.optInt('dtype'), x.dtype), x.shape)];
  },
  interp: () => randomUnsupported('Bernoulli'),
});

for (const op of ['RandomUniformLike', 'RandomNormalLike']) {
  registerOp({
    opType: op,
    since: 1,
    attrs: { dtype: 'int', seed: 'float' },
    infer: (ctx) => {
      const x = requireTensorType(ctx, 0);
      return [tensorType(outDType(ctx.attrs.optInt('dtype'), x.dtype), x.shape)];
    },
    interp: () => randomUnsupported(op),
  });
}

for (const op of ['RandomUniform', 'RandomNormal']) {
  registerOp({
    opType: op,
    since: 1,
    attrs: { dtype: 'int', seed: 'float', shape: 'ints' },
    infer: (ctx) => [tensorType(outDType(ctx.attrs.optInt('dtype'), 'f32'), [...ctx.attrs.ints('shape')])],
    interp: () => randomUnsupported(op),
  });
}

registerOp({
  opType: 'Multinomial',
  since: 7,
  attrs: { dtype: 'int', seed: 'float', sample_size: 'int' },
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    return [tensorType(outDType(ctx.attrs.optInt('dtype'), 'i32'), [x.shape ? (x.shape[0] ?? null) : null, ctx.attrs.int('sample_size', 1)])];
  },
  interp: () => randomUnsupported('Multinomial'),
});

