/** Shape-manipulating data-movement ops: Shape, Size, Reshape, Flatten, (Un)Squeeze, Transpose, Concat, Split, Slice, Expand, Tile, Pad. */
import { KilnError } from '../errors.js';
import { Tensor, shapeSize, stridesOf } from '../tensor.js';
import { tensorType, type Dim, type TensorType } from '../types.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { broadcastDims, broadcastShapes, normAxis } from './util.js';
import { arr, constInts, forEachIndex, rtErr, transposeTensor, tt, typeErr, unknownDims } from './shape-common.js';
import { castTensor } from './shape-cast.js';

// ---------- Shape / Size ----------

/** The dims Shape returns; `start`/`end` exist from opset 15 on (the folder uses the same rule). */
function shapeRange(rank: number, start: number, end: number | undefined): [number, number] {
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const s = clamp(start);
  const e = end === undefined ? rank : clamp(end);
  return [s, Math.max(s, e)];
}

registerOp({
  opType: 'Shape',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    if (!x || x.shape === null) return [tensorType('i64', [null])];
    const [s, e] = ctx.opset >= 15 ? shapeRange(x.shape.length, ctx.attrs.int('start', 0), ctx.attrs.optInt('end')) : [0, x.shape.length];
    return [tensorType('i64', [e - s])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const [s, e] = ctx.opset >= 15 ? shapeRange(x.rank, ctx.attrs.int('start', 0), ctx.attrs.optInt('end')) : [0, x.rank];
    const dims = x.shape.slice(s, e);
    return [Tensor.from('i64', [dims.length], dims.map((d) => BigInt(d)))];
  },
});

registerOp({
  opType: 'Size',
  since: 1,
  infer: () => [tensorType('i64', [])],
  interp: (ctx) => [Tensor.scalar('i64', BigInt(ctx.tensor(0).size))],
});

// ---------- Reshape ----------

function reshapeDims(inDims: readonly Dim[] | null, shape: readonly number[], allowzero: boolean): Dim[] {
  const out: Dim[] = [];
  let neg = -1;
  for (let i = 0; i < shape.length; i++) {
    const s = shape[i]!;
    if (s === -1) {
      if (neg >= 0) throw typeErr('Reshape shape has more than one -1');
      neg = i;
      out.push(null);
    } else if (s === 0 && !allowzero) {
      if (inDims === null) out.push(null);
      else {
        if (i >= inDims.length) throw typeErr(`Reshape shape copies dim ${i} that the input (rank ${inDims.length}) lacks`);
        out.push(inDims[i]!);
      }
    } else if (s < -1) throw typeErr(`Reshape shape has invalid dim ${s}`);
    else out.push(s);
  }
  if (allowzero && neg >= 0 && shape.includes(0)) throw typeErr('Reshape with allowzero cannot have both 0 and -1');
  if (neg >= 0 && inDims !== null && inDims.every((d) => typeof d === 'number')) {
    const total = shapeSize(inDims as number[]);
    let known = 1;
    let ok = true;
    for (let i = 0; i < out.length; i++) if (i !== neg) {
      const d = out[i];
      if (typeof d === 'number') known *= d;
      else ok = false;
    }
    if (ok) {
      if (known === 0 ? total !== 0 : total % known !== 0) throw typeErr(`cannot reshape [${inDims.join(',')}] to [${shape.join(',')}]`);
      out[neg] = known === 0 ? 0 : total / known;
    }
  }
  if (inDims !== null && neg < 0 && out.every((d) => typeof d === 'number') && inDims.every((d) => typeof d === 'number')) {
    if (shapeSize(out as number[]) !== shapeSize(inDims as number[])) throw typeErr(`cannot reshape [${inDims.join(',')}] to [${shape.join(',')}]`);
  }
  return out;
}

function reshapeShapeInput(ctx: InferContext): number[] | null {
  if (ctx.opset < 5) return ctx.attrs.optInts('shape') ? [...ctx.attrs.ints('shape')] : null;
  return constInts(ctx, 1);
}

