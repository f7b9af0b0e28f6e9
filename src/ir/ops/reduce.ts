/**
 * Reductions (Reduce*, ArgMax/ArgMin), softmax family (Softmax, LogSoftmax, Hardmax) and scans
 * (CumSum, CumProd). Linear algebra, normalizations and losses live in reduce-*.ts.
 */
import { KilnError } from '../errors.js';
import { isBig, intRange, bigintRange, dtypeInfo, type BigArray, type NumericArray } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { argReduceConfig, noopWithEmptyAxes, reduceAxesInputFrom, reducedAxes, softmaxLayout } from './config/reduce.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { forEachBroadcast, normAxis, requireTensorType, sameAsInput } from './util.js';
import { prod, requireFloat, requireNumeric, tensorFromF64 } from './reduce-util.js';
import './reduce-linalg.js';
import './reduce-norm.js';
import './reduce-loss.js';

// ---------------------------------------------------------------- Reduce*

export type ReduceKind = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'l1' | 'l2' | 'logsum' | 'logsumexp' | 'sumsquare';

/** The Reduce* family: op type → the reduction it performs (shared with their lowerings). */
export const reduceOps: readonly [string, ReduceKind][] = [
  ['ReduceSum', 'sum'],
  ['ReduceMean', 'mean'],
  ['ReduceMax', 'max'],
  ['ReduceMin', 'min'],
  ['ReduceProd', 'prod'],
  ['ReduceL1', 'l1'],
  ['ReduceL2', 'l2'],
  ['ReduceLogSum', 'logsum'],
  ['ReduceLogSumExp', 'logsumexp'],
  ['ReduceSumSquare', 'sumsquare'],
];

/** Axes as given (unnormalized); 'unknown' when a non-constant input; [] when absent. */
function inferAxes(ctx: InferContext, opType: string): readonly number[] | 'unknown' {
  if (ctx.opset >= reduceAxesInputFrom(opType)) {
    if (!ctx.hasInput(1)) return [];
    const c = ctx.constInput(1);
    return c ? c.toIndexArray() : 'unknown';
  }
  return ctx.attrs.optInts('axes') ?? [];
}

