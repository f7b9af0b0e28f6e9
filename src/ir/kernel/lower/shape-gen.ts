/** Lowerings of generators and masks: ConstantOfShape, Range, Shape, Size, EyeLike, Trilu, CenterCropPad, ReverseSequence. */
import { add, cast, ge, idx, lit, load, lt, max, min, mul, select, sub } from '../builder.js';
import { registerLowering } from '../lowering.js';
import type { Expr } from '../types.js';
import { computeType, isFloatT, req } from './common.js';
import { fill, normAxis, scalarInput, scalarLit, sizeOf, stridedCopy, stridedLoops, stridesOf, type SDim } from './shape-util.js';
import { inShape } from './shape-util.js';

registerLowering({
  opType: 'ConstantOfShape',
  lower: (ctx) => {
    const out = req(ctx.output(0), 'output');
    const v = ctx.attrs.optTensor('value') ?? null;
    if (sizeOf(out.shape) === 0) return;
    ctx.kernel((kb) => fill(kb, out, scalarLit(out.dtype, v)));
  },
});

/** Shape and Size of a static-shaped input: constant fills. */
registerLowering({
  opType: 'Shape',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'data');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'shape');
    const rank = xS.length;
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const s = clamp(ctx.attrs.int('start', 0));
    const end = ctx.attrs.optInt('end');
    const e = Math.max(s, end === undefined ? rank : clamp(end));
    const dims = xS.slice(s, e);
    if (dims.length === 0) return;
    ctx.kernel((kb) => dims.forEach((d, i) => kb.store(out, idx(i), lit('i64', BigInt(d)))));
  },
});

registerLowering({
  opType: 'Size',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'data');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'size');
    ctx.kernel((kb) => kb.store(out, idx(0), lit('i64', BigInt(sizeOf(xS)))));
  },
});

registerLowering({
  opType: 'Range',
  lower: (ctx) => {
    const out = req(ctx.output(0), 'output');
    const n = sizeOf(out.shape);
    if (n === 0) return;
    // floats in f64 (the interpreter computes start + i·delta in double), integers in their own type
    const t = isFloatT(out.dtype) ? 'f64' : computeType(out.dtype);
    const start = scalarInput(ctx, 0, t);
    const delta = scalarInput(ctx, 2, t);
    ctx.kernel((kb) => {
      const s = start.k === 'const' ? start : kb.let(t, start, 's');
      const d = delta.k === 'const' ? delta : kb.let(t, delta, 'd');
      kb.for(0, n, (i) => kb.store(out, i, add(s, mul(cast(i, t), d))));
    });
  },
});

registerLowering({
  opType: 'EyeLike',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const [R, C] = xS as [number, number];
    const k = ctx.attrs.int('k', 0);
    const ct = computeType(out.dtype);
    if (R * C === 0) return;
    ctx.kernel((kb) => {
      fill(kb, out, lit(ct, 0));
      const lo = Math.max(0, -k);
      const hi = Math.min(R, C - k);
      if (hi > lo) kb.for(lo, hi, (i) => kb.store(out, add(mul(i, idx(C)), add(i, idx(k))), lit(ct, 1)));
    });
  },
});

