/** Lowerings of DFT, STFT and the window functions (Hann, Hamming, Blackman). */
import { KilnError } from '../../errors.js';
import { add, and, bin, cast, div, eq, ge, gt, idx, lit, load, lt, mod, mul, or, select, sub, un } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import { req } from './common.js';
import { constInt, fl, ld } from './misc-util.js';

const F = 'f64';

/** Fills cos/sin tables of 2πk/L (k < L), computed as the reference does. */
function twiddles(kb: KernelBuilder, tw: { cos: KBuffer; sin: KBuffer }, L: number): void {
  kb.for(0, L, (k) => {
    const ang = kb.let(F, div(mul(fl(F, 2 * Math.PI), cast(k, F)), fl(F, L)), 'ang');
    kb.store(tw.cos, k, un('cos', ang));
    kb.store(tw.sin, k, un('sin', ang));
  });
}

/**
 * One line of a complex DFT of length L from re/im temps (the first n entries nonzero): for each
 * k < outLen, emit(k, sumRe, sumIm). sign -1 forward, +1 inverse.
 */
function dftLine(kb: KernelBuilder, tw: { cos: KBuffer; sin: KBuffer }, re: KBuffer, im: KBuffer | null, L: number, n: number, sign: number, outLen: number, emit: (k: Expr, sr: Expr, si: Expr) => void): void {
  kb.for(0, outLen, (k) => {
    const sr = kb.let(F, fl(F, 0), 'sr');
    const si = kb.let(F, fl(F, 0), 'si');
    kb.for(0, n, (j) => {
      const p = kb.let('index', mod(mul(j, k), idx(L)), 'p');
      const c = kb.let(F, load(tw.cos, p), 'c');
      const s = kb.let(F, sign < 0 ? un('neg', load(tw.sin, p)) : load(tw.sin, p), 'sn');
      const r = kb.let(F, load(re, j), 'r');
      if (im) {
        const m = kb.let(F, load(im, j), 'm');
        kb.set(sr, add(sr, sub(mul(r, c), mul(m, s))));
        kb.set(si, add(si, add(mul(r, s), mul(m, c))));
      } else {
        kb.set(sr, add(sr, mul(r, c)));
        kb.set(si, add(si, mul(r, s)));
      }
    });
    emit(k, sr, si);
  });
}

/** A runtime integer scalar input as an i64 expression. */
const runtimeInt = (b: KBuffer): Expr => cast(load(b, idx(0)), 'i64');

registerLowering({
  opType: 'DFT',
  lower(ctx) {
    const X = req(ctx.input(0), 'input');
    const out = req(ctx.output(0), 'output');
    const r = X.shape.length;
    const inverse = ctx.attrs.int('inverse', 0) === 1;
    const onesided = ctx.attrs.int('onesided', 0) === 1;
    const c2r = inverse && onesided;
    const c = X.shape[r - 1]!;
    if (c !== 1 && c !== 2) throw new KilnError('runtime', `DFT input's last dimension must be 1 or 2, got ${c}`);
    // axis: attribute (opset < 20), constant input, or a run-time input (dispatch over the axes the
    // static output shape allows)
    let axes: number[];
    const axisB = ctx.opset >= 20 ? ctx.input(2) : null;
    const axisC = axisB ? constInt(ctx, 2) : null;
    if (ctx.opset < 20) axes = [ctx.attrs.int('axis', 1)];
    else if (!axisB) axes = [-2];
    else if (axisC !== null) axes = [axisC];
    else axes = Array.from({ length: r - 1 }, (_, i) => i);
    axes = axes.map((a) => (a < 0 ? a + r : a));
    for (const a of axes) if (a < 0 || a >= r - 1) throw new KilnError('type', `DFT axis ${a} is out of range for rank ${r}`);
    const lenB = ctx.input(1);
    const lenC = lenB ? constInt(ctx, 1) : null;
    const cases: { axis: number; L: number }[] = [];
    for (const axis of axes) {
      const n = X.shape[axis]!;
      const m = out.shape[axis]!;
      let Ls: number[];
      if (lenC !== null) Ls = [lenC];
      else if (!lenB) Ls = [c2r ? 2 * (n - 1) : n];
      else Ls = c2r ? [m] : onesided ? [2 * (m - 1), 2 * m - 1] : [m];
      for (const L of Ls) {
        if (!Number.isInteger(L) || L < 1) continue;
        const want = [...X.shape];
        want[axis] = c2r ? L : onesided ? Math.floor(L / 2) + 1 : L;
        want[r - 1] = c2r ? 1 : 2;
        if (want.every((d, i) => d === out.shape[i])) cases.push({ axis, L });
      }
    }
    if (cases.length === 0) throw new KilnError('type', 'DFT output shape does not match its parameters');
    const maxL = Math.max(...cases.map((q) => q.L));
    const tw = { cos: ctx.temp(F, [maxL], 'cos'), sin: ctx.temp(F, [maxL], 'sin') };
    const re = ctx.temp(F, [maxL], 're');
    const im = ctx.temp(F, [maxL], 'im');
    ctx.kernel((kb) => {
      for (const { axis, L } of cases) {
        const body = (): void => emitDft(kb, X, out, axis, L, inverse, onesided, tw, re, im);
        const conds: Expr[] = [];
        if (axisB && axisC === null) conds.push(or(eq(runtimeInt(axisB), lit('i64', axis)), eq(runtimeInt(axisB), lit('i64', axis - r))));
        if (lenB && lenC === null) conds.push(eq(runtimeInt(lenB), lit('i64', L)));
        if (conds.length === 0) body();
        else kb.if(conds.reduce((p, q) => and(p, q)), body);
      }
    });
  },
});