registerOp({
  opType: 'Reshape',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    const shape = reshapeShapeInput(ctx);
    const allowzero = ctx.attrs.int('allowzero', 0) !== 0;
    if (shape) return [tensorType(dt, reshapeDims(x ? x.shape : null, shape, allowzero))];
    const st = ctx.opset >= 5 ? tt(ctx, 1) : null;
    if (st && st.shape && st.shape.length === 1 && typeof st.shape[0] === 'number') return [tensorType(dt, unknownDims(st.shape[0]))];
    return [tensorType(dt, null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const shape = ctx.opset < 5 ? [...ctx.attrs.ints('shape')] : ctx.tensor(1).toIndexArray();
    const dims = reshapeDims(x.shape, shape, ctx.attrs.int('allowzero', 0) !== 0) as number[];
    if (shapeSize(dims) !== x.size) throw rtErr(`cannot reshape [${x.shape.join(',')}] to [${shape.join(',')}]`);
    return [x.reshape(dims)];
  },
});

// ---------- Flatten ----------

function prodDims(ds: readonly Dim[]): Dim {
  let p = 1;
  for (const d of ds) {
    if (typeof d !== 'number') return d === null || ds.length !== 1 ? null : d;
    p *= d;
  }
  return p;
}

registerOp({
  opType: 'Flatten',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    if (!x || x.shape === null) return [tensorType(x?.dtype ?? 'f32', [null, null])];
    const r = x.shape.length;
    let axis = ctx.attrs.int('axis', 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) throw typeErr(`Flatten axis ${axis} out of range for rank ${r}`);
    return [tensorType(x.dtype, [prodDims(x.shape.slice(0, axis)), prodDims(x.shape.slice(axis))])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    let axis = ctx.attrs.int('axis', 1);
    if (axis < 0) axis += x.rank;
    if (axis < 0 || axis > x.rank) throw typeErr(`Flatten axis out of range`);
    return [x.reshape([shapeSize(x.shape.slice(0, axis)), shapeSize(x.shape.slice(axis))])];
  },
});

// ---------- Squeeze / Unsqueeze ----------

function axesOf(ctx: InferContext | KernelContext, inputIdx: number): number[] | null | 'unknown' {
  if (ctx.opset < 13) {
    const a = ctx.attrs.optInts('axes');
    return a ? [...a] : null;
  }
  if ('constInput' in ctx) {
    if (!ctx.hasInput(inputIdx)) return null;
    const c = constInts(ctx, inputIdx);
    return c ?? 'unknown';
  }
  const t = ctx.optTensor(inputIdx);
  return t ? t.toIndexArray() : null;
}

function squeezeDims(dims: readonly Dim[], axes: number[] | null): Dim[] | null {
  if (axes === null) {
    if (dims.some((d) => typeof d !== 'number')) return null;
    return dims.filter((d) => d !== 1);
  }
  const set = new Set(axes.map((a) => normAxis(a, dims.length)));
  for (const a of set) {
    const d = dims[a];
    if (typeof d === 'number' && d !== 1) throw typeErr(`cannot squeeze axis ${a} of size ${d}`);
  }
  return dims.filter((_, i) => !set.has(i));
}

registerOp({
  opType: 'Squeeze',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    const axes = axesOf(ctx, 1);
    if (!x || x.shape === null) return [tensorType(dt, null)];
    if (axes === 'unknown') {
      const st = tt(ctx, 1);
      const k = st?.shape?.[0];
      return [tensorType(dt, typeof k === 'number' ? unknownDims(x.shape.length - k) : null)];
    }
    return [tensorType(dt, squeezeDims(x.shape, axes))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const axes = axesOf(ctx, 1) as number[] | null;
    return [x.reshape(squeezeDims(x.shape, axes) as number[])];
  },
});

function unsqueezeDims(dims: readonly Dim[], axes: number[]): Dim[] {
  const r = dims.length + axes.length;
  const set = new Set<number>();
  for (const a of axes) {
    const n = normAxis(a, r);
    if (set.has(n)) throw typeErr(`Unsqueeze axes repeat ${a}`);
    set.add(n);
  }
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < r; i++) out.push(set.has(i) ? 1 : dims[j++]!);
  return out;
}

