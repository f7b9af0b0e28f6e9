/** Lowerings of ai.onnx.ml Binarizer, ArrayFeatureExtractor, LabelEncoder (numeric) and TreeEnsemble. */
import { KilnError } from '../../errors.js';
import { add, bin, cast, div, eq, ge, gt, idx, le, lit, load, lt, mul, ne, or, select, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering } from '../lowering.js';
import type { Tensor } from '../../tensor.js';
import type { Expr, ScalarType } from '../types.js';
import { req } from './common.js';
import { treeEnsembleAttrs } from '../../ops/config/tree-ensemble.js';
import { fl, ld } from './misc-util.js';

const ML = 'ai.onnx.ml';
const F = 'f64';

registerLowering({
  opType: 'Binarizer',
  domain: ML,
  lower(ctx) {
    const X = req(ctx.input(0), 'X');
    const Y = req(ctx.output(0), 'Y');
    const th = ctx.attrs.float('threshold', 0);
    const n = X.shape.reduce((p, q) => p * q, 1);
    ctx.kernel((kb) => kb.for(0, n, (i) => kb.store(Y, i, select(gt(ld(X, i, F), fl(F, th)), fl(F, 1), fl(F, 0)))));
  },
});

registerLowering({
  opType: 'ArrayFeatureExtractor',
  domain: ML,
  lower(ctx) {
    const X = req(ctx.input(0), 'X');
    const I = req(ctx.input(1), 'Y');
    const Z = req(ctx.output(0), 'Z');
    const c = X.shape[X.shape.length - 1] ?? 1;
    const outer = X.shape.length <= 1 ? 1 : X.shape.slice(0, -1).reduce((p, q) => p * q, 1);
    const m = I.shape.reduce((p, q) => p * q, 1);
    ctx.kernel((kb) =>
      kb.for(0, outer, (o) =>
        kb.for(0, m, (j) => kb.store(Z, add(mul(o, idx(m)), j), load(X, add(mul(o, idx(c)), cast(load(I, j), 'index'))))),
      ),
    );
  },
});

// ---------- LabelEncoder (numeric keys and values) ----------

registerLowering({
  opType: 'LabelEncoder',
  domain: ML,
  lower(ctx) {
    const X = req(ctx.input(0), 'X');
    const Y = req(ctx.output(0), 'Y');
    const a = ctx.attrs;
    if (ctx.opset < 2) throw unsupportedLowering('LabelEncoder with string classes');
    let keys: number[] | bigint[] | null = null;
    const kt = a.optTensor('keys_tensor');
    if (kt) {
      if (kt.dtype === 'string') throw unsupportedLowering('LabelEncoder with string keys');
      keys = tensorVals(kt);
    } else if (a.has('keys_strings')) throw unsupportedLowering('LabelEncoder with string keys');
    else if (a.has('keys_int64s')) keys = a.ints('keys_int64s').map((x) => BigInt(x));
    else if (a.has('keys_floats')) keys = [...a.floats('keys_floats')];
    let values: number[] | bigint[] | null = null;
    const vt = a.optTensor('values_tensor');
    if (vt) {
      if (vt.dtype === 'string') throw unsupportedLowering('LabelEncoder with string values');
      values = tensorVals(vt);
    } else if (a.has('values_strings')) throw unsupportedLowering('LabelEncoder with string values');
    else if (a.has('values_int64s')) values = a.ints('values_int64s').map((x) => BigInt(x));
    else if (a.has('values_floats')) values = [...a.floats('values_floats')];
    if (keys === null || values === null) throw new KilnError('invalid-model', 'LabelEncoder needs keys and values');
    if (keys.length !== values.length) throw new KilnError('invalid-model', 'LabelEncoder keys and values differ in length');
    const ot = Y.dtype;
    let def: number | bigint;
    const dt = a.optTensor('default_tensor');
    if (dt && dt.size > 0) def = dt.get(0) as number | bigint;
    else if (ot === 'i64' || ot === 'i32' || ot === 'i16' || ot === 'i8') def = a.int('default_int64', -1);
    else def = a.float('default_float', -0);
    const xt = X.dtype;
    const isInt = !(xt === 'f32' || xt === 'f64' || xt === 'f16' || xt === 'bf16');
    const kType: ScalarType = isInt ? 'i64' : F;
    const valE = (v: number | bigint): Expr => (typeof v === 'bigint' ? cast(lit('i64', v), ot) : cast(lit(F, v), ot));
    const n = X.shape.reduce((p, q) => p * q, 1);
    ctx.kernel((kb) =>
      kb.for(0, n, (i) => {
        const x = kb.let(kType, cast(load(X, i), kType), 'x');
        const r = kb.let(ot, valE(def), 'r');
        // later keys win, as in the reference's table
        keys!.forEach((k, j) => {
          let cond: Expr;
          if (isInt) cond = eq(x, lit('i64', typeof k === 'bigint' ? k : BigInt(Math.trunc(k))));
          else {
            const kv = Number(k);
            cond = Number.isNaN(kv) ? un('isnan', x) : eq(x, fl(F, xt === 'f32' ? Math.fround(kv) : kv));
          }
          kb.set(r, select(cond, valE(values![j]!), r));
        });
        kb.store(Y, i, r);
      }),
    );
  },
});

function tensorVals(t: Tensor): number[] | bigint[] {
  const out: (number | bigint)[] = [];
  for (let i = 0; i < t.size; i++) out.push(t.get(i) as number | bigint);
  return out as number[] | bigint[];
}

// ---------- TreeEnsemble (opset 5) ----------

const MAX_EMITTED_NODES = 200000;

