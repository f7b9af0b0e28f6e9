/**
 * Lowerings of convolutions: Conv, ConvInteger, ConvTranspose.
 *
 * One loop-nest generator serves all of them. For each (batch, output-channel block, input channel,
 * kernel position) the spatial loops run over a range clipped so every access is in bounds (no
 * per-element padding checks), with the innermost loop over the last spatial dimension (unit stride
 * in the output for Conv, in the input for ConvTranspose). A block of up to four output channels
 * shares each loaded input value. Accumulation happens in the output buffer when it has the
 * accumulator type and no epilogue is needed, else in a small scratch buffer per channel block.
 */
import { KilnError } from '../../errors.js';
import { add, cast, div, idx, load, lt, max, min, mul, select, sub, lit } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { computeType, constOf, isFloatT, req } from './common.js';
import { resolveWindow, windowSpec } from '../../ops/nn-common.js';
import { convGemmApplies, emitConvGemm } from './perf-conv.js';
import { dwConvApplies, emitDwConv } from './perf-dwconv.js';
import type { ConvGeom } from './conv-geom.js';
import { emitConvGpu } from './gpu-conv.js';

export interface ConvFns {
  accT: ScalarType;
  /** x value (loaded) → accT, given the absolute input channel */
  xVal: (v: Expr, ic: Expr) => Expr;
  /** flat weight index for (output channel, input channel within group c, kernel flat k) and conversion */
  wIndex: (oc: Expr, icInGroup: Expr, ic: Expr, m: Expr, k: Expr) => Expr;
  wVal: (v: Expr, oc: Expr) => Expr;
  init: (oc: Expr) => Expr;
  /** converts the final accumulator to the stored value; null = store the accumulator as is */
  epilogue: ((acc: Expr, oc: Expr) => Expr) | null;
}

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/** [lo, hi) of q such that q*s + koff lies in [0, R), clamped to [0, Q). */
export function clip(kb: KernelBuilder, koff: Expr, s: number, R: number, Q: number | Expr): [Expr, Expr] {
  const t = sub(idx(0), koff);
  const lo = kb.let('index', max(idx(0), div(add(t, idx(s - 1)), idx(s))), 'lo');
  const u = kb.let('index', sub(idx(R - 1), koff), 'u');
  const hi = kb.let('index', select(lt(u, idx(0)), idx(0), min(typeof Q === 'number' ? idx(Q) : Q, add(div(u, idx(s)), idx(1)))), 'hi');
  return [lo, hi];
}

export function emitConv(ctx: LowerContext, g: ConvGeom, x: KBuffer, w: KBuffer, out: KBuffer, f: ConvFns): void {
  if (ctx.style === 'gpu' && g.gather) {
    emitConvGpu(ctx, g, x, w, out, f);
    return;
  }
  const nd = g.qSp.length;
  const xSp = g.gather ? g.rSp : g.qSp;
  const ySp = g.gather ? g.qSp : g.rSp;
  const nX = prod(xSp);
  const nY = prod(ySp);
  const nK = prod(g.kernel);
  const B = g.Mg % 4 === 0 ? 4 : g.Mg % 2 === 0 ? 2 : 1;
  const direct = f.epilogue === null && out.dtype === f.accT;
  const acc = direct ? out : ctx.temp(f.accT, [B, nY], 'acc');
  ctx.kernel((kb) => {
    kb.for(0, g.N, (n) => {
      kb.for(0, g.G, (gi) => {
        kb.for(0, g.Mg / B, (mb) => {
          const m0 = kb.let('index', mul(mb, idx(B)), 'm');
          const oc0 = kb.let('index', add(mul(gi, idx(g.Mg)), m0), 'oc');
          const ocs: Expr[] = [];
          const ms: Expr[] = [];
          const accBase: Expr[] = [];
          for (let b = 0; b < B; b++) {
            ocs.push(add(oc0, idx(b)));
            ms.push(add(m0, idx(b)));
            accBase.push(direct ? kb.let('index', mul(add(mul(n, idx(g.M)), ocs[b]!), idx(nY)), 'yb') : idx(b * nY));
          }
          for (let b = 0; b < B; b++) {
            const init = kb.let(f.accT, f.init(ocs[b]!), 'b');
            kb.for(0, nY, (o) => kb.store(acc, add(accBase[b]!, o), init));
          }
          kb.for(0, g.Cg, (c) => {
            const ic = kb.let('index', add(mul(gi, idx(g.Cg)), c), 'ic');
            const xBase = kb.let('index', mul(add(mul(n, idx(g.C)), ic), idx(nX)), 'xb');
            const kvars: Expr[] = [];
            const kLoop = (j: number): void => {
              if (j < nd) {
                kb.for(0, g.kernel[j]!, (k) => {
                  kvars.push(k);
                  kLoop(j + 1);
                  kvars.pop();
                });
                return;
              }
              let kflat: Expr = idx(0);
              for (let d = 0; d < nd; d++) kflat = add(mul(kflat, idx(g.kernel[d]!)), kvars[d]!);
              const kf = kb.let('index', kflat, 'kf');
              const ws: Expr[] = [];
              for (let b = 0; b < B; b++) ws.push(kb.let(f.accT, f.wVal(load(w, f.wIndex(ocs[b]!, c, ic, ms[b]!, kf)), ocs[b]!), 'w'));
              const koffs: Expr[] = [];
              for (let d = 0; d < nd; d++) koffs.push(kb.let('index', sub(mul(kvars[d]!, idx(g.dilations[d]!)), idx(g.pb[d]!)), 'ko'));
              const spatial = (d: number, qOff: Expr, rOff: Expr): void => {
                const [lo, hi] = clip(kb, koffs[d]!, g.strides[d]!, g.rSp[d]!, g.qSp[d]!);
                kb.for(lo, hi, (q) => {
                  const r = add(mul(q, idx(g.strides[d]!)), koffs[d]!);
                  if (d < nd - 1) {
                    const qo = kb.let('index', mul(add(qOff, q), idx(g.qSp[d + 1]!)), 'qo');
                    const ro = kb.let('index', mul(add(rOff, r), idx(g.rSp[d + 1]!)), 'ro');
                    spatial(d + 1, qo, ro);
                    return;
                  }
                  const qi = add(qOff, q);
                  const ri = add(rOff, r);
                  const xi = g.gather ? ri : qi;
                  const yi = g.gather ? qi : ri;
                  const xv = kb.let(f.accT, f.xVal(load(x, add(xBase, xi)), ic), 'x');
                  for (let b = 0; b < B; b++) {
                    const ai = add(accBase[b]!, yi);
                    kb.store(acc, ai, add(load(acc, ai), mul(ws[b]!, xv)));
                  }
                });
              };
              spatial(0, idx(0), idx(0));
            };
            kLoop(0);
          });
          if (!direct) {
            for (let b = 0; b < B; b++) {
              const yb = kb.let('index', mul(add(mul(n, idx(g.M)), ocs[b]!), idx(nY)), 'yb');
              kb.for(0, nY, (o) => {
                const a = load(acc, add(accBase[b]!, o));
                kb.store(out, add(yb, o), f.epilogue ? f.epilogue(a, ocs[b]!) : a);
              });
            }
          }
        });
      });
    });
  });
}