registerOp({
  opType: 'Unsqueeze',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    const axes = axesOf(ctx, 1);
    if (axes === null) throw typeErr('Unsqueeze needs axes');
    if (!x || x.shape === null) return [tensorType(dt, null)];
    if (axes === 'unknown') {
      const st = tt(ctx, 1);
      const k = st?.shape?.[0];
      return [tensorType(dt, typeof k === 'number' ? unknownDims(x.shape.length + k) : null)];
    }
    return [tensorType(dt, unsqueezeDims(x.shape, axes))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const axes = axesOf(ctx, 1);
    if (axes === null || axes === 'unknown') throw typeErr('Unsqueeze needs axes');
    return [x.reshape(unsqueezeDims(x.shape, axes) as number[])];
  },
});

// ---------- Transpose ----------

function permOf(attrs: { optInts(n: string): readonly number[] | undefined }, rank: number): number[] {
  const p = attrs.optInts('perm');
  if (!p) return Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (p.length !== rank) throw typeErr(`Transpose perm has ${p.length} entries for rank ${rank}`);
  const perm = p.map((a) => normAxis(a, rank));
  if (new Set(perm).size !== rank) throw typeErr('Transpose perm is not a permutation');
  return perm;
}

registerOp({
  opType: 'Transpose',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    if (!x || x.shape === null) return [tensorType(x?.dtype ?? 'f32', null)];
    const perm = permOf(ctx.attrs, x.shape.length);
    return [tensorType(x.dtype, perm.map((p) => x.shape![p]!))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    return [transposeTensor(x, permOf(ctx.attrs, x.rank))];
  },
});

// ---------- Concat ----------

export function concatTensors(ts: readonly Tensor[], axisIn: number): Tensor {
  if (ts.length === 0) throw rtErr('Concat needs at least one input');
  const rank = ts[0]!.rank;
  const axis = normAxis(axisIn, rank);
  const outShape = [...ts[0]!.shape];
  let total = 0;
  for (const t of ts) {
    if (t.rank !== rank) throw rtErr('Concat inputs have different ranks');
    if (t.dtype !== ts[0]!.dtype) throw rtErr('Concat inputs have different element types');
    for (let d = 0; d < rank; d++) if (d !== axis && t.shape[d] !== outShape[d]) throw rtErr(`Concat inputs disagree on dim ${d}`);
    total += t.shape[axis]!;
  }
  outShape[axis] = total;
  const out = Tensor.zeros(ts[0]!.dtype, outShape);
  const outer = shapeSize(outShape.slice(0, axis));
  const inner = shapeSize(outShape.slice(axis + 1));
  const dst = arr(out);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const t of ts) {
      const chunk = t.shape[axis]! * inner;
      const src = arr(t);
      const base = a * chunk;
      for (let k = 0; k < chunk; k++) dst[o++] = src[base + k]!;
    }
  }
  return out;
}

registerOp({
  opType: 'Concat',
  since: 1,
  infer: (ctx) => {
    const all = ctx.inputs.map((_, i) => tt(ctx, i));
    const ts = all.filter((t): t is TensorType => t !== null);
    if (ts.length === 0) return [tensorType('f32', null)];
    const anyUnknown = ts.length !== all.length;
    const dt = ts[0]!.dtype;
    for (const t of ts) if (t.dtype !== dt) throw typeErr(`Concat inputs have element types ${dt} and ${t.dtype}`);
    const known = ts.filter((t) => t.shape !== null);
    if (known.length === 0) return [tensorType(dt, null)];
    const rank = known[0]!.shape!.length;
    const axis = normAxis(ctx.attrs.int('axis', ctx.opset < 4 ? 1 : undefined), rank);
    const out: Dim[] = [...known[0]!.shape!];
    for (const t of known) {
      if (t.shape!.length !== rank) throw typeErr('Concat inputs have different ranks');
      for (let d = 0; d < rank; d++) {
        if (d === axis) continue;
        const a = out[d]!;
        const b = t.shape![d]!;
        if (typeof a === 'number' && typeof b === 'number' && a !== b) throw typeErr(`Concat inputs disagree on dim ${d}: ${a} vs ${b}`);
        if (typeof a !== 'number' && typeof b === 'number') out[d] = b;
      }
    }
    if (known.length !== ts.length || anyUnknown) out[axis] = null;
    else {
      let s = 0;
      for (const t of known) {
        const d = t.shape![axis];
        if (typeof d !== 'number') {
          s = -1;
          break;
        }
        s += d;
      }
      out[axis] = s < 0 ? null : s;
    }
    return [tensorType(dt, out)];
  },
  interp: (ctx) => {
    const ts = ctx.inputs.map((_, i) => ctx.tensor(i));
    return [concatTensors(ts, ctx.attrs.int('axis', ctx.opset < 4 ? 1 : undefined))];
  },
});

