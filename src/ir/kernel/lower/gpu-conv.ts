/**
 * Convolutions for GPU targets (LowerStyle 'gpu'): one loop nest over (batch, output channel,
 * output position) whose iterations are independent, each summing its own window in a local and
 * storing once, so map-gpu puts every output element on the dispatch grid and an invocation runs
 * only Cg × (kernel window) iterations. No scratch buffer is shared between iterations (the CPU
 * forms accumulate in the output or a per-block scratch, or gather im2col blocks, which forces one
 * long invocation on a GPU). The window is clipped per output position, so padding needs no checks.
 */
import { add, div, idx, load, lt, max, min, mul, select, sub } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import type { LowerContext } from '../lowering.js';
import type { Expr, KBuffer } from '../types.js';
import type { ConvGeom } from './conv-geom.js';
import type { ConvFns } from './nn-conv.js';

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/**
 * [lo, hi) of kernel taps k with base + k·dil in [0, R) (hi ≥ lo not guaranteed: an empty range
 * has hi ≤ lo). `base` is q·s − pad for output position q.
 */
function tapRange(kb: KernelBuilder, base: Expr, dil: number, R: number, K: number): [Expr, Expr] {
  // k ≥ ceil(−base / dil), clamped at 0 (a negative numerator only matters when base > 0, where 0 wins)
  const lo = kb.let('index', min(idx(K), max(idx(0), div(add(sub(idx(0), base), idx(dil - 1)), idx(dil)))), 'klo');
  const u = kb.let('index', sub(idx(R - 1), base), 'ku');
  const hi = kb.let('index', select(lt(u, idx(0)), idx(0), min(idx(K), add(div(u, idx(dil)), idx(1)))), 'khi');
  return [lo, hi];
}

/** A gathering convolution (Conv, ConvInteger) as independent per-output sums. */
export function emitConvGpu(ctx: LowerContext, g: ConvGeom, x: KBuffer, w: KBuffer, out: KBuffer, f: ConvFns): void {
  const nd = g.qSp.length;
  const nX = prod(g.rSp);
  const nY = prod(g.qSp);
  ctx.kernel((kb) => {
    kb.for(0, g.N, (n) => {
      kb.for(0, g.M, (oc) => {
        const gi = kb.let('index', div(oc, idx(g.Mg)), 'g');
        const m = kb.let('index', sub(oc, mul(gi, idx(g.Mg))), 'm');
        const yb = kb.let('index', mul(add(mul(n, idx(g.M)), oc), idx(nY)), 'yb');
        const qs: Expr[] = [];
        const position = (d: number, yOff: Expr): void => {
          kb.for(0, g.qSp[d]!, (q) => {
            qs.push(q);
            const yi = kb.let('index', add(mul(yOff, idx(g.qSp[d]!)), q), 'yi');
            if (d < nd - 1) position(d + 1, yi);
            else body(yi);
            qs.pop();
          });
        };
        const body = (yi: Expr): void => {
          const ranges: [Expr, Expr, Expr][] = [];
          for (let d = 0; d < nd; d++) {
            const base = kb.let('index', sub(mul(qs[d]!, idx(g.strides[d]!)), idx(g.pb[d]!)), 'rb');
            const [lo, hi] = tapRange(kb, base, g.dilations[d]!, g.rSp[d]!, g.kernel[d]!);
            ranges.push([lo, hi, base]);
          }
          const acc = kb.let(f.accT, f.init(oc), 'acc');
          kb.for(0, g.Cg, (c) => {
            const ic = kb.let('index', add(mul(gi, idx(g.Cg)), c), 'ic');
            const xb = kb.let('index', mul(add(mul(n, idx(g.C)), ic), idx(nX)), 'xb');
            const taps = (d: number, xOff: Expr, kOff: Expr): void => {
              const [lo, hi, base] = ranges[d]!;
              kb.for(lo, hi, (k) => {
                const xi = add(mul(xOff, idx(g.rSp[d]!)), add(base, mul(k, idx(g.dilations[d]!))));
                const kf = add(mul(kOff, idx(g.kernel[d]!)), k);
                if (d < nd - 1) {
                  taps(d + 1, kb.let('index', xi, 'xo'), kb.let('index', kf, 'ko'));
                  return;
                }
                const xv = f.xVal(load(x, add(xb, xi)), ic);
                const wv = f.wVal(load(w, f.wIndex(oc, c, ic, m, kf)), oc);
                kb.set(acc, add(acc, mul(wv, xv)));
              });
            };
            taps(0, idx(0), idx(0));
          });
          kb.store(out, add(yb, yi), f.epilogue ? f.epilogue(acc, oc) : acc);
        };
        position(0, idx(0));
      });
    });
  });
}
