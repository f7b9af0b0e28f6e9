/** GridSample, AffineGrid, Dropout, RoiAlign, NonMaxSuppression, Col2Im. */
import { KilnError } from '../errors.js';
import { Tensor, type RtValue } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { gridSampleConfig } from './config/grid-sample.js';
import { registerOp } from './registry.js';
import { inputTensorType } from './util.js';
import { unknownDims } from './shape-common.js';
import { fromF64, isNum, multiIndices, prod, roundHalfEven, toF64 } from './nn-common.js';

// ---------- GridSample ----------

function reflect(x: number, lo: number, hi: number): number {
  const rng = hi - lo;
  if (x < lo) {
    const dx = lo - x;
    const n = Math.trunc(dx / rng);
    const r = dx - n * rng;
    return n % 2 === 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const dx = x - hi;
    const n = Math.trunc(dx / rng);
    const r = dx - n * rng;
    return n % 2 === 0 ? hi - r : lo + r;
  }
  return x;
}

function cubicCoeffs(t: number): number[] {
  const A = -0.75;
  const x = Math.abs(t);
  return [
    ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A,
    ((A + 2) * x - (A + 3)) * x * x + 1,
    ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1,
    ((A * (2 - x) - 5 * A) * (2 - x) + 8 * A) * (2 - x) - 4 * A,
  ];
}

registerOp({
  opType: 'GridSample',
  since: 16,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const gt = inputTensorType(ctx, 1);
    const dt = xt?.dtype ?? 'f32';
    if (!xt?.shape || !gt?.shape) return [tensorType(dt, null)];
    if (gt.shape.length !== xt.shape.length) throw new KilnError('type', 'GridSample grid rank must equal input rank');
    return [tensorType(dt, [xt.shape[0]!, xt.shape[1]!, ...gt.shape.slice(1, -1)])];
  },
  interp: (ctx) => {
    const X = ctx.tensor(0);
    const G = ctx.tensor(1);
    const { mode, padding: pad, alignCorners: ac, N, C, dims, outSp, strides, lo, hi } = gridSampleConfig(ctx.attrs, ctx.opset, X.shape, G.shape);
    const nd = dims.length;
    const nOut = prod(outSp);
    const nIn = prod(dims);
    const xv = toF64(X);
    const gv = toF64(G);
    const y = new Float64Array(N * C * nOut);
    const idxFix = (i: number, d: number): number => {
      // integer index under the padding mode; -1 = zero
      if (i >= 0 && i < dims[d]!) return i;
      if (pad === 'zeros') return -1;
      if (pad === 'border') return Math.min(dims[d]! - 1, Math.max(0, i));
      return Math.trunc(reflect(i, lo[d]!, hi[d]!));
    };
    const taps = mode === 'cubic' ? 4 : mode === 'linear' ? 2 : 1;
    const tapIdx: number[][] = Array.from({ length: nd }, () => new Array<number>(taps));
    const tapW: number[][] = Array.from({ length: nd }, () => new Array<number>(taps));
    const tapCount = taps ** nd;
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < nOut; o++) {
        const gb = (n * nOut + o) * nd;
        for (let d = 0; d < nd; d++) {
          const g = gv[gb + (nd - 1 - d)]!; // grid stores coordinates in reverse dim order
          const L = dims[d]!;
          let x = Math.fround(ac ? ((g + 1) / 2) * (L - 1) : ((g + 1) * L - 1) / 2);
          if (mode === 'nearest') x = roundHalfEven(x); // nearbyint: half to even
          if (x < lo[d]! || x > hi[d]!) {
            if (pad === 'border') x = Math.min(L - 1, Math.max(0, x));
            else if (pad === 'reflection') x = reflect(x, lo[d]!, hi[d]!);
          }
          if (mode === 'nearest') {
            tapIdx[d]![0] = idxFix(Math.trunc(x), d);
            tapW[d]![0] = 1;
          } else {
            const x0 = Math.floor(x);
            const t = x - x0;
            if (mode === 'linear') {
              tapIdx[d]![0] = idxFix(x0, d);
              tapIdx[d]![1] = idxFix(x0 + 1, d);
              tapW[d]![0] = 1 - t;
              tapW[d]![1] = t;
            } else {
              const cc = cubicCoeffs(t);
              for (let j = 0; j < 4; j++) {
                tapIdx[d]![j] = idxFix(x0 - 1 + j, d);
                tapW[d]![j] = cc[j]!;
              }
            }
          }
        }
        for (let c = 0; c < C; c++) {
          const xb = (n * C + c) * nIn;
          let acc = 0;
          for (let t = 0; t < tapCount; t++) {
            let rem = t;
            let w = 1;
            let off = 0;
            let zero = false;
            for (let d = nd - 1; d >= 0; d--) {
              const j = rem % taps;
              rem = Math.floor(rem / taps);
              const ii = tapIdx[d]![j]!;
              w *= tapW[d]![j]!;
              if (ii < 0) zero = true;
              else off += ii * strides[d]!;
            }
            if (!zero && w !== 0) acc += w * xv[xb + off]!;
          }
          y[(n * C + c) * nOut + o] = acc;
        }
      }
    }
    return [fromF64(X.dtype, [N, C, ...outSp], y)];
  },
});

