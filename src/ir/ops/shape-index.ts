/** Index-driven data movement: Gather*, Scatter*, TensorScatter, OneHot, Compress, NonZero, Unique, TopK. */
import { KilnError } from '../errors.js';
import { isBig, type BigArray, type NumericArray } from '../dtype.js';
import { Tensor, shapeSize, stridesOf, type Scalar } from '../tensor.js';
import { tensorType, type Dim, type TensorType } from '../types.js';
import { registerOp } from './registry.js';
import { normAxis } from './util.js';
import { arr, cmpScalar, constInts, forEachIndex, normIndex, rtErr, tt, typeErr, unknownDims } from './shape-common.js';

// ---------- Gather ----------

registerOp({
  opType: 'Gather',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const ind = tt(ctx, 1);
    const dt = x?.dtype ?? 'f32';
    if (!x || !x.shape || !ind || !ind.shape) return [tensorType(dt, null)];
    const axis = normAxis(ctx.attrs.int('axis', 0), x.shape.length);
    return [tensorType(dt, [...x.shape.slice(0, axis), ...ind.shape, ...x.shape.slice(axis + 1)])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const ind = ctx.tensor(1);
    const axis = normAxis(ctx.attrs.int('axis', 0), x.rank);
    const idx = ind.toIndexArray();
    const dim = x.shape[axis]!;
    const outer = shapeSize(x.shape.slice(0, axis));
    const inner = shapeSize(x.shape.slice(axis + 1));
    const out = Tensor.zeros(x.dtype, [...x.shape.slice(0, axis), ...ind.shape, ...x.shape.slice(axis + 1)]);
    const src = arr(x);
    const dst = arr(out);
    const norm = idx.map((i) => normIndex(i, dim, 'Gather index'));
    let o = 0;
    for (let a = 0; a < outer; a++) {
      for (const j of norm) {
        const base = (a * dim + j) * inner;
        for (let k = 0; k < inner; k++) dst[o++] = src[base + k]!;
      }
    }
    return [out];
  },
});

