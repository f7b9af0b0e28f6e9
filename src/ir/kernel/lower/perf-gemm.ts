/**
 * Register-blocked GEMM building blocks for the performance-critical lowerings (Conv through
 * im2col, MatMul, Gemm).
 *
 * The micro-kernel computes an R×W tile of Y = A·B (A rows of length K, B rows contiguous in the
 * tile's W columns) with one scalar local per output element, the k loop outside and the W columns
 * written out as straight-line code. Backends that vectorize straight-line code (GCC/Clang SLP)
 * turn each row of W locals into a few vector registers that live across the whole k loop, so the
 * inner loop is R broadcast loads, W/vector-width loads of B and R·W/vector-width multiply-adds
 * with no stores. Summation order over k is the same as a plain dot product. R, W and the K block
 * are a GemmSchedule (schedule.ts) the caller gets from the target's tiling policy.
 */
import { add, cast, idx, load, min, mul, sub, type KernelBuilder } from '../builder.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import type { GemmSchedule } from './schedule.js';

export type { GemmSchedule } from './schedule.js';

export interface TileSpec {
  accT: ScalarType;
  /** rows and columns of this tile (compile-time) */
  R: number;
  W: number;
  /** the reduction runs over k in [k0, k1) */
  k0: Expr;
  k1: Expr;
  /** A: element (row r, k) is load(a, aIndex(r, k)) */
  a: KBuffer;
  aIndex: (r: number, k: Expr) => Expr;
  /** B: element (k, column j) is load(b, add(bRow(k), j)) */
  b: KBuffer;
  bRow: (kb: KernelBuilder, k: Expr) => Expr;
  /** initial accumulator of row r (every column), or of (r, j) */
  init: { row: (r: number) => Expr } | { at: (r: number, j: number) => Expr };
  /** stores the finished accumulator of (r, j) */
  store: (r: number, j: number, acc: Expr) => void;
}

const simple = (e: Expr): boolean => e.k === 'const' || e.k === 'var';

/** Emits one R×W tile (see the file comment). */
export function emitTile(kb: KernelBuilder, s: TileSpec): void {
  const accs: Expr[][] = [];
  for (let r = 0; r < s.R; r++) {
    const row: Expr[] = [];
    if ('row' in s.init) {
      const i = s.init.row(r);
      const i0 = simple(i) ? i : kb.let(s.accT, i, 'bi');
      for (let j = 0; j < s.W; j++) row.push(kb.let(s.accT, i0, 'a'));
    } else {
      for (let j = 0; j < s.W; j++) row.push(kb.let(s.accT, s.init.at(r, j), 'a'));
    }
    accs.push(row);
  }
  kb.for(s.k0, s.k1, (k) => {
    const ws: Expr[] = [];
    for (let r = 0; r < s.R; r++) ws.push(kb.let(s.accT, cast(load(s.a, s.aIndex(r, k)), s.accT), 'w'));
    const base = s.bRow(kb, k);
    const bb = simple(base) ? base : kb.let('index', base, 'cb');
    const cs: Expr[] = [];
    for (let j = 0; j < s.W; j++) cs.push(kb.let(s.accT, cast(load(s.b, add(bb, idx(j))), s.accT), 'c'));
    for (let r = 0; r < s.R; r++) {
      for (let j = 0; j < s.W; j++) kb.set(accs[r]![j]!, add(accs[r]![j]!, mul(ws[r]!, cs[j]!)));
    }
  });
  for (let r = 0; r < s.R; r++) for (let j = 0; j < s.W; j++) s.store(r, j, accs[r]![j]!);
}

/** Where partial sums live between K blocks (the output, when it has the accumulator type). */
export interface PartialSums {
  load: (i: Expr, j: Expr) => Expr;
  store: (i: Expr, j: Expr, v: Expr) => void;
  /** Whether PanelSpec.store writes the same element as `store` with the value unchanged (no finishing pass). */
  isFinal: boolean;
}

export interface PanelSpec {
  accT: ScalarType;
  /** register tile and K block */
  schedule: GemmSchedule;
  /** rows (M) and columns (N) of the panel, reduction length K */
  M: number;
  N: number;
  K: number;
  a: KBuffer;
  /** A element (row i, k) */
  aIndex: (i: Expr, k: Expr) => Expr;
  b: KBuffer;
  /**
   * Flat index of B element (k, column 0); columns are contiguous, and every row must be readable
   * up to the next multiple of schedule.W columns (the extra columns are computed and dropped).
   */
  bRow: (kb: KernelBuilder, k: Expr) => Expr;
  init: (i: Expr) => Expr;
  /** stores the accumulator of (row i, column j) */
  store: (i: Expr, j: Expr, acc: Expr) => void;
  /** R·W scratch for ragged edges; required when panelNeedsEdge */
  edge: KBuffer | null;
  /**
   * B rows are readable only up to column N: the last N % W columns get a narrower tile of their
   * own (a second copy of the tile code) instead of a full tile over padding.
   */
  exactCols?: boolean;
  /** Partial sums between K blocks; without it the schedule's kc is ignored (one K block). */
  partial?: PartialSums;
}

