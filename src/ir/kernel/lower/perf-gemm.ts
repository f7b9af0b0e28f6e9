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
import { add, cast, idx, load, mul, type KernelBuilder } from '../builder.js';
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
  /** flat index of B element (k, column 0); columns are contiguous */
  bRow: (kb: KernelBuilder, k: Expr) => Expr;
  init: (i: Expr) => Expr;
  /** stores the accumulator of (row i, column j) */
  store: (i: Expr, j: Expr, acc: Expr) => void;
}

/**
 * Y[i, j] = init(i) + Σ_k A[i, k]·B[k, j] over an M×N panel: column blocks outside (so a K×W slab
 * of B stays in cache while every row block reuses it), row blocks inside, ragged edges as smaller
 * tiles of compile-time size.
 */
export function emitPanel(kb: KernelBuilder, p: PanelSpec): void {
  const JB = tileCols(p.accT);
  const R = TILE_ROWS;
  const nFullJ = Math.floor(p.N / JB);
  const remJ = p.N % JB;
  const nFullR = Math.floor(p.M / R);
  const remR = p.M % R;
  const rowBlocks = (j0: Expr, W: number): void => {
    const tile = (i0: Expr, rows: number): void => {
      emitTile(kb, {
        accT: p.accT,
        R: rows,
        W,
        K: p.K,
        a: p.a,
        aIndex: (r, k) => p.aIndex(add(i0, idx(r)), k),
        b: p.b,
        bRow: (kb2, k) => add(p.bRow(kb2, k), j0),
        init: (r) => p.init(add(i0, idx(r))),
        store: (r, j, acc) => p.store(add(i0, idx(r)), add(j0, idx(j)), acc),
      });
    };
    if (nFullR > 0) {
      if (nFullR === 1) tile(idx(0), R);
      else kb.for(0, nFullR, (ib) => tile(kb.let('index', mul(ib, idx(R)), 'i'), R));
    }
    if (remR > 0) tile(idx(nFullR * R), remR);
  };
  if (nFullJ > 0) {
    if (nFullJ === 1) rowBlocks(idx(0), JB);
    else kb.for(0, nFullJ, (jb) => rowBlocks(kb.let('index', mul(jb, idx(JB)), 'j'), JB));
  }
  if (remJ > 0) rowBlocks(idx(nFullJ * JB), remJ);
}
