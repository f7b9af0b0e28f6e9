/** Linear algebra: MatMul, Gemm, Einsum, Det. */
import { KilnError } from '../errors.js';
import { isBig, type BigArray } from '../dtype.js';
import { Tensor, stridesOf } from '../tensor.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { broadcastDims, broadcastStrides, dimText, requireTensorType } from './util.js';
import { matmulShapes, gemmConfig, parseEinsum, type EinsumPlan } from './config/linalg.js';
import { optType, prod, requireFloat, requireNumeric, tensorFromF64, toF64, unifyDim } from './reduce-util.js';

// ---------------------------------------------------------------- MatMul

function matmulInfer(ctx: InferContext): ValueType[] {
  const a = requireTensorType(ctx, 0);
  const b = requireTensorType(ctx, 1);
  requireNumeric(a);
  if (a.dtype !== b.dtype) throw new KilnError('type', `MatMul operands have different element types ${a.dtype} and ${b.dtype}`);
  if (a.shape === null || b.shape === null) return [tensorType(a.dtype, null)];
  return [tensorType(a.dtype, matmulDims(a.shape, b.shape))];
}

function matmulDims(as: readonly Dim[], bs: readonly Dim[]): Dim[] {
  if (as.length === 0 || bs.length === 0) throw new KilnError('type', 'MatMul operands must have rank >= 1');
  const a = as.length === 1 ? [1, as[0]!] : as;
  const b = bs.length === 1 ? [bs[0]!, 1] : bs;
  const k1 = a[a.length - 1]!;
  const k2 = b[b.length - 2]!;
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    throw new KilnError('type', `MatMul inner dimensions ${dimText(k1)} and ${dimText(k2)} differ`);
  }
  const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
  const out: Dim[] = [...batch];
  if (as.length !== 1) out.push(a[a.length - 2]!);
  if (bs.length !== 1) out.push(b[b.length - 1]!);
  return out;
}

/** Batched matrix product of numpy semantics; f64 accumulation (bigint for 64-bit ints). */
export function matmul(A: Tensor, B: Tensor): Tensor {
  const { M, K, N, batch, abatch, bbatch, outShape } = matmulShapes(A.shape, B.shape, 'runtime');
  const nb = prod(batch);
  const aStr = broadcastStrides(abatch, batch);
  const bStr = broadcastStrides(bbatch, batch);
  const bst = stridesOf(batch);
  const aOff = new Array<number>(nb);
  const bOff = new Array<number>(nb);
  for (let i = 0; i < nb; i++) {
    let r = i;
    let ao = 0;
    let bo = 0;
    for (let d = 0; d < batch.length; d++) {
      const c = Math.floor(r / bst[d]!);
      r -= c * bst[d]!;
      ao += c * aStr[d]!;
      bo += c * bStr[d]!;
    }
    aOff[i] = ao * M * K;
    bOff[i] = bo * K * N;
  }
  if (isBig(A.dtype)) {
    const out = Tensor.zeros(A.dtype, outShape);
    const ad = A.data as BigArray;
    const bd = B.data as BigArray;
    const od = out.data as BigArray;
    const row = new Array<bigint>(N);
    for (let bi = 0; bi < nb; bi++) {
      for (let i = 0; i < M; i++) {
        row.fill(0n);
        for (let k = 0; k < K; k++) {
          const av = ad[aOff[bi]! + i * K + k]!;
          if (av === 0n) continue;
          const bb = bOff[bi]! + k * N;
          for (let j = 0; j < N; j++) row[j] = row[j]! + av * bd[bb + j]!;
        }
        const o = (bi * M + i) * N;
        for (let j = 0; j < N; j++) od[o + j] = row[j]!;
      }
    }
    return out;
  }
  const ad = toF64(A);
  const bd = toF64(B);
  const res = new Float64Array(nb * M * N);
  for (let bi = 0; bi < nb; bi++) {
    const ab = aOff[bi]!;
    const bb0 = bOff[bi]!;
    for (let i = 0; i < M; i++) {
      const o = (bi * M + i) * N;
      for (let k = 0; k < K; k++) {
        const av = ad[ab + i * K + k]!;
        const bb = bb0 + k * N;
        for (let j = 0; j < N; j++) res[o + j] += av * bd[bb + j]!;
      }
    }
  }
  return tensorFromF64(A.dtype, outShape, res);
}

registerOp({
  opType: 'MatMul',
  since: 1,
  infer: matmulInfer,
  interp: (ctx) => [matmul(ctx.tensor(0), ctx.tensor(1))],
});

// ---------------------------------------------------------------- Gemm