// ---------- Split ----------

function splitSizes(dim: number, count: number, split: number[] | null, numOutputs: number | undefined): number[] {
  if (split) {
    if (split.some((d) => !Number.isInteger(d) || d < 0)) throw typeErr(`Split sizes [${split.join(',')}] must be non-negative integers`);
    if (split.length !== count) throw typeErr(`Split has ${split.length} sizes for ${count} outputs`);
    if (split.reduce((a, b) => a + b, 0) !== dim) throw typeErr(`Split sizes [${split.join(',')}] do not add up to ${dim}`);
    return split;
  }
  if (numOutputs !== undefined) {
    // the attribute must agree with the node's outputs (checked before anything is sized by it)
    if (numOutputs !== count) throw typeErr(`Split num_outputs = ${numOutputs} but the node has ${count} outputs`);
    const chunk = Math.ceil(dim / numOutputs);
    const out: number[] = [];
    let left = dim;
    for (let i = 0; i < numOutputs; i++) {
      const c = Math.max(0, Math.min(chunk, left));
      out.push(c);
      left -= c;
    }
    return out;
  }
  if (dim % count !== 0) throw typeErr(`Split cannot divide ${dim} into ${count} equal parts`);
  return new Array<number>(count).fill(dim / count);
}

registerOp({
  opType: 'Split',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    const n = ctx.outputCount;
    if (!x || x.shape === null) return new Array(n).fill(null).map(() => tensorType(dt, null));
    const axis = normAxis(ctx.attrs.int('axis', 0), x.shape.length);
    let split: number[] | null = null;
    let unknown = false;
    if (ctx.hasInput(1)) {
      split = constInts(ctx, 1);
      if (!split) unknown = true;
      else if (split.length === 0) split = null;
    } else if (ctx.attrs.optInts('split')) split = [...ctx.attrs.ints('split')];
    const dim = x.shape[axis]!;
    const mk = (d: Dim): TensorType => tensorType(dt, x.shape!.map((v, i) => (i === axis ? d : v)));
    if (unknown || (typeof dim !== 'number' && !split)) return new Array(n).fill(null).map(() => mk(null));
    if (typeof dim !== 'number') return split!.map((s) => mk(s));
    return splitSizes(dim, n, split, ctx.attrs.optInt('num_outputs')).map((s) => mk(s));
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const axis = normAxis(ctx.attrs.int('axis', 0), x.rank);
    const st = ctx.optTensor(1);
    const split = st && st.size > 0 ? st.toIndexArray() : ctx.attrs.optInts('split') ? [...ctx.attrs.ints('split')] : null;
    const sizes = splitSizes(x.shape[axis]!, ctx.outputCount, split, ctx.attrs.optInt('num_outputs'));
    const outs: Tensor[] = [];
    let start = 0;
    for (const s of sizes) {
      outs.push(sliceTensor(x, [start], [start + s], [axis], [1]));
      start += s;
    }
    return outs;
  },
});

// ---------- Slice ----------

interface SliceDim {
  start: number;
  step: number;
  len: number;
}

function sliceDim(d: number, start: number, end: number, step: number): SliceDim {
  if (step === 0) throw typeErr('Slice step cannot be 0');
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), d);
    e = Math.min(Math.max(e, 0), d);
    return { start: s, step, len: Math.max(0, Math.ceil((e - s) / step)) };
  }
  s = Math.min(Math.max(s, 0), d - 1);
  e = Math.min(Math.max(e, -1), d - 1);
  return { start: s, step, len: Math.max(0, Math.ceil((s - e) / -step)) };
}

