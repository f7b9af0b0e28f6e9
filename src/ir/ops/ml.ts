/** ai.onnx.ml ops (LabelEncoder, TreeEnsemble, ArrayFeatureExtractor, Binarizer) and TfIdfVectorizer. */
import { KilnError } from '../errors.js';
import type { DType } from '../dtype.js';
import { Tensor, shapeSize, type Scalar } from '../tensor.js';
import { tensorType, type Dim } from '../types.js';
import { treeEnsembleAttrs } from './config/tree-ensemble.js';
import { registerOp, type Attrs } from './registry.js';
import { requireTensorType } from './util.js';

const ML = 'ai.onnx.ml';

// ---------- LabelEncoder ----------

interface LabelMap {
  keys: Scalar[];
  values: Scalar[];
  outType: DType;
  def: Scalar;
}

function labelMap(attrs: Attrs, opset: number, inType: DType | null): LabelMap {
  if (opset < 2) {
    const classes = attrs.strings('classes_strings', []);
    if (inType === 'string') {
      return { keys: [...classes], values: classes.map((_, i) => BigInt(i)), outType: 'i64', def: BigInt(attrs.int('default_int64', -1)) };
    }
    return { keys: classes.map((_, i) => BigInt(i)), values: [...classes], outType: 'string', def: attrs.string('default_string', '_Unused') };
  }
  let keys: Scalar[] | null = null;
  let values: Scalar[] | null = null;
  let outType: DType | null = null;
  let def: Scalar | null = null;
  const kt = attrs.optTensor('keys_tensor');
  if (kt) keys = Array.from({ length: kt.size }, (_, i) => kt.get(i));
  else if (attrs.has('keys_strings')) keys = [...attrs.strings('keys_strings')];
  else if (attrs.has('keys_int64s')) keys = attrs.ints('keys_int64s').map((x) => BigInt(x));
  else if (attrs.has('keys_floats')) keys = [...attrs.floats('keys_floats')];
  const vt = attrs.optTensor('values_tensor');
  if (vt) {
    values = Array.from({ length: vt.size }, (_, i) => vt.get(i));
    outType = vt.dtype;
  } else if (attrs.has('values_strings')) {
    values = [...attrs.strings('values_strings')];
    outType = 'string';
  } else if (attrs.has('values_int64s')) {
    values = attrs.ints('values_int64s').map((x) => BigInt(x));
    outType = 'i64';
  } else if (attrs.has('values_floats')) {
    values = [...attrs.floats('values_floats')];
    outType = 'f32';
  }
  if (keys === null || values === null || outType === null) throw new KilnError('invalid-model', 'LabelEncoder needs keys and values');
  if (keys.length !== values.length) throw new KilnError('invalid-model', 'LabelEncoder keys and values differ in length');
  const dt = attrs.optTensor('default_tensor');
  if (dt && dt.size > 0) def = dt.get(0);
  else if (outType === 'string') def = attrs.string('default_string', '_Unused');
  else if (outType === 'i64' || outType === 'i32' || outType === 'i16' || outType === 'i8') def = outType === 'i64' ? BigInt(attrs.int('default_int64', -1)) : attrs.int('default_int64', -1);
  else def = attrs.float('default_float', -0);
  return { keys, values, outType, def };
}

function keyOf(v: Scalar): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'nan' : `n${v === 0 ? 0 : v}`;
  if (typeof v === 'bigint') return `n${v}`;
  return `s${v}`;
}

