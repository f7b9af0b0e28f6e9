/** Resampling: Resize (opset 10–19+), Upsample. Separable per-axis interpolation in float64. */
import { KilnError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { resizeOptions, type ResizeOpts } from './config/resize.js';
import { registerOp, type Attrs, type InferContext } from './registry.js';
import { inputTensorType, normAxis } from './util.js';
import { fromF64, isNum, prod, toF64 } from './nn-common.js';

interface AxisPlan {
  /** per output index: neighbor input indices (already clamped) and weights; null = extrapolate */
  idx: (Int32Array | null)[];
  w: (Float64Array | null)[];
}

function coeffsFor(o: ResizeOpts, ratio: number, scale: number): Float64Array {
  if (o.mode === 'nearest') {
    if (ratio === 1) return Float64Array.of(0, 1);
    switch (o.nearestMode) {
      case 'round_prefer_floor':
        return Float64Array.of(ratio <= 0.5 ? 1 : 0, ratio > 0.5 ? 1 : 0);
      case 'round_prefer_ceil':
        return Float64Array.of(ratio < 0.5 ? 1 : 0, ratio >= 0.5 ? 1 : 0);
      case 'floor':
        return Float64Array.of(1, 0);
      case 'ceil':
        return Float64Array.of(0, 1);
      default:
        throw new KilnError('type', `bad nearest_mode '${o.nearestMode}'`);
    }
  }
  if (o.mode === 'linear') {
    if (!o.antialias) return Float64Array.of(1 - ratio, ratio);
    const sc = Math.min(scale, 1);
    const start = Math.floor(-1 / sc) + 1;
    const n = 2 - 2 * start;
    const c = new Float64Array(n);
    let sum = 0;
    for (let j = 0; j < n; j++) {
      c[j] = Math.min(1, Math.max(0, 1 - Math.abs((start + j - ratio) * sc)));
      sum += c[j]!;
    }
    for (let j = 0; j < n; j++) c[j]! /= sum;
    return c;
  }
  const A = o.cubicA;
  if (!o.antialias) {
    const r = ratio;
    const q = 1 - ratio;
    return Float64Array.of(
      ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A,
      ((A + 2) * r - (A + 3)) * r * r + 1,
      ((A + 2) * q - (A + 3)) * q * q + 1,
      ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A,
    );
  }
  const sc = Math.min(scale, 1);
  const iStart = Math.floor(-2 / sc) + 1;
  const iEnd = 2 - iStart;
  const c = new Float64Array(iEnd - iStart);
  let sum = 0;
  for (let i = iStart; i < iEnd; i++) {
    const x = Math.abs(sc * (i - ratio));
    const x2 = x * x;
    const x3 = x2 * x;
    const v = x <= 1 ? (A + 2) * x3 - (A + 3) * x2 + 1 : x < 2 ? A * x3 - 5 * A * x2 + 8 * A * x - 4 * A : 0;
    c[i - iStart] = v;
    sum += v;
  }
  for (let j = 0; j < c.length; j++) c[j]! /= sum;
  return c;
}

function planAxis(o: ResizeOpts, inLen: number, outLen: number, scale: number, roiStart: number, roiEnd: number): AxisPlan {
  const idx: (Int32Array | null)[] = [];
  const w: (Float64Array | null)[] = [];
  const outW = scale * inLen;
  for (let x = 0; x < outLen; x++) {
    let xo: number;
    switch (o.ctm) {
      case 'align_corners':
        xo = outW === 1 ? 0 : (x * (inLen - 1)) / (outW - 1);
        break;
      case 'asymmetric':
        xo = x / scale;
        break;
      case 'tf_crop_and_resize':
        xo = outW === 1 ? ((roiEnd - roiStart) * (inLen - 1)) / 2 : (x * (roiEnd - roiStart) * (inLen - 1)) / (outW - 1);
        xo += roiStart * (inLen - 1);
        break;
      case 'pytorch_half_pixel':
        xo = outW === 1 ? -0.5 : (x + 0.5) / scale - 0.5;
        break;
      case 'half_pixel':
        xo = (x + 0.5) / scale - 0.5;
        break;
      case 'tf_half_pixel_for_nn':
        xo = (x + 0.5) / scale;
        break;
      case 'half_pixel_symmetric': {
        const adj = outLen / outW;
        const center = inLen / 2;
        xo = center * (1 - adj) + (x + 0.5) / scale - 0.5;
        break;
      }
      default:
        throw new KilnError('type', `bad coordinate_transformation_mode '${o.ctm}'`);
    }
    if (o.ctm === 'tf_crop_and_resize' && (xo < 0 || xo > inLen - 1)) {
      idx.push(null);
      w.push(null);
      continue;
    }
    if (o.simpleNearest && o.mode === 'nearest') {
      let p = scale < 1 ? Math.ceil(xo) : Math.floor(xo);
      p = Math.min(inLen - 1, Math.max(0, p));
      idx.push(Int32Array.of(p));
      w.push(Float64Array.of(1));
      continue;
    }
    const isInt = Number.isInteger(xo);
    const i0 = isInt ? xo - 1 : Math.floor(xo);
    const ratio = isInt ? 1 : xo - Math.floor(xo);
    const c = coeffsFor(o, ratio, scale);
    const n = c.length;
    const half = n / 2;
    // emulate picking the n nearest indices of the edge-padded array (pad n/2 each side)
    const start = Math.min(inLen - half, Math.max(-half, i0 - half + 1));
    const ii = new Int32Array(n);
    if (o.excludeOutside) {
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const p = start + j;
        if (p < 0 || p >= inLen) c[j] = 0;
        sum += c[j]!;
      }
      for (let j = 0; j < n; j++) c[j]! /= sum;
    }
    for (let j = 0; j < n; j++) ii[j] = Math.min(inLen - 1, Math.max(0, start + j));
    idx.push(ii);
    w.push(c);
  }
  return { idx, w };
}