// ---------- AffineGrid ----------

registerOp({
  opType: 'AffineGrid',
  since: 20,
  infer: (ctx) => {
    const tt = inputTensorType(ctx, 0);
    const dt = tt?.dtype ?? 'f32';
    const size = ctx.constInput(1);
    if (size) {
      const s = size.toIndexArray();
      return [tensorType(dt, [s[0]!, ...s.slice(2), s.length - 2])];
    }
    const st = inputTensorType(ctx, 1);
    if (st?.shape && isNum(st.shape[0])) {
      const nd = st.shape[0] - 2;
      return [tensorType(dt, [tt?.shape?.[0] ?? null, ...unknownDims(nd), nd])];
    }
    return [tensorType(dt, null)];
  },
  interp: (ctx) => {
    const theta = ctx.tensor(0);
    const size = ctx.tensor(1).toIndexArray();
    const ac = ctx.attrs.int('align_corners', 0) !== 0;
    const N = size[0]!;
    const sp = size.slice(2);
    const nd = sp.length;
    if (nd !== 2 && nd !== 3) throw new KilnError('type', 'AffineGrid supports 2-D and 3-D sizes');
    if (theta.shape[0] !== N || theta.shape[1] !== nd || theta.shape[2] !== nd + 1) throw new KilnError('type', 'AffineGrid theta shape does not match size');
    const tv = toF64(theta);
    const base = (i: number, L: number): number => (ac ? (L === 1 ? -1 : -1 + (2 * i) / (L - 1)) : (2 * i + 1) / L - 1);
    const nOut = prod(sp);
    const mi = multiIndices(sp);
    const y = new Float64Array(N * nOut * nd);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < nOut; o++) {
        // homogeneous point in (x, y[, z]) order: last spatial dim is x
        const pt: number[] = [];
        for (let d = nd - 1; d >= 0; d--) pt.push(base(mi[o * nd + d]!, sp[d]!));
        pt.push(1);
        for (let r = 0; r < nd; r++) {
          let acc = 0;
          for (let k = 0; k <= nd; k++) acc += tv[(n * nd + r) * (nd + 1) + k]! * pt[k]!;
          y[(n * nOut + o) * nd + r] = acc;
        }
      }
    }
    return [fromF64(theta.dtype, [N, ...sp, nd], y)];
  },
});

// ---------- Dropout ----------

registerOp({
  opType: 'Dropout',
  since: 1,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const res: ValueType[] = [xt ?? tensorType('f32', null)];
    if (ctx.outputCount > 1) res.push(tensorType(ctx.opset >= 10 ? 'bool' : (xt?.dtype ?? 'f32'), xt?.shape ?? null));
    return res;
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    let training = false;
    let ratio = 0.5;
    if (ctx.opset >= 12) {
      const r = ctx.optTensor(1);
      if (r) ratio = r.num(0);
      const tm = ctx.optTensor(2);
      training = tm ? tm.num(0) !== 0 : false;
    } else {
      ratio = ctx.attrs.float('ratio', 0.5);
      if (ctx.opset < 7) training = ctx.attrs.int('is_test', 0) === 0;
    }
    if (training && ratio !== 0) throw new KilnError('unsupported', 'unsupported Dropout in training mode with a nonzero ratio (random mask)');
    const res: (RtValue | null)[] = [x];
    if (ctx.outputCount > 1) {
      if (!ctx.hasOutput(1)) res.push(null);
      else {
        const mdt = ctx.opset >= 10 ? 'bool' : x.dtype;
        const m = Tensor.zeros(mdt, x.shape);
        for (let i = 0; i < m.size; i++) m.setScalar(i, 1);
        res.push(m);
      }
    }
    return res;
  },
});

// ---------- RoiAlign ----------

/** RoiAlign's sampling grid per output element is bounded so hostile rois cannot stall a run. */
const MAX_SAMPLES_PER_BIN = 1 << 20;