registerOp({
  opType: 'LabelEncoder',
  domain: ML,
  since: 1,
  infer: (ctx) => {
    const t = requireTensorType(ctx, 0);
    const m = labelMap(ctx.attrs, ctx.opset, t.dtype);
    return [tensorType(m.outType, t.shape)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const m = labelMap(ctx.attrs, ctx.opset, x.dtype);
    const table = new Map<string, Scalar>();
    m.keys.forEach((k, i) => {
      // float keys are matched at the input's precision
      const kk = typeof k === 'number' && x.dtype === 'f32' ? Math.fround(k) : k;
      table.set(keyOf(kk), m.values[i]!);
    });
    const out = Tensor.zeros(m.outType, x.shape);
    for (let i = 0; i < x.size; i++) {
      let v = x.get(i);
      if (typeof v === 'number' && (x.dtype === 'i64' || x.dtype === 'u64')) v = BigInt(v);
      const r = table.get(keyOf(v));
      out.setScalar(i, r === undefined ? m.def : r);
    }
    return [out];
  },
});

// ---------- Binarizer ----------

registerOp({
  opType: 'Binarizer',
  domain: ML,
  since: 1,
  infer: (ctx) => [requireTensorType(ctx, 0)],
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const th = ctx.attrs.float('threshold', 0);
    const out = Tensor.zeros(x.dtype, x.shape);
    for (let i = 0; i < x.size; i++) out.setScalar(i, x.num(i) > th ? 1 : 0);
    return [out];
  },
});

// ---------- ArrayFeatureExtractor ----------

registerOp({
  opType: 'ArrayFeatureExtractor',
  domain: ML,
  since: 1,
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    const y = requireTensorType(ctx, 1);
    let add: Dim = null;
    if (y.shape !== null && y.shape.every((d) => typeof d === 'number')) add = (y.shape as number[]).reduce((a, b) => a * b, 1);
    if (x.shape === null) return [tensorType(x.dtype, null)];
    return [tensorType(x.dtype, x.shape.length <= 1 ? [1, add] : [...x.shape.slice(0, -1), add])];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const idx = ctx.tensor(1).toIndexArray();
    const c = x.shape[x.rank - 1] ?? 1;
    const outer = x.rank <= 1 ? 1 : shapeSize(x.shape.slice(0, -1));
    const outShape = x.rank <= 1 ? [1, idx.length] : [...x.shape.slice(0, -1), idx.length];
    const out = Tensor.zeros(x.dtype, outShape);
    const src = x.data as unknown as unknown[];
    const dst = out.data as unknown as unknown[];
    for (const k of idx) if (k < 0 || k >= c) throw new KilnError('runtime', `ArrayFeatureExtractor index ${k} is out of range for ${c} features`);
    for (let o = 0; o < outer; o++) for (let j = 0; j < idx.length; j++) dst[o * idx.length + j] = src[o * c + idx[j]!];
    return [out];
  },
});

// ---------- TreeEnsemble (ai.onnx.ml opset 5) ----------

