/** Generators and layout ops: ConstantOfShape, Range, Trilu, EyeLike, DepthToSpace, SpaceToDepth, CenterCropPad, ReverseSequence. */
import { KilnError } from '../errors.js';
import { dtypeFromOnnx, isBig, type DType } from '../dtype.js';
import { Tensor, stridesOf } from '../tensor.js';
import { tensorType, type Dim } from '../types.js';
import { registerOp } from './registry.js';
import { normAxis } from './util.js';
import { arr, constInts, forEachIndex, rtErr, transposeTensor, tt, typeErr, unknownDims } from './shape-common.js';

// ---------- ConstantOfShape ----------

registerOp({
  opType: 'ConstantOfShape',
  since: 9,
  infer: (ctx) => {
    const v = ctx.attrs.optTensor('value');
    const dt: DType = v ? v.dtype : 'f32';
    const shape = constInts(ctx, 0);
    if (shape) return [tensorType(dt, shape)];
    const st = tt(ctx, 0);
    const k = st?.shape?.[0];
    return [tensorType(dt, typeof k === 'number' ? unknownDims(k) : null)];
  },
  interp: (ctx) => {
    const v = ctx.attrs.optTensor('value');
    const shape = ctx.tensor(0).toIndexArray();
    if (!v) return [Tensor.zeros('f32', shape)];
    if (v.size !== 1) throw typeErr('ConstantOfShape value must have one element');
    const out = Tensor.zeros(v.dtype, shape);
    const d = arr(out);
    const x = v.data[0]!;
    for (let i = 0; i < out.size; i++) d[i] = x;
    return [out];
  },
});

// ---------- Range ----------

function rangeCount(start: number, limit: number, delta: number): number {
  if (delta === 0) throw rtErr('Range delta cannot be 0');
  return Math.max(Math.ceil((limit - start) / delta), 0);
}

registerOp({
  opType: 'Range',
  since: 11,
  infer: (ctx) => {
    const t = tt(ctx, 0);
    const dt = t?.dtype ?? 'f32';
    const s = ctx.constInput(0);
    const l = ctx.constInput(1);
    const d = ctx.constInput(2);
    if (s && l && d) return [tensorType(dt, [rangeCount(s.num(0), l.num(0), d.num(0))])];
    return [tensorType(dt, [null])];
  },
  interp: (ctx) => {
    const s = ctx.tensor(0);
    const l = ctx.tensor(1);
    const d = ctx.tensor(2);
    const dt = s.dtype;
    if (isBig(dt)) {
      const a = s.big(0);
      const b = l.big(0);
      const c = d.big(0);
      if (c === 0n) throw rtErr('Range delta cannot be 0');
      const diff = b - a;
      let n = diff / c;
      if (n * c !== diff && (diff > 0n) === (c > 0n)) n += 1n;
      if (n < 0n) n = 0n;
      const out = Tensor.zeros(dt, [Number(n)]);
      const o = out.data as BigInt64Array;
      for (let i = 0; i < out.size; i++) o[i] = a + BigInt(i) * c;
      return [out];
    }
    const a = s.num(0);
    const c = d.num(0);
    const n = rangeCount(a, l.num(0), c);
    const out = Tensor.zeros(dt, [n]);
    for (let i = 0; i < n; i++) out.setScalar(i, a + i * c);
    return [out];
  },
});

// ---------- Trilu ----------