/** Interpolates along one axis. */
function applyAxis(data: Float64Array, shape: number[], axis: number, plan: AxisPlan, outLen: number, extrap: number): Float64Array {
  const outer = prod(shape.slice(0, axis));
  const inLen = shape[axis]!;
  const inner = prod(shape.slice(axis + 1));
  const out = new Float64Array(outer * outLen * inner);
  for (let a = 0; a < outer; a++) {
    for (let x = 0; x < outLen; x++) {
      const ii = plan.idx[x];
      const ww = plan.w[x];
      const ob = (a * outLen + x) * inner;
      if (!ii || !ww) {
        out.fill(extrap, ob, ob + inner);
        continue;
      }
      for (let j = 0; j < ii.length; j++) {
        const wj = ww[j]!;
        if (wj === 0) continue;
        const ib = (a * inLen + ii[j]!) * inner;
        for (let k = 0; k < inner; k++) out[ob + k]! += wj * data[ib + k]!;
      }
    }
  }
  return out;
}

interface SizePlan {
  out: number[];
  scales: number[];
}

/** Output sizes and per-axis scales from scales/sizes inputs (axes, keep_aspect_ratio_policy). */
function sizePlan(a: Attrs, opset: number, inShape: readonly number[], scalesT: Tensor | null, sizesT: Tensor | null): SizePlan {
  const r = inShape.length;
  const axesAttr = opset >= 18 ? a.optInts('axes') : undefined;
  const axes = axesAttr ? axesAttr.map((x) => normAxis(x, r, 'Resize axis')) : [...Array(r).keys()];
  const scales = new Array<number>(r).fill(1);
  const out = [...inShape];
  if (sizesT && sizesT.size > 0) {
    const sz = sizesT.toIndexArray();
    if (sz.length !== axes.length) throw new KilnError('type', `Resize sizes has ${sz.length} values, expected ${axes.length}`);
    axes.forEach((ax, i) => {
      out[ax] = sz[i]!;
      scales[ax] = sz[i]! / inShape[ax]!;
    });
    const policy = opset >= 18 ? a.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy !== 'stretch') {
      const vals = axes.map((ax) => scales[ax]!);
      let s: number;
      if (policy === 'not_larger') s = Math.min(...vals);
      else if (policy === 'not_smaller') s = Math.max(...vals);
      else throw new KilnError('type', `bad keep_aspect_ratio_policy '${policy}'`);
      for (const ax of axes) {
        scales[ax] = s;
        out[ax] = Math.trunc(s * inShape[ax]! + 0.5);
      }
    }
  } else if (scalesT && scalesT.size > 0) {
    const sc = scalesT.toNumbers();
    if (sc.length !== axes.length) throw new KilnError('type', `Resize scales has ${sc.length} values, expected ${axes.length}`);
    axes.forEach((ax, i) => {
      if (!(sc[i]! > 0)) throw new KilnError('type', `Resize scale ${sc[i]} must be positive`);
      scales[ax] = sc[i]!;
      out[ax] = Math.floor(sc[i]! * inShape[ax]!);
    });
  } else throw new KilnError('type', 'Resize needs scales or sizes');
  return { out, scales };
}

function resizeRun(x: Tensor, o: ResizeOpts, plan: SizePlan, roi: number[] | null): Tensor {
  const r = x.rank;
  let shape = [...x.shape];
  let data = toF64(x);
  for (let ax = r - 1; ax >= 0; ax--) {
    const inLen = shape[ax]!;
    const outLen = plan.out[ax]!;
    const scale = plan.scales[ax]!;
    const rs = roi ? roi[ax]! : 0;
    const re = roi ? roi[r + ax]! : 1;
    // identity along this axis for every mode (integer source coordinates)
    if (outLen === inLen && scale === 1 && o.ctm !== 'tf_crop_and_resize') continue;
    const p = planAxis(o, inLen, outLen, scale, rs, re);
    data = applyAxis(data, shape, ax, p, outLen, o.extrapolation);
    shape[ax] = outLen;
  }
  shape = [...plan.out];
  return fromF64(x.dtype, shape, data);
}

