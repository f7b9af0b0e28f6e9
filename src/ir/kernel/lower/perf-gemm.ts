/**
 * Register-blocked GEMM building blocks for the performance-critical lowerings (Conv through
 * im2col, MatMul, Gemm).
 *
 * The micro-kernel computes an R×W tile of Y = A·B (A rows of length K, B rows contiguous in the
 * tile's W columns) with one scalar local per output element, the k loop outside and the W columns
 * written out as straight-line code. Backends that vectorize straight-line code (GCC/Clang SLP)
 * turn each row of W locals into a few vector registers that live across the whole k loop, so the
 * inner loop is R broadcast loads, W/vector-width loads of B and R·W/vector-width multiply-adds
 * with no stores. Summation order over k is the same as a plain dot product.
 */
import { add, cast, idx, load, min, mul, sub, type KernelBuilder } from '../builder.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';

/** Rows of a full tile. */
export const TILE_ROWS = 8;

/** Columns of a full tile: 32 four-byte values (or 16 eight-byte ones, or 64 narrower ones). */
export function tileCols(t: ScalarType): number {
  return t === 'f64' || t === 'i64' || t === 'u64' ? 16 : 32;
}

export interface TileSpec {
  accT: ScalarType;
  /** rows and columns of this tile (compile-time) */
  R: number;
  W: number;
  /** trip count of the reduction */
  K: number;
  /** A: element (row r, k) is load(a, aIndex(r, k)) */
  a: KBuffer;
  aIndex: (r: number, k: Expr) => Expr;
  /** B: element (k, column j) is load(b, add(bRow(k), j)) */
  b: KBuffer;
  bRow: (kb: KernelBuilder, k: Expr) => Expr;
  /** initial accumulator of row r */
  init: (r: number) => Expr;
  /** stores the finished accumulator of (r, j) */
  store: (r: number, j: number, acc: Expr) => void;
}

/** Emits one R×W tile (see the file comment). */
export function emitTile(kb: KernelBuilder, s: TileSpec): void {
  const inits: Expr[] = [];
  for (let r = 0; r < s.R; r++) inits.push(s.init(r));
  const accs: Expr[][] = [];
  for (let r = 0; r < s.R; r++) {
    const row: Expr[] = [];
    const i0 = inits[r]!.k === 'const' || inits[r]!.k === 'var' ? inits[r]! : kb.let(s.accT, inits[r]!, 'bi');
    for (let j = 0; j < s.W; j++) row.push(kb.let(s.accT, i0, 'a'));
    accs.push(row);
  }
  kb.for(0, s.K, (k) => {
    const ws: Expr[] = [];
    for (let r = 0; r < s.R; r++) ws.push(kb.let(s.accT, cast(load(s.a, s.aIndex(r, k)), s.accT), 'w'));
    const base = s.bRow(kb, k);
    const bb = base.k === 'const' || base.k === 'var' ? base : kb.let('index', base, 'cb');
    const cs: Expr[] = [];
    for (let j = 0; j < s.W; j++) cs.push(kb.let(s.accT, cast(load(s.b, add(bb, idx(j))), s.accT), 'c'));
    for (let r = 0; r < s.R; r++) {
      for (let j = 0; j < s.W; j++) kb.set(accs[r]![j]!, add(accs[r]![j]!, mul(ws[r]!, cs[j]!)));
    }
  });
  for (let r = 0; r < s.R; r++) for (let j = 0; j < s.W; j++) s.store(r, j, accs[r]![j]!);
}

export interface PanelSpec {
  accT: ScalarType;
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
   * up to the next multiple of tileCols(accT) columns (the extra columns are computed and dropped).
   */
  bRow: (kb: KernelBuilder, k: Expr) => Expr;
  init: (i: Expr) => Expr;
  /** stores the accumulator of (row i, column j) */
  store: (i: Expr, j: Expr, acc: Expr) => void;
  /** R·W scratch for ragged edges; required unless M and N are multiples of the tile */
  edge: KBuffer | null;
  /**
   * B rows are readable only up to column N: the last N % W columns get a narrower tile of their
   * own (a second copy of the tile code) instead of a full tile over padding.
   */
  exactCols?: boolean;
}

/** Whether a panel of M×N needs PanelSpec.edge. */
export function panelNeedsEdge(M: number, N: number, accT: ScalarType): boolean {
  return M % TILE_ROWS !== 0 || N % tileCols(accT) !== 0;
}

/**
 * Y[i, j] = init(i) + Σ_k A[i, k]·B[k, j] over an M×N panel with one tile shape (so one copy of
 * the tile code per panel): column blocks outside (a K×W slab of B stays in cache while every row
 * block reuses it), row blocks inside. Ragged edges compute a full tile (rows beyond M repeat the
 * last row, columns beyond N read B's padding) into the edge scratch and copy the valid part.
 */
export function emitPanel(kb: KernelBuilder, p: PanelSpec): void {
  const W0 = tileCols(p.accT);
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
  const R = TILE_ROWS;
  const N = c1 - c0;
  const nJ = Math.ceil(N / W);
  const nI = Math.ceil(p.M / R);
  const ragged = p.M % R !== 0 || N % W !== 0;
  const edge = p.edge;
  if (ragged && !edge) throw new Error('emitPanel: ragged panel without edge scratch');
  kb.for(0, nJ, (jb) => {
    const j0 = nJ === 1 ? idx(c0) : kb.let('index', add(mul(jb, idx(W)), idx(c0)), 'j');
    kb.for(0, nI, (ib) => {
      const i0 = nI === 1 ? idx(0) : kb.let('index', mul(ib, idx(R)), 'i');
      const row = (r: number): Expr => (p.M % R === 0 ? add(i0, idx(r)) : min(add(i0, idx(r)), idx(p.M - 1)));
      emitTile(kb, {
        accT: p.accT,
        R,
        W,
        K: p.K,
        a: p.a,
        aIndex: (r, k) => p.aIndex(row(r), k),
        b: p.b,
        bRow: (kb2, k) => add(p.bRow(kb2, k), j0),
        init: (r) => p.init(row(r)),
        store: (r, j, acc) => (ragged ? kb.store(edge!, idx(r * W + j), acc) : p.store(add(i0, idx(r)), add(j0, idx(j)), acc)),
      });
      if (ragged) {
        const rows = p.M % R === 0 ? idx(R) : kb.let('index', min(idx(R), sub(idx(p.M), i0)), 'nr');
        const cols = N % W === 0 ? idx(W) : kb.let('index', min(idx(W), sub(idx(c1), j0)), 'nc');
        kb.for(0, rows, (r) => kb.for(0, cols, (j) => p.store(add(i0, r), add(j0, j), load(edge!, add(mul(r, idx(W)), j)))));
      }
    });
  });
}
