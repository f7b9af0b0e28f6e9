/** Lowerings of index-driven data movement: Gather*, Scatter*, TensorScatter, OneHot, Compress, NonZero, Unique, TopK. */
import { KilnError } from '../../errors.js';
import { add, and, bin, cast, eq, gt, idx, lit, load, lt, min, mul, ne, or, select, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import { computeType, isFloatT, req, widen } from './common.js';
import { copyAll, fill, flatOf, normAxis, normIndex, sizeOf, stridedCopy, stridedLoops, stridesOf, type SDim } from './shape-util.js';
import { inShape } from './shape-util.js';

// ---------- shared by the Gather and Scatter families ----------

/** data and indices (inputs 0 and 1) with their static shapes. */
function indexedInputs(ctx: LowerContext): { x: KBuffer; xS: number[]; ind: KBuffer; indS: number[] } {
  const x = req(ctx.input(0), 'data');
  const xS = inShape(ctx, 0);
  const ind = req(ctx.input(1), 'indices');
  const indS = inShape(ctx, 1);
  return { x, xS, ind, indS };
}

/** out[dst + q] = x[src + q] for q < n (a single store when n is 1). */
function copyRun(kb: KernelBuilder, out: KBuffer, dst: Expr, x: KBuffer, src: Expr, n: number): void {
  if (n === 1) {
    kb.store(out, dst, load(x, src));
    return;
  }
  const s = kb.let('index', src, 's');
  const d = kb.let('index', dst, 'd');
  kb.for(0, n, (q) => kb.store(out, add(d, q), load(x, add(s, q))));
}

/** base + Σ_j wrap(ind[t·k + j])·st[first + j]: the data offset index tuple t selects (GatherND, ScatterND). */
function tupleOffset(kb: KernelBuilder, ind: KBuffer, t: Expr, k: number, xS: readonly number[], st: readonly number[], first: number, base: Expr): Expr {
  let p = base;
  for (let j = 0; j < k; j++) p = add(p, mul(normIndex(kb, load(ind, add(mul(t, idx(k)), idx(j))), xS[first + j]!), idx(st[first + j]!)));
  return p;
}

/** p + wrap(ind[i])·st[axis]: the data offset of an element-wise index along one axis (GatherElements, ScatterElements). */
function axisOffset(kb: KernelBuilder, ind: KBuffer, i: Expr, p: Expr, xS: readonly number[], st: readonly number[], axis: number): Expr {
  return add(p, mul(normIndex(kb, load(ind, i), xS[axis]!), idx(st[axis]!)));
}

// ---------- Gather ----------

registerLowering({
  opType: 'Gather',
  lower: (ctx) => {
    const { x, xS, ind, indS } = indexedInputs(ctx);
    const out = req(ctx.output(0), 'output');
    const axis = normAxis(ctx.attrs.int('axis', 0), xS.length);
    if (sizeOf(out.shape) === 0) return;
    const dim = xS[axis]!;
    const outer = sizeOf(xS.slice(0, axis));
    const inner = sizeOf(xS.slice(axis + 1));
    const nInd = sizeOf(indS);
    ctx.kernel((kb) => {
      const body = (a: Expr): void => {
        kb.for(0, nInd, (t) => {
          const j = normIndex(kb, load(ind, t), dim);
          copyRun(kb, out, mul(add(mul(a, idx(nInd)), t), idx(inner)), x, add(mul(a, idx(dim * inner)), mul(j, idx(inner))), inner);
        });
      };
      if (outer === 1) body(idx(0));
      else kb.for(0, outer, body);
    });
  },
});

registerLowering({
  opType: 'GatherElements',
  lower: (ctx) => {
    const { x, xS, ind, indS } = indexedInputs(ctx);
    const out = req(ctx.output(0), 'output');
    const rank = xS.length;
    const axis = normAxis(ctx.attrs.int('axis', 0), rank);
    if (sizeOf(out.shape) === 0) return;
    const st = stridesOf(xS);
    const ist = stridesOf(indS);
    // offsets: [index position (= output position), data position without the axis term]
    const dims: SDim[] = indS.map((n, d) => ({ n, st: [ist[d]!, d === axis ? 0 : st[d]!] }));
    ctx.kernel((kb) => {
      stridedLoops(kb, dims, [idx(0), idx(0)], ([o, p]) => {
        kb.store(out, o!, load(x, axisOffset(kb, ind, o!, p!, xS, st, axis)));
      });
    });
  },
});

registerLowering({
  opType: 'GatherND',
  lower: (ctx) => {
    const { x, xS, ind, indS } = indexedInputs(ctx);
    const out = req(ctx.output(0), 'output');
    const b = ctx.attrs.int('batch_dims', 0);
    const k = indS[indS.length - 1]!;
    if (b + k > xS.length) throw new KilnError('type', 'GatherND indices last dim too large');
    if (sizeOf(out.shape) === 0) return;
    const st = stridesOf(xS);
    const slice = sizeOf(xS.slice(b + k));
    const tuples = sizeOf(indS.slice(0, -1));
    const perBatch = sizeOf(indS.slice(b, -1));
    const batchStride = sizeOf(xS.slice(b));
    ctx.kernel((kb) => {
      kb.for(0, tuples, (t) => {
        const base: Expr = b > 0 && perBatch > 0 ? mul(bin('div', t, idx(perBatch)), idx(batchStride)) : idx(0);
        copyRun(kb, out, mul(t, idx(slice)), x, tupleOffset(kb, ind, t, k, xS, st, b, base), slice);
      });
    });
  },
});

// ---------- Scatter family ----------

type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';

function reductionOf(s: string): Reduction {
  if (s === 'none' || s === 'add' || s === 'mul' || s === 'max' || s === 'min') return s;
  throw unsupportedLowering(`scatter reduction ${s}`);
}

/** out[p] = reduce(out[p], upd[u]). */
function combine(kb: Parameters<typeof stridedCopy>[0], out: KBuffer, p: Expr, upd: KBuffer, u: Expr, red: Reduction): void {
  if (red === 'none') {
    kb.store(out, p, load(upd, u));
    return;
  }
  const a = widen(load(out, p));
  const b = cast(load(upd, u), a.t);
  const op = red === 'add' ? 'add' : red === 'mul' ? 'mul' : red;
  kb.store(out, p, bin(op, a, b));
}

function lowerScatterElements(ctx: LowerContext, red: Reduction): void {
  const { x, xS, ind, indS } = indexedInputs(ctx);
  const upd = req(ctx.input(2), 'updates');
  const updS = inShape(ctx, 2);
  const out = req(ctx.output(0), 'output');
  const rank = xS.length;
  const axis = normAxis(ctx.attrs.int('axis', 0), rank);
  const st = stridesOf(xS);
  const ist = stridesOf(indS);
  const ust = stridesOf(updS);
  ctx.kernel((kb) => {
    copyAll(kb, out, x);
    const dims: SDim[] = indS.map((n, d) => ({ n, st: [ist[d]!, ust[d]!, d === axis ? 0 : st[d]!] }));
    stridedLoops(kb, dims, [idx(0), idx(0), idx(0)], ([i, u, p]) => {
      combine(kb, out, axisOffset(kb, ind, i!, p!, xS, st, axis), upd, u!, red);
    });
  });
}

registerLowering({ opType: 'Scatter', lower: (ctx) => lowerScatterElements(ctx, 'none') });
registerLowering({ opType: 'ScatterElements', lower: (ctx) => lowerScatterElements(ctx, reductionOf(ctx.attrs.string('reduction', 'none'))) });

registerLowering({
  opType: 'ScatterND',
  lower: (ctx) => {
    const { x, xS, ind, indS } = indexedInputs(ctx);
    const upd = req(ctx.input(2), 'updates');
    const updS = inShape(ctx, 2);
    const out = req(ctx.output(0), 'output');
    const red = reductionOf(ctx.attrs.string('reduction', 'none'));
    const k = indS[indS.length - 1]!;
    if (k > xS.length) throw new KilnError('type', 'ScatterND indices last dim too large');
    const st = stridesOf(xS);
    const slice = sizeOf(xS.slice(k));
    const tuples = sizeOf(indS.slice(0, -1));
    ctx.kernel((kb) => {
      copyAll(kb, out, x);
      if (slice === 0) return;
      kb.for(0, tuples, (t) => {
        const pb = kb.let('index', tupleOffset(kb, ind, t, k, xS, st, 0, idx(0)), 'p');
        const ub = kb.let('index', mul(t, idx(slice)), 'u');
        if (slice === 1) combine(kb, out, pb, upd, ub, red);
        else kb.for(0, slice, (s) => combine(kb, out, add(pb, s), upd, add(ub, s), red));
      });
    });
  },
});

registerLowering({
  opType: 'TensorScatter',
  lower: (ctx) => {
    const cache = req(ctx.input(0), 'past_cache');
    const cacheS = inShape(ctx, 0);
    const upd = req(ctx.input(1), 'update');
    const updS = inShape(ctx, 1);
    const wi = ctx.input(2);
    const out = req(ctx.output(0), 'present_cache');
    const rank = cacheS.length;
    const axis = normAxis(ctx.attrs.int('axis', -2), rank);
    if (axis === 0) throw new KilnError('type', 'TensorScatter axis cannot be the batch axis');
    const mode = ctx.attrs.string('mode', 'linear');
    if (mode !== 'linear' && mode !== 'circular') throw unsupportedLowering(`TensorScatter mode ${mode}`);
    const L = cacheS[axis]!;
    const st = stridesOf(cacheS);
    const ust = stridesOf(updS);
    ctx.kernel((kb) => {
      copyAll(kb, out, cache);
      if (sizeOf(updS) === 0 || L === 0) return;
      // loops: batch, then the update's axis position; the rest strided
      const rest: SDim[] = updS.map((n, d) => ({ n: d === 0 || d === axis ? 1 : n, st: [st[d]!, ust[d]!] }));
      kb.for(0, updS[0]!, (b) => {
        const w = wi ? kb.let('index', cast(load(wi, b), 'index'), 'w') : idx(0);
        kb.for(0, updS[axis]!, (s) => {
          const c = add(w, s);
          const go = (pos: Expr): void => {
            const p = kb.let('index', add(mul(b, idx(st[0]!)), mul(pos, idx(st[axis]!))), 'p');
            const u = kb.let('index', add(mul(b, idx(ust[0]!)), mul(s, idx(ust[axis]!))), 'u');
            stridedLoops(kb, rest, [p, u], ([o, i]) => kb.store(out, o!, load(upd, i!)));
          };
          if (mode === 'circular') {
            const m = kb.let('index', bin('mod', c, idx(L)), 'c');
            go(select(lt(m, idx(0)), add(m, idx(L)), m));
          } else {
            const pos = kb.let('index', c, 'c');
            kb.if(and(bin('ge', pos, idx(0)), lt(pos, idx(L))), () => go(pos));
          }
        });
      });
    });
  },
});

// ---------- OneHot ----------

registerLowering({
  opType: 'OneHot',
  lower: (ctx) => {
    const ind = req(ctx.input(0), 'indices');
    const indS = inShape(ctx, 0);
    const vals = req(ctx.input(2), 'values');
    const out = req(ctx.output(0), 'output');
    const r = indS.length + 1;
    const axis = normAxis(ctx.attrs.int('axis', -1), r);
    const depth = out.shape[axis]!;
    if (sizeOf(out.shape) === 0) return;
    const inner = sizeOf(indS.slice(axis));
    const n = sizeOf(indS);
    ctx.kernel((kb) => {
      fill(kb, out, load(vals, idx(0)));
      if (n === 0) return;
      const on = load(vals, idx(1));
      kb.for(0, n, (i) => {
        const v = kb.let('i64', cast(isFloatT(ind.dtype) ? un('trunc', widen(load(ind, i))) : load(ind, i), 'i64'), 'v');
        const w = kb.let('i64', select(lt(v, lit('i64', 0n)), add(v, lit('i64', BigInt(depth))), v), 'v');
        kb.if(and(bin('ge', w, lit('i64', 0n)), lt(w, lit('i64', BigInt(depth)))), () => {
          const a = inner === 1 ? i : bin('div', i, idx(inner));
          const b = inner === 1 ? idx(0) : bin('mod', i, idx(inner));
          kb.store(out, add(mul(add(mul(a, idx(depth)), cast(w, 'index')), idx(inner)), b), on);
        });
      });
    });
  },
});

// ---------- Compress / NonZero / Unique ----------

registerLowering({
  opType: 'Compress',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const cond = req(ctx.input(1), 'condition');
    const condS = inShape(ctx, 1);
    const out = req(ctx.output(0), 'output');
    const ax = ctx.attrs.optInt('axis');
    const shape = ax === undefined ? [sizeOf(xS)] : xS;
    const axis = ax === undefined ? 0 : normAxis(ax, shape.length);
    const dim = shape[axis]!;
    const K = out.shape[ax === undefined ? 0 : axis]!;
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    const m = Math.min(dim, sizeOf(condS));
    if (sizeOf(out.shape) === 0) return;
    ctx.kernel((kb) => {
      kb.for(0, outer, (a) => {
        const o = kb.let('index', idx(0), 'k');
        kb.for(0, m, (j) => {
          const c = load(cond, j);
          kb.if(and(c.t === 'bool' ? c : ne(c, lit(c.t, 0)), lt(o, idx(K))), () => {
            const d = kb.let('index', mul(add(mul(a, idx(K)), o), idx(inner)), 'd');
            const s = kb.let('index', mul(add(mul(a, idx(dim)), j), idx(inner)), 's');
            kb.for(0, inner, (q) => kb.store(out, add(d, q), load(x, add(s, q))));
            kb.set(o, add(o, idx(1)));
          });
        });
      });
    });
  },
});