registerOp({
  opType: 'GatherElements',
  since: 11,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const ind = tt(ctx, 1);
    return [tensorType(x?.dtype ?? 'f32', ind ? ind.shape : null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const ind = ctx.tensor(1);
    if (ind.rank !== x.rank) throw typeErr('GatherElements data and indices must have the same rank');
    const axis = normAxis(ctx.attrs.int('axis', 0), x.rank);
    const idx = ind.toIndexArray();
    const out = Tensor.zeros(x.dtype, ind.shape);
    const st = stridesOf(x.shape);
    const src = arr(x);
    const dst = arr(out);
    forEachIndex(ind.shape, (o, mi) => {
      let p = 0;
      for (let d = 0; d < mi.length; d++) p += (d === axis ? normIndex(idx[o]!, x.shape[axis]!, 'GatherElements index') : mi[d]!) * st[d]!;
      dst[o] = src[p]!;
    });
    return [out];
  },
});

registerOp({
  opType: 'GatherND',
  since: 11,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const ind = tt(ctx, 1);
    const dt = x?.dtype ?? 'f32';
    const b = ctx.attrs.int('batch_dims', 0);
    if (!x || !x.shape || !ind || !ind.shape) return [tensorType(dt, null)];
    const k = ind.shape[ind.shape.length - 1];
    if (typeof k !== 'number') return [tensorType(dt, null)];
    if (b + k > x.shape.length) throw typeErr('GatherND indices last dim too large');
    return [tensorType(dt, [...ind.shape.slice(0, -1), ...x.shape.slice(b + k)])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const ind = ctx.tensor(1);
    const b = ctx.attrs.int('batch_dims', 0);
    const k = ind.shape[ind.rank - 1]!;
    if (b + k > x.rank) throw typeErr('GatherND indices last dim too large');
    const outShape = [...ind.shape.slice(0, -1), ...x.shape.slice(b + k)];
    const out = Tensor.zeros(x.dtype, outShape);
    const idx = ind.toIndexArray();
    const st = stridesOf(x.shape);
    const slice = shapeSize(x.shape.slice(b + k));
    const tuples = shapeSize(ind.shape.slice(0, -1));
    const perBatch = shapeSize(ind.shape.slice(b, -1));
    const batchStride = shapeSize(x.shape.slice(b));
    const src = arr(x);
    const dst = arr(out);
    for (let t = 0; t < tuples; t++) {
      const batch = perBatch === 0 ? 0 : Math.floor(t / perBatch);
      let p = batch * batchStride;
      for (let j = 0; j < k; j++) p += normIndex(idx[t * k + j]!, x.shape[b + j]!, 'GatherND index') * st[b + j]!;
      for (let s = 0; s < slice; s++) dst[t * slice + s] = src[p + s]!;
    }
    return [out];
  },
});

// ---------- Scatter family ----------

type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';

function reductionOf(s: string): Reduction {
  if (s === 'none' || s === 'add' || s === 'mul' || s === 'max' || s === 'min') return s;
  throw new KilnError('unsupported', `unsupported scatter reduction ${s}`);
}

/** Returns a function applying `reduction` of update element u into out[p]. */
function combiner(out: Tensor, upd: Tensor, red: Reduction): (p: number, u: number) => void {
  const dst = arr(out);
  const src = arr(upd);
  if (red === 'none') return (p, u) => (dst[p] = src[u]!);
  if (out.dtype === 'string') throw new KilnError('unsupported', `scatter reduction ${red} on strings`);
  if (isBig(out.dtype)) {
    const D = out.data as BigArray;
    const S = upd.data as BigArray;
    const f = { add: (a: bigint, b: bigint) => a + b, mul: (a: bigint, b: bigint) => a * b, max: (a: bigint, b: bigint) => (a > b ? a : b), min: (a: bigint, b: bigint) => (a < b ? a : b) }[red];
    return (p, u) => (D[p] = f(D[p]!, S[u]!));
  }
  const D = out.data as NumericArray;
  const S = upd.data as NumericArray;
  const f = { add: (a: number, b: number) => a + b, mul: (a: number, b: number) => a * b, max: (a: number, b: number) => Math.max(a, b), min: (a: number, b: number) => Math.min(a, b) }[red];
  return (p, u) => out.setScalar(p, f(D[p]!, S[u]!));
}

function copyTensor(x: Tensor): Tensor {
  const out = Tensor.zeros(x.dtype, x.shape);
  const s = arr(x);
  const d = arr(out);
  for (let i = 0; i < x.size; i++) d[i] = s[i]!;
  return out;
}

function scatterElements(x: Tensor, ind: Tensor, upd: Tensor, axisIn: number, red: Reduction): Tensor {
  if (ind.rank !== x.rank || upd.rank !== x.rank) throw typeErr('ScatterElements inputs must have the same rank');
  const axis = normAxis(axisIn, x.rank);
  const out = copyTensor(x);
  const idx = ind.toIndexArray();
  const st = stridesOf(x.shape);
  const apply = combiner(out, upd, red);
  const ust = stridesOf(upd.shape);
  forEachIndex(ind.shape, (o, mi) => {
    let p = 0;
    let u = 0;
    for (let d = 0; d < mi.length; d++) {
      p += (d === axis ? normIndex(idx[o]!, x.shape[axis]!, 'scatter index') : mi[d]!) * st[d]!;
      u += mi[d]! * ust[d]!;
    }
    apply(p, u);
  });
  return out;
}

const sameAsData = (ctx: Parameters<typeof tt>[0]): TensorType[] => {
  const x = tt(ctx, 0);
  return [tensorType(x?.dtype ?? 'f32', x ? x.shape : null)];
};

registerOp({
  opType: 'Scatter',
  since: 9,
  until: 10,
  infer: sameAsData,
  interp: (ctx) => [scatterElements(ctx.tensor(0), ctx.tensor(1), ctx.tensor(2), ctx.attrs.int('axis', 0), 'none')],
});

registerOp({
  opType: 'ScatterElements',
  since: 11,
  infer: sameAsData,
  interp: (ctx) => [scatterElements(ctx.tensor(0), ctx.tensor(1), ctx.tensor(2), ctx.attrs.int('axis', 0), reductionOf(ctx.attrs.string('reduction', 'none')))],
});

registerOp({
  opType: 'ScatterND',
  since: 11,
  infer: sameAsData,
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const ind = ctx.tensor(1);
    const upd = ctx.tensor(2);
    const red = reductionOf(ctx.attrs.string('reduction', 'none'));
    const k = ind.shape[ind.rank - 1]!;
    if (k > x.rank) throw typeErr('ScatterND indices last dim too large');
    const out = copyTensor(x);
    const idx = ind.toIndexArray();
    const st = stridesOf(x.shape);
    const slice = shapeSize(x.shape.slice(k));
    const tuples = shapeSize(ind.shape.slice(0, -1));
    if (upd.size !== tuples * slice) throw typeErr('ScatterND updates shape does not match');
    const apply = combiner(out, upd, red);
    for (let t = 0; t < tuples; t++) {
      let p = 0;
      for (let j = 0; j < k; j++) p += normIndex(idx[t * k + j]!, x.shape[j]!, 'ScatterND index') * st[j]!;
      for (let s = 0; s < slice; s++) apply(p + s, t * slice + s);
    }
    return [out];
  },
});

