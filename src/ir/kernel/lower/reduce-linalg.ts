/** Lowerings of linear algebra: MatMul, Gemm, Einsum, Det. */
import { KilnError } from '../../errors.js';
import { gemmConfig, matmulShapes, parseEinsum, type MatmulShapes } from '../../ops/config/linalg.js';
import { add, broadcastIndex, cast, div, eq, flatIndex, gt, idx, load, mul, ne, sub, un, type KernelBuilder } from '../builder.js';
import { registerLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { computeType, constOf, isFloatT, req } from './common.js';
import { emitPanel, panelNeedsEdge, tileCols, TILE_ROWS } from './perf-gemm.js';
import { slpFriendlyStride } from './perf-conv.js';
import { Tensor } from '../../tensor.js';
import { FALSE, num, prodOf, shapeIn, TRUE } from './reduce-common.js';

/** Accumulation type of a product of values of element type t. */
function accType(t: ScalarType): ScalarType {
  return isFloatT(t) ? computeType(t) : t;
}

/** One GEMM instance for the register-tiled panel: Y[i, j] = Σ_k A(i, k)·B[bBase + k·N + j]. */
interface PanelGemm {
  M: number;
  K: number;
  N: number;
  t: ScalarType;
  A: KBuffer;
  aAt: (i: Expr, k: Expr) => Expr;
  B: KBuffer;
  bBase: Expr;
  store: (i: Expr, j: Expr, acc: Expr) => void;
}

/**
 * Whether the register-tiled panel of perf-gemm.ts (the one convolutions use) applies: float
 * operands of the accumulation type, at least one full tile of rows and of columns (so the tile is
 * never mostly padding), and a row stride of B that keeps the tile in registers (see
 * slpFriendlyStride; convolutions pad their gathered rows to one, B here is read in place).
 */
function panelApplies(ctx: LowerContext, t: ScalarType, M: number, K: number, N: number, ...bufs: KBuffer[]): boolean {
  if (ctx.style === 'gpu' || (t !== 'f32' && t !== 'f64')) return false;
  return bufs.every((b) => b.dtype === t) && M >= TILE_ROWS && N >= tileCols(t) && K >= 2 && slpFriendlyStride(N) === N;
}

/** Scratch for the panel's ragged edges (null when the tiles divide M and N). */
function panelEdge(ctx: LowerContext, t: ScalarType, M: number, N: number): KBuffer | null {
  return panelNeedsEdge(M, N, t) ? ctx.temp(t, [TILE_ROWS * tileCols(t)], 'tile') : null;
}

function emitPanelGemm(kb: KernelBuilder, g: PanelGemm, edge: KBuffer | null): void {
  emitPanel(kb, {
    accT: g.t,
    M: g.M,
    N: g.N,
    K: g.K,
    a: g.A,
    aIndex: g.aAt,
    b: g.B,
    bRow: (_kb, k) => add(g.bBase, mul(k, idx(g.N))),
    init: () => constOf(g.t, 0),
    store: g.store,
    edge,
    // B's rows end at column N: the last columns get a narrower tile, never a read past them
    exactCols: true,
  });
}

// ---------------------------------------------------------------- MatMul

registerLowering({
  opType: 'MatMul',
  lower: (ctx) => {
    const A = req(ctx.input(0), 'A');
    const B = req(ctx.input(1), 'B');
    const aShape = shapeIn(ctx, 0);
    const bShape = shapeIn(ctx, 1);
    const Y = req(ctx.output(0), 'Y');
    const { M, K, N, batch, abatch, bbatch } = matmulShapes(aShape, bShape, 'type');
    const t = accType(A.dtype);
    lowerMatmulCore(ctx, { A, B, Y, t, M, K, N, batch, abatch, bbatch });
  },
});

interface MatmulSpec extends Omit<MatmulShapes, 'outShape'> {
  A: KBuffer;
  B: KBuffer;
  Y: KBuffer;
  t: ScalarType;
}

/**
 * Y[b] = A[b] · B[b] in i-k-j order: each output row accumulates (in the output when it has the
 * accumulation type, else in a scratch row) over rows of B, so the innermost loop is contiguous.
 */
function lowerMatmulCore(ctx: LowerContext, s: MatmulSpec): void {
  const { A, B, Y, t, M, K, N } = s;
  if (ctx.style === 'gpu') {
    // GPU targets: every output element its own dot product in a local (independent iterations
    // over batch, rows and columns for map-gpu; no scratch row shared between them)
    ctx.kernel((kb) => {
      kb.loops(s.batch, (bix) => {
        const aOff = mul(broadcastIndex(bix, s.abatch), idx(M * K));
        const bOff = mul(broadcastIndex(bix, s.bbatch), idx(K * N));
        const oOff = mul(flatIndex(bix, s.batch), idx(M * N));
        const aBase = aOff.k === 'const' ? aOff : kb.let('index', aOff, 'ab');
        const bBase = bOff.k === 'const' ? bOff : kb.let('index', bOff, 'bb');
        const oBase = oOff.k === 'const' ? oOff : kb.let('index', oOff, 'ob');
        kb.for(0, M, (i) => {
          const aRow = kb.let('index', add(aBase, mul(i, idx(K))), 'arow');
          kb.for(0, N, (j) => {
            const acc = kb.let(t, num(t, 0), 'acc');
            kb.for(0, K, (k) => kb.set(acc, add(acc, mul(cast(load(A, add(aRow, k)), t), cast(load(B, add(bBase, add(mul(k, idx(N)), j))), t)))));
            kb.store(Y, add(oBase, add(mul(i, idx(N)), j)), cast(acc, Y.dtype));
          });
        });
      });
    });
    return;
  }
  if (panelApplies(ctx, t, M, K, N, A, B, Y)) {
    const edge = panelEdge(ctx, t, M, N);
    ctx.kernel((kb) => {
      kb.loops(s.batch, (bix) => {
        const aOff = mul(broadcastIndex(bix, s.abatch), idx(M * K));
        const bOff = mul(broadcastIndex(bix, s.bbatch), idx(K * N));
        const oOff = mul(flatIndex(bix, s.batch), idx(M * N));
        const aBase = aOff.k === 'const' ? aOff : kb.let('index', aOff, 'ab');
        const bBase = bOff.k === 'const' ? bOff : kb.let('index', bOff, 'bb');
        const oBase = oOff.k === 'const' ? oOff : kb.let('index', oOff, 'ob');
        emitPanelGemm(kb, { M, K, N, t, A, aAt: (i, k) => add(aBase, add(mul(i, idx(K)), k)), B, bBase, store: (i, j, acc) => kb.store(Y, add(oBase, add(mul(i, idx(N)), j)), acc) }, edge);
      });
    });
    return;
  }
  const direct = Y.dtype === t;
  const row = direct ? Y : N > 0 ? ctx.temp(t, [N], 'row') : Y;
  ctx.kernel((kb) => {
    kb.loops(s.batch, (bix) => {
      const aOff = mul(broadcastIndex(bix, s.abatch), idx(M * K));
      const bOff = mul(broadcastIndex(bix, s.bbatch), idx(K * N));
      const oOff = mul(flatIndex(bix, s.batch), idx(M * N));
      const aBase = aOff.k === 'const' ? aOff : kb.let('index', aOff, 'ab');
      const bBase = bOff.k === 'const' ? bOff : kb.let('index', bOff, 'bb');
      kb.for(0, M, (i) => {
        const oRow = kb.let('index', add(oOff, mul(i, idx(N))), 'orow');
        const aRow = kb.let('index', add(aBase, mul(i, idx(K))), 'arow');
        const r = (j: Expr): Expr => (direct ? add(oRow, j) : j);
        kb.for(0, N, (j) => kb.store(row, r(j), num(t, 0)));
        kb.for(0, K, (k) => {
          const a = kb.let(t, cast(load(A, add(aRow, k)), t), 'a');
          const bRow = kb.let('index', add(bBase, mul(k, idx(N))), 'brow');
          kb.for(0, N, (j) => kb.store(row, r(j), add(load(row, r(j)), mul(a, cast(load(B, add(bRow, j)), t)))));
        });
        if (!direct) kb.for(0, N, (j) => kb.store(Y, add(oRow, j), load(row, j)));
      });
    });
  });
}

// ---------------------------------------------------------------- Gemm

registerLowering({
  opType: 'Gemm',
  lower: (ctx) => {
    const A = req(ctx.input(0), 'A');
    const B = req(ctx.input(1), 'B');
    const aShape = shapeIn(ctx, 0);
    const bShape = shapeIn(ctx, 1);
    const C = ctx.input(2);
    const Y = req(ctx.output(0), 'Y');
    const { transA: ta, transB: tb, alpha, beta, M, K, N, c: cStr } = gemmConfig(ctx.attrs, aShape, bShape, C ? shapeIn(ctx, 2) : null, 'type');
    const t = accType(A.dtype);
    // the epilogue runs in float for integer data (alpha and beta are floats)
    const et: ScalarType = isFloatT(A.dtype) ? t : 'f64';
    let cIdx: ((i: Expr, j: Expr) => Expr) | null = null;
    if (C && cStr) {
      const { rowStride: ci, colStride: cj } = cStr;
      cIdx = (i, j) => add(mul(i, idx(ci)), mul(j, idx(cj)));
    }
    const aAt = (i: Expr, k: Expr): Expr => (ta ? add(mul(k, idx(M)), i) : add(mul(i, idx(K)), k));
    const epilogue = (acc: Expr, i: Expr, j: Expr): Expr => {
      let v = cast(acc, et);
      if (alpha !== 1) v = mul(v, num(et, alpha));
      if (cIdx && C) v = add(v, mul(num(et, beta), cast(load(C, cIdx(i, j)), et)));
      return v;
    };
    // a constant B stored N x K is transposed at compile time (PyTorch exports Linear that way), so
    // that the tiled panel can read its rows (the original is dropped when nothing else reads it)
    const bData = tb ? ctx.constant(1) : null;
    if (panelApplies(ctx, t, M, K, N, A, B, Y) && (!tb || bData)) {
      let Bk = B;
      if (bData) {
        const tr = Tensor.zeros(bData.dtype, [K, N]);
        for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) tr.setScalar(k * N + n, bData.get(n * K + k));
        Bk = ctx.constTable(tr, 'bt');
      }
      const edge = panelEdge(ctx, t, M, N);
      ctx.kernel((kb) => emitPanelGemm(kb, { M, K, N, t, A, aAt, B: Bk, bBase: idx(0), store: (i, j, acc) => kb.store(Y, add(mul(i, idx(N)), j), epilogue(acc, i, j)) }, edge));
      return;
    }
    if (tb || ctx.style === 'gpu') {
      // B is stored N x K: a dot product over contiguous rows of A (when not transposed) and B;
      // GPU targets take this form for any B (independent outputs, no scratch row)
      ctx.kernel((kb) => {
        kb.for(0, M, (i) => {
          kb.for(0, N, (j) => {
            const bRow = kb.let('index', tb ? mul(j, idx(K)) : j, 'brow');
            const bAt = (k: Expr): Expr => (tb ? add(bRow, k) : add(bRow, mul(k, idx(N))));
            const acc = kb.let(t, num(t, 0), 'acc');
            kb.for(0, K, (k) => kb.set(acc, add(acc, mul(cast(load(A, aAt(i, k)), t), cast(load(B, bAt(k)), t)))));
            kb.store(Y, add(mul(i, idx(N)), j), epilogue(acc, i, j));
          });
        });
      });
      return;
    }
    const direct = Y.dtype === t;
    const row = direct ? Y : N > 0 ? ctx.temp(t, [N], 'row') : Y;
    ctx.kernel((kb) => {
      kb.for(0, M, (i) => {
        const oRow = kb.let('index', mul(i, idx(N)), 'orow');
        const r = (j: Expr): Expr => (direct ? add(oRow, j) : j);
        kb.for(0, N, (j) => kb.store(row, r(j), num(t, 0)));
        kb.for(0, K, (k) => {
          const a = kb.let(t, cast(load(A, aAt(i, k)), t), 'a');
          const bRow = kb.let('index', mul(k, idx(N)), 'brow');
          kb.for(0, N, (j) => kb.store(row, r(j), add(load(row, r(j)), mul(a, cast(load(B, add(bRow, j)), t)))));
        });
        kb.for(0, N, (j) => kb.store(Y, add(oRow, j), epilogue(load(row, r(j)), i, j)));
      });
    });
  },
});

