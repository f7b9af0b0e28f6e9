/** Convolutions: Conv, ConvInteger, QLinearConv, ConvTranspose, DeformConv. */
import { KilnError } from '../errors.js';
import { intRange, type DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { registerOp, type Attrs, type InferContext } from './registry.js';
import { inputTensorType } from './util.js';
import { fromF64, isNum, multiIndices, prod, resolveWindow, roundHalfEven, staticOut, toF64, windowSpec, type Window, type WindowSpec } from './nn-common.js';

/** Offsets table: for each (out position, kernel position) the flat input spatial offset or -1. */
export function windowTable(inSp: readonly number[], outSp: readonly number[], spec: WindowSpec, pb: readonly number[]): Int32Array {
  const nd = inSp.length;
  const outIdx = multiIndices(outSp);
  const kIdx = multiIndices(spec.kernel);
  const nOut = prod(outSp);
  const nK = prod(spec.kernel);
  const tbl = new Int32Array(nOut * nK);
  for (let o = 0; o < nOut; o++) {
    for (let k = 0; k < nK; k++) {
      let off = 0;
      let ok = true;
      for (let j = 0; j < nd; j++) {
        const p = outIdx[o * nd + j]! * spec.strides[j]! - pb[j]! + kIdx[k * nd + j]! * spec.dilations[j]!;
        if (p < 0 || p >= inSp[j]!) {
          ok = false;
          break;
        }
        off = off * inSp[j]! + p;
      }
      tbl[o * nK + k] = ok ? off : -1;
    }
  }
  return tbl;
}

interface ConvArgs {
  x: Float64Array;
  xShape: readonly number[];
  w: Float64Array;
  wShape: readonly number[];
  group: number;
  spec: WindowSpec;
  win: Window;
  bias: Float64Array | null;
}

/** Direct N-D grouped convolution in float64. Returns data and output shape. */
export function convCore(a: ConvArgs): { data: Float64Array; shape: number[] } {
  const [N, C] = a.xShape as [number, number];
  const inSp = a.xShape.slice(2);
  const M = a.wShape[0]!;
  const Cg = a.wShape[1]!;
  const G = a.group;
  if (Cg * G !== C) throw new KilnError('type', `input channels ${C} do not match weight channels ${Cg} x group ${G}`);
  if (M % G !== 0) throw new KilnError('type', `output channels ${M} not divisible by group ${G}`);
  const Mg = M / G;
  const outSp = staticOut(a.win);
  const tbl = windowTable(inSp, outSp, a.spec, a.win.pb);
  const nOut = prod(outSp);
  const nIn = prod(inSp);
  const nK = prod(a.spec.kernel);
  const y = new Float64Array(N * M * nOut);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      for (let m = 0; m < Mg; m++) {
        const oc = g * Mg + m;
        const yBase = (n * M + oc) * nOut;
        const b = a.bias ? a.bias[oc]! : 0;
        for (let o = 0; o < nOut; o++) {
          let acc = b;
          for (let c = 0; c < Cg; c++) {
            const xBase = (n * C + g * Cg + c) * nIn;
            const wBase = (oc * Cg + c) * nK;
            for (let k = 0; k < nK; k++) {
              const off = tbl[o * nK + k]!;
              if (off >= 0) acc += a.x[xBase + off]! * a.w[wBase + k]!;
            }
          }
          y[yBase + o] = acc;
        }
      }
    }
  }
  return { data: y, shape: [N, M, ...outSp] };
}