/** Conv-style geometry from attributes and static shapes (x [N,C,...], w [M,C/G,...]). */
function convGeom(ctx: LowerContext, xs: readonly number[], ws: readonly number[]): ConvGeom {
  if (xs.length < 3 || ws.length !== xs.length) throw new KilnError('type', 'conv input/weight ranks do not match');
  const nd = xs.length - 2;
  const spec = windowSpec(ctx.attrs, nd, ws.slice(2));
  const inSp = xs.slice(2);
  const win = resolveWindow(ctx.attrs, inSp, spec, false);
  const outSp = win.out.map((d) => {
    if (d === null) throw unsupportedLowering('conv with unknown output size');
    return d;
  });
  const G = ctx.attrs.int('group', 1);
  const C = xs[1]!;
  const M = ws[0]!;
  const Cg = ws[1]!;
  if (Cg * G !== C || M % G !== 0) throw new KilnError('type', 'conv channels do not match the group count');
  const geom: ConvGeom = {
    N: xs[0]!, G, C, M, Cg, Mg: M / G, qSp: outSp, rSp: inSp, kernel: spec.kernel, strides: spec.strides, dilations: spec.dilations, pb: win.pb, gather: true,
  };
  // pointwise convolution: flatten the spatial dims into one contiguous loop
  if (nd > 1 && spec.kernel.every((k) => k === 1) && spec.strides.every((s) => s === 1) && win.pb.every((p) => p === 0) && outSp.every((o, i) => o === inSp[i])) {
    const n = prod(inSp);
    return { ...geom, qSp: [n], rSp: [n], kernel: [1], strides: [1], dilations: [1], pb: [0] };
  }
  return geom;
}

/** Loaded value of an optional bias/zero-point-like vector at channel `ch` (scalar or per channel). */
function vecAt(b: KBuffer, ch: Expr): Expr {
  return load(b, b.shape.reduce((a, d) => a * d, 1) === 1 ? idx(0) : ch);
}

