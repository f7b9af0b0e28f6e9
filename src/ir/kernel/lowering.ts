/**
 * Lowering definitions: how a graph op becomes kernels. One definition per op serves every backend;
 * a backend never sees op names. Built-in lowerings and plugins register here the same way.
 */
import { KilnError } from '../errors.js';
import type { Node } from '../graph.js';
import { normalizeDomain } from '../graph.js';
import type { Attrs } from '../ops/registry.js';
import type { Tensor } from '../tensor.js';
import type { KernelBuilder } from './builder.js';
import type { KBuffer, ScalarType } from './types.js';

/**
 * How lowerings shape their loop nests. 'cpu': register tiles and scratch blocks for C compilers
 * (perf-*.ts). 'gpu': one independent iteration per output element and no scratch shared between
 * iterations, so map-gpu can put every output on the dispatch grid and each invocation runs only
 * its own reduction (a software GPU such as Mesa llvmpipe also ends every loop of an invocation
 * after 65535 iterations in all).
 */
export type LowerStyle = 'cpu' | 'gpu';

export interface LowerContext {
  /** The loop-nest style the target wants ('cpu' unless the target asks for 'gpu'). */
  readonly style: LowerStyle;
  readonly node: Node;
  readonly attrs: Attrs;
  readonly opset: number;
  /** Number of inputs/outputs the node declares (omitted ones included). */
  readonly inputCount: number;
  readonly outputCount: number;
  /** Buffer holding input i, or null when the input is omitted. Shapes are static. */
  input(i: number): KBuffer | null;
  /** Compile-time contents of input i when it is a constant, else null. */
  constant(i: number): Tensor | null;
  /** Buffer for output i (created on first use), or null when the output is omitted. */
  output(i: number): KBuffer | null;
  /** Makes output i a view of input j: same elements in the same order, another shape. No kernel. */
  alias(output: number, input: number): void;
  /** A constant buffer computed at compile time (e.g. requantization multipliers). */
  constTable(data: Tensor, name: string): KBuffer;
  /** A scratch buffer that lives as long as this node's kernels. */
  temp(dtype: ScalarType, shape: readonly number[], name?: string): KBuffer;
  /** Appends a kernel whose body `build` writes. */
  kernel(build: (kb: KernelBuilder) => void, suffix?: string): void;
}

export interface LoweringDef {
  readonly opType: string;
  readonly domain?: string;
  lower(ctx: LowerContext): void;
}

const lowerings = new Map<string, LoweringDef>();
const key = (domain: string, opType: string): string => `${normalizeDomain(domain)}::${opType}`;

export function registerLowering(def: LoweringDef): LoweringDef {
  lowerings.set(key(def.domain ?? '', def.opType), def);
  return def;
}

export function lookupLowering(domain: string, opType: string): LoweringDef | undefined {
  return lowerings.get(key(domain, opType));
}

export function loweredOps(): string[] {
  return [...lowerings.keys()];
}

/** Typed refusal for a valid op configuration a lowering does not handle. */
export function unsupportedLowering(what: string): KilnError {
  return new KilnError('unsupported', `unsupported for code generation: ${what}`);
}