/** Output type for a Conv-like op: x input index xi, weight index wi. */
function convInfer(ctx: InferContext, xi: number, wi: number, outDt: DType | null): ValueType[] {
  const xt = inputTensorType(ctx, xi);
  const wt = inputTensorType(ctx, wi);
  const dt = outDt ?? xt?.dtype ?? 'f32';
  if (!xt || xt.shape === null) return [tensorType(dt, null)];
  const xs = xt.shape;
  if (xs.length < 3) throw new KilnError('type', `conv input must have rank >= 3, got ${xs.length}`);
  const nd = xs.length - 2;
  const ws = wt?.shape ?? null;
  if (ws && ws.length !== xs.length) throw new KilnError('type', `weight rank ${ws.length} does not match input rank ${xs.length}`);
  const spec = windowSpec(ctx.attrs, nd, ws ? ws.slice(2) : null);
  const win = resolveWindow(ctx.attrs, xs.slice(2), spec, false);
  const g = ctx.attrs.int('group', 1);
  if (ws && isNum(ws[1]) && isNum(xs[1]) && ws[1] * g !== xs[1]) throw new KilnError('type', `input channels ${xs[1]} do not match weight channels ${ws[1]} x group ${g}`);
  const M: Dim = ws ? ws[0]! : null;
  return [tensorType(dt, [xs[0]!, M, ...win.out])];
}

function specFor(attrs: Attrs, x: Tensor, w: Tensor): { spec: WindowSpec; win: Window } {
  if (x.rank < 3 || w.rank !== x.rank) throw new KilnError('type', 'conv input/weight ranks do not match');
  const spec = windowSpec(attrs, x.rank - 2, w.shape.slice(2));
  const win = resolveWindow(attrs, x.shape.slice(2), spec, false);
  return { spec, win };
}

registerOp({
  opType: 'Conv',
  since: 1,
  infer: (ctx) => convInfer(ctx, 0, 1, null),
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const w = ctx.tensor(1);
    const b = ctx.optTensor(2);
    const { spec, win } = specFor(ctx.attrs, x, w);
    const r = convCore({ x: toF64(x), xShape: x.shape, w: toF64(w), wShape: w.shape, group: ctx.attrs.int('group', 1), spec, win, bias: b ? toF64(b) : null });
    return [fromF64(x.dtype, r.shape, r.data)];
  },
});

/** Subtracts a zero point (scalar or per-channel along axis `axis` of length shape[axis]) from data. */
function subZeroPoint(data: Float64Array, shape: readonly number[], zp: Tensor | null, axis: number): Float64Array {
  if (!zp || zp.size === 0) return data;
  const z = toF64(zp);
  if (z.length === 1) {
    const v = z[0]!;
    return data.map((d) => d - v);
  }
  if (z.length !== shape[axis]) throw new KilnError('type', `zero point of ${z.length} values does not match dim ${shape[axis]}`);
  const inner = prod(shape.slice(axis + 1));
  const dim = shape[axis]!;
  return data.map((d, i) => d - z[Math.floor(i / inner) % dim]!);
}

registerOp({
  opType: 'ConvInteger',
  since: 10,
  infer: (ctx) => convInfer(ctx, 0, 1, 'i32'),
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const w = ctx.tensor(1);
    const { spec, win } = specFor(ctx.attrs, x, w);
    const xv = subZeroPoint(toF64(x), x.shape, ctx.optTensor(2), 1);
    const wv = subZeroPoint(toF64(w), w.shape, ctx.optTensor(3), 0);
    const r = convCore({ x: xv, xShape: x.shape, w: wv, wShape: w.shape, group: ctx.attrs.int('group', 1), spec, win, bias: null });
    return [fromF64('i32', r.shape, r.data)];
  },
});

/** Requantizes float64 values into an integer type: round half to even, add zero point, saturate. */
export function requantize(vals: Float64Array, dt: DType, zp: number): Float64Array {
  const [lo, hi] = intRange(dt);
  return vals.map((v) => Math.min(hi, Math.max(lo, roundHalfEven(v) + zp)));
}