/** Whether a panel of M×N needs PanelSpec.edge under schedule s (exactCols: only ragged rows need it). */
export function panelNeedsEdge(M: number, N: number, s: GemmSchedule, exactCols = false): boolean {
  return M % s.R !== 0 || (!exactCols && N % s.W !== 0);
}

/**
 * Y[i, j] = init(i) + Σ_k A[i, k]·B[k, j] over an M×N panel with one tile shape (so one copy of
 * the tile code per panel): column blocks outside (a K×W slab of B stays in cache while every row
 * block reuses it), row blocks inside; with a K block kc < K, K blocks between them (a kc×W slab
 * stays in the fast memory), partial sums initialized to init(i) before the first block and read
 * back and stored by each tile (the summation order over k is unchanged: the partial sums have the
 * accumulator type). Ragged edges compute a full tile (rows beyond M repeat the last row, columns
 * beyond N read B's padding) into the edge scratch and copy the valid part.
 */
export function emitPanel(kb: KernelBuilder, p: PanelSpec): void {
  const W0 = p.schedule.W;
  const rem = p.N % W0;
  if (p.exactCols && rem !== 0) {
    const nFull = p.N - rem;
    if (nFull > 0) emitPanelCols(kb, p, W0, 0, nFull);
    emitPanelCols(kb, p, rem, nFull, p.N);
    return;
  }
  emitPanelCols(kb, p, W0, 0, p.N);
}

/** Columns [c0, c1) of the panel in tiles W wide (the last one ragged unless W divides c1 - c0). */
function emitPanelCols(kb: KernelBuilder, p: PanelSpec, W: number, c0: number, c1: number): void {
  const R = p.schedule.R;
  const kc = p.partial ? Math.max(1, Math.min(p.schedule.kc, p.K)) : p.K;
  const nKb = Math.ceil(p.K / kc);
  const part = nKb > 1 ? p.partial! : null;
  const N = c1 - c0;
  const nJ = Math.ceil(N / W);
  const nI = Math.ceil(p.M / R);
  const ragged = p.M % R !== 0 || N % W !== 0;
  const edge = p.edge;
  if (ragged && !edge) throw new Error('emitPanel: ragged panel without edge scratch');
  kb.for(0, nJ, (jb) => {
    const j0 = nJ === 1 ? idx(c0) : kb.let('index', add(mul(jb, idx(W)), idx(c0)), 'j');
    const wj = N % W === 0 ? idx(W) : kb.let('index', min(idx(W), sub(idx(c1), j0)), 'nc');
    const rowBlocks = (k0: Expr, k1: Expr): void => {
      kb.for(0, nI, (ib) => {
        const i0 = nI === 1 ? idx(0) : kb.let('index', mul(ib, idx(R)), 'i');
        const row = (r: number): Expr => (p.M % R === 0 ? add(i0, idx(r)) : min(add(i0, idx(r)), idx(p.M - 1)));
        const col = (j: number): Expr => (N % W === 0 ? add(j0, idx(j)) : min(add(j0, idx(j)), idx(c1 - 1)));
        const final = (i: Expr, j: Expr, v: Expr): void => (part ? part.store(i, j, v) : p.store(i, j, v));
        emitTile(kb, {
          accT: p.accT,
          R,
          W,
          k0,
          k1,
          a: p.a,
          aIndex: (r, k) => p.aIndex(row(r), k),
          b: p.b,
          bRow: (kb2, k) => add(p.bRow(kb2, k), j0),
          init: part ? { at: (r, j) => part.load(row(r), col(j)) } : { row: (r) => p.init(row(r)) },
          store: (r, j, acc) => (ragged ? kb.store(edge!, idx(r * W + j), acc) : final(add(i0, idx(r)), add(j0, idx(j)), acc)),
        });
        if (ragged) {
          const rows = p.M % R === 0 ? idx(R) : kb.let('index', min(idx(R), sub(idx(p.M), i0)), 'nr');
          kb.for(0, rows, (r) => kb.for(0, wj, (j) => final(add(i0, r), add(j0, j), load(edge!, add(mul(r, idx(W)), j)))));
        }
      });
    };
    if (!part) {
      rowBlocks(idx(0), idx(p.K));
      return;
    }
    // partial sums start at init(i); each K block adds its terms; a finishing pass applies the final store
    kb.for(0, p.M, (i) => {
      const v = kb.let(p.accT, p.init(i), 'bi');
      kb.for(0, wj, (j) => part.store(i, add(j0, j), v));
    });
    kb.for(0, nKb, (kblk) => {
      const k0 = kb.let('index', mul(kblk, idx(kc)), 'k');
      const k1 = p.K % kc === 0 ? add(k0, idx(kc)) : kb.let('index', min(add(k0, idx(kc)), idx(p.K)), 'ke');
      rowBlocks(k0, k1);
    });
    if (!part.isFinal) kb.for(0, p.M, (i) => kb.for(0, wj, (j) => p.store(i, add(j0, j), part.load(i, add(j0, j)))));
  });
}