registerOp({
  opType: 'RoiAlign',
  since: 10,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const rt = inputTensorType(ctx, 1);
    const dt = xt?.dtype ?? 'f32';
    const oh = ctx.attrs.int('output_height', 1);
    const ow = ctx.attrs.int('output_width', 1);
    return [tensorType(dt, [rt?.shape?.[0] ?? null, xt?.shape?.[1] ?? null, oh, ow])];
  },
  interp: (ctx) => {
    const X = ctx.tensor(0);
    const rois = toF64(ctx.tensor(1));
    const bidx = ctx.tensor(2).toIndexArray();
    const mode = ctx.attrs.string('mode', 'avg');
    const PH = ctx.attrs.int('output_height', 1);
    const PW = ctx.attrs.int('output_width', 1);
    const sr = ctx.attrs.int('sampling_ratio', 0);
    const ss = ctx.attrs.float('spatial_scale', 1);
    const ctm = ctx.opset >= 16 ? ctx.attrs.string('coordinate_transformation_mode', 'half_pixel') : 'output_half_pixel';
    const halfPixel = ctm === 'half_pixel';
    const [, C, H, W] = X.shape as [number, number, number, number];
    const R = bidx.length;
    const xv = toF64(X);
    const y = new Float64Array(R * C * PH * PW);
    const off = halfPixel ? 0.5 : 0;
    for (let r = 0; r < R; r++) {
      const b = bidx[r]!;
      const sw = rois[r * 4]! * ss - off;
      const sh = rois[r * 4 + 1]! * ss - off;
      const ew = rois[r * 4 + 2]! * ss - off;
      const eh = rois[r * 4 + 3]! * ss - off;
      let rw = ew - sw;
      let rh = eh - sh;
      if (!halfPixel) {
        rw = Math.max(rw, 1);
        rh = Math.max(rh, 1);
      }
      const bh = rh / PH;
      const bw = rw / PW;
      const gh = sr > 0 ? sr : Math.ceil(rh / PH);
      const gw = sr > 0 ? sr : Math.ceil(rw / PW);
      // the sampling grid comes from an attribute or from the data: bound it before looping
      if (!(gh * gw <= MAX_SAMPLES_PER_BIN)) {
        throw new KilnError('limit', `RoiAlign would take ${gh}x${gw} samples per output element (limit ${MAX_SAMPLES_PER_BIN})`);
      }
      const count = Math.max(gh * gw, 1);
      for (let c = 0; c < C; c++) {
        const base = (b * C + c) * H * W;
        for (let ph = 0; ph < PH; ph++) {
          for (let pw = 0; pw < PW; pw++) {
            let acc = 0;
            let mx = -Infinity;
            let any = false;
            for (let iy = 0; iy < gh; iy++) {
              const yy = sh + ph * bh + ((iy + 0.5) * bh) / gh;
              for (let ix = 0; ix < gw; ix++) {
                const xx = sw + pw * bw + ((ix + 0.5) * bw) / gw;
                let val = 0;
                let vmax = 0;
                if (!(yy < -1 || yy > H || xx < -1 || xx > W)) {
                  let y0 = yy <= 0 ? 0 : yy;
                  let x0 = xx <= 0 ? 0 : xx;
                  let yl = Math.floor(y0);
                  let xl = Math.floor(x0);
                  let yh: number;
                  let xh: number;
                  if (yl >= H - 1) {
                    yh = yl = H - 1;
                    y0 = yl;
                  } else yh = yl + 1;
                  if (xl >= W - 1) {
                    xh = xl = W - 1;
                    x0 = xl;
                  } else xh = xl + 1;
                  const ly = y0 - yl;
                  const lx = x0 - xl;
                  const hy = 1 - ly;
                  const hx = 1 - lx;
                  const v1 = hy * hx * xv[base + yl * W + xl]!;
                  const v2 = hy * lx * xv[base + yl * W + xh]!;
                  const v3 = ly * hx * xv[base + yh * W + xl]!;
                  const v4 = ly * lx * xv[base + yh * W + xh]!;
                  val = v1 + v2 + v3 + v4;
                  vmax = Math.max(v1, v2, v3, v4);
                }
                acc += val;
                mx = any ? Math.max(mx, vmax) : vmax;
                any = true;
              }
            }
            y[((r * C + c) * PH + ph) * PW + pw] = mode === 'max' ? (any ? mx : 0) : acc / count;
          }
        }
      }
    }
    return [fromF64(X.dtype, [R, C, PH, PW], y)];
  },
});

// ---------- NonMaxSuppression ----------