function gemmInfer(ctx: InferContext): ValueType[] {
  const a = requireTensorType(ctx, 0);
  const b = requireTensorType(ctx, 1);
  requireNumeric(a);
  const ta = ctx.attrs.int('transA', 0) !== 0;
  const tb = ctx.attrs.int('transB', 0) !== 0;
  if (a.shape === null || b.shape === null) return [tensorType(a.dtype, [null, null])];
  if (a.shape.length !== 2 || b.shape.length !== 2) throw new KilnError('type', 'Gemm operands A and B must be 2-D');
  const M = ta ? a.shape[1]! : a.shape[0]!;
  const K1 = ta ? a.shape[0]! : a.shape[1]!;
  const K2 = tb ? b.shape[1]! : b.shape[0]!;
  const N = tb ? b.shape[0]! : b.shape[1]!;
  unifyDim(K1, K2, 'Gemm inner dimensions');
  const c = optType(ctx, 2);
  if (c && c.shape !== null) {
    if (c.shape.length > 2) throw new KilnError('type', 'Gemm C must have rank <= 2');
    const cs = c.shape;
    const chk = (cd: Dim, od: Dim): void => {
      if (typeof cd === 'number' && cd !== 1 && typeof od === 'number' && cd !== od) {
        throw new KilnError('type', `Gemm C of shape [${cs.map(dimText).join(',')}] does not broadcast to [${dimText(M)},${dimText(N)}]`);
      }
    };
    if (cs.length === 2) {
      chk(cs[0]!, M);
      chk(cs[1]!, N);
    } else if (cs.length === 1) chk(cs[0]!, N);
  }
  return [tensorType(a.dtype, [M, N])];
}

function gemmKernel(ctx: KernelContext): Tensor {
  const A = ctx.tensor(0);
  const B = ctx.tensor(1);
  const C = ctx.optTensor(2);
  const { transA: ta, transB: tb, alpha, beta, M, K, N, c: cStr } = gemmConfig(ctx.attrs, A.shape, B.shape, C ? C.shape : null, 'runtime');
  const ad = toF64(A);
  const bd = toF64(B);
  const res = new Float64Array(M * N);
  // a(i,k) and b(k,j) through strides so transposes need no copy
  const aI = ta ? 1 : K;
  const aK = ta ? M : 1;
  const bK = tb ? 1 : N;
  const bJ = tb ? K : 1;
  for (let i = 0; i < M; i++) {
    const o = i * N;
    for (let k = 0; k < K; k++) {
      const av = ad[i * aI + k * aK]!;
      const bb = k * bK;
      for (let j = 0; j < N; j++) res[o + j] += av * bd[bb + j * bJ]!;
    }
  }
  if (alpha !== 1) for (let i = 0; i < res.length; i++) res[i] *= alpha;
  if (C && cStr) {
    const cd = toF64(C);
    const { rowStride: ci, colStride: cj } = cStr;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) res[i * N + j] += beta * cd[i * ci + j * cj]!;
  }
  return tensorFromF64(A.dtype, [M, N], res);
}

registerOp({ opType: 'Gemm', since: 1, infer: gemmInfer, interp: (ctx) => [gemmKernel(ctx)] });

// ---------------------------------------------------------------- Einsum

function einsumInfer(ctx: InferContext): ValueType[] {
  const eq = ctx.attrs.string('equation');
  const ts = ctx.inputs.map((_, i) => requireTensorType(ctx, i));
  if (ts.length === 0) throw new KilnError('type', 'Einsum needs at least one input');
  requireNumeric(ts[0]!);
  const dt = ts[0]!.dtype;
  for (const t of ts) if (t.dtype !== dt) throw new KilnError('type', `Einsum operands have different element types ${dt} and ${t.dtype}`);
  let plan: EinsumPlan;
  try {
    plan = parseEinsum(eq, ts.map((t) => (t.shape === null ? null : t.shape.length)));
  } catch (e) {
    if (e instanceof KilnError && e.code === 'unsupported') return [tensorType(dt, null)];
    throw e;
  }
  const size = new Map<string, Dim>();
  plan.inputs.forEach((labels, i) => {
    const sh = ts[i]!.shape;
    labels.forEach((l, k) => {
      const d: Dim = sh === null ? null : sh[k]!;
      if (!size.has(l)) size.set(l, d);
      else {
        const cur = size.get(l)!;
        const isEll = /^[0-9]+$/.test(l);
        if (isEll) {
          size.set(l, broadcastDims([cur], [d])[0]!);
        } else size.set(l, unifyDim(cur, d, `Einsum index '${l}'`));
      }
    });
  });
  return [tensorType(dt, plan.output.map((l) => size.get(l) ?? null))];
}

