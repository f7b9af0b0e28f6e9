/**
 * Kernel IR: what graph ops are lowered to, once, for every backend. A program is a list of buffers
 * (element type, shape, role; after planning a memory level and offset) and kernels, each a tree of
 * loops over index expressions with scalar loads, stores, locals and arithmetic. Schedule decisions
 * (parallel/vector/unroll/pipeline marks, tiles) are annotations on loops, so backends and the cost
 * model read kernels without knowing which op they came from.
 *
 * Scalar semantics: integer arithmetic wraps to the type's width; integer division truncates toward
 * zero and division by zero gives 0; narrow float types (f16, bf16, f8*) are computed in f32 and
 * rounded (half to even) when stored or cast; 'index' is the integer type of loop variables and
 * flat indices (32-bit on every target).
 */
import type { DType } from '../dtype.js';
import type { Tensor } from '../tensor.js';

export type ScalarType = Exclude<DType, 'string' | 'c64' | 'c128'> | 'index';

export type BinOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'fmod' | 'min' | 'max' | 'pow' | 'atan2'
  | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne'
  | 'and' | 'or' | 'xor' | 'bitand' | 'bitor' | 'bitxor' | 'shl' | 'shr';

export type UnOp =
  | 'neg' | 'abs' | 'sqrt' | 'exp' | 'log' | 'sin' | 'cos' | 'tan' | 'asin' | 'acos' | 'atan'
  | 'sinh' | 'cosh' | 'tanh' | 'asinh' | 'acosh' | 'atanh' | 'erf' | 'floor' | 'ceil' | 'round' | 'trunc'
  | 'not' | 'bitnot' | 'isnan' | 'isinf' | 'sign' | 'recip';

export type Expr =
  | { readonly k: 'const'; readonly t: ScalarType; readonly v: number | bigint }
  | { readonly k: 'var'; readonly t: ScalarType; readonly name: string }
  | { readonly k: 'load'; readonly t: ScalarType; readonly buf: KBuffer; readonly idx: Expr }
  | { readonly k: 'bin'; readonly t: ScalarType; readonly op: BinOp; readonly a: Expr; readonly b: Expr }
  | { readonly k: 'un'; readonly t: ScalarType; readonly op: UnOp; readonly a: Expr }
  | { readonly k: 'cast'; readonly t: ScalarType; readonly a: Expr }
  | { readonly k: 'select'; readonly t: ScalarType; readonly c: Expr; readonly a: Expr; readonly b: Expr };

/** Schedule marks on a loop; they never change results. */
export interface LoopAnnotations {
  parallel?: boolean;
  /**
   * Host threads a `parallel` loop runs on (set by the parallelize pass; `parallel <n>` in text):
   * the C backend renders it as an OpenMP parallel for over n threads, iterations split into n
   * static chunks. Absent: the mark is informational and C runs the loop serially.
   */
  threads?: number;
  vectorize?: number;
  unroll?: number;
  pipeline?: boolean;
  /** Requested initiation interval of a pipelined loop (`pipeline <ii>`; HLS: operators shared by ii iterations); absent: 1. */
  ii?: number;
  /**
   * GPU mapping (chosen by the map-gpu pass): the loop's iterations become invocations along one
   * axis of the dispatch grid, `workgroup` of them per workgroup. Only on loops whose iterations are
   * independent; CPU backends and the interpreter run the loop as written.
   */
  gpu?: GpuMapping;
}

export type GpuDim = 'x' | 'y' | 'z';

export interface GpuMapping {
  readonly dim: GpuDim;
  /**
   * 'group': the loop runs over workgroups (one iteration per workgroup; `workgroup` is the size of
   * each); 'local': over the invocations of the enclosing group loop's workgroup. Absent: over the
   * whole grid (workgroup_size × groups invocations).
   */
  readonly scope?: 'group' | 'local';
  readonly workgroup: number;
}

export type Stmt =
  | { readonly k: 'for'; readonly v: string; readonly lo: Expr; readonly hi: Expr; readonly body: Stmt[]; readonly ann: LoopAnnotations }
  | { readonly k: 'store'; readonly buf: KBuffer; readonly idx: Expr; readonly val: Expr }
  | { readonly k: 'let'; readonly name: string; readonly t: ScalarType; readonly init: Expr }
  | { readonly k: 'set'; readonly name: string; readonly val: Expr }
  | { readonly k: 'if'; readonly c: Expr; readonly then: Stmt[]; readonly else: Stmt[] }
  /**
   * Workgroup barrier: directly in a `gpu group` loop's body, between its `gpu local` loops. Run in
   * order (the interpreter, C), the loops before it have finished anyway; on a GPU every invocation
   * of the workgroup waits here, and workgroup-level buffers written before it are visible after.
   */
  | { readonly k: 'barrier' };

