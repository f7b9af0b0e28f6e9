/** Lowerings of views and affine data movement: Reshape-likes, Transpose, Concat, Split, Slice, Expand, Tile, DepthToSpace, SpaceToDepth. */
import { KilnError } from '../../errors.js';
import { add, cast, eq, gt, idx, lit, load, lt, max, min, mul, select } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import { req } from './common.js';
import { normAxis, sizeOf, stridedCopy, stridesOf, type SDim } from './shape-util.js';
import { inShape } from './shape-util.js';

// ---------- views ----------

for (const opType of ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']) {
  registerLowering({
    opType,
    lower: (ctx) => {
      req(ctx.input(0), 'data');
      ctx.alias(0, 0);
    },
  });
}

// ---------- Transpose (and layout permutations) ----------

/** out (shape = viewShape permuted by perm) = transpose of src viewed as viewShape. */
export function permuteInto(ctx: LowerContext, src: KBuffer, viewShape: readonly number[], perm: readonly number[], out: KBuffer): void {
  const inSt = stridesOf(viewShape);
  const outShape = perm.map((p) => viewShape[p]!);
  const outSt = stridesOf(outShape);
  const dims: SDim[] = outShape.map((n, d) => ({ n, st: [outSt[d]!, inSt[perm[d]!]!] }));
  ctx.kernel((kb) => stridedCopy(kb, out, idx(0), src, idx(0), dims));
}

registerLowering({
  opType: 'Transpose',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'data');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'transposed');
    const rank = xS.length;
    const p = ctx.attrs.optInts('perm');
    const perm = p ? p.map((a) => normAxis(a, rank, 'perm entry')) : Array.from({ length: rank }, (_, i) => rank - 1 - i);
    if (perm.length !== rank || new Set(perm).size !== rank) throw new KilnError('type', 'Transpose perm is not a permutation');
    permuteInto(ctx, x, xS, perm, out);
  },
});

registerLowering({
  opType: 'DepthToSpace',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const b = ctx.attrs.int('blocksize');
    if (xS.length !== 4) throw new KilnError('type', 'DepthToSpace input must be 4-D');
    const [n, c, h, w] = xS as [number, number, number, number];
    const cc = c / (b * b);
    if (ctx.attrs.string('mode', 'DCR') === 'CRD') permuteInto(ctx, x, [n, cc, b, b, h, w], [0, 1, 4, 2, 5, 3], out);
    else permuteInto(ctx, x, [n, b, b, cc, h, w], [0, 3, 4, 1, 5, 2], out);
  },
});

registerLowering({
  opType: 'SpaceToDepth',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const b = ctx.attrs.int('blocksize');
    if (xS.length !== 4) throw new KilnError('type', 'SpaceToDepth input must be 4-D');
    const [n, c, h, w] = xS as [number, number, number, number];
    permuteInto(ctx, x, [n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4], out);
  },
});

// ---------- Concat / Split ----------

registerLowering({
  opType: 'Concat',
  lower: (ctx) => {
    const out = req(ctx.output(0), 'concat_result');
    const rank = out.shape.length;
    const axis = normAxis(ctx.attrs.int('axis', ctx.opset < 4 ? 1 : undefined), rank);
    const outSt = stridesOf(out.shape);
    const ins: { b: KBuffer; shape: number[] }[] = [];
    for (let i = 0; i < ctx.inputCount; i++) {
      const b = ctx.input(i);
      if (b) ins.push({ b, shape: inShape(ctx, i) });
    }
    ctx.kernel((kb) => {
      let off = 0;
      for (const { b, shape } of ins) {
        const inSt = stridesOf(shape);
        const dims: SDim[] = shape.map((n, d) => ({ n, st: [outSt[d]!, inSt[d]!] }));
        stridedCopy(kb, out, idx(off * outSt[axis]!), b, idx(0), dims);
        off += shape[axis]!;
      }
    });
  },
});

registerLowering({
  opType: 'Split',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const rank = xS.length;
    const axis = normAxis(ctx.attrs.int('axis', 0), rank);
    const inSt = stridesOf(xS);
    const outs: KBuffer[] = [];
    for (let i = 0; i < ctx.outputCount; i++) {
      const o = ctx.output(i);
      if (!o) throw unsupportedLowering('Split with an omitted output');
      outs.push(o);
    }
    ctx.kernel((kb) => {
      let start = 0;
      for (const o of outs) {
        const outSt = stridesOf(o.shape);
        const dims: SDim[] = o.shape.map((n, d) => ({ n, st: [outSt[d]!, inSt[d]!] }));
        stridedCopy(kb, o, idx(0), x, idx(start * inSt[axis]!), dims);
        start += o.shape[axis]!;
      }
    });
  },
});

// ---------- Slice ----------

function sliceStart(d: number, start: number, step: number): number {
  let s = start < 0 ? start + d : start;
  if (step > 0) s = Math.min(Math.max(s, 0), d);
  else s = Math.min(Math.max(s, 0), d - 1);
  return s;
}

/** Integer input i as numbers when constant, else null (omitted: undefined). */
function maybeInts(ctx: LowerContext, i: number): number[] | null | undefined {
  if (ctx.input(i) === null) return undefined;
  const c = ctx.constant(i);
  return c ? c.toIndexArray() : null;
}