function reduceInfer(ctx: InferContext, opType: string): ValueType[] {
  const t = requireTensorType(ctx, 0);
  requireNumeric(t);
  const keep = ctx.attrs.int('keepdims', 1) !== 0;
  const axes = inferAxes(ctx, opType);
  if (t.shape === null) return [tensorType(t.dtype, null)];
  const rank = t.shape.length;
  if (axes === 'unknown') return [tensorType(t.dtype, keep ? t.shape.map(() => null) : null)];
  if (axes.length === 0 && noopWithEmptyAxes(ctx.attrs, ctx.opset, opType)) return [t];
  const red = reducedAxes(axes, rank);
  const out: Dim[] = [];
  t.shape.forEach((d, i) => {
    if (!red.includes(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return [tensorType(t.dtype, out)];
}

function reduceKernel(ctx: KernelContext, opType: string, kind: ReduceKind): Tensor {
  const x = ctx.tensor(0);
  const rank = x.rank;
  const keep = ctx.attrs.int('keepdims', 1) !== 0;
  let axes: readonly number[];
  if (ctx.opset >= reduceAxesInputFrom(opType)) {
    const a = ctx.optTensor(1);
    axes = a ? a.toIndexArray() : [];
  } else axes = ctx.attrs.optInts('axes') ?? [];
  if (axes.length === 0 && noopWithEmptyAxes(ctx.attrs, ctx.opset, opType)) return x;
  const red = reducedAxes(axes, rank);
  const kept = x.shape.map((d, i) => (red.includes(i) ? 1 : d));
  const outShape = keep ? kept : x.shape.filter((_, i) => !red.includes(i));
  const outN = prod(kept);
  const count = red.reduce((p, a) => p * x.shape[a]!, 1);
  const dt = x.dtype;
  if (dt === 'string' || dtypeInfo(dt).kind === 'complex') throw new KilnError('unsupported', `unsupported element type ${dt} for ${opType}`);

  // integer reductions that stay integral are computed exactly in bigint and wrap like numpy's
  const info = dtypeInfo(dt);
  const intKind = info.kind === 'int' || info.kind === 'uint';
  const exact = intKind && (kind === 'sum' || kind === 'mean' || kind === 'max' || kind === 'min' || kind === 'prod' || kind === 'l1' || kind === 'sumsquare');
  if (exact) {
    const src = isBig(dt) ? (x.data as BigArray) : Array.from({ length: x.size }, (_, i) => x.big(i));
    const [lo, hi] = bigintRange(dt);
    const init = kind === 'max' ? lo : kind === 'min' ? hi : kind === 'prod' ? 1n : 0n;
    const acc = new Array<bigint>(outN).fill(init);
    forEachBroadcast(x.shape, [kept], (i, idx) => {
      const o = idx[0]!;
      const v = src[i]!;
      const a = acc[o]!;
      switch (kind) {
        case 'sum':
        case 'mean':
          acc[o] = a + v;
          break;
        case 'max':
          if (v > a) acc[o] = v;
          break;
        case 'min':
          if (v < a) acc[o] = v;
          break;
        case 'prod':
          acc[o] = a * v;
          break;
        case 'l1':
          acc[o] = a + (v < 0n ? -v : v);
          break;
        case 'sumsquare':
          acc[o] = a + v * v;
          break;
      }
    });
    const out = Tensor.zeros(dt, outShape);
    const bits = info.bits;
    for (let o = 0; o < outN; o++) {
      let v = acc[o]!;
      if (kind === 'mean') v = count === 0 ? 0n : v / BigInt(count);
      v = info.kind === 'uint' ? BigInt.asUintN(bits, v) : BigInt.asIntN(bits, v);
      if (isBig(dt)) (out.data as BigArray)[o] = v;
      else out.setScalar(o, Number(v));
    }
    return out;
  }

  const n = x.size;
  const src = new Float64Array(n);
  for (let i = 0; i < n; i++) src[i] = x.num(i);
  const isInt = dtypeInfo(dt).kind !== 'float';
  const [ilo, ihi] = isInt ? intRange(dt) : [-Infinity, Infinity];
  const init = kind === 'max' ? ilo : kind === 'min' ? ihi : kind === 'prod' ? 1 : 0;
  const acc = new Float64Array(outN).fill(init);
  let shift: Float64Array | null = null;
  if (kind === 'logsumexp') {
    // max per output for a numerically stable log-sum-exp
    const m = new Float64Array(outN).fill(-Infinity);
    forEachBroadcast(x.shape, [kept], (i, idx) => {
      const o = idx[0]!;
      if (src[i]! > m[o]!) m[o] = src[i]!;
    });
    for (let o = 0; o < outN; o++) if (!Number.isFinite(m[o]!)) m[o] = 0;
    shift = m;
  }
  forEachBroadcast(x.shape, [kept], (i, idx) => {
    const o = idx[0]!;
    const v = src[i]!;
    const a = acc[o]!;
    switch (kind) {
      case 'sum':
      case 'mean':
      case 'logsum':
        acc[o] = a + v;
        break;
      case 'max':
        if (a === a && (v > a || v !== v)) acc[o] = v;
        break;
      case 'min':
        if (a === a && (v < a || v !== v)) acc[o] = v;
        break;
      case 'prod':
        acc[o] = a * v;
        break;
      case 'l1':
        acc[o] = a + Math.abs(v);
        break;
      case 'l2':
      case 'sumsquare':
        acc[o] = a + v * v;
        break;
      case 'logsumexp':
        acc[o] = a + Math.exp(v - shift![o]!);
        break;
    }
  });
  for (let o = 0; o < outN; o++) {
    const a = acc[o]!;
    switch (kind) {
      case 'mean':
        acc[o] = a / count;
        break;
      case 'l2':
        acc[o] = Math.sqrt(a);
        break;
      case 'logsum':
        acc[o] = Math.log(a);
        break;
      case 'logsumexp':
        acc[o] = Math.log(a) + shift![o]!;
        break;
      default:
        break;
    }
  }
  return tensorFromF64(dt, outShape, acc);
}

for (const [opType, kind] of reduceOps) {
  registerOp({
    opType,
    since: 1,
    infer: (ctx) => reduceInfer(ctx, opType),
    interp: (ctx) => [reduceKernel(ctx, opType, kind)],
  });
}

// ---------------------------------------------------------------- ArgMax / ArgMin

function argInfer(ctx: InferContext): ValueType[] {
  const t = requireTensorType(ctx, 0);
  requireNumeric(t);
  if (t.shape === null) return [tensorType('i64', null)];
  const axis = normAxis(ctx.attrs.int('axis', 0), t.shape.length);
  const keep = ctx.attrs.int('keepdims', 1) !== 0;
  const out: Dim[] = [];
  t.shape.forEach((d, i) => {
    if (i !== axis) out.push(d);
    else if (keep) out.push(1);
  });
  return [tensorType('i64', out)];
}

function argKernel(ctx: KernelContext, isMax: boolean): Tensor {
  const x = ctx.tensor(0);
  const { axis, keepdims: keep, selectLastIndex: last } = argReduceConfig(ctx.attrs, x.rank);
  const outShape = keep ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis);
  const outer = prod(x.shape, 0, axis);
  const len = x.shape[axis]!;
  const inner = prod(x.shape, axis + 1);
  const out = Tensor.zeros('i64', outShape);
  const dst = out.data as BigInt64Array;
  if (out.size > 0 && len === 0) throw new KilnError('runtime', `${isMax ? 'ArgMax' : 'ArgMin'} over an empty axis`);
  const d = x.data as NumericArray | BigArray;
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * len * inner + k;
      let best = d[base]!;
      let bi = 0;
      for (let j = 1; j < len; j++) {
        const v = d[base + j * inner]!;
        // NaN wins (like numpy); the first (or last) of equal candidates is chosen
        const bNaN = typeof best === 'number' && best !== best;
        const vNaN = typeof v === 'number' && v !== v;
        let take: boolean;
        if (bNaN) take = last && vNaN;
        else if (vNaN) take = true;
        else take = isMax ? v > best || (last && v === best) : v < best || (last && v === best);
        if (take) {
          best = v;
          bi = j;
        }
      }
      dst[o * inner + k] = BigInt(bi);
    }
  }
  return out;
}

registerOp({ opType: 'ArgMax', since: 1, infer: argInfer, interp: (ctx) => [argKernel(ctx, true)] });
registerOp({ opType: 'ArgMin', since: 1, infer: argInfer, interp: (ctx) => [argKernel(ctx, false)] });

// ---------------------------------------------------------------- Softmax family

type SoftKind = 'softmax' | 'logsoftmax' | 'hardmax';

function softInfer(ctx: InferContext): ValueType[] {
  const t = requireTensorType(ctx, 0);
  requireFloat(t);
  if (t.shape !== null) {
    const rank = t.shape.length;
    const a = ctx.attrs.optInt('axis');
    if (ctx.opset >= 13) normAxis(a ?? -1, rank);
    else if (a !== undefined && (a < -rank || a > rank)) throw new KilnError('type', `axis ${a} is out of range for rank ${rank}`);
  }
  return [t];
}

function softKernel(ctx: KernelContext, kind: SoftKind): Tensor {
  const x = ctx.tensor(0);
  const [outer, len, inner] = softmaxLayout(x.shape, ctx.opset, ctx.attrs.optInt('axis'));
  const src = x.data as NumericArray;
  const res = new Float64Array(x.size);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * len * inner + k;
      let m = -Infinity;
      let mi = -1;
      let nanIdx = -1;
      for (let j = 0; j < len; j++) {
        const v = src[base + j * inner]!;
        if (v !== v) {
          if (nanIdx < 0) nanIdx = j;
        } else if (mi < 0 || v > m) {
          m = v;
          mi = j;
        }
      }
      if (kind === 'hardmax') {
        const at = nanIdx >= 0 ? nanIdx : mi;
        if (at >= 0) res[base + at * inner] = 1;
        continue;
      }
      const shift = nanIdx >= 0 ? NaN : Number.isFinite(m) ? m : 0;
      let s = 0;
      for (let j = 0; j < len; j++) s += Math.exp(src[base + j * inner]! - shift);
      if (kind === 'softmax') {
        for (let j = 0; j < len; j++) res[base + j * inner] = Math.exp(src[base + j * inner]! - shift) / s;
      } else {
        const ls = Math.log(s);
        for (let j = 0; j < len; j++) res[base + j * inner] = src[base + j * inner]! - shift - ls;
      }
    }
  }
  return tensorFromF64(x.dtype, x.shape, res);
}