registerOp({
  opType: 'QLinearConv',
  since: 10,
  infer: (ctx) => {
    const yzp = inputTensorType(ctx, 7);
    const xt = inputTensorType(ctx, 0);
    return convInfer(ctx, 0, 3, yzp?.dtype ?? xt?.dtype ?? 'u8');
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const xs = ctx.tensor(1).num(0);
    const w = ctx.tensor(3);
    const ws = toF64(ctx.tensor(4));
    const ys = ctx.tensor(6).num(0);
    const yzpT = ctx.optTensor(7);
    const yzp = yzpT ? yzpT.num(0) : 0;
    const outDt = yzpT?.dtype ?? x.dtype;
    const b = ctx.optTensor(8);
    const { spec, win } = specFor(ctx.attrs, x, w);
    const xv = subZeroPoint(toF64(x), x.shape, ctx.optTensor(2), 1);
    const wv = subZeroPoint(toF64(w), w.shape, ctx.optTensor(5), 0);
    const r = convCore({ x: xv, xShape: x.shape, w: wv, wShape: w.shape, group: ctx.attrs.int('group', 1), spec, win, bias: b ? toF64(b) : null });
    const M = r.shape[1]!;
    const inner = prod(r.shape.slice(2));
    const scaled = r.data.map((v, i) => {
      const oc = Math.floor(i / inner) % M;
      const wsc = ws.length === 1 ? ws[0]! : ws[oc]!;
      return (v * xs * wsc) / ys;
    });
    return [fromF64(outDt, r.shape, requantize(scaled, outDt, yzp))];
  },
});

// ---------- ConvTranspose ----------

interface ConvTWin {
  out: (number | null)[];
  pb: number[];
}

function convTransposeWindow(a: Attrs, inSp: readonly Dim[], spec: WindowSpec): ConvTWin {
  const nd = inSp.length;
  const outPad = a.optInts('output_padding') ?? new Array<number>(nd).fill(0);
  const outShapeAttr = a.optInts('output_shape');
  const autoPad = a.string('auto_pad', 'NOTSET');
  const pads = a.optInts('pads');
  const out: (number | null)[] = [];
  const pb: number[] = [];
  for (let i = 0; i < nd; i++) {
    const inn = inSp[i];
    const s = spec.strides[i]!;
    const dk = (spec.kernel[i]! - 1) * spec.dilations[i]! + 1;
    const op = outPad[i] ?? 0;
    if (outShapeAttr && outShapeAttr.length) {
      const os = outShapeAttr.length === nd ? outShapeAttr[i]! : outShapeAttr[outShapeAttr.length - nd + i]!;
      out.push(os);
      if (!isNum(inn)) {
        pb.push(0);
        continue;
      }
      const total = s * (inn - 1) + op + dk - os;
      const half = Math.floor(total / 2);
      pb.push(autoPad === 'SAME_UPPER' ? half : total - half);
    } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      if (!isNum(inn)) {
        out.push(null);
        pb.push(0);
        continue;
      }
      const os = inn * s;
      out.push(os);
      const total = Math.max(0, s * (inn - 1) + op + dk - os);
      const half = Math.floor(total / 2);
      pb.push(autoPad === 'SAME_UPPER' ? half : total - half);
    } else {
      const b = autoPad === 'VALID' || !pads || !pads.length ? 0 : pads[i]!;
      const e = autoPad === 'VALID' || !pads || !pads.length ? 0 : pads[i + nd]!;
      pb.push(b);
      out.push(isNum(inn) ? s * (inn - 1) + op + dk - b - e : null);
    }
  }
  return { out, pb };
}