registerOp({
  opType: 'TreeEnsemble',
  domain: ML,
  since: 5,
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    const nt = ctx.attrs.optInt('n_targets') ?? null;
    return [tensorType(x.dtype, [x.shape ? (x.shape[0] ?? null) : null, nt])];
  },
  interp: (ctx) => {
    const a = ctx.attrs;
    const x = ctx.tensor(0);
    const { splits, feat, modes, tIds, fIds, tLeaf, fLeaf, leafT, leafW, roots, post, agg, missTrue, members, nTargets } = treeEnsembleAttrs(ctx.node, a);
    // membership sets: consumed in tree-building (depth-first, true branch first) order
    const memberSets = new Map<number, Set<number>>();
    let mi = 0;
    const collect = (node: number, leaf: boolean): void => {
      if (leaf) return;
      if (modes[node] === 6) {
        if (!members) throw new KilnError('invalid-model', 'TreeEnsemble set-membership node without membership_values');
        const s = new Set<number>();
        while (mi < members.length && !Number.isNaN(members[mi]!)) s.add(members[mi++]!);
        mi++;
        memberSets.set(node, s);
      }
      collect(tIds[node]!, tLeaf[node] === 1);
      collect(fIds[node]!, fLeaf[node] === 1);
    };
    const rootLeaf = (r: number): boolean => tLeaf[r] === 1 && fLeaf[r] === 1 && tIds[r] === fIds[r];
    for (const r of roots) collect(r, rootLeaf(r));

    const nRows = x.rank === 1 ? 1 : x.shape[0]!;
    const nFeat = x.rank === 1 ? x.size : x.size / Math.max(1, nRows);
    const out = Tensor.zeros(x.dtype, [nRows, nTargets]);
    for (let b = 0; b < nRows; b++) {
      const res = new Array<number>(nTargets).fill(agg === 2 ? Infinity : agg === 3 ? -Infinity : 0);
      const touched = new Array<boolean>(nTargets).fill(false);
      for (const r of roots) {
        let node = r;
        let leaf = rootLeaf(r);
        let guard = 0;
        while (!leaf) {
          if (guard++ > 1e7) throw new KilnError('runtime', 'TreeEnsemble tree does not terminate');
          const v = x.num(b * nFeat + feat[node]!);
          const s = splits[node]!;
          const nanTrue = missTrue[node] === 1 && Number.isNaN(v);
          let go: boolean;
          switch (modes[node]) {
            case 0: go = v <= s; break;
            case 1: go = v < s; break;
            case 2: go = v >= s; break;
            case 3: go = v > s; break;
            case 4: go = v === s; break;
            case 5: go = v !== s; break;
            case 6: go = memberSets.get(node)!.has(v); break;
            default: throw new KilnError('invalid-model', `unknown TreeEnsemble node mode ${modes[node]}`);
          }
          go = go || nanTrue;
          leaf = go ? tLeaf[node] === 1 : fLeaf[node] === 1;
          node = go ? tIds[node]! : fIds[node]!;
        }
        const t = leafT[node]!;
        const w = leafW[node]!;
        touched[t] = true;
        if (agg === 0) res[t]! += w / roots.length;
        else if (agg === 1) res[t]! += w;
        else if (agg === 2) res[t] = Math.min(res[t]!, w);
        else if (agg === 3) res[t] = Math.max(res[t]!, w);
        else throw new KilnError('unsupported', `unsupported TreeEnsemble aggregate_function ${agg}`);
      }
      const row = postTransform(res.map((v, i) => (touched[i] ? v : agg >= 2 ? (agg === 2 ? maxFinite(x.dtype) : -maxFinite(x.dtype)) : v)), post);
      row.forEach((v, i) => out.setScalar(b * nTargets + i, v));
    }
    return [out];
  },
});

function maxFinite(dt: DType): number {
  return dt === 'f64' ? Number.MAX_VALUE : dt === 'f16' ? 65504 : 3.4028234663852886e38;
}

function erfinv(x: number): number {
  // Giles' approximation, refined by two Newton steps
  let w = -Math.log((1 - x) * (1 + x));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-8;
    for (const c of [3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]) p = c + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    for (const c of [0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]) p = c + p * w;
  }
  return p * x;
}

function postTransform(v: number[], post: number): number[] {
  switch (post) {
    case 0:
      return v;
    case 1:
    case 3: {
      if (post === 3 && v.every((x) => x === 0)) return v;
      const m = Math.max(...v);
      const e = v.map((x) => (post === 3 && x === 0 ? 0 : Math.exp(x - m)));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / s);
    }
    case 2:
      return v.map((x) => 1 / (1 + Math.exp(-x)));
    case 4:
      return v.map((x) => Math.SQRT2 * erfinv(2 * x - 1));
    default:
      throw new KilnError('unsupported', `unsupported post_transform ${post}`);
  }
}

// ---------- TfIdfVectorizer ----------