registerOp({
  opType: 'NonMaxSuppression',
  since: 10,
  infer: () => [tensorType('i64', [null, 3])],
  interp: (ctx) => {
    const boxes = ctx.tensor(0);
    const scores = ctx.tensor(1);
    const maxOut = ctx.optTensor(2);
    const iouT = ctx.optTensor(3);
    const stT = ctx.optTensor(4);
    const maxPer = maxOut && maxOut.size ? maxOut.toIndexArray()[0]! : 0;
    const iouTh = iouT && iouT.size ? iouT.num(0) : 0;
    const scoreTh = stT && stT.size ? stT.num(0) : null;
    const center = ctx.attrs.int('center_point_box', 0) !== 0;
    const [B, S] = boxes.shape as [number, number];
    const Cn = scores.shape[1]!;
    if (scores.shape[0] !== B || scores.shape[2] !== S || boxes.shape[2] !== 4) throw new KilnError('type', 'NonMaxSuppression boxes/scores shapes do not match');
    const bv = toF64(boxes);
    const sv = toF64(scores);
    const corners = (b: number, i: number): [number, number, number, number] => {
      const o = (b * S + i) * 4;
      if (center) {
        const xc = bv[o]!;
        const yc = bv[o + 1]!;
        const w = bv[o + 2]!;
        const h = bv[o + 3]!;
        return [yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2];
      }
      const y1 = bv[o]!;
      const x1 = bv[o + 1]!;
      const y2 = bv[o + 2]!;
      const x2 = bv[o + 3]!;
      return [Math.min(y1, y2), Math.min(x1, x2), Math.max(y1, y2), Math.max(x1, x2)];
    };
    const iou = (a: number[], c: number[]): number => {
      const areaA = (a[2]! - a[0]!) * (a[3]! - a[1]!);
      const areaC = (c[2]! - c[0]!) * (c[3]! - c[1]!);
      if (areaA <= 0 || areaC <= 0) return 0;
      const ih = Math.min(a[2]!, c[2]!) - Math.max(a[0]!, c[0]!);
      const iw = Math.min(a[3]!, c[3]!) - Math.max(a[1]!, c[1]!);
      if (ih <= 0 || iw <= 0) return 0;
      const inter = ih * iw;
      return inter / (areaA + areaC - inter);
    };
    const sel: number[] = [];
    if (maxPer > 0) {
      for (let b = 0; b < B; b++) {
        for (let c = 0; c < Cn; c++) {
          const cand: number[] = [];
          for (let i = 0; i < S; i++) {
            const s = sv[(b * Cn + c) * S + i]!;
            if (scoreTh === null || s > scoreTh) cand.push(i);
          }
          cand.sort((p, q) => sv[(b * Cn + c) * S + q]! - sv[(b * Cn + c) * S + p]! || p - q);
          const kept: number[][] = [];
          for (const i of cand) {
            if (kept.length >= maxPer) break;
            const bx = corners(b, i);
            if (kept.some((k) => iou(k, bx) > iouTh)) continue;
            kept.push(bx);
            sel.push(b, c, i);
          }
        }
      }
    }
    return [Tensor.from('i64', [sel.length / 3, 3], sel.map((v) => BigInt(v)))];
  },
});

// ---------- Col2Im ----------

registerOp({
  opType: 'Col2Im',
  since: 18,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const dt = xt?.dtype ?? 'f32';
    const img = ctx.constInput(1);
    const blk = ctx.constInput(2);
    const N: Dim = xt?.shape?.[0] ?? null;
    const CK = xt?.shape?.[1];
    let C: Dim = null;
    if (blk && isNum(CK)) C = CK / prod(blk.toIndexArray());
    if (img) return [tensorType(dt, [N, C, ...img.toIndexArray()])];
    return [tensorType(dt, null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const img = ctx.tensor(1).toIndexArray();
    const blk = ctx.tensor(2).toIndexArray();
    const nd = img.length;
    const dil = ctx.attrs.optInts('dilations') ?? new Array<number>(nd).fill(1);
    const pads = ctx.attrs.optInts('pads') ?? new Array<number>(2 * nd).fill(0);
    const str = ctx.attrs.optInts('strides') ?? new Array<number>(nd).fill(1);
    const [N, CK, L] = x.shape as [number, number, number];
    const K = prod(blk);
    const C = CK / K;
    if (!Number.isInteger(C)) throw new KilnError('type', 'Col2Im channel dim is not divisible by the block size');
    const nb = img.map((d, i) => Math.floor((d + pads[i]! + pads[i + nd]! - (dil[i]! * (blk[i]! - 1) + 1)) / str[i]!) + 1);
    if (prod(nb) !== L) throw new KilnError('type', `Col2Im expects ${prod(nb)} blocks, got ${L}`);
    const xv = toF64(x);
    const nImg = prod(img);
    const y = new Float64Array(N * C * nImg);
    const bIdx = multiIndices(nb);
    const kIdx = multiIndices(blk);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < K; k++) {
          for (let l = 0; l < L; l++) {
            let off = 0;
            let ok = true;
            for (let d = 0; d < nd; d++) {
              const p = bIdx[l * nd + d]! * str[d]! - pads[d]! + kIdx[k * nd + d]! * dil[d]!;
              if (p < 0 || p >= img[d]!) {
                ok = false;
                break;
              }
              off = off * img[d]! + p;
            }
            if (ok) y[(n * C + c) * nImg + off]! += xv[(n * CK + c * K + k) * L + l]!;
          }
        }
      }
    }
    return [fromF64(x.dtype, [N, C, ...img], y)];
  },
});