// NonZero's count depends on the data (a constant input was folded before lowering): with the
// count taken from the declared output shape, another count would be truncated or padded without
// an error, so it is refused until kernel IR can report a runtime count.
registerLowering({
  opType: 'NonZero',
  lower: () => {
    throw unsupportedLowering('NonZero (data-dependent output shape)');
  },
});

registerLowering({
  opType: 'Unique',
  lower: () => {
    throw unsupportedLowering('Unique (data-dependent output shape)');
  },
});

// ---------- TopK ----------

registerLowering({
  opType: 'TopK',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const xS = inShape(ctx, 0);
    const vals = req(ctx.output(0), 'Values');
    const inds = req(ctx.output(1), 'Indices');
    const rank = xS.length;
    const axis = normAxis(ctx.attrs.int('axis', -1), rank);
    const largest = ctx.attrs.int('largest', 1) !== 0;
    const sorted = ctx.attrs.int('sorted', 1) !== 0;
    const k = vals.shape[axis]!;
    const dim = xS[axis]!;
    const outer = sizeOf(xS.slice(0, axis));
    const inner = sizeOf(xS.slice(axis + 1));
    if (k === 0 || outer * inner === 0) return;
    const ct = computeType(x.dtype);
    const isF = isFloatT(x.dtype);
    // a before b in the output: larger (or smaller); NaN counts as the largest value
    const gtN = (a: Expr, b: Expr): Expr => (isF ? or(and(un('isnan', a), un('not', un('isnan', b))), gt(a, b)) : gt(a, b));
    const better = (a: Expr, b: Expr): Expr => (largest ? gtN(a, b) : gtN(b, a));
    ctx.kernel((kb) => {
      kb.for(0, outer, (a) => {
        kb.for(0, inner, (b) => {
          const xb = kb.let('index', add(mul(a, idx(dim * inner)), b), 'x');
          const ob = kb.let('index', add(mul(a, idx(k * inner)), b), 'y');
          const at = (t: Expr): Expr => add(ob, mul(t, idx(inner)));
          const cnt = kb.let('index', idx(0), 'n');
          kb.for(0, dim, (j) => {
            const v = kb.let(ct, widen(load(x, add(xb, mul(j, idx(inner))))), 'v');
            kb.if(or(lt(cnt, idx(k)), better(v, widen(load(vals, at(idx(k - 1)))))), () => {
              const pos = kb.let('index', min(cnt, idx(k - 1)), 'p');
              const p = kb.let('index', pos, 'p');
              kb.for(0, pos, (s) => {
                const t = sub(pos, s);
                kb.if(and(eq(p, t), better(v, widen(load(vals, at(sub(t, idx(1))))))), () => {
                  kb.store(vals, at(t), load(vals, at(sub(t, idx(1)))));
                  kb.store(inds, at(t), load(inds, at(sub(t, idx(1)))));
                  kb.set(p, sub(t, idx(1)));
                });
              });
              kb.store(vals, at(p), v);
              kb.store(inds, at(p), cast(j, 'i64'));
              kb.set(cnt, min(add(cnt, idx(1)), idx(k)));
            });
          });
          if (!sorted && k > 1) {
            // order the chosen elements by index (insertion sort)
            kb.for(1, k, (t) => {
              const ci = kb.let('i64', load(inds, at(t)), 'ci');
              const cv = kb.let(ct, widen(load(vals, at(t))), 'cv');
              const p = kb.let('index', t, 'p');
              kb.for(0, t, (s) => {
                const u = sub(t, s);
                kb.if(and(eq(p, u), gt(load(inds, at(sub(u, idx(1)))), ci)), () => {
                  kb.store(vals, at(u), load(vals, at(sub(u, idx(1)))));
                  kb.store(inds, at(u), load(inds, at(sub(u, idx(1)))));
                  kb.set(p, sub(u, idx(1)));
                });
              });
              kb.store(vals, at(p), cv);
              kb.store(inds, at(p), ci);
            });
          }
        });
      });
    });
  },
});