registerOp({
  opType: 'TfIdfVectorizer',
  since: 9,
  infer: (ctx) => {
    const x = requireTensorType(ctx, 0);
    const idx = ctx.attrs.ints('ngram_indexes', []);
    const outDim = idx.length === 0 ? 0 : Math.max(...idx) + 1;
    if (x.shape === null) return [tensorType('f32', null)];
    if (x.shape.length === 1) return [tensorType('f32', [outDim])];
    if (x.shape.length === 2) return [tensorType('f32', [x.shape[0]!, outDim])];
    throw new KilnError('type', 'TfIdfVectorizer input must be 1-D or 2-D');
  },
  interp: (ctx) => {
    const a = ctx.attrs;
    const x = ctx.tensor(0);
    const minN = a.int('min_gram_length');
    const maxN = a.int('max_gram_length');
    const maxSkip = a.int('max_skip_count');
    const mode = a.string('mode');
    const counts = a.ints('ngram_counts');
    const indexes = a.ints('ngram_indexes');
    const weights = a.optFloats('weights');
    const poolS = a.has('pool_strings') ? a.strings('pool_strings') : null;
    const poolI = a.has('pool_int64s') ? a.ints('pool_int64s') : null;
    const pool: string[] = poolS ? [...poolS] : (poolI ?? []).map((v) => String(v));
    // the n-gram boundaries must be ordered offsets into the pool (checked before any loop uses them)
    counts.forEach((c, k) => {
      if (!Number.isInteger(c) || c < 0 || c > pool.length || (k > 0 && c < counts[k - 1]!)) {
        throw new KilnError('invalid-model', `TfIdfVectorizer ngram_counts [${counts.join(',')}] must be non-decreasing offsets into a pool of ${pool.length}`);
      }
    });
    if (indexes.some((v) => !Number.isInteger(v) || v < 0)) throw new KilnError('invalid-model', 'TfIdfVectorizer ngram_indexes must be non-negative');
    if (minN < 1 || maxN < minN || maxN > counts.length || maxSkip < 0) {
      throw new KilnError('invalid-model', `TfIdfVectorizer gram lengths ${minN}..${maxN} and max_skip_count ${maxSkip} are out of range`);
    }
    // map "n|tok,tok" → output column
    const table = new Map<string, number>();
    let gi = 0;
    for (let k = 0; k < counts.length; k++) {
      const n = k + 1;
      const start = counts[k]!;
      const end = k + 1 < counts.length ? counts[k + 1]! : pool.length;
      for (let p = start; p + n <= end; p += n) {
        table.set(JSON.stringify(pool.slice(p, p + n)), gi);
        gi++;
      }
    }
    const outDim = indexes.length === 0 ? 0 : Math.max(...indexes) + 1;
    const rows = x.rank === 1 ? 1 : x.shape[0]!;
    const cols = x.rank === 1 ? x.size : x.shape[1]!;
    const toks: string[] = Array.from({ length: x.size }, (_, i) => String(x.get(i)));
    const out = Tensor.zeros('f32', x.rank === 1 ? [outDim] : [rows, outDim]);
    const O = out.data as Float32Array;
    for (let r = 0; r < rows; r++) {
      const row = toks.slice(r * cols, (r + 1) * cols);
      const cnt = new Float64Array(gi);
      for (let n = Math.max(1, minN); n <= maxN; n++) {
        // a skip of cols or more leaves no room for a second token: the loop is bounded by the row, not the attribute
        const skips = n === 1 ? 0 : Math.min(maxSkip, cols);
        for (let s = 0; s <= skips; s++) {
          const step = s + 1;
          for (let i = 0; i + (n - 1) * step < cols; i++) {
            const g: string[] = [];
            for (let k = 0; k < n; k++) g.push(row[i + k * step]!);
            const col = table.get(JSON.stringify(g));
            if (col !== undefined) cnt[col]!++;
          }
        }
      }
      for (let g = 0; g < gi; g++) {
        const w = weights ? (weights[g] ?? 1) : 1;
        const v = cnt[g]!;
        O[r * outDim + indexes[g]!] = mode === 'TF' ? v : mode === 'IDF' ? (v > 0 ? w : 0) : mode === 'TFIDF' ? v * w : NaN;
      }
      if (mode !== 'TF' && mode !== 'IDF' && mode !== 'TFIDF') throw new KilnError('type', `unknown TfIdfVectorizer mode '${mode}'`);
    }
    return [out];
  },
});