registerOp({
  opType: 'TensorScatter',
  since: 24,
  infer: sameAsData,
  interp: (ctx) => {
    const cache = ctx.tensor(0);
    const upd = ctx.tensor(1);
    const wi = ctx.optTensor(2);
    const axis = normAxis(ctx.attrs.int('axis', -2), cache.rank);
    if (axis === 0) throw typeErr('TensorScatter axis cannot be the batch axis');
    const mode = ctx.attrs.string('mode', 'linear');
    if (mode !== 'linear' && mode !== 'circular') throw new KilnError('unsupported', `unsupported TensorScatter mode ${mode}`);
    if (upd.rank !== cache.rank) throw typeErr('TensorScatter update rank differs from the cache');
    const writes = wi ? wi.toIndexArray() : new Array<number>(cache.shape[0]!).fill(0);
    const maxLen = cache.shape[axis]!;
    const out = copyTensor(cache);
    const st = stridesOf(cache.shape);
    const dst = arr(out);
    const src = arr(upd);
    forEachIndex(upd.shape, (o, mi) => {
      let p = 0;
      for (let d = 0; d < mi.length; d++) {
        let c = mi[d]!;
        if (d === axis) {
          c = writes[mi[0]!]! + c;
          if (mode === 'circular') c = ((c % maxLen) + maxLen) % maxLen;
          else if (c < 0 || c >= maxLen) throw rtErr(`TensorScatter write index ${c} out of range`);
        }
        p += c * st[d]!;
      }
      dst[p] = src[o]!;
    });
    return [out];
  },
});

// ---------- OneHot ----------

registerOp({
  opType: 'OneHot',
  since: 9,
  infer: (ctx) => {
    const ind = tt(ctx, 0);
    const vals = tt(ctx, 2);
    const dt = vals?.dtype ?? 'f32';
    if (!ind || !ind.shape) return [tensorType(dt, null)];
    const r = ind.shape.length + 1;
    const axis = normAxis(ctx.attrs.int('axis', -1), r);
    const dc = ctx.constInput(1);
    const depth: Dim = dc ? Math.floor(dc.num(0)) : null;
    const out: Dim[] = [...ind.shape];
    out.splice(axis, 0, depth);
    return [tensorType(dt, out)];
  },
  interp: (ctx) => {
    const ind = ctx.tensor(0);
    const depth = Math.floor(ctx.tensor(1).num(0));
    const vals = ctx.tensor(2);
    if (vals.size !== 2) throw typeErr('OneHot values must have two elements');
    const r = ind.rank + 1;
    const axis = normAxis(ctx.attrs.int('axis', -1), r);
    const outShape = [...ind.shape];
    outShape.splice(axis, 0, depth);
    const out = Tensor.zeros(vals.dtype, outShape);
    const dst = arr(out);
    const off = vals.data[0]!;
    const on = vals.data[1]!;
    for (let i = 0; i < out.size; i++) dst[i] = off;
    const outer = shapeSize(ind.shape.slice(0, axis));
    const inner = shapeSize(ind.shape.slice(axis));
    const idx = ind.toNumbers();
    for (let i = 0; i < idx.length; i++) {
      let v = Math.trunc(idx[i]!);
      if (v < 0) v += depth;
      if (v < 0 || v >= depth) continue;
      const a = Math.floor(i / inner);
      const b = i % inner;
      if (a >= outer) continue;
      dst[(a * depth + v) * inner + b] = on;
    }
    return [out];
  },
});

