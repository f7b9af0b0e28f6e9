/** Pooling: MaxPool, AveragePool, LpPool, Global*Pool, MaxUnpool. */
import { KilnError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { tensorType, type ValueType } from '../types.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { inputTensorType } from './util.js';
import { fromF64, isNum, multiIndices, prod, resolveWindow, staticOut, toF64, windowSpec } from './nn-common.js';
import { windowTable } from './nn-conv.js';

function poolInfer(ctx: InferContext, withIndices: boolean): ValueType[] {
  const xt = inputTensorType(ctx, 0);
  const dt = xt?.dtype ?? 'f32';
  if (!xt || xt.shape === null) return withIndices ? [tensorType(dt, null), tensorType('i64', null)] : [tensorType(dt, null)];
  const xs = xt.shape;
  if (xs.length < 3) throw new KilnError('type', `pool input must have rank >= 3, got ${xs.length}`);
  const spec = windowSpec(ctx.attrs, xs.length - 2);
  const win = resolveWindow(ctx.attrs, xs.slice(2), spec, ctx.attrs.int('ceil_mode', 0) !== 0);
  const shape = [xs[0]!, xs[1]!, ...win.out];
  const res: ValueType[] = [tensorType(dt, shape)];
  if (withIndices && ctx.outputCount > 1) res.push(tensorType('i64', shape));
  return res;
}

type PoolKind = 'max' | 'avg' | 'lp';

function poolRun(ctx: KernelContext, kind: PoolKind, x = ctx.tensor(0)): (Tensor | null)[] {
  if (x.rank < 3) throw new KilnError('type', 'pool input must have rank >= 3');
  const nd = x.rank - 2;
  const spec = windowSpec(ctx.attrs, nd);
  const ceil = ctx.attrs.int('ceil_mode', 0) !== 0;
  const win = resolveWindow(ctx.attrs, x.shape.slice(2), spec, ceil);
  const inSp = x.shape.slice(2);
  const outSp = staticOut(win);
  const tbl = windowTable(inSp, outSp, spec, win.pb);
  const [N, C] = x.shape as [number, number];
  const nIn = prod(inSp);
  const nOut = prod(outSp);
  const nK = prod(spec.kernel);
  const xv = toF64(x);
  const y = new Float64Array(N * C * nOut);
  const wantIdx = kind === 'max' && ctx.hasOutput(1);
  const idx = wantIdx ? new Float64Array(N * C * nOut) : null;
  const countPad = ctx.attrs.int('count_include_pad', 0) !== 0;
  let p = 2;
  if (kind === 'lp') p = ctx.opset >= 2 ? ctx.attrs.int('p', 2) : ctx.attrs.float('p', 2);
  const colMajor = wantIdx && ctx.attrs.int('storage_order', 0) === 1;
  // column-major remapping of spatial offsets
  let cm: Int32Array | null = null;
  if (colMajor) {
    const mi = multiIndices(inSp);
    cm = new Int32Array(nIn);
    for (let i = 0; i < nIn; i++) {
      let off = 0;
      for (let j = nd - 1; j >= 0; j--) off = off * inSp[j]! + mi[i * nd + j]!;
      cm[i] = off;
    }
  }
  const outIdx = multiIndices(outSp);
  const padCount = (o: number): number => {
    let c = 1;
    for (let j = 0; j < nd; j++) {
      let cj = 0;
      const start = outIdx[o * nd + j]! * spec.strides[j]! - win.pb[j]!;
      for (let k = 0; k < spec.kernel[j]!; k++) if (start + k * spec.dilations[j]! < inSp[j]! + win.pe[j]!) cj++;
      c *= cj;
    }
    return c;
  };
  for (let nc = 0; nc < N * C; nc++) {
    const xb = nc * nIn;
    for (let o = 0; o < nOut; o++) {
      let r: number;
      if (kind === 'max') {
        let best = -Infinity;
        let bi = -1;
        for (let k = 0; k < nK; k++) {
          const off = tbl[o * nK + k]!;
          if (off < 0) continue;
          const v = xv[xb + off]!;
          if (v > best || bi < 0 && !Number.isNaN(v)) {
            best = v;
            bi = off;
          }
        }
        r = bi < 0 ? NaN : best;
        if (idx) idx[nc * nOut + o] = bi < 0 ? -1 : xb + (cm ? cm[bi]! : bi);
      } else if (kind === 'avg') {
        let s = 0;
        let cnt = 0;
        for (let k = 0; k < nK; k++) {
          const off = tbl[o * nK + k]!;
          if (off < 0) continue;
          s += xv[xb + off]!;
          cnt++;
        }
        r = countPad ? s / padCount(o) : s / cnt;
      } else {
        let s = 0;
        for (let k = 0; k < nK; k++) {
          const off = tbl[o * nK + k]!;
          if (off < 0) continue;
          s += Math.abs(xv[xb + off]!) ** p;
        }
        r = s ** (1 / p);
      }
      y[nc * nOut + o] = r;
    }
  }
  const shape = [N, C, ...outSp];
  const res: (Tensor | null)[] = [fromF64(x.dtype, shape, y)];
  if (ctx.outputCount > 1) res.push(idx ? fromF64('i64', shape, idx) : null);
  return res;
}

/** AveragePool of `x` (in place of input 0) under the node's window attributes (com.microsoft QLinearAveragePool). */
export function averagePoolOf(ctx: KernelContext, x: Tensor): Tensor {
  return poolRun(ctx, 'avg', x)[0]!;
}

/** The output type of a windowed pool node (com.microsoft QLinearAveragePool). */
export function poolOutType(ctx: InferContext): ValueType {
  return poolInfer(ctx, false)[0]!;
}

registerOp({ opType: 'MaxPool', since: 1, infer: (ctx) => poolInfer(ctx, true), interp: (ctx) => poolRun(ctx, 'max') });
registerOp({ opType: 'AveragePool', since: 1, infer: (ctx) => poolInfer(ctx, false), interp: (ctx) => poolRun(ctx, 'avg') });
registerOp({ opType: 'LpPool', since: 1, infer: (ctx) => poolInfer(ctx, false), interp: (ctx) => poolRun(ctx, 'lp') });

function globalInfer(ctx: InferContext): ValueType[] {
  const xt = inputTensorType(ctx, 0);
  const dt = xt?.dtype ?? 'f32';
  if (!xt || xt.shape === null) return [tensorType(dt, null)];
  if (xt.shape.length < 3) throw new KilnError('type', 'global pool input must have rank >= 3');
  return [tensorType(dt, [xt.shape[0]!, xt.shape[1]!, ...xt.shape.slice(2).map(() => 1)])];
}

function globalRun(ctx: KernelContext, kind: PoolKind): Tensor[] {
  const x = ctx.tensor(0);
  if (x.rank < 3) throw new KilnError('type', 'global pool input must have rank >= 3');
  const [N, C] = x.shape as [number, number];
  const nIn = prod(x.shape.slice(2));
  const xv = toF64(x);
  const p = kind === 'lp' ? (ctx.opset >= 2 ? ctx.attrs.int('p', 2) : ctx.attrs.float('p', 2)) : 2;
  const y = new Float64Array(N * C);
  for (let nc = 0; nc < N * C; nc++) {
    let acc = kind === 'max' ? -Infinity : 0;
    for (let i = 0; i < nIn; i++) {
      const v = xv[nc * nIn + i]!;
      if (kind === 'max') acc = Number.isNaN(v) || v > acc ? (Number.isNaN(acc) ? acc : v) : acc;
      else if (kind === 'avg') acc += v;
      else acc += Math.abs(v) ** p;
    }
    y[nc] = kind === 'avg' ? acc / nIn : kind === 'lp' ? acc ** (1 / p) : acc;
  }
  return [fromF64(x.dtype, [N, C, ...x.shape.slice(2).map(() => 1)], y)];
}

registerOp({ opType: 'GlobalMaxPool', since: 1, infer: globalInfer, interp: (ctx) => globalRun(ctx, 'max') });
registerOp({ opType: 'GlobalAveragePool', since: 1, infer: globalInfer, interp: (ctx) => globalRun(ctx, 'avg') });
registerOp({ opType: 'GlobalLpPool', since: 1, infer: globalInfer, interp: (ctx) => globalRun(ctx, 'lp') });

// ---------- MaxUnpool ----------

registerOp({
  opType: 'MaxUnpool',
  since: 9,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const dt = xt?.dtype ?? 'f32';
    if (!xt || xt.shape === null) return [tensorType(dt, null)];
    const xs = xt.shape;
    if (ctx.hasInput(2)) {
      const os = ctx.constInput(2);
      if (os) return [tensorType(dt, os.toIndexArray())];
      return [tensorType(dt, xs.map(() => null))];
    }
    const nd = xs.length - 2;
    const spec = windowSpec(ctx.attrs, nd);
    const pads = ctx.attrs.optInts('pads') ?? new Array<number>(2 * nd).fill(0);
    const out = xs.slice(2).map((d, i) => (isNum(d) ? (d - 1) * spec.strides[i]! - (pads[i] ?? 0) - (pads[i + nd] ?? 0) + spec.kernel[i]! : null));
    return [tensorType(dt, [xs[0]!, xs[1]!, ...out])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const ind = ctx.tensor(1);
    const osT = ctx.optTensor(2);
    const nd = x.rank - 2;
    const spec = windowSpec(ctx.attrs, nd);
    const pads = ctx.attrs.optInts('pads') ?? new Array<number>(2 * nd).fill(0);
    const inferred = [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map((d, i) => (d - 1) * spec.strides[i]! - (pads[i] ?? 0) - (pads[i + nd] ?? 0) + spec.kernel[i]!)];
    const shape = osT ? osT.toIndexArray() : inferred;
    if (shape.length !== inferred.length) throw new KilnError('type', 'MaxUnpool output_shape rank does not match the input');
    const yi = new Float64Array(prod(inferred));
    const xv = toF64(x);
    const iv = ind.toIndexArray();
    for (let i = 0; i < xv.length; i++) {
      const t = iv[i]!;
      if (t < 0 || t >= yi.length) throw new KilnError('runtime', `MaxUnpool index ${t} out of range`);
      yi[t] = xv[i]!;
    }
    // place the inferred-shape result in the leading corner of the requested shape
    const y = new Float64Array(prod(shape));
    const mi = multiIndices(inferred);
    const r = inferred.length;
    for (let i = 0; i < yi.length; i++) {
      let off = 0;
      let ok = true;
      for (let j = 0; j < r; j++) {
        const c = mi[i * r + j]!;
        if (c >= shape[j]!) ok = false;
        off = off * shape[j]! + c;
      }
      if (ok) y[off] = yi[i]!;
    }
    return [fromF64(x.dtype, shape, y)];
  },
});