function einsumKernel(ctx: KernelContext): Tensor {
  const eq = ctx.attrs.string('equation');
  const xs = ctx.inputs.map((_, i) => ctx.tensor(i));
  const plan = parseEinsum(eq, xs.map((x) => x.rank));
  const size = new Map<string, number>();
  plan.inputs.forEach((labels, i) => {
    labels.forEach((l, k) => {
      const d = xs[i]!.shape[k]!;
      const cur = size.get(l);
      if (cur === undefined || cur === 1) size.set(l, d);
      else if (d !== cur && !(d === 1 && /^[0-9]+$/.test(l))) {
        throw new KilnError('runtime', `Einsum index '${l}' has sizes ${cur} and ${d}`);
      }
    });
  });
  const rest = [...size.keys()].filter((l) => !plan.output.includes(l));
  const loop = [...plan.output, ...rest];
  const dims = loop.map((l) => size.get(l)!);
  const outShape = plan.output.map((l) => size.get(l)!);
  // strides of each operand per loop label (summed over repeated indices: diagonals)
  const strides = xs.map((x, i) => {
    const st = stridesOf(x.shape);
    const labels = plan.inputs[i]!;
    return loop.map((l) => {
      let s = 0;
      labels.forEach((ll, k) => {
        if (ll === l && x.shape[k] !== 1) s += st[k]!;
      });
      return s;
    });
  });
  const ost = stridesOf(outShape);
  const oStr = loop.map((_, k) => (k < plan.output.length ? ost[k]! : 0));
  const datas = xs.map((x) => toF64(x));
  const res = new Float64Array(prod(outShape));
  const total = prod(dims);
  const nOps = xs.length;
  const counter = new Array<number>(loop.length).fill(0);
  const off = new Array<number>(nOps).fill(0);
  let oo = 0;
  for (let it = 0; it < total; it++) {
    let p = 1;
    for (let q = 0; q < nOps; q++) p *= datas[q]![off[q]!]!;
    res[oo] += p;
    for (let d = loop.length - 1; d >= 0; d--) {
      counter[d]!++;
      for (let q = 0; q < nOps; q++) off[q]! += strides[q]![d]!;
      oo += oStr[d]!;
      if (counter[d]! < dims[d]!) break;
      for (let q = 0; q < nOps; q++) off[q]! -= strides[q]![d]! * dims[d]!;
      oo -= oStr[d]! * dims[d]!;
      counter[d] = 0;
    }
  }
  return tensorFromF64(xs[0]!.dtype, outShape, res);
}

registerOp({ opType: 'Einsum', since: 12, infer: einsumInfer, interp: (ctx) => [einsumKernel(ctx)] });

// ---------------------------------------------------------------- Det

function detInfer(ctx: InferContext): ValueType[] {
  const t = requireTensorType(ctx, 0);
  requireFloat(t);
  if (t.shape === null) return [tensorType(t.dtype, null)];
  const r = t.shape.length;
  if (r < 2) throw new KilnError('type', 'Det input must have rank >= 2');
  unifyDim(t.shape[r - 1]!, t.shape[r - 2]!, 'Det matrices must be square');
  return [tensorType(t.dtype, t.shape.slice(0, -2))];
}

function detKernel(ctx: KernelContext): Tensor {
  const x = ctx.tensor(0);
  const r = x.rank;
  if (r < 2 || x.shape[r - 1] !== x.shape[r - 2]) throw new KilnError('runtime', 'Det input must be a batch of square matrices');
  const n = x.shape[r - 1]!;
  const outShape = x.shape.slice(0, -2);
  const nb = prod(outShape);
  const d = toF64(x);
  const res = new Float64Array(nb);
  const m = new Float64Array(n * n);
  for (let b = 0; b < nb; b++) {
    m.set(d.subarray(b * n * n, (b + 1) * n * n));
    let det = 1;
    for (let c = 0; c < n; c++) {
      let p = c;
      for (let i = c + 1; i < n; i++) if (Math.abs(m[i * n + c]!) > Math.abs(m[p * n + c]!)) p = i;
      const pv = m[p * n + c]!;
      if (pv === 0) {
        det = 0;
        break;
      }
      if (p !== c) {
        for (let j = 0; j < n; j++) {
          const t = m[c * n + j]!;
          m[c * n + j] = m[p * n + j]!;
          m[p * n + j] = t;
        }
        det = -det;
      }
      det *= pv;
      for (let i = c + 1; i < n; i++) {
        const f = m[i * n + c]! / pv;
        if (f === 0) continue;
        for (let j = c; j < n; j++) m[i * n + j] -= f * m[c * n + j]!;
      }
    }
    res[b] = det;
  }
  return tensorFromF64(x.dtype, outShape, res);
}

registerOp({ opType: 'Det', since: 11, infer: detInfer, interp: (ctx) => [detKernel(ctx)] });