registerOp({
  opType: 'ConvTranspose',
  since: 1,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const wt = inputTensorType(ctx, 1);
    const dt = xt?.dtype ?? 'f32';
    if (!xt || xt.shape === null) return [tensorType(dt, null)];
    const xs = xt.shape;
    if (xs.length < 3) throw new KilnError('type', 'ConvTranspose input must have rank >= 3');
    const nd = xs.length - 2;
    const ws = wt?.shape ?? null;
    const spec = windowSpec(ctx.attrs, nd, ws ? ws.slice(2) : null);
    const win = convTransposeWindow(ctx.attrs, xs.slice(2), spec);
    const g = ctx.attrs.int('group', 1);
    if (ws && isNum(ws[0]) && isNum(xs[1]) && ws[0] !== xs[1]) throw new KilnError('type', `ConvTranspose weight dim 0 (${ws[0]}) does not match input channels ${xs[1]}`);
    const M: Dim = ws && isNum(ws[1]) ? ws[1] * g : null;
    return [tensorType(dt, [xs[0]!, M, ...win.out])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const w = ctx.tensor(1);
    const b = ctx.optTensor(2);
    const G = ctx.attrs.int('group', 1);
    const nd = x.rank - 2;
    const spec = windowSpec(ctx.attrs, nd, w.shape.slice(2));
    const inSp = x.shape.slice(2);
    const win = convTransposeWindow(ctx.attrs, inSp, spec);
    const outSp = win.out as number[];
    const [N, C] = x.shape as [number, number];
    const Mg = w.shape[1]!;
    const M = Mg * G;
    const Cg = C / G;
    if (w.shape[0] !== C || !Number.isInteger(Cg)) throw new KilnError('type', 'ConvTranspose weight does not match input channels');
    const xv = toF64(x);
    const wv = toF64(w);
    const nIn = prod(inSp);
    const nOut = prod(outSp);
    const nK = prod(spec.kernel);
    // table: (input position, kernel position) -> output offset or -1
    const inIdx = multiIndices(inSp);
    const kIdx = multiIndices(spec.kernel);
    const tbl = new Int32Array(nIn * nK);
    for (let i = 0; i < nIn; i++) {
      for (let k = 0; k < nK; k++) {
        let off = 0;
        let ok = true;
        for (let j = 0; j < nd; j++) {
          const p = inIdx[i * nd + j]! * spec.strides[j]! - win.pb[j]! + kIdx[k * nd + j]! * spec.dilations[j]!;
          if (p < 0 || p >= outSp[j]!) {
            ok = false;
            break;
          }
          off = off * outSp[j]! + p;
        }
        tbl[i * nK + k] = ok ? off : -1;
      }
    }
    const y = new Float64Array(N * M * nOut);
    const bv = b ? toF64(b) : null;
    for (let n = 0; n < N; n++) {
      for (let oc = 0; oc < M; oc++) {
        const bb = bv ? bv[oc]! : 0;
        if (bb !== 0) y.fill(bb, (n * M + oc) * nOut, (n * M + oc + 1) * nOut);
      }
      for (let g = 0; g < G; g++) {
        for (let c = 0; c < Cg; c++) {
          const ic = g * Cg + c;
          const xBase = (n * C + ic) * nIn;
          for (let m = 0; m < Mg; m++) {
            const oc = g * Mg + m;
            const yBase = (n * M + oc) * nOut;
            const wBase = (ic * Mg + m) * nK;
            for (let i = 0; i < nIn; i++) {
              const xval = xv[xBase + i]!;
              if (xval === 0) continue;
              for (let k = 0; k < nK; k++) {
                const off = tbl[i * nK + k]!;
                if (off >= 0) y[yBase + off]! += xval * wv[wBase + k]!;
              }
            }
          }
        }
      }
    }
    return [fromF64(x.dtype, [N, M, ...outSp], y)];
  },
});

// ---------- DeformConv ----------

function bilinear2d(img: Float64Array, base: number, H: number, W: number, h: number, w: number): number {
  if (h <= -1 || h >= H || w <= -1 || w >= W) return 0;
  const h0 = Math.floor(h);
  const w0 = Math.floor(w);
  const lh = h - h0;
  const lw = w - w0;
  const at = (yy: number, xx: number): number => (yy >= 0 && yy < H && xx >= 0 && xx < W ? img[base + yy * W + xx]! : 0);
  return (1 - lh) * (1 - lw) * at(h0, w0) + (1 - lh) * lw * at(h0, w0 + 1) + lh * (1 - lw) * at(h0 + 1, w0) + lh * lw * at(h0 + 1, w0 + 1);
}