registerLowering({
  opType: 'TreeEnsemble',
  domain: ML,
  lower(ctx) {
    const a = ctx.attrs;
    const X = req(ctx.input(0), 'X');
    const Y = req(ctx.output(0), 'Y');
    const { splits, feat, modes, tIds, fIds, tLeaf, fLeaf, leafT, leafW, roots, post, agg, missTrue, members, nTargets } = treeEnsembleAttrs(ctx.node, a);
    if (agg < 0 || agg > 3) throw unsupportedLowering(`TreeEnsemble aggregate_function ${agg}`);
    if (post < 0 || post > 3) throw unsupportedLowering(`TreeEnsemble post_transform ${post}`);
    const memberSets = new Map<number, number[]>();
    let mi = 0;
    const collect = (node: number, leaf: boolean, depth: number): void => {
      if (leaf) return;
      if (depth > 10000) throw unsupportedLowering('TreeEnsemble with a cyclic or very deep tree');
      if (modes[node] === 6) {
        if (!members) throw new KilnError('invalid-model', 'TreeEnsemble set-membership node without membership_values');
        const s: number[] = [];
        while (mi < members.length && !Number.isNaN(members[mi]!)) s.push(members[mi++]!);
        mi++;
        memberSets.set(node, s);
      }
      collect(tIds[node]!, tLeaf[node] === 1, depth + 1);
      collect(fIds[node]!, fLeaf[node] === 1, depth + 1);
    };
    const rootLeaf = (r: number): boolean => tLeaf[r] === 1 && fLeaf[r] === 1 && tIds[r] === fIds[r];
    for (const r of roots) collect(r, rootLeaf(r), 0);
    const nRows = X.shape.length === 1 ? 1 : X.shape[0]!;
    const size = X.shape.reduce((p, q) => p * q, 1);
    const nFeat = X.shape.length === 1 ? size : size / Math.max(1, nRows);
    const maxFinite = X.dtype === 'f64' ? Number.MAX_VALUE : X.dtype === 'f16' ? 65504 : 3.4028234663852886e38;
    let emitted = 0;

    ctx.kernel((kb) =>
      kb.for(0, nRows, (b) => {
        const xb = kb.let('index', mul(b, idx(nFeat)), 'xb');
        const res = Array.from({ length: nTargets }, () => kb.let(F, fl(F, agg === 2 ? Infinity : agg === 3 ? -Infinity : 0), 'res'));
        const touched = agg >= 2 ? Array.from({ length: nTargets }, () => kb.let('bool', lit('bool', 0), 'hit')) : null;
        const leafAt = (leaf: number): void => {
          const t = leafT[leaf]!;
          const w = fl(F, leafW[leaf]!);
          const r = res[t];
          if (!r) throw new KilnError('invalid-model', `TreeEnsemble leaf target ${t} out of range`);
          if (touched) kb.set(touched[t]!, lit('bool', 1));
          if (agg === 0) kb.set(r, add(r, div(w, fl(F, roots.length))));
          else if (agg === 1) kb.set(r, add(r, w));
          else if (agg === 2) kb.set(r, bin('min', r, w));
          else kb.set(r, bin('max', r, w));
        };
        const walk = (node: number, leaf: boolean): void => {
          if (++emitted > MAX_EMITTED_NODES) throw unsupportedLowering('TreeEnsemble too large to unfold');
          if (leaf) {
            leafAt(node);
            return;
          }
          const v = kb.let(F, ld(X, add(xb, idx(feat[node]!)), F), 'v');
          const s = fl(F, splits[node] ?? NaN);
          let c: Expr;
          switch (modes[node]) {
            case 0: c = le(v, s); break;
            case 1: c = lt(v, s); break;
            case 2: c = ge(v, s); break;
            case 3: c = gt(v, s); break;
            case 4: c = eq(v, s); break;
            case 5: c = ne(v, s); break;
            case 6: {
              const set = memberSets.get(node)!;
              c = set.length === 0 ? lit('bool', 0) : set.map((m) => eq(v, fl(F, m))).reduce((p, q) => or(p, q));
              break;
            }
            default: throw new KilnError('invalid-model', `unknown TreeEnsemble node mode ${modes[node]}`);
          }
          if (missTrue[node] === 1) c = or(c, un('isnan', v));
          kb.if(c, () => walk(tIds[node]!, tLeaf[node] === 1), () => walk(fIds[node]!, fLeaf[node] === 1));
        };
        for (const r of roots) walk(r, rootLeaf(r));
        // untouched min/max targets take the type's extreme finite value
        const vals = res.map((r, i) => (touched ? select(touched[i]!, r, fl(F, agg === 2 ? maxFinite : -maxFinite)) : r));
        const outs = postTransform(kb, vals, post);
        outs.forEach((v, i) => kb.store(Y, add(mul(b, idx(nTargets)), idx(i)), v));
      }),
    );
  },
});

function postTransform(kb: KernelBuilder, v: Expr[], post: number): Expr[] {
  const one = fl(F, 1);
  const zero = fl(F, 0);
  if (post === 0) return v;
  if (post === 2) return v.map((x) => div(one, add(one, un('exp', un('neg', x)))));
  const xs = v.map((x) => kb.let(F, x, 'pv'));
  const m = kb.let(F, xs.reduce((p, q) => bin('max', p, q)), 'pm');
  const es = xs.map((x) => kb.let(F, post === 3 ? select(eq(x, zero), zero, un('exp', sub(x, m))) : un('exp', sub(x, m)), 'pe'));
  const s = kb.let(F, es.reduce((p, q) => add(p, q)), 'ps');
  if (post === 1) return es.map((e) => div(e, s));
  // softmax_zero: an all-zero row stays zero
  const allZero = xs.map((x) => eq(x, zero)).reduce((p, q) => bin('and', p, q));
  return es.map((e, i) => select(allZero, xs[i]!, div(e, s)));
}