// ---------------------------------------------------------------- Einsum

registerLowering({
  opType: 'Einsum',
  lower: (ctx) => {
    const eqn = ctx.attrs.string('equation');
    const xs: KBuffer[] = [];
    for (let i = 0; i < ctx.inputCount; i++) xs.push(req(ctx.input(i), `input ${i}`));
    if (xs.length === 0) throw new KilnError('type', 'Einsum needs at least one input');
    const Y = req(ctx.output(0), 'Output');
    const shapes = xs.map((_, i) => shapeIn(ctx, i));
    const plan = parseEinsum(eqn, shapes.map((sh) => sh.length));
    const size = new Map<string, number>();
    plan.inputs.forEach((labels, i) => {
      labels.forEach((l, k) => {
        const d = shapes[i]![k]!;
        const cur = size.get(l);
        if (cur === undefined || cur === 1) size.set(l, d);
        else if (d !== cur && !(d === 1 && /^[0-9]+$/.test(l))) throw new KilnError('type', `Einsum index '${l}' has sizes ${cur} and ${d}`);
      });
    });
    const rest = [...size.keys()].filter((l) => !plan.output.includes(l));
    const outShape = plan.output.map((l) => size.get(l)!);
    // per operand and label: the element stride (summed over a repeated label: a diagonal)
    const strides = shapes.map((sh, q) => {
      const m = new Map<string, number>();
      let st = 1;
      for (let k = sh.length - 1; k >= 0; k--) {
        const l = plan.inputs[q]![k]!;
        if (sh[k] !== 1) m.set(l, (m.get(l) ?? 0) + st);
        st *= sh[k]!;
      }
      return m;
    });
    const t = accType(xs[0]!.dtype);
    const offset = (q: number, vars: Map<string, Expr>): Expr => {
      let e: Expr = idx(0);
      for (const [l, st] of strides[q]!) e = add(e, mul(vars.get(l)!, idx(st)));
      return e;
    };
    const nest = (kb: KernelBuilder, labels: readonly string[], vars: Map<string, Expr>, fn: () => void, k = 0): void => {
      if (k === labels.length) {
        fn();
        return;
      }
      const l = labels[k]!;
      const n = size.get(l)!;
      if (n === 1) {
        vars.set(l, idx(0));
        nest(kb, labels, vars, fn, k + 1);
        return;
      }
      kb.for(0, n, (v) => {
        vars.set(l, v);
        nest(kb, labels, vars, fn, k + 1);
      });
    };
    const term = (vars: Map<string, Expr>): Expr => xs.map((x, q) => cast(load(x, offset(q, vars)), t)).reduce((a, b) => mul(a, b));
    const lastOut = plan.output[plan.output.length - 1];
    const outN = prodOf(outShape);
    if (rest.length > 0 && lastOut !== undefined && outN > 0 && plan.inputs.some((ls) => ls[ls.length - 1] === lastOut)) {
      // like a matrix product: the output's contiguous label innermost, accumulating into an output row
      const acc = Y.dtype === t ? Y : ctx.temp(t, outShape, 'acc');
      ctx.kernel((kb) => {
        kb.for(0, outN, (o) => kb.store(acc, o, num(t, 0)));
        const vars = new Map<string, Expr>();
        nest(kb, plan.output.slice(0, -1), vars, () => {
          nest(kb, rest, vars, () => {
            nest(kb, [lastOut], vars, () => {
              const o = flatIndex(plan.output.map((l) => vars.get(l)!), outShape);
              kb.store(acc, o, add(load(acc, o), term(vars)));
            });
          });
        });
        if (acc !== Y) kb.for(0, outN, (o) => kb.store(Y, o, load(acc, o)));
      });
      return;
    }
    ctx.kernel((kb) => {
      const vars = new Map<string, Expr>();
      nest(kb, plan.output, vars, () => {
        const o = flatIndex(plan.output.map((l) => vars.get(l)!), outShape);
        if (rest.length === 0) {
          kb.store(Y, o, term(vars));
          return;
        }
        const acc = kb.let(t, num(t, 0), 'acc');
        nest(kb, rest, vars, () => kb.set(acc, add(acc, term(vars))));
        kb.store(Y, o, acc);
      });
    });
  },
});