export function sliceTensor(x: Tensor, starts: readonly number[], ends: readonly number[], axesIn: readonly number[] | null, stepsIn: readonly number[] | null): Tensor {
  const rank = x.rank;
  const axes = axesIn ?? starts.map((_, i) => i);
  const steps = stepsIn ?? starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) throw typeErr('Slice starts/ends/axes/steps lengths differ');
  const dims: SliceDim[] = x.shape.map((d) => ({ start: 0, step: 1, len: d }));
  const seen = new Set<number>();
  for (let i = 0; i < axes.length; i++) {
    const a = normAxis(axes[i]!, rank);
    if (seen.has(a)) throw typeErr('Slice axes repeat');
    seen.add(a);
    dims[a] = sliceDim(x.shape[a]!, starts[i]!, ends[i]!, steps[i]!);
  }
  const outShape = dims.map((d) => d.len);
  const out = Tensor.zeros(x.dtype, outShape);
  const st = stridesOf(x.shape);
  const src = arr(x);
  const dst = arr(out);
  let base = 0;
  for (let d = 0; d < rank; d++) base += dims[d]!.start * st[d]!;
  const eff = dims.map((d, i) => d.step * st[i]!);
  const n = out.size;
  const counter = new Array<number>(rank).fill(0);
  let off = base;
  for (let o = 0; o < n; o++) {
    dst[o] = src[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      off += eff[d]!;
      if (counter[d]! < outShape[d]!) break;
      off -= eff[d]! * outShape[d]!;
      counter[d] = 0;
    }
  }
  return out;
}

registerOp({
  opType: 'Slice',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    if (!x || x.shape === null) return [tensorType(dt, null)];
    const rank = x.shape.length;
    let starts: number[] | null;
    let ends: number[] | null;
    let axes: number[] | null;
    let steps: number[] | null;
    if (ctx.opset < 10) {
      starts = [...ctx.attrs.ints('starts')];
      ends = [...ctx.attrs.ints('ends')];
      axes = ctx.attrs.optInts('axes') ? [...ctx.attrs.ints('axes')] : starts.map((_, i) => i);
      steps = starts.map(() => 1);
    } else {
      // starts/ends/axes/steps: one entry per sliced axis, each axis at most once
      const lens = [1, 2, 3, 4].flatMap((i) => {
        const t = ctx.hasInput(i) ? tt(ctx, i) : null;
        const n = t?.shape?.length === 1 ? t.shape[0] : null;
        return typeof n === 'number' ? [n] : [];
      });
      if (lens.some((n) => n > rank)) throw typeErr(`Slice has ${Math.max(...lens)} starts/ends/axes/steps for an input of rank ${rank}`);
      if (lens.some((n) => n !== lens[0])) throw typeErr(`Slice starts/ends/axes/steps lengths differ (${lens.join(', ')})`);
      starts = constInts(ctx, 1);
      ends = constInts(ctx, 2);
      axes = ctx.hasInput(3) ? constInts(ctx, 3) : null;
      steps = ctx.hasInput(4) ? constInts(ctx, 4) : null;
      if (axes === null && !ctx.hasInput(3) && starts) axes = starts.map((_, i) => i);
      if (steps === null && !ctx.hasInput(4) && starts) steps = starts.map(() => 1);
    }
    if (!axes) return [tensorType(dt, unknownDims(rank))];
    const out: Dim[] = [...x.shape];
    const normAxes = axes.map((a) => normAxis(a, rank));
    if (!starts || !ends || !steps) {
      for (const a of normAxes) out[a] = null;
      return [tensorType(dt, out)];
    }
    for (let i = 0; i < normAxes.length; i++) {
      const a = normAxes[i]!;
      const d = x.shape[a]!;
      if (typeof d !== 'number') out[a] = starts[i] === 0 && steps[i] === 1 && ends[i]! >= 2 ** 31 - 1 ? d : null;
      else out[a] = sliceDim(d, starts[i]!, ends[i]!, steps[i]!).len;
    }
    return [tensorType(dt, out)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    if (ctx.opset < 10) {
      const starts = [...ctx.attrs.ints('starts')];
      const ends = [...ctx.attrs.ints('ends')];
      const axes = ctx.attrs.optInts('axes') ? [...ctx.attrs.ints('axes')] : null;
      return [sliceTensor(x, starts, ends, axes, null)];
    }
    const starts = ctx.tensor(1).toIndexArray();
    const ends = ctx.tensor(2).toIndexArray();
    const axes = ctx.optTensor(3)?.toIndexArray() ?? null;
    const steps = ctx.optTensor(4)?.toIndexArray() ?? null;
    return [sliceTensor(x, starts, ends, axes, steps)];
  },
});