registerLowering({
  opType: 'Slice',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'data');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const rank = xS.length;
    if (sizeOf(out.shape) === 0) return;
    let starts: number[] | null;
    let axes: number[] | null | undefined;
    let steps: number[] | null | undefined;
    let count: number;
    if (ctx.opset < 10) {
      starts = [...ctx.attrs.ints('starts')];
      axes = ctx.attrs.optInts('axes') ? [...ctx.attrs.ints('axes')] : undefined;
      steps = undefined;
      count = starts.length;
    } else {
      starts = maybeInts(ctx, 1) ?? null;
      axes = maybeInts(ctx, 3);
      steps = maybeInts(ctx, 4);
      count = sizeOf(req(ctx.input(1), 'starts').shape);
    }
    // one entry per sliced axis: the loop below is unrolled into the kernel, so bound it by the rank
    if (count > rank) throw new KilnError('type', `Slice has ${count} starts for an input of rank ${rank}`);
    const inSt = stridesOf(xS);
    const outSt = stridesOf(out.shape);
    ctx.kernel((kb) => {
      const start: (number | Expr)[] = new Array<number | Expr>(rank).fill(0);
      const step: (number | Expr)[] = new Array<number | Expr>(rank).fill(1);
      const i64 = (b: KBuffer, i: number): Expr => cast(load(b, idx(i)), 'i64');
      for (let i = 0; i < count; i++) {
        const axisN = axes === undefined ? i : axes === null ? null : normAxis(axes[i]!, rank);
        const stepV: number | Expr = steps === undefined ? 1 : steps === null ? kb.let('i64', i64(ctx.input(4)!, i), 's') : steps[i]!;
        if (stepV === 0) throw new KilnError('type', 'Slice step cannot be 0');
        const startV: number | Expr = starts === null ? kb.let('i64', i64(ctx.input(1)!, i), 's') : starts[i]!;
        const startFor = (d: number): number | Expr => {
          const D = xS[d]!;
          if (typeof stepV === 'number' && typeof startV === 'number') return sliceStart(D, startV, stepV);
          const v = typeof startV === 'number' ? lit('i64', startV) : startV;
          const w = select(lt(v, lit('i64', 0)), add(v, lit('i64', D)), v);
          const hi = typeof stepV === 'number' ? lit('i64', stepV > 0 ? D : D - 1) : select(gt(stepV, lit('i64', 0)), lit('i64', D), lit('i64', D - 1));
          return cast(min(max(w, lit('i64', 0)), hi), 'index');
        };
        const stepFor = (): number | Expr => (typeof stepV === 'number' ? stepV : cast(max(min(stepV, lit('i64', 1 << 30)), lit('i64', -(1 << 30))), 'index'));
        if (axisN !== null) {
          start[axisN] = startFor(axisN);
          step[axisN] = stepFor();
        } else {
          const ai = kb.let('index', cast(load(ctx.input(3)!, idx(i)), 'index'), 'a');
          const a = kb.let('index', select(lt(ai, idx(0)), add(ai, idx(rank)), ai), 'a');
          for (let d = 0; d < rank; d++) {
            const E = (v: number | Expr): Expr => (typeof v === 'number' ? idx(v) : v);
            start[d] = select(eq(a, idx(d)), E(startFor(d)), E(start[d]!));
            step[d] = select(eq(a, idx(d)), E(stepFor()), E(step[d]!));
          }
        }
      }
      // hoist runtime starts/steps (only the ones the loop nest uses)
      let base: Expr = idx(0);
      for (let d = 0; d < rank; d++) {
        const s = start[d]!;
        base = add(base, typeof s === 'number' ? idx(s * inSt[d]!) : mul(kb.let('index', s, 'b'), idx(inSt[d]!)));
      }
      const dims: SDim[] = out.shape.map((n, d) => {
        const st = step[d]!;
        return { n, st: [outSt[d]!, typeof st === 'number' ? st * inSt[d]! : n > 1 ? mul(kb.let('index', st, 'st'), idx(inSt[d]!)) : 0] };
      });
      stridedCopy(kb, out, idx(0), x, kb.let('index', base, 'base'), dims);
    });
  },
});

// ---------- Expand / Tile ----------

registerLowering({
  opType: 'Expand',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const rank = out.shape.length;
    const off = rank - xS.length;
    const inSt = stridesOf(xS);
    const outSt = stridesOf(out.shape);
    const dims: SDim[] = out.shape.map((n, d) => ({ n, st: [outSt[d]!, d < off || xS[d - off] === 1 ? 0 : inSt[d - off]!] }));
    ctx.kernel((kb) => stridedCopy(kb, out, idx(0), x, idx(0), dims));
  },
});

registerLowering({
  opType: 'Tile',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const inSt = stridesOf(xS);
    const outSt = stridesOf(out.shape);
    // out index along d = r·x_d + i: loops (r0, i0, r1, i1, …), innermost contiguous in both.
    const dims: SDim[] = [];
    xS.forEach((n, d) => {
      const reps = n === 0 ? 0 : out.shape[d]! / n;
      dims.push({ n: reps, st: [n * outSt[d]!, 0] }, { n, st: [outSt[d]!, inSt[d]!] });
    });
    ctx.kernel((kb) => stridedCopy(kb, out, idx(0), x, idx(0), dims));
  },
});
