/**
 * Schedule templates of the register-tiled fast paths (perf-gemm.ts, perf-conv.ts, the MatMul and
 * Gemm lowerings): the parameters a lowering takes instead of module constants, and the problem
 * descriptions a tiling policy (src/passes/tile.ts) chooses them for. The lowerings know nothing of
 * devices or costs; the `lower` pass hands them a policy built from the target's device profile.
 */
import type { ScalarType } from '../types.js';

/** Parameters of the register-tiled GEMM panel (perf-gemm.ts emitPanel). */
export interface GemmSchedule {
  /** Rows of the register tile (output rows sharing each loaded B vector). */
  readonly R: number;
  /** Columns of the register tile (output columns sharing each broadcast A value). */
  readonly W: number;
  /**
   * Reduction block: the K loop runs in blocks of kc (a kc×W slab of B stays in the fast memory
   * while every row block reuses it; partial sums go through the output). kc ≥ K: one block.
   */
  readonly kc: number;
}

/** A GEMM Y[M×N] = A[M×K]·B[K×N] (B rows contiguous) as the MatMul/Gemm lowerings see it. */
export interface GemmProblem {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** Independent GEMMs of this shape (batch). */
  readonly count: number;
  readonly accT: ScalarType;
  /** Whether partial sums can live in the output between K blocks (its type is the accumulator's). */
  readonly kBlockable: boolean;
}

/** A float convolution as the im2col/direct GEMM template sees it (per image and group). */
export interface ConvProblem {
  /** Output channels per group (GEMM rows), reduction length Cg·KH·KW, output rows and columns. */
  readonly Mg: number;
  readonly K: number;
  readonly OH: number;
  readonly OW: number;
  /** Images × groups: independent GEMMs of this shape. */
  readonly count: number;
  /** Input channels per group and the input image (bytes of X a gathered block reads). */
  readonly Cg: number;
  readonly IH: number;
  readonly IW: number;
  readonly KH: number;
  readonly SH: number;
  /** Whether X can be B directly (pointwise, stride 1, unpadded). */
  readonly canDirect: boolean;
  readonly accT: ScalarType;
  /** Bytes of the convolution's input and output tensors (live next to the scratch). */
  readonly ioBytes: number;
}

export interface ConvSchedule {
  readonly gemm: GemmSchedule;
  /** Read X as B directly (no gather). */
  readonly direct: boolean;
  /** Output rows per gathered block (a divisor of OH; OH when direct). */
  readonly rows: number;
}

/** A chosen schedule and the line the kernel IR dump shows for it. */
export interface Chosen<S> {
  readonly schedule: S;
  /** e.g. `R=8 W=32 kc=256 rows=7 im2col (searched 812 candidates; registers 32, L1 32 KiB)`. */
  readonly note: string;
}

/** Chooses the template parameters per kernel; null: the template does not pay (the plain loop nest is used). */
export interface TilePolicy {
  conv(p: ConvProblem): Chosen<ConvSchedule> | null;
  gemm(p: GemmProblem): Chosen<GemmSchedule> | null;
}

/** The GEMM parameters as the dump shows them. */
export function scheduleText(s: GemmSchedule, K: number): string {
  return `R=${s.R} W=${s.W} kc=${Math.min(s.kc, K)}${s.kc < K ? ` (${Math.ceil(K / s.kc)} K blocks)` : ''}`;
}