function emitDft(kb: KernelBuilder, X: KBuffer, out: KBuffer, axis: number, L: number, inverse: boolean, onesided: boolean, tw: { cos: KBuffer; sin: KBuffer }, re: KBuffer, im: KBuffer): void {
  const r = X.shape.length;
  const c = X.shape[r - 1]!;
  const n = X.shape[axis]!;
  const outer = X.shape.slice(0, axis).reduce((p, q) => p * q, 1);
  const inner = X.shape.slice(axis + 1, r - 1).reduce((p, q) => p * q, 1);
  const xAt = (o: Expr, k: Expr, i: Expr): Expr => mul(add(mul(add(mul(o, idx(n)), k), idx(inner)), i), idx(c));
  twiddles(kb, tw, L);
  if (inverse && onesided) {
    const half = Math.floor(L / 2) + 1;
    const m = Math.min(n, half);
    kb.for(0, outer, (o) =>
      kb.for(0, inner, (i) => {
        kb.for(0, L, (k) => {
          kb.store(re, k, fl(F, 0));
          kb.store(im, k, fl(F, 0));
        });
        kb.for(0, m, (k) => {
          const base = kb.let('index', xAt(o, k, i), 'xb');
          kb.store(re, k, ld(X, base, F));
          if (c === 2) kb.store(im, k, ld(X, add(base, idx(1)), F));
        });
        kb.store(im, idx(0), fl(F, 0));
        if (L % 2 === 0) kb.store(im, idx(L / 2), fl(F, 0));
        kb.for(half, L, (k) => {
          kb.store(re, k, load(re, sub(idx(L), k)));
          kb.store(im, k, un('neg', load(im, sub(idx(L), k))));
        });
        dftLine(kb, tw, re, im, L, L, 1, L, (k, sr) => kb.store(out, add(mul(add(mul(o, idx(L)), k), idx(inner)), i), div(sr, fl(F, L))));
      }),
    );
    return;
  }
  const outLen = onesided ? Math.floor(L / 2) + 1 : L;
  const m = Math.min(n, L);
  const scale = inverse ? 1 / L : 1;
  kb.for(0, outer, (o) =>
    kb.for(0, inner, (i) => {
      kb.for(0, m, (k) => {
        const base = kb.let('index', xAt(o, k, i), 'xb');
        kb.store(re, k, ld(X, base, F));
        if (c === 2) kb.store(im, k, ld(X, add(base, idx(1)), F));
      });
      dftLine(kb, tw, re, c === 2 ? im : null, L, m, inverse ? 1 : -1, outLen, (k, sr, si) => {
        const ob = kb.let('index', mul(add(mul(add(mul(o, idx(outLen)), k), idx(inner)), i), idx(2)), 'ob');
        kb.store(out, ob, scale === 1 ? sr : mul(sr, fl(F, scale)));
        kb.store(out, add(ob, idx(1)), scale === 1 ? si : mul(si, fl(F, scale)));
      });
    }),
  );
}