// ---------- Expand / Tile ----------

export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const out = Tensor.zeros(x.dtype, shape);
  const rank = shape.length;
  const st = stridesOf(x.shape);
  const off = rank - x.rank;
  const eff = shape.map((_, i) => (i < off || x.shape[i - off] === 1 ? 0 : st[i - off]!));
  const src = arr(x);
  const dst = arr(out);
  const counter = new Array<number>(rank).fill(0);
  let p = 0;
  for (let o = 0; o < out.size; o++) {
    dst[o] = src[p]!;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      p += eff[d]!;
      if (counter[d]! < shape[d]!) break;
      p -= eff[d]! * shape[d]!;
      counter[d] = 0;
    }
  }
  return out;
}

registerOp({
  opType: 'Expand',
  since: 8,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    const shape = constInts(ctx, 1);
    if (shape && x && x.shape) return [tensorType(dt, broadcastDims(x.shape, shape))];
    const st = tt(ctx, 1);
    const k = st?.shape?.[0];
    if (x && x.shape && typeof k === 'number') return [tensorType(dt, unknownDims(Math.max(k, x.shape.length)))];
    return [tensorType(dt, null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const shape = broadcastShapes(x.shape, ctx.tensor(1).toIndexArray());
    return [broadcastTo(x, shape)];
  },
});

function tileTensor(x: Tensor, reps: readonly number[]): Tensor {
  if (reps.length !== x.rank) throw typeErr(`Tile repeats has ${reps.length} entries for rank ${x.rank}`);
  const outShape = x.shape.map((d, i) => d * reps[i]!);
  const out = Tensor.zeros(x.dtype, outShape);
  const st = stridesOf(x.shape);
  const src = arr(x);
  const dst = arr(out);
  forEachIndex(outShape, (o, idx) => {
    let p = 0;
    for (let d = 0; d < idx.length; d++) p += (idx[d]! % x.shape[d]!) * st[d]!;
    dst[o] = src[p]!;
  });
  return out;
}

registerOp({
  opType: 'Tile',
  since: 1,
  infer: (ctx) => {
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    if (!x || x.shape === null) return [tensorType(dt, null)];
    if (ctx.opset < 6) return [tensorType(dt, unknownDims(x.shape.length))];
    const reps = constInts(ctx, 1);
    if (!reps) return [tensorType(dt, unknownDims(x.shape.length))];
    if (reps.length !== x.shape.length) throw typeErr(`Tile repeats has ${reps.length} entries for rank ${x.shape.length}`);
    return [tensorType(dt, x.shape.map((d, i) => (typeof d === 'number' ? d * reps[i]! : reps[i] === 1 ? d : null)))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    if (ctx.opset < 6) {
      const tiles = ctx.tensor(1).toIndexArray()[0]!;
      const axis = normAxis(ctx.tensor(2).toIndexArray()[0]!, x.rank);
      return [tileTensor(x, x.shape.map((_, i) => (i === axis ? tiles : 1)))];
    }
    return [tileTensor(x, ctx.tensor(1).toIndexArray())];
  },
});

// ---------- Pad ----------

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

function fullPads(rank: number, pads: readonly number[], axes: readonly number[] | null): number[] {
  const full = new Array<number>(2 * rank).fill(0);
  if (axes === null) {
    if (pads.length !== 2 * rank) throw typeErr(`Pad pads has ${pads.length} entries for rank ${rank}`);
    return [...pads];
  }
  if (pads.length !== 2 * axes.length) throw typeErr(`Pad pads has ${pads.length} entries for ${axes.length} axes`);
  axes.forEach((a, i) => {
    const n = normAxis(a, rank);
    full[n] = pads[i]!;
    full[n + rank] = pads[i + axes.length]!;
  });
  return full;
}

function padTensor(x0: Tensor, pads: readonly number[], mode: PadMode, value: Tensor | number | null): Tensor {
  const rank = x0.rank;
  // negative pads crop first
  let x = x0;
  if (pads.some((p) => p < 0)) {
    const starts = x0.shape.map((_, i) => Math.max(0, -pads[i]!));
    const ends = x0.shape.map((d, i) => d - Math.max(0, -pads[i + rank]!));
    x = sliceTensor(x0, starts, ends, null, null);
  }
  const b = x.shape.map((_, i) => Math.max(0, pads[i]!));
  const e = x.shape.map((_, i) => Math.max(0, pads[i + rank]!));
  const outShape = x.shape.map((d, i) => d + b[i]! + e[i]!);
  const out = Tensor.zeros(x.dtype, outShape);
  if (out.size === 0) return out;
  const st = stridesOf(x.shape);
  const src = arr(x);
  const dst = arr(out);
  let fill: unknown = 0;
  if (mode === 'constant') {
    if (value instanceof Tensor) {
      if (value.size > 0) fill = castTensor(value, x.dtype).data[0];
      else fill = Tensor.zeros(x.dtype, [1]).data[0];
    } else {
      const t = Tensor.zeros(x.dtype, [1]);
      t.setScalar(0, value ?? 0);
      fill = t.data[0];
    }
  } else if (x.size === 0) {
    throw rtErr(`Pad mode ${mode} cannot pad an empty dimension`);
  }
  forEachIndex(outShape, (o, idx) => {
    let p = 0;
    for (let d = 0; d < rank; d++) {
      const n = x.shape[d]!;
      let c = idx[d]! - b[d]!;
      if (c < 0 || c >= n) {
        if (mode === 'constant') {
          p = -1;
          break;
        }
        if (mode === 'edge') c = c < 0 ? 0 : n - 1;
        else if (mode === 'wrap') c = ((c % n) + n) % n;
        else {
          if (n === 1) c = 0;
          else {
            const period = 2 * (n - 1);
            c = ((c % period) + period) % period;
            if (c >= n) c = period - c;
          }
        }
      }
      p += c * st[d]!;
    }
    dst[o] = (p < 0 ? fill : src[p]!) as never;
  });
  return out;
}

function padMode(ctx: InferContext | KernelContext): PadMode {
  const m = ctx.attrs.string('mode', 'constant');
  if (m !== 'constant' && m !== 'reflect' && m !== 'edge' && m !== 'wrap') throw new KilnError('unsupported', `unsupported Pad mode ${m}`);
  return m;
}

registerOp({
  opType: 'Pad',
  since: 1,
  infer: (ctx) => {
    padMode(ctx);
    const x = tt(ctx, 0);
    const dt = x?.dtype ?? 'f32';
    if (!x || x.shape === null) return [tensorType(dt, null)];
    const rank = x.shape.length;
    let pads: number[] | null;
    let axes: number[] | null = null;
    if (ctx.opset < 11) pads = [...(ctx.opset < 2 ? ctx.attrs.ints('paddings') : ctx.attrs.ints('pads'))];
    else {
      pads = constInts(ctx, 1);
      if (ctx.hasInput(3)) {
        axes = constInts(ctx, 3);
        if (!axes) return [tensorType(dt, unknownDims(rank))];
      }
    }
    if (!pads) return [tensorType(dt, unknownDims(rank))];
    const full = fullPads(rank, pads, axes);
    return [tensorType(dt, x.shape.map((d, i) => (typeof d === 'number' ? d + full[i]! + full[i + rank]! : full[i] === 0 && full[i + rank] === 0 ? d : null)))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const mode = padMode(ctx);
    if (ctx.opset < 11) {
      const pads = [...(ctx.opset < 2 ? ctx.attrs.ints('paddings') : ctx.attrs.ints('pads'))];
      return [padTensor(x, fullPads(x.rank, pads, null), mode, ctx.attrs.float('value', 0))];
    }
    const pads = ctx.tensor(1).toIndexArray();
    const cv = ctx.optTensor(2);
    const axes = ctx.optTensor(3)?.toIndexArray() ?? null;
    return [padTensor(x, fullPads(x.rank, pads, axes), mode, cv)];
  },
});

import './shape-gen.js';