// ---------------------------------------------------------------- Det

registerLowering({
  opType: 'Det',
  lower: (ctx) => {
    const X = req(ctx.input(0), 'X');
    const xShape = shapeIn(ctx, 0);
    const Y = req(ctx.output(0), 'Y');
    const r = xShape.length;
    if (r < 2 || xShape[r - 1] !== xShape[r - 2]) throw new KilnError('type', 'Det input must be a batch of square matrices');
    const n = xShape[r - 1]!;
    const nb = prodOf(xShape, 0, r - 2);
    // LU factorization with partial pivoting in double precision, on a scratch copy of each matrix
    const t: ScalarType = 'f64';
    if (n === 0) {
      ctx.kernel((kb) => kb.for(0, nb, (b) => kb.store(Y, b, num(t, 1))));
      return;
    }
    const m = ctx.temp(t, [n * n], 'lu');
    const at = (i: Expr, j: Expr): Expr => add(mul(i, idx(n)), j);
    ctx.kernel((kb) => {
      kb.for(0, nb, (b) => {
        const base = kb.let('index', mul(b, idx(n * n)), 'base');
        kb.for(0, n * n, (i) => kb.store(m, i, cast(load(X, add(base, i)), t)));
        const det = kb.let(t, num(t, 1), 'det');
        const done = kb.let('bool', FALSE, 'done');
        kb.for(0, n, (c) => {
          kb.if(un('not', done), () => {
            const p = kb.let('index', c, 'p');
            kb.for(add(c, idx(1)), n, (i) => {
              kb.if(gt(un('abs', load(m, at(i, c))), un('abs', load(m, at(p, c)))), () => kb.set(p, i));
            });
            const pv = kb.let(t, load(m, at(p, c)), 'pv');
            kb.if(eq(pv, num(t, 0)), () => {
              kb.set(det, num(t, 0));
              kb.set(done, TRUE);
            }, () => {
              kb.if(ne(p, c), () => {
                kb.for(0, n, (j) => {
                  const tmp = kb.let(t, load(m, at(c, j)), 'tmp');
                  kb.store(m, at(c, j), load(m, at(p, j)));
                  kb.store(m, at(p, j), tmp);
                });
                kb.set(det, un('neg', det));
              });
              kb.set(det, mul(det, pv));
              kb.for(add(c, idx(1)), n, (i) => {
                const f = kb.let(t, div(load(m, at(i, c)), pv), 'f');
                kb.if(ne(f, num(t, 0)), () => {
                  kb.for(c, n, (j) => kb.store(m, at(i, j), sub(load(m, at(i, j)), mul(f, load(m, at(c, j))))));
                });
              });
            });
          });
        });
        kb.store(Y, b, det);
      });
    });
  },
});