// ---------- Compress ----------

registerOp({
  opType: 'Compress',
  since: 9,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    const ax = ctx.attrs.optInt('axis');
    if (ax === undefined || !x || !x.shape) return [tensorType(dt, ax === undefined ? [null] : x?.shape ? unknownDims(x.shape.length) : null)];
    const a = normAxis(ax, x.shape.length);
    const out: Dim[] = [...x.shape];
    const c = ctx.constInput(1);
    out[a] = c ? countTrue(c, typeof x.shape[a] === 'number' ? (x.shape[a] as number) : c.size) : null;
    return [tensorType(dt, out)];
  },
  interp: (ctx) => {
    let x = ctx.tensor(0);
    const cond = ctx.tensor(1);
    const ax = ctx.attrs.optInt('axis');
    if (ax === undefined) x = x.reshape([x.size]);
    const axis = ax === undefined ? 0 : normAxis(ax, x.rank);
    const dim = x.shape[axis]!;
    const keep: number[] = [];
    for (let i = 0; i < Math.min(dim, cond.size); i++) if (cond.num(i) !== 0) keep.push(i);
    const outShape = [...x.shape];
    outShape[axis] = keep.length;
    const out = Tensor.zeros(x.dtype, outShape);
    const outer = shapeSize(x.shape.slice(0, axis));
    const inner = shapeSize(x.shape.slice(axis + 1));
    const src = arr(x);
    const dst = arr(out);
    let o = 0;
    for (let a = 0; a < outer; a++) {
      for (const j of keep) {
        const base = (a * dim + j) * inner;
        for (let k = 0; k < inner; k++) dst[o++] = src[base + k]!;
      }
    }
    return [out];
  },
});

function countTrue(c: Tensor, limit: number): number {
  let n = 0;
  for (let i = 0; i < Math.min(limit, c.size); i++) if (c.num(i) !== 0) n++;
  return n;
}

// ---------- NonZero ----------

registerOp({
  opType: 'NonZero',
  since: 9,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    return [tensorType('i64', [x && x.shape ? x.shape.length : null, null])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const hits: number[] = [];
    const src = arr(x);
    for (let i = 0; i < x.size; i++) {
      const v = src[i]!;
      if (typeof v === 'string' ? v !== '' : typeof v === 'bigint' ? v !== 0n : v !== 0) hits.push(i);
    }
    const r = x.rank;
    const out = Tensor.zeros('i64', [r, hits.length]);
    const d = out.data as BigInt64Array;
    const st = stridesOf(x.shape);
    hits.forEach((flat, j) => {
      let rem = flat;
      for (let k = 0; k < r; k++) {
        const q = Math.floor(rem / st[k]!);
        rem -= q * st[k]!;
        d[k * hits.length + j] = BigInt(q);
      }
    });
    return [out];
  },
});

// ---------- Unique ----------

function i64(values: readonly number[], shape?: number[]): Tensor {
  return Tensor.from('i64', shape ?? [values.length], values.map((v) => BigInt(v)));
}