registerLowering({
  opType: 'Conv',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const w = req(ctx.input(1), 'W');
    const bias = ctx.input(2);
    const out = req(ctx.output(0), 'Y');
    if (!isFloatT(x.dtype)) throw unsupportedLowering(`Conv on ${x.dtype}`);
    const accT = computeType(x.dtype);
    const g = convGeom(ctx, x.shape, w.shape);
    // the fast paths tile for C compilers; GPU targets take emitConv's per-output form
    if (ctx.style === 'cpu' && dwConvApplies(g, x.dtype, out.dtype, accT)) {
      emitDwConv(ctx, g, x, w, bias, out, accT);
      return;
    }
    if (ctx.style === 'cpu' && convGemmApplies(g, x.dtype, out.dtype, accT)) {
      emitConvGemm(ctx, g, x, w, bias, out, accT);
      return;
    }
    const nK = prod(g.kernel);
    emitConv(ctx, g, x, w, out, {
      accT,
      xVal: (v) => cast(v, accT),
      wIndex: (oc, c, _ic, _m, k) => add(mul(add(mul(oc, idx(g.Cg)), c), idx(nK)), k),
      wVal: (v) => cast(v, accT),
      init: (oc) => (bias ? cast(load(bias, oc), accT) : constOf(accT, 0)),
      epilogue: null,
    });
  },
});

/** Integer conv core shared by ConvInteger and QLinearConv: x/w minus zero points, i32 accumulation. */
function integerConv(ctx: LowerContext, x: KBuffer, xzp: KBuffer | null, w: KBuffer, wzp: KBuffer | null, out: KBuffer, bias: KBuffer | null, epilogue: ConvFns['epilogue']): void {
  const g = convGeom(ctx, x.shape, w.shape);
  const nK = prod(g.kernel);
  const accT: ScalarType = 'i32';
  const sz = (b: KBuffer | null): number => (b ? b.shape.reduce((a, d) => a * d, 1) : 0);
  emitConv(ctx, g, x, w, out, {
    accT,
    xVal: (v, ic) => (xzp && sz(xzp) > 0 ? sub(cast(v, accT), cast(vecAt(xzp, ic), accT)) : cast(v, accT)),
    wIndex: (oc, c, _ic, _m, k) => add(mul(add(mul(oc, idx(g.Cg)), c), idx(nK)), k),
    wVal: (v, oc) => (wzp && sz(wzp) > 0 ? sub(cast(v, accT), cast(vecAt(wzp, oc), accT)) : cast(v, accT)),
    init: (oc) => (bias ? cast(load(bias, oc), accT) : lit(accT, 0)),
    epilogue,
  });
}

registerLowering({
  opType: 'ConvInteger',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'x');
    const w = req(ctx.input(1), 'w');
    const out = req(ctx.output(0), 'y');
    integerConv(ctx, x, ctx.input(2), w, ctx.input(3), out, null, null);
  },
});

// QLinearConv is lowered in nn-quant.ts (one i32 local per output element, no accumulator tensor).

// ---------- ConvTranspose ----------

registerLowering({
  opType: 'ConvTranspose',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const w = req(ctx.input(1), 'W');
    const bias = ctx.input(2);
    const out = req(ctx.output(0), 'Y');
    if (!isFloatT(x.dtype)) throw unsupportedLowering(`ConvTranspose on ${x.dtype}`);
    const xs = x.shape;
    const nd = xs.length - 2;
    const spec = windowSpec(ctx.attrs, nd, w.shape.slice(2));
    const G = ctx.attrs.int('group', 1);
    const C = xs[1]!;
    const Mg = w.shape[1]!;
    const inSp = xs.slice(2);
    const outSp = out.shape.slice(2);
    // begin pads, as the interpreter derives them
    const outPad = ctx.attrs.optInts('output_padding') ?? new Array<number>(nd).fill(0);
    const outShapeAttr = ctx.attrs.optInts('output_shape');
    const autoPad = ctx.attrs.string('auto_pad', 'NOTSET');
    const pads = ctx.attrs.optInts('pads');
    const pb: number[] = [];
    for (let i = 0; i < nd; i++) {
      const s = spec.strides[i]!;
      const dk = (spec.kernel[i]! - 1) * spec.dilations[i]! + 1;
      const op = outPad[i] ?? 0;
      if ((outShapeAttr && outShapeAttr.length) || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
        const os = outSp[i]!;
        let total = s * (inSp[i]! - 1) + op + dk - os;
        if (!(outShapeAttr && outShapeAttr.length)) total = Math.max(0, total);
        const half = Math.floor(total / 2);
        pb.push(autoPad === 'SAME_UPPER' ? half : total - half);
      } else pb.push(autoPad === 'VALID' || !pads || !pads.length ? 0 : pads[i]!);
    }
    const accT = computeType(x.dtype);
    const nK = prod(spec.kernel);
    const g: ConvGeom = {
      N: xs[0]!, G, C, M: Mg * G, Cg: C / G, Mg, qSp: inSp, rSp: outSp, kernel: spec.kernel, strides: spec.strides, dilations: spec.dilations, pb, gather: false,
    };
    emitConv(ctx, g, x, w, out, {
      accT,
      xVal: (v) => cast(v, accT),
      wIndex: (_oc, _c, ic, m, k) => add(mul(add(mul(ic, idx(Mg)), m), idx(nK)), k),
      wVal: (v) => cast(v, accT),
      init: (oc) => (bias ? cast(load(bias, oc), accT) : constOf(accT, 0)),
      epilogue: null,
    });
  },
});