registerOp({
  opType: 'DeformConv',
  since: 19,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const wt = inputTensorType(ctx, 1);
    const ot = inputTensorType(ctx, 2);
    const dt = xt?.dtype ?? 'f32';
    if (!xt || xt.shape === null) return [tensorType(dt, null)];
    const M: Dim = wt?.shape ? wt.shape[0]! : null;
    if (ot?.shape) return [tensorType(dt, [xt.shape[0]!, M, ...ot.shape.slice(2)])];
    const spec = windowSpec(ctx.attrs, xt.shape.length - 2, wt?.shape ? wt.shape.slice(2) : null);
    const win = resolveWindow(ctx.attrs, xt.shape.slice(2), spec, false);
    return [tensorType(dt, [xt.shape[0]!, M, ...win.out])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const w = ctx.tensor(1);
    const offT = ctx.tensor(2);
    const bT = ctx.optTensor(3);
    const maskT = ctx.optTensor(4);
    if (x.rank !== 4) throw new KilnError('unsupported', 'unsupported DeformConv with other than 2 spatial dims');
    const spec = windowSpec(ctx.attrs, 2, w.shape.slice(2));
    const win = resolveWindow(ctx.attrs, x.shape.slice(2), spec, false);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [M, Cg, kH, kW] = w.shape as [number, number, number, number];
    const G = ctx.attrs.int('group', 1);
    const OG = ctx.attrs.int('offset_group', 1);
    const [oH, oW] = offT.shape.slice(2) as [number, number];
    const xv = toF64(x);
    const wv = toF64(w);
    const ov = toF64(offT);
    const mv = maskT ? toF64(maskT) : null;
    const bv = bT ? toF64(bT) : null;
    const Mg = M / G;
    const cPerOG = C / OG;
    const nK = kH * kW;
    const y = new Float64Array(N * M * oH * oW);
    // sampled columns: for each (n, c, k, oh, ow)
    const cols = new Float64Array(C * nK * oH * oW);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const og = Math.floor(c / cPerOG);
        for (let ki = 0; ki < kH; ki++) {
          for (let kj = 0; kj < kW; kj++) {
            const k = ki * kW + kj;
            for (let oh = 0; oh < oH; oh++) {
              for (let ow = 0; ow < oW; ow++) {
                const offBase = ((n * OG + og) * nK + k) * 2;
                const dh = ov[((offBase) * oH + oh) * oW + ow]!;
                const dw = ov[((offBase + 1) * oH + oh) * oW + ow]!;
                const hh = oh * spec.strides[0]! - win.pb[0]! + ki * spec.dilations[0]! + dh;
                const ww = ow * spec.strides[1]! - win.pb[1]! + kj * spec.dilations[1]! + dw;
                let v = bilinear2d(xv, (n * C + c) * H * W, H, W, hh, ww);
                if (mv) v *= mv[(((n * OG + og) * nK + k) * oH + oh) * oW + ow]!;
                cols[((c * nK + k) * oH + oh) * oW + ow] = v;
              }
            }
          }
        }
      }
      for (let oc = 0; oc < M; oc++) {
        const g = Math.floor(oc / Mg);
        for (let p = 0; p < oH * oW; p++) {
          let acc = bv ? bv[oc]! : 0;
          for (let c = 0; c < Cg; c++) {
            const ic = g * Cg + c;
            for (let k = 0; k < nK; k++) acc += wv[(oc * Cg + c) * nK + k]! * cols[(ic * nK + k) * oH * oW + p]!;
          }
          y[(n * M + oc) * oH * oW + p] = acc;
        }
      }
    }
    return [fromF64(x.dtype, [N, M, oH, oW], y)];
  },
});

