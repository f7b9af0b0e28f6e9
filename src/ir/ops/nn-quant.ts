/** Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul. */
import { KilnError } from '../errors.js';
import { dtypeFromOnnx, intRange, isFloat, isInteger, type DType } from '../dtype.js';
import { roundToFormat, isMiniFloat } from '../floatfmt.js';
import { Tensor, normalizeNumber } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { matmulShapes } from './config/linalg.js';
import { registerOp, type InferContext } from './registry.js';
import { broadcastDims, inputTensorType, normAxis } from './util.js';
import { fromF64, prod, roundHalfEven, toF64 } from './nn-common.js';

/** Rounds a double to what a float element type holds (f32 via fround). */
function toFloatType(dt: DType, v: number): number {
  if (dt === 'f64') return v;
  if (dt === 'f32') return Math.fround(v);
  return normalizeNumber(dt, v);
}

/** Maps x's flat index to the flat index of a per-tensor / per-axis / blocked parameter tensor. */
function paramIndexer(xShape: readonly number[], p: Tensor, axisAttr: number, blockSize: number): (i: number) => number {
  if (p.size === 1) return () => 0;
  const r = xShape.length;
  const axis = normAxis(axisAttr, r, 'quantization axis');
  const dim = xShape[axis]!;
  const inner = prod(xShape.slice(axis + 1));
  if (blockSize > 0) {
    if (p.rank !== r) throw new KilnError('type', `blocked quantization parameter must have rank ${r}`);
    const nb = p.shape[axis]!;
    if (nb !== Math.ceil(dim / blockSize)) throw new KilnError('type', `blocked quantization parameter dim ${nb} does not match ceil(${dim}/${blockSize})`);
    for (let j = 0; j < r; j++) if (j !== axis && p.shape[j] !== xShape[j]) throw new KilnError('type', 'blocked quantization parameter shape does not match the input');
    return (i) => {
      const inr = i % inner;
      const c = Math.floor(i / inner) % dim;
      const outer = Math.floor(i / (inner * dim));
      return (outer * nb + Math.floor(c / blockSize)) * inner + inr;
    };
  }
  if (p.rank !== 1 || p.size !== dim) throw new KilnError('type', `per-axis quantization parameter of shape [${p.shape.join(',')}] does not match dim ${dim} on axis ${axis}`);
  return (i) => Math.floor(i / inner) % dim;
}

function quantOutType(ctx: { attrs: InferContext['attrs']; opset: number }, zpType: DType | null): DType {
  let od: DType | null = null;
  if (ctx.opset >= 21) {
    const code = ctx.attrs.int('output_dtype', 0);
    if (code !== 0) {
      const dt = dtypeFromOnnx(code);
      if (!dt) throw new KilnError('type', `bad output_dtype ${code}`);
      od = dt;
    }
  }
  if (zpType && od && zpType !== od) throw new KilnError('type', `output_dtype ${od} does not match the zero point type ${zpType}`);
  return zpType ?? od ?? 'u8';
}

function promoteFloat(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === 'f64' || b === 'f64') return 'f64';
  return 'f32';
}