registerLowering({
  opType: 'Trilu',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const rank = xS.length;
    const N = xS[rank - 2]!;
    const M = xS[rank - 1]!;
    const batch = sizeOf(xS.slice(0, -2));
    if (sizeOf(xS) === 0) return;
    const upper = ctx.attrs.int('upper', 1) !== 0;
    const lim = N + M + 1;
    const kc = ctx.constant(1);
    const zero = lit(computeType(out.dtype), 0);
    ctx.kernel((kb) => {
      let k: Expr;
      if (kc) k = idx(Math.min(Math.max(kc.size ? kc.toIndexArray()[0]! : 0, -lim), lim));
      else if (ctx.input(1)) k = kb.let('index', cast(max(min(cast(load(ctx.input(1)!, idx(0)), 'i64'), lit('i64', lim)), lit('i64', -lim)), 'index'), 'k');
      else k = idx(0);
      const row = (base: Expr, i: Expr): void => {
        // upper keeps j ≥ i + k; lower keeps j ≤ i + k
        const split = kb.let('index', min(max(add(i, upper ? k : add(k, idx(1))), idx(0)), idx(M)), 'c');
        const zeroPart = (lo: Expr, hi: Expr): void => kb.for(lo, hi, (j) => kb.store(out, add(base, j), zero));
        const copyPart = (lo: Expr, hi: Expr): void => kb.for(lo, hi, (j) => kb.store(out, add(base, j), load(x, add(base, j))));
        if (upper) {
          zeroPart(idx(0), split);
          copyPart(split, idx(M));
        } else {
          copyPart(idx(0), split);
          zeroPart(split, idx(M));
        }
      };
      kb.for(0, batch, (b) => kb.for(0, N, (i) => row(kb.let('index', mul(add(mul(b, idx(N)), i), idx(M)), 'r'), i)));
    });
  },
});

registerLowering({
  opType: 'CenterCropPad',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input_data');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output_data');
    const rank = xS.length;
    const cropStart = new Array<number>(rank).fill(0);
    const padStart = new Array<number>(rank).fill(0);
    let padded = false;
    for (let a = 0; a < rank; a++) {
      const t = out.shape[a]!;
      const d = xS[a]!;
      if (t < d) cropStart[a] = Math.floor((d - t) / 2);
      else if (t > d) {
        padStart[a] = Math.floor((t - d) / 2);
        padded = true;
      }
    }
    void normAxis;
    if (sizeOf(out.shape) === 0) return;
    const inSt = stridesOf(xS);
    const outSt = stridesOf(out.shape);
    let ob = 0;
    let ib = 0;
    for (let a = 0; a < rank; a++) {
      ob += padStart[a]! * outSt[a]!;
      ib += cropStart[a]! * inSt[a]!;
    }
    const dims: SDim[] = out.shape.map((t, a) => ({ n: Math.min(t, xS[a]!), st: [outSt[a]!, inSt[a]!] }));
    ctx.kernel((kb) => {
      if (padded) fill(kb, out, lit(computeType(out.dtype), 0));
      stridedCopy(kb, out, idx(ob), x, idx(ib), dims);
    });
  },
});

registerLowering({
  opType: 'ReverseSequence',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const xS = inShape(ctx, 0);
    const lens = req(ctx.input(1), 'sequence_lens');
    const lensS = inShape(ctx, 1);
    const out = req(ctx.output(0), 'Y');
    const rank = xS.length;
    const ta = normAxis(ctx.attrs.int('time_axis', 0), rank);
    const ba = normAxis(ctx.attrs.int('batch_axis', 1), rank);
    if (sizeOf(xS) === 0) return;
    const st = stridesOf(xS);
    const T = xS[ta]!;
    // loop over (batch, time) then the other dims: the source time index is fixed per (b, t)
    const rest: SDim[] = xS.map((n, d) => ({ n: d === ta || d === ba ? 1 : n, st: [st[d]!] }));
    ctx.kernel((kb) => {
      kb.for(0, xS[ba]!, (b) => {
        const len = kb.let('index', cast(max(min(cast(load(lens, b), 'i64'), lit('i64', T)), lit('i64', 0)), 'index'), 'len');
        kb.for(0, T, (t) => {
          const src = kb.let('index', select(lt(t, len), sub(sub(len, idx(1)), t), t), 't');
          const ob = kb.let('index', add(mul(b, idx(st[ba]!)), mul(t, idx(st[ta]!))), 'o');
          const sb = kb.let('index', add(mul(b, idx(st[ba]!)), mul(src, idx(st[ta]!))), 'o');
          stridedLoops(kb, rest, [ob, sb], ([o, s]) => kb.store(out, o!, load(x, s!)));
        });
      });
    });
    void ge;
  },
});