registerOp({
  opType: 'Trilu',
  since: 14,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    if (x && x.shape && x.shape.length < 2) throw typeErr('Trilu input must have rank >= 2');
    return [tensorType(x?.dtype ?? 'f32', x ? x.shape : null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    if (x.rank < 2) throw typeErr('Trilu input must have rank >= 2');
    const kt = ctx.optTensor(1);
    const k = kt ? kt.toIndexArray()[0]! : 0;
    const upper = ctx.attrs.int('upper', 1) !== 0;
    const out = Tensor.zeros(x.dtype, x.shape);
    const src = arr(x);
    const dst = arr(out);
    const N = x.shape[x.rank - 2]!;
    const M = x.shape[x.rank - 1]!;
    const mat = N * M;
    for (let o = 0; o < x.size; o++) {
      const r = o % mat;
      const i = Math.floor(r / M);
      const j = r % M;
      const keep = upper ? j - i >= k : j - i <= k;
      if (keep) dst[o] = src[o]!;
    }
    return [out];
  },
});

// ---------- EyeLike ----------

function eyeDType(attrs: { optInt(n: string): number | undefined }, fallback: DType): DType {
  const code = attrs.optInt('dtype');
  if (code === undefined) return fallback;
  const dt = dtypeFromOnnx(code);
  if (!dt) throw new KilnError('unsupported', `unsupported EyeLike dtype ${code}`);
  return dt;
}

registerOp({
  opType: 'EyeLike',
  since: 9,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    if (x && x.shape && x.shape.length !== 2) throw typeErr('EyeLike input must be 2-D');
    return [tensorType(eyeDType(ctx.attrs, x?.dtype ?? 'f32'), x ? x.shape : [null, null])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    if (x.rank !== 2) throw typeErr('EyeLike input must be 2-D');
    const dt = eyeDType(ctx.attrs, x.dtype);
    const k = ctx.attrs.int('k', 0);
    const out = Tensor.zeros(dt, x.shape);
    const [R, C] = x.shape as [number, number];
    for (let i = 0; i < R; i++) {
      const j = i + k;
      if (j >= 0 && j < C) out.setScalar(i * C + j, 1);
    }
    return [out];
  },
});

// ---------- DepthToSpace / SpaceToDepth ----------

function mulDim(a: Dim, b: number): Dim {
  return typeof a === 'number' ? a * b : null;
}
function divDim(a: Dim, b: number): Dim {
  if (typeof a !== 'number') return null;
  if (a % b !== 0) throw typeErr(`dimension ${a} is not divisible by ${b}`);
  return a / b;
}

registerOp({
  opType: 'DepthToSpace',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const b = ctx.attrs.int('blocksize');
    if (!x || !x.shape) return [tensorType(x?.dtype ?? 'f32', [null, null, null, null])];
    if (x.shape.length !== 4) throw typeErr('DepthToSpace input must be 4-D');
    const [n, c, h, w] = x.shape;
    return [tensorType(x.dtype, [n!, divDim(c!, b * b), mulDim(h!, b), mulDim(w!, b)])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const b = ctx.attrs.int('blocksize');
    if (x.rank !== 4) throw typeErr('DepthToSpace input must be 4-D');
    const [n, c, h, w] = x.shape as [number, number, number, number];
    if (c % (b * b) !== 0) throw typeErr(`channels ${c} not divisible by ${b * b}`);
    const cc = c / (b * b);
    const crd = ctx.attrs.string('mode', 'DCR') === 'CRD';
    const t = crd
      ? transposeTensor(x.reshape([n, cc, b, b, h, w]), [0, 1, 4, 2, 5, 3])
      : transposeTensor(x.reshape([n, b, b, cc, h, w]), [0, 3, 4, 1, 5, 2]);
    return [t.reshape([n, cc, h * b, w * b])];
  },
});

registerOp({
  opType: 'SpaceToDepth',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const b = ctx.attrs.int('blocksize');
    if (!x || !x.shape) return [tensorType(x?.dtype ?? 'f32', [null, null, null, null])];
    if (x.shape.length !== 4) throw typeErr('SpaceToDepth input must be 4-D');
    const [n, c, h, w] = x.shape;
    return [tensorType(x.dtype, [n!, mulDim(c!, b * b), divDim(h!, b), divDim(w!, b)])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const b = ctx.attrs.int('blocksize');
    if (x.rank !== 4) throw typeErr('SpaceToDepth input must be 4-D');
    const [n, c, h, w] = x.shape as [number, number, number, number];
    if (h % b !== 0 || w % b !== 0) throw typeErr('SpaceToDepth spatial dims not divisible by blocksize');
    const t = transposeTensor(x.reshape([n, c, h / b, b, w / b, b]), [0, 3, 5, 1, 2, 4]);
    return [t.reshape([n, c * b * b, h / b, w / b])];
  },
});

// ---------- CenterCropPad ----------

function cropAxes(attrs: { optInts(n: string): readonly number[] | undefined }, rank: number): number[] {
  const a = attrs.optInts('axes');
  return a ? a.map((x) => normAxis(x, rank)) : Array.from({ length: rank }, (_, i) => i);
}

registerOp({
  opType: 'CenterCropPad',
  since: 18,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    if (!x || !x.shape) return [tensorType(dt, null)];
    const axes = cropAxes(ctx.attrs, x.shape.length);
    const shape = constInts(ctx, 1);
    const out: Dim[] = [...x.shape];
    axes.forEach((a, i) => {
      out[a] = shape ? shape[i]! : null;
    });
    return [tensorType(dt, out)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const axes = cropAxes(ctx.attrs, x.rank);
    const shape = ctx.tensor(1).toIndexArray();
    if (shape.length !== axes.length) throw typeErr('CenterCropPad shape and axes lengths differ');
    const outShape = [...x.shape];
    const cropStart = new Array<number>(x.rank).fill(0);
    const padStart = new Array<number>(x.rank).fill(0);
    axes.forEach((a, i) => {
      const t = shape[i]!;
      const d = x.shape[a]!;
      outShape[a] = t;
      if (t < d) cropStart[a] = Math.floor((d - t) / 2);
      else if (t > d) padStart[a] = Math.floor((t - d) / 2);
    });
    const out = Tensor.zeros(x.dtype, outShape);
    const st = stridesOf(x.shape);
    const src = arr(x);
    const dst = arr(out);
    forEachIndex(outShape, (o, idx) => {
      let p = 0;
      for (let d = 0; d < idx.length; d++) {
        const c = idx[d]! - padStart[d]! + cropStart[d]!;
        if (c < 0 || c >= x.shape[d]!) return;
        p += c * st[d]!;
      }
      dst[o] = src[p]!;
    });
    return [out];
  },
});

// ---------- ReverseSequence ----------

registerOp({
  opType: 'ReverseSequence',
  since: 10,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    return [tensorType(x?.dtype ?? 'f32', x ? x.shape : null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const lens = ctx.tensor(1).toIndexArray();
    const ta = normAxis(ctx.attrs.int('time_axis', 0), x.rank);
    const ba = normAxis(ctx.attrs.int('batch_axis', 1), x.rank);
    const out = Tensor.zeros(x.dtype, x.shape);
    const st = stridesOf(x.shape);
    const src = arr(x);
    const dst = arr(out);
    forEachIndex(x.shape, (o, idx) => {
      const b = idx[ba]!;
      const len = lens[b]!;
      const t = idx[ta]!;
      if (t < len) dst[o] = src[o + (len - 1 - 2 * t) * st[ta]!]!;
      else dst[o] = src[o]!;
    });
    return [out];
  },
});