export type BufferRole = 'input' | 'output' | 'const' | 'temp';

export interface KBuffer {
  readonly id: number;
  name: string;
  readonly dtype: ScalarType;
  readonly shape: readonly number[];
  role: BufferRole;
  /** Contents of a 'const' buffer. */
  data?: Tensor;
  /** Memory level once placed (e.g. 'sram', 'flash', 'dram'); unset before planning. */
  level?: string;
  /** Byte offset in its level's arena once planned ('temp' buffers). */
  offset?: number;
  /**
   * Set for a view: the buffer whose storage this one shares (same elements in the same order, another
   * shape). Reshape-like ops make views; nothing writes through a view.
   */
  viewOf?: KBuffer;
  /**
   * Program inputs/outputs of a program with a run-time size (`Program.param`): the dim whose extent
   * is shape[dim] / param.max × the param's value. The data at a smaller value is stored compactly
   * (row-major in its own shape) at the start of the buffer; `shape` is the largest case.
   */
  dynDim?: number;
}

/**
 * A size known only at run time (`kiln compile --dynamic batch<=8`): an `index` variable in scope in
 * every kernel, between 1 and `max`. Buffers are sized (and memory planned) for `max`.
 */
export interface ProgramParam {
  readonly name: string;
  readonly max: number;
}

/** The shape of an input/output buffer when the program's run-time size is `value`. */
export function shapeAt(b: Pick<KBuffer, 'shape' | 'dynDim'>, param: ProgramParam | undefined, value: number): number[] {
  if (b.dynDim === undefined || param === undefined) return [...b.shape];
  return b.shape.map((d, i) => (i === b.dynDim ? (d / param.max) * value : d));
}

/** The buffer that owns a view's storage (the buffer itself when it is not a view). */
export function storageOf(b: KBuffer): KBuffer {
  let r = b;
  while (r.viewOf) r = r.viewOf;
  return r;
}

export interface Kernel {
  readonly name: string;
  /** The graph node this kernel was lowered from (for messages and reports). */
  readonly origin: { readonly node: string; readonly op: string };
  readonly body: Stmt[];
}

export interface Program {
  name: string;
  buffers: KBuffer[];
  inputs: KBuffer[];
  outputs: KBuffer[];
  kernels: Kernel[];
  /** The run-time size, when the program has one (see ProgramParam). */
  param?: ProgramParam;
  /**
   * Per-tensor quantization of the program's inputs/outputs (null where not quantized), when the
   * graph carries it at its boundary: what firmware needs to quantize its data (real = scale * (q - zeroPoint)).
   */
  ioQuant?: { inputs: (IoQuant | null)[]; outputs: (IoQuant | null)[] };
  /**
   * Decisions passes explain in the text form, e.g. the fuse pass's `fusion: rejected … because …`
   * (printed as `// <note>` lines after `outputs`, read back by the parser). Each starts with its
   * topic and a colon.
   */
  notes?: string[];
}

/** Per-tensor affine quantization of a program input or output. */
export interface IoQuant {
  scale: number;
  zeroPoint: number;
}

/** Index expressions are 32-bit signed in kernel IR (and in the generated C): every buffer stays under 2^31 elements. */
export const MAX_INDEX_ELEMENTS = 2 ** 31;

/**
 * Why a buffer of this shape cannot be indexed with 32-bit index arithmetic (null when it can).
 * Zero dims count as 1, as loops over the other dims still run to their bounds.
 */
export function indexRangeProblem(shape: readonly number[]): string | null {
  let extent = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return `dim ${d} is not a whole number of elements`;
    extent *= Math.max(1, d);
  }
  if (extent >= MAX_INDEX_ELEMENTS) return `shape [${shape.join(',')}] spans ${extent} elements; kernel index arithmetic is 32-bit (under 2^31 elements)`;
  return null;
}

export function bufferSize(b: KBuffer): number {
  return b.shape.reduce((a, d) => a * d, 1);
}