registerOp({
  opType: 'Unique',
  since: 11,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    const ax = ctx.attrs.optInt('axis');
    let y: TensorType;
    let n: Dim = null;
    if (ax === undefined) {
      y = tensorType(dt, [null]);
      if (x && x.shape && x.shape.every((d) => typeof d === 'number')) n = shapeSize(x.shape as number[]);
    } else if (x && x.shape) {
      const a = normAxis(ax, x.shape.length);
      y = tensorType(dt, x.shape.map((d, i) => (i === a ? null : d)));
      n = x.shape[a]!;
    } else y = tensorType(dt, null);
    return [y, tensorType('i64', [null]), tensorType('i64', [n]), tensorType('i64', [null])];
  },
  interp: (ctx) => {
    const x0 = ctx.tensor(0);
    const ax = ctx.attrs.optInt('axis');
    const sorted = ctx.attrs.int('sorted', 1) !== 0;
    const x = ax === undefined ? x0.reshape([x0.size]) : x0;
    const axis = ax === undefined ? 0 : normAxis(ax, x.rank);
    const dim = x.shape[axis]!;
    const outer = shapeSize(x.shape.slice(0, axis));
    const inner = shapeSize(x.shape.slice(axis + 1));
    const src = arr(x);
    // slice j's elements, in row-major order over (outer, inner)
    const sliceOf = (j: number): Scalar[] => {
      const s: Scalar[] = [];
      for (let a = 0; a < outer; a++) for (let k = 0; k < inner; k++) s.push(src[(a * dim + j) * inner + k]!);
      return s;
    };
    const slices = Array.from({ length: dim }, (_, j) => sliceOf(j));
    const keyOf = (s: Scalar[]): string => s.map((v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : typeof v === 'string' ? JSON.stringify(v) : String(v))).join('|');
    const firstIdx = new Map<string, number>();
    const order: number[] = [];
    const counts = new Map<string, number>();
    for (let j = 0; j < dim; j++) {
      const k = keyOf(slices[j]!);
      if (!firstIdx.has(k)) {
        firstIdx.set(k, j);
        order.push(j);
        counts.set(k, 0);
      }
      counts.set(k, counts.get(k)! + 1);
    }
    if (sorted) {
      order.sort((p, q) => {
        const a = slices[p]!;
        const b = slices[q]!;
        for (let i = 0; i < a.length; i++) {
          const c = cmpScalar(a[i]!, b[i]!);
          if (c !== 0) return c;
        }
        return 0;
      });
    }
    const pos = new Map<string, number>();
    order.forEach((j, i) => pos.set(keyOf(slices[j]!), i));
    const yShape = [...x.shape];
    yShape[axis] = order.length;
    const y = Tensor.zeros(x.dtype, yShape);
    const dst = arr(y);
    order.forEach((j, i) => {
      const s = slices[j]!;
      let t = 0;
      for (let a = 0; a < outer; a++) for (let k = 0; k < inner; k++) dst[(a * order.length + i) * inner + k] = s[t++]!;
    });
    const inverse = slices.map((s) => pos.get(keyOf(s))!);
    const cnt = order.map((j) => counts.get(keyOf(slices[j]!))!);
    return [y, i64(order), i64(inverse), i64(cnt)];
  },
});

// ---------- TopK ----------

registerOp({
  opType: 'TopK',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    if (!x || !x.shape) return [tensorType(dt, null), tensorType('i64', null)];
    const axis = normAxis(ctx.attrs.int('axis', -1), x.shape.length);
    let k: Dim = null;
    if (ctx.opset < 10) k = ctx.attrs.int('k');
    else {
      const c = constInts(ctx, 1);
      if (c) k = c[0]!;
    }
    const out = x.shape.map((d, i) => (i === axis ? k : d));
    return [tensorType(dt, out), tensorType('i64', out)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const axis = normAxis(ctx.attrs.int('axis', -1), x.rank);
    const k = ctx.opset < 10 ? ctx.attrs.int('k') : ctx.tensor(1).toIndexArray()[0]!;
    const largest = ctx.attrs.int('largest', 1) !== 0;
    const sorted = ctx.attrs.int('sorted', 1) !== 0;
    const dim = x.shape[axis]!;
    if (k < 0 || k > dim) throw rtErr(`TopK k=${k} is out of range for dimension ${dim}`);
    const outShape = x.shape.map((d, i) => (i === axis ? k : d));
    const vals = Tensor.zeros(x.dtype, outShape);
    const inds = Tensor.zeros('i64', outShape);
    const outer = shapeSize(x.shape.slice(0, axis));
    const inner = shapeSize(x.shape.slice(axis + 1));
    const src = arr(x);
    const vd = arr(vals);
    const id = inds.data as BigInt64Array;
    const cand = new Array<number>(dim);
    for (let a = 0; a < outer; a++) {
      for (let b = 0; b < inner; b++) {
        const at = (j: number): number => (a * dim + j) * inner + b;
        for (let j = 0; j < dim; j++) cand[j] = j;
        cand.sort((p, q) => {
          const c = cmpScalar(src[at(p)]!, src[at(q)]!);
          const r = largest ? -c : c;
          return r !== 0 ? r : p - q;
        });
        const chosen = cand.slice(0, k);
        if (!sorted) chosen.sort((p, q) => p - q);
        chosen.forEach((j, t) => {
          const o = (a * k + t) * inner + b;
          vd[o] = src[at(j)]!;
          id[o] = BigInt(j);
        });
      }
    }
    return [vals, inds];
  },
});