registerOp({
  opType: 'QuantizeLinear',
  since: 10,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const zt = inputTensorType(ctx, 2);
    const dt = quantOutType(ctx, zt?.dtype ?? null);
    return [tensorType(dt, xt?.shape ?? null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const s = ctx.tensor(1);
    const z = ctx.optTensor(2);
    const dt = quantOutType(ctx, z?.dtype ?? null);
    const axis = ctx.attrs.int('axis', 1);
    const block = ctx.opset >= 21 ? ctx.attrs.int('block_size', 0) : 0;
    const saturate = ctx.opset >= 19 ? ctx.attrs.int('saturate', 1) !== 0 : true;
    const precOnnx = ctx.opset >= 23 ? ctx.attrs.int('precision', 0) : 0;
    const prec = precOnnx ? dtypeFromOnnx(precOnnx) : undefined;
    const sIdx = paramIndexer(x.shape, s, axis, block);
    const zIdx = z ? paramIndexer(x.shape, z, axis, block) : null;
    const xv = toF64(x);
    const sv = toF64(s);
    const zv = z ? toF64(z) : null;
    const divType = prec ?? promoteFloat(x.dtype, s.dtype);
    const out = Tensor.zeros(dt, x.shape);
    const intOut = isInteger(dt);
    const [lo, hi] = intOut ? intRange(dt) : [0, 0];
    for (let i = 0; i < xv.length; i++) {
      let xx = xv[i]!;
      let ss = sv[sIdx(i)]!;
      if (prec) {
        xx = toFloatType(prec, xx);
        ss = toFloatType(prec, ss);
      }
      const q = toFloatType(divType, xx / ss);
      const zp = zv ? zv[zIdx!(i)]! : 0;
      if (intOut) {
        let v = roundHalfEven(q);
        if (Number.isNaN(v)) v = 0;
        v += zp;
        out.setScalar(i, Math.min(hi, Math.max(lo, v)));
      } else if (isMiniFloat(dt)) {
        const v = dt === 'f4e2m1' ? q + zp : q;
        (out.data as Float32Array)[i] = roundToFormat(dt, v, dt === 'f4e2m1' ? true : saturate);
      } else throw new KilnError('type', `QuantizeLinear cannot produce ${dt}`);
    }
    return [out];
  },
});

function dequantOutType(ctx: { attrs: InferContext['attrs']; opset: number }, scaleType: DType | null): DType {
  if (ctx.opset >= 23) {
    const od = ctx.attrs.int('output_dtype', 0);
    if (od !== 0) {
      const dt = dtypeFromOnnx(od);
      if (!dt) throw new KilnError('type', `bad output_dtype ${od}`);
      return dt;
    }
  }
  return scaleType ?? 'f32';
}

registerOp({
  opType: 'DequantizeLinear',
  since: 10,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    const st = inputTensorType(ctx, 1);
    return [tensorType(dequantOutType(ctx, st?.dtype ?? null), xt?.shape ?? null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const s = ctx.tensor(1);
    const z = ctx.optTensor(2);
    const dt = dequantOutType(ctx, s.dtype);
    const axis = ctx.attrs.int('axis', 1);
    const block = ctx.opset >= 21 ? ctx.attrs.int('block_size', 0) : 0;
    const sIdx = paramIndexer(x.shape, s, axis, block);
    const zIdx = z ? paramIndexer(x.shape, z, axis, block) : null;
    const xv = toF64(x);
    const sv = toF64(s);
    const zv = z ? toF64(z) : null;
    const y = new Float64Array(xv.length);
    for (let i = 0; i < xv.length; i++) {
      const zp = zv ? zv[zIdx!(i)]! : 0;
      y[i] = (xv[i]! - zp) * sv[sIdx(i)]!;
    }
    return [fromF64(dt, x.shape, y)];
  },
});

registerOp({
  opType: 'DynamicQuantizeLinear',
  since: 11,
  infer: (ctx) => {
    const xt = inputTensorType(ctx, 0);
    return [tensorType('u8', xt?.shape ?? null), tensorType('f32', []), tensorType('u8', [])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const xv = toF64(x);
    const f = Math.fround;
    let mn = 0;
    let mx = 0;
    for (const v of xv) {
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const scale = f(f(mx - mn) / 255);
    const zp = scale === 0 ? 0 : Math.min(255, Math.max(0, roundHalfEven(f(0 - f(mn / scale)))));
    const y = new Float64Array(xv.length);
    for (let i = 0; i < xv.length; i++) y[i] = scale === 0 ? zp : Math.min(255, Math.max(0, roundHalfEven(f(xv[i]! / scale)) + zp));
    return [fromF64('u8', x.shape, y), Tensor.from('f32', [], [scale]), Tensor.from('u8', [], [zp])];
  },
});

// ---------- integer matmuls ----------

/** numpy matmul shape rule on static shapes. */
function matmulShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  if (a.length === 0 || b.length === 0) throw new KilnError('type', 'matmul operands must not be scalars');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const batch = broadcastDims(a2.slice(0, -2), b2.slice(0, -2));
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** Batched matmul on float64 data with numpy broadcasting. */
export function matmulF64(a: Float64Array, aShape: readonly number[], b: Float64Array, bShape: readonly number[]): { data: Float64Array; shape: number[] } {
  const { M, K, N, batch, abatch: ab, bbatch: bb, outShape: shape } = matmulShapes(aShape, bShape, 'type');
  const nb = prod(batch);
  const out = new Float64Array(nb * M * N);
  const rank = batch.length;
  const idxOf = (shape: number[], bi: number): number => {
    // map a broadcast batch index to the operand's batch index
    let rem = bi;
    let off = 0;
    let mul = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % batch[d]!;
      rem = Math.floor(rem / batch[d]!);
      const sd = d - (rank - shape.length);
      if (sd >= 0) {
        const sz = shape[sd]!;
        off += (sz === 1 ? 0 : c) * mul;
        mul *= sz;
      }
    }
    return off;
  };
  for (let bi = 0; bi < nb; bi++) {
    const ao = idxOf(ab, bi) * M * K;
    const bo = idxOf(bb, bi) * K * N;
    const oo = bi * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += a[ao + m * K + k]! * b[bo + k * N + n]!;
        out[oo + m * N + n] = acc;
      }
    }
  }
  return { data: out, shape };
}

/** Subtracts a zero point: scalar, or per-row of A (rowAxis=true) / per-column of B. */
function subZp(t: Tensor, zp: Tensor | null, rows: boolean): Float64Array {
  const v = toF64(t);
  if (!zp || zp.size === 0) return v;
  const z = toF64(zp);
  if (z.length === 1) return v.map((x) => x - z[0]!);
  const r = t.rank;
  const K = t.shape[r - 1]!;
  if (rows) {
    const M = r >= 2 ? t.shape[r - 2]! : 1;
    if (z.length !== M) throw new KilnError('type', `zero point of ${z.length} values does not match ${M} rows`);
    return v.map((x, i) => x - z[Math.floor(i / K) % M]!);
  }
  if (z.length !== K) throw new KilnError('type', `zero point of ${z.length} values does not match ${K} columns`);
  return v.map((x, i) => x - z[i % K]!);
}

function matmulInfer(ctx: InferContext, ai: number, bi: number, dt: DType): ValueType[] {
  const at = inputTensorType(ctx, ai);
  const bt = inputTensorType(ctx, bi);
  if (!at?.shape || !bt?.shape) return [tensorType(dt, null)];
  return [tensorType(dt, matmulShape(at.shape, bt.shape))];
}

registerOp({
  opType: 'MatMulInteger',
  since: 10,
  infer: (ctx) => matmulInfer(ctx, 0, 1, 'i32'),
  interp: (ctx) => {
    const a = ctx.tensor(0);
    const b = ctx.tensor(1);
    const r = matmulF64(subZp(a, ctx.optTensor(2), true), a.shape, subZp(b, ctx.optTensor(3), false), b.shape);
    return [fromF64('i32', r.shape, r.data)];
  },
});

registerOp({
  opType: 'QLinearMatMul',
  since: 10,
  infer: (ctx) => {
    const zt = inputTensorType(ctx, 7);
    const at = inputTensorType(ctx, 0);
    return matmulInfer(ctx, 0, 3, zt?.dtype ?? at?.dtype ?? 'u8');
  },
  interp: (ctx) => {
    const a = ctx.tensor(0);
    const as = ctx.tensor(1);
    const b = ctx.tensor(3);
    const bs = ctx.tensor(4);
    const ys = ctx.tensor(6);
    const yz = ctx.optTensor(7);
    const dt = yz?.dtype ?? a.dtype;
    if (!isInteger(dt)) throw new KilnError('type', `QLinearMatMul output must be an integer type, got ${dt}`);
    const r = matmulF64(subZp(a, ctx.optTensor(2), true), a.shape, subZp(b, ctx.optTensor(5), false), b.shape);
    if (ys.size !== 1 || (yz && yz.size !== 1)) throw new KilnError('unsupported', 'unsupported QLinearMatMul with per-axis output scale');
    const sdt = isFloat(as.dtype) ? as.dtype : 'f32';
    const N = b.rank >= 2 ? b.shape[b.rank - 1]! : 1;
    const M = a.rank >= 2 ? a.shape[a.rank - 2]! : 1;
    if (as.size !== 1 && as.size !== M) throw new KilnError('type', `a_scale of ${as.size} values does not match ${M} rows`);
    if (bs.size !== 1 && bs.size !== N) throw new KilnError('type', `b_scale of ${bs.size} values does not match ${N} columns`);
    const av = toF64(as);
    const bsv = toF64(bs);
    const ysv = ys.num(0);
    const zp = yz ? yz.num(0) : 0;
    const [lo, hi] = intRange(dt);
    const y = r.data.map((v, i) => {
      const n = i % N;
      const m = Math.floor(i / N) % M;
      const factor = toFloatType(sdt, toFloatType(sdt, av[as.size === 1 ? 0 : m]! * bsv[bs.size === 1 ? 0 : n]!) / ysv);
      return Math.min(hi, Math.max(lo, roundHalfEven(v * factor + zp)));
    });
    return [fromF64(dt, r.shape, y)];
  },
});