registerLowering({
  opType: 'STFT',
  lower(ctx) {
    const X = req(ctx.input(0), 'signal');
    const out = req(ctx.output(0), 'output');
    if (X.shape.length !== 3) throw new KilnError('runtime', 'STFT signal must be [batch, length, 1 or 2]');
    const onesided = ctx.attrs.int('onesided', 1) === 1;
    const stepB = req(ctx.input(1), 'frame_step');
    const stepC = constInt(ctx, 1);
    const win = ctx.input(2);
    const flB = ctx.input(3);
    const flC = flB ? constInt(ctx, 3) : null;
    const [batch, sigLen, c] = X.shape as [number, number, number];
    if (c !== 1 && c !== 2) throw new KilnError('runtime', 'STFT signal last dimension must be 1 or 2');
    const [, frames, bins] = out.shape as [number, number, number];
    let lens: number[];
    if (win) lens = [win.shape.reduce((p, q) => p * q, 1)];
    else if (flC !== null) lens = [flC];
    else if (flB) lens = onesided ? [2 * (bins - 1), 2 * bins - 1] : [bins];
    else throw new KilnError('runtime', 'STFT needs a window or a frame_length');
    lens = lens.filter((L) => L >= 1 && (onesided ? Math.floor(L / 2) + 1 : L) === bins && L <= sigLen);
    if (lens.length === 0) throw new KilnError('type', 'STFT output shape does not match its parameters');
    const maxL = Math.max(...lens);
    const tw = { cos: ctx.temp(F, [maxL], 'cos'), sin: ctx.temp(F, [maxL], 'sin') };
    const re = ctx.temp(F, [maxL], 're');
    const im = ctx.temp(F, [maxL], 'im');
    ctx.kernel((kb) => {
      const step = stepC !== null ? idx(stepC) : kb.let('index', cast(load(stepB, idx(0)), 'index'), 'step');
      for (const fLen of lens) {
        const body = (): void => {
          twiddles(kb, tw, fLen);
          kb.for(0, batch, (b) =>
            kb.for(0, frames, (f) => {
              const sb = kb.let('index', add(mul(b, idx(sigLen)), mul(f, step)), 'sb');
              kb.for(0, fLen, (t) => {
                const w = win ? kb.let(F, ld(win, t, F), 'w') : null;
                const base = kb.let('index', mul(add(sb, t), idx(c)), 'xb');
                const x0 = ld(X, base, F);
                kb.store(re, t, w ? mul(x0, w) : x0);
                if (c === 2) kb.store(im, t, w ? mul(ld(X, add(base, idx(1)), F), w) : ld(X, add(base, idx(1)), F));
              });
              dftLine(kb, tw, re, c === 2 ? im : null, fLen, fLen, -1, bins, (k, sr, si) => {
                const ob = kb.let('index', mul(add(mul(add(mul(b, idx(frames)), f), idx(bins)), k), idx(2)), 'ob');
                kb.store(out, ob, sr);
                kb.store(out, add(ob, idx(1)), si);
              });
            }),
          );
        };
        if (flB && flC === null) kb.if(eq(runtimeInt(flB), lit('i64', fLen)), body);
        else body();
      }
    });
  },
});

function windowLowering(opType: string, fn: (n: Expr, N: Expr) => Expr): void {
  registerLowering({
    opType,
    lower(ctx) {
      const out = req(ctx.output(0), 'output');
      const sizeB = req(ctx.input(0), 'size');
      const size = out.shape[0]!;
      const periodic = ctx.attrs.int('periodic', 1) === 1;
      ctx.kernel((kb) => {
        // the denominator comes from the run-time size (the output length is static)
        const N = kb.let(F, cast(load(sizeB, idx(0)), F), 'n');
        const denom = kb.let(F, periodic ? N : sub(N, fl(F, 1)), 'den');
        kb.for(0, size, (i) => kb.store(out, i, select(eq(denom, fl(F, 0)), fl(F, 1), fn(cast(i, F), denom))));
      });
    },
  });
}