function resizeInfer(ctx: InferContext): ValueType[] {
  const xt = inputTensorType(ctx, 0);
  const dt = xt?.dtype ?? 'f32';
  if (!xt || xt.shape === null) return [tensorType(dt, null)];
  const xs = xt.shape;
  const r = xs.length;
  const scalesIdx = ctx.opset < 11 ? 1 : 2;
  const scalesT = ctx.hasInput(scalesIdx) ? ctx.constInput(scalesIdx) : null;
  const sizesT = ctx.opset >= 11 && ctx.hasInput(3) ? ctx.constInput(3) : null;
  const sizesKnown = ctx.opset >= 11 && ctx.hasInput(3) ? sizesT !== null : true;
  const scalesKnown = ctx.hasInput(scalesIdx) ? scalesT !== null : true;
  const axesAttr = ctx.opset >= 18 ? ctx.attrs.optInts('axes') : undefined;
  const axes = axesAttr ? axesAttr.map((x) => normAxis(x, r, 'Resize axis')) : [...Array(r).keys()];
  if (!xs.every(isNum) && sizesKnown && scalesKnown) {
    const policy = ctx.opset >= 18 ? ctx.attrs.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (sizesT && sizesT.size > 0) {
      const sz = sizesT.toIndexArray();
      if (sz.length !== axes.length) throw new KilnError('type', `Resize sizes has ${sz.length} values, expected ${axes.length}`);
      const out: Dim[] = [...xs];
      axes.forEach((ax, i) => (out[ax] = policy === 'stretch' ? sz[i]! : null));
      return [tensorType(dt, out)];
    }
    if (scalesT && scalesT.size > 0) {
      const sc = scalesT.toNumbers();
      if (sc.length !== axes.length) throw new KilnError('type', `Resize scales has ${sc.length} values, expected ${axes.length}`);
      const out: Dim[] = [...xs];
      axes.forEach((ax, i) => {
        const d = xs[ax]!;
        out[ax] = isNum(d) ? Math.floor(sc[i]! * d) : sc[i] === 1 ? d : null;
      });
      return [tensorType(dt, out)];
    }
  }
  if (!sizesKnown || !scalesKnown || !xs.every(isNum)) {
    // rank is still known; dims outside `axes` keep their size
    return [tensorType(dt, xs.map((d, i) => (axes.includes(i) ? null : d)))];
  }
  const plan = sizePlan(ctx.attrs, ctx.opset, xs as number[], scalesT, sizesT);
  return [tensorType(dt, plan.out)];
}

registerOp({
  opType: 'Resize',
  since: 10,
  infer: resizeInfer,
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const o = resizeOptions(ctx.attrs, ctx.opset, false);
    if (ctx.opset < 11) {
      const plan = sizePlan(ctx.attrs, ctx.opset, x.shape, ctx.tensor(1), null);
      return [resizeRun(x, o, plan, null)];
    }
    const roiT = ctx.optTensor(1);
    const plan = sizePlan(ctx.attrs, ctx.opset, x.shape, ctx.optTensor(2), ctx.optTensor(3));
    let roi: number[] | null = null;
    if (o.ctm === 'tf_crop_and_resize') {
      if (!roiT || roiT.size === 0) throw new KilnError('type', 'Resize tf_crop_and_resize needs roi');
      const rv = roiT.toNumbers();
      const r = x.rank;
      const axesAttr = ctx.opset >= 18 ? ctx.attrs.optInts('axes') : undefined;
      if (axesAttr) {
        const axes = axesAttr.map((v) => normAxis(v, r, 'Resize axis'));
        roi = [...new Array<number>(r).fill(0), ...new Array<number>(r).fill(1)];
        axes.forEach((ax, i) => {
          roi![ax] = rv[i]!;
          roi![r + ax] = rv[axes.length + i]!;
        });
      } else {
        if (rv.length !== 2 * r) throw new KilnError('type', `Resize roi has ${rv.length} values, expected ${2 * r}`);
        roi = rv;
      }
    }
    return [resizeRun(x, o, plan, roi)];
  },
});

registerOp({
  opType: 'Upsample',
  since: 7,
  until: 9,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const dt = xt?.dtype ?? 'f32';
    if (!xt || xt.shape === null) return [tensorType(dt, null)];
    const xs = xt.shape;
    let sc: number[] | null = null;
    if (ctx.opset >= 9) {
      const t = ctx.constInput(1);
      if (t) sc = t.toNumbers();
    } else sc = [...ctx.attrs.floats('scales')];
    if (!sc) return [tensorType(dt, xs.map((): Dim => null))];
    if (sc.length !== xs.length) throw new KilnError('type', 'Upsample scales length does not match the input rank');
    return [tensorType(dt, xs.map((d, i) => (isNum(d) ? Math.floor(d * sc![i]!) : null)))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const sc = ctx.opset >= 9 ? ctx.tensor(1).toNumbers() : [...ctx.attrs.floats('scales')];
    if (sc.length !== x.rank) throw new KilnError('type', 'Upsample scales length does not match the input rank');
    const o = resizeOptions(ctx.attrs, ctx.opset, true);
    const plan: SizePlan = { scales: sc, out: x.shape.map((d, i) => Math.floor(d * sc[i]!)) };
    return [resizeRun(x, o, plan, null)];
  },
});