registerOp({ opType: 'Softmax', since: 1, infer: softInfer, interp: (ctx) => [softKernel(ctx, 'softmax')] });
registerOp({ opType: 'LogSoftmax', since: 1, infer: softInfer, interp: (ctx) => [softKernel(ctx, 'logsoftmax')] });
registerOp({ opType: 'Hardmax', since: 1, infer: softInfer, interp: (ctx) => [softKernel(ctx, 'hardmax')] });

// ---------------------------------------------------------------- CumSum / CumProd

function cumInfer(ctx: InferContext): ValueType[] {
  const t = requireTensorType(ctx, 0);
  requireNumeric(t);
  const a = ctx.inputs[1];
  if (a && a.kind === 'tensor' && a.dtype !== 'i32' && a.dtype !== 'i64') throw new KilnError('type', `axis must be int32 or int64, got ${a.dtype}`);
  return sameAsInput(ctx);
}

function cumKernel(ctx: KernelContext, isProd: boolean): Tensor {
  const x = ctx.tensor(0);
  const at = ctx.tensor(1);
  if (at.size !== 1) throw new KilnError('runtime', 'axis must be a scalar');
  const axis = normAxis(at.toIndexArray()[0]!, x.rank);
  const exclusive = ctx.attrs.int('exclusive', 0) !== 0;
  const reverse = ctx.attrs.int('reverse', 0) !== 0;
  const outer = prod(x.shape, 0, axis);
  const len = x.shape[axis]!;
  const inner = prod(x.shape, axis + 1);
  const out = Tensor.zeros(x.dtype, x.shape);
  if (isBig(x.dtype)) {
    const s = x.data as BigArray;
    const d = out.data as BigArray;
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < inner; k++) {
        let acc = isProd ? 1n : 0n;
        for (let jj = 0; jj < len; jj++) {
          const j = reverse ? len - 1 - jj : jj;
          const p = (o * len + j) * inner + k;
          const v = s[p]!;
          if (exclusive) {
            d[p] = acc;
            acc = isProd ? acc * v : acc + v;
          } else {
            acc = isProd ? acc * v : acc + v;
            d[p] = acc;
          }
        }
      }
    }
    return out;
  }
  const s = x.data as NumericArray;
  const res = new Float64Array(x.size);
  // Accumulate in the element type's precision for narrow ints (wraps like the reference).
  const wrap = x.dtype === 'i32' || x.dtype === 'u32' || x.dtype === 'i8' || x.dtype === 'u8' || x.dtype === 'i16' || x.dtype === 'u16';
  const cell = wrap ? Tensor.zeros(x.dtype, [1]) : null;
  const w = (v: number): number => {
    if (!cell) return v;
    cell.setScalar(0, v);
    return cell.num(0);
  };
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      let acc = isProd ? 1 : 0;
      for (let jj = 0; jj < len; jj++) {
        const j = reverse ? len - 1 - jj : jj;
        const p = (o * len + j) * inner + k;
        const v = s[p]!;
        if (exclusive) {
          res[p] = acc;
          acc = w(isProd ? (wrap ? Math.imul(acc, v) : acc * v) : acc + v);
        } else {
          acc = w(isProd ? (wrap ? Math.imul(acc, v) : acc * v) : acc + v);
          res[p] = acc;
        }
      }
    }
  }
  return tensorFromF64(x.dtype, x.shape, res);
}

registerOp({ opType: 'CumSum', since: 11, infer: cumInfer, interp: (ctx) => [cumKernel(ctx, false)] });
registerOp({ opType: 'CumProd', since: 1, infer: cumInfer, interp: (ctx) => [cumKernel(ctx, true)] });