const cosOf = (k: number, n: Expr, N: Expr): Expr => un('cos', div(mul(fl(F, k * Math.PI), n), N));
windowLowering('HannWindow', (n, N) => sub(fl(F, 0.5), mul(fl(F, 0.5), cosOf(2, n, N))));
windowLowering('HammingWindow', (n, N) => sub(fl(F, 25 / 46), mul(fl(F, 21 / 46), cosOf(2, n, N))));
windowLowering('BlackmanWindow', (n, N) => add(sub(fl(F, 0.42), mul(fl(F, 0.5), cosOf(2, n, N))), mul(fl(F, 0.08), cosOf(4, n, N))));

// ---------- MelWeightMatrix (run-time parameters; the output shape is static) ----------

registerLowering({
  opType: 'MelWeightMatrix',
  lower(ctx) {
    const numMelB = req(ctx.input(0), 'num_mel_bins');
    const dftB = req(ctx.input(1), 'dft_length');
    const srB = req(ctx.input(2), 'sample_rate');
    const loB = req(ctx.input(3), 'lower_edge_hertz');
    const hiB = req(ctx.input(4), 'upper_edge_hertz');
    const out = req(ctx.output(0), 'output');
    const [nSpec, numMel] = out.shape as [number, number];
    const bins = ctx.temp('i32', [numMel + 2], 'bins');
    const ln10 = Math.LN10;
    const scalar = (b: KBuffer): Expr => ld(b, idx(0), F);
    const mel = (hz: Expr): Expr => mul(fl(F, 2595), div(un('log', add(fl(F, 1), div(hz, fl(F, 700)))), fl(F, ln10)));
    ctx.kernel((kb) => {
      kb.for(0, nSpec * numMel, (e) => kb.store(out, e, fl(F, 0)));
      const dftLen = kb.let(F, scalar(dftB), 'dl');
      const sr = kb.let(F, scalar(srB), 'sr');
      const lowMel = kb.let(F, mel(scalar(loB)), 'lm');
      const highMel = kb.let(F, mel(scalar(hiB)), 'hm');
      const step = kb.let(F, div(sub(highMel, lowMel), add(scalar(numMelB), fl(F, 2))), 'st');
      kb.for(0, numMel + 2, (i) => {
        const hz = kb.let(F, mul(fl(F, 700), sub(bin('pow', fl(F, 10), div(add(mul(cast(i, F), step), lowMel), fl(F, 2595))), fl(F, 1))), 'hz');
        kb.store(bins, i, un('floor', div(mul(add(dftLen, fl(F, 1)), hz), sr)));
      });
      const at = (j: Expr, i: Expr): Expr => add(mul(j, idx(numMel)), i);
      const inRange = (j: Expr): Expr => and(ge(j, idx(0)), lt(j, idx(nSpec)));
      kb.for(0, numMel, (i) => {
        const lo = kb.let('index', cast(load(bins, i), 'index'), 'lo');
        const ce = kb.let('index', cast(load(bins, add(i, idx(1))), 'index'), 'ce');
        const hi = kb.let('index', cast(load(bins, add(i, idx(2))), 'index'), 'hi');
        kb.if(
          eq(ce, lo),
          () => kb.if(inRange(ce), () => kb.store(out, at(ce, i), fl(F, 1))),
          () => {
            const d = kb.let(F, cast(sub(ce, lo), F), 'd');
            kb.for(maxI(lo, idx(0)), minI(add(ce, idx(1)), idx(nSpec)), (j) => kb.store(out, at(j, i), div(cast(sub(j, lo), F), d)));
          },
        );
        kb.if(gt(hi, ce), () => {
          const d = kb.let(F, cast(sub(hi, ce), F), 'd');
          kb.for(maxI(ce, idx(0)), minI(hi, idx(nSpec)), (j) => kb.store(out, at(j, i), div(cast(sub(hi, j), F), d)));
        });
      });
    });
  },
});

const maxI = (a: Expr, b: Expr): Expr => bin('max', a, b);
const minI = (a: Expr, b: Expr): Expr => bin('min', a, b);
