/**
 * Operator registry. An op definition bundles everything Kiln knows about one operator: its
 * attribute schema, type/shape inference and the reference kernel. Built-in ops and plugin ops
 * (defineOp) register here the same way.
 */
import { KilnError } from '../errors.js';
import type { AttrKind, AttrValue, Graph, Node } from '../graph.js';
import { normalizeDomain } from '../graph.js';
import type { Tensor, RtValue } from '../tensor.js';
import type { ValueType } from '../types.js';

/** Reads a node's attributes with defaults; a missing required attribute is a typed error. */
export class Attrs {
  constructor(private readonly node: Node) {}

  has(name: string): boolean {
    return this.node.attrs.has(name);
  }

  private get<K extends AttrKind>(name: string, kind: K): Extract<AttrValue, { kind: K }> | undefined {
    const a = this.node.attrs.get(name);
    if (a === undefined) return undefined;
    if (a.kind !== kind) {
      // ONNX files sometimes store a float attribute as int and vice versa; accept the numeric cases.
      if (kind === 'float' && a.kind === 'int') return { kind: 'float', value: a.value } as Extract<AttrValue, { kind: K }>;
      if (kind === 'floats' && a.kind === 'ints') return { kind: 'floats', value: a.value } as Extract<AttrValue, { kind: K }>;
      if (kind === 'ints' && a.kind === 'int') return { kind: 'ints', value: [a.value] } as unknown as Extract<AttrValue, { kind: K }>;
      if (kind === 'floats' && a.kind === 'float') return { kind: 'floats', value: [a.value] } as unknown as Extract<AttrValue, { kind: K }>;
      throw new KilnError('type', `attribute '${name}' must be ${kind}, got ${a.kind}`);
    }
    return a as Extract<AttrValue, { kind: K }>;
  }

  private required<T>(name: string, v: T | undefined): T {
    if (v === undefined) throw new KilnError('invalid-model', `missing required attribute '${name}'`);
    return v;
  }

  int(name: string, def?: number): number {
    return this.required(name, this.get(name, 'int')?.value ?? def);
  }
  float(name: string, def?: number): number {
    return this.required(name, this.get(name, 'float')?.value ?? def);
  }
  string(name: string, def?: string): string {
    return this.required(name, this.get(name, 'string')?.value ?? def);
  }
  ints(name: string, def?: readonly number[]): readonly number[] {
    return this.required(name, this.get(name, 'ints')?.value ?? def);
  }
  floats(name: string, def?: readonly number[]): readonly number[] {
    return this.required(name, this.get(name, 'floats')?.value ?? def);
  }
  strings(name: string, def?: readonly string[]): readonly string[] {
    return this.required(name, this.get(name, 'strings')?.value ?? def);
  }
  tensor(name: string): Tensor {
    return this.required(name, this.get(name, 'tensor')?.value);
  }
  optTensor(name: string): Tensor | undefined {
    return this.get(name, 'tensor')?.value;
  }
  graph(name: string): Graph {
    return this.required(name, this.get(name, 'graph')?.value);
  }
  optInts(name: string): readonly number[] | undefined {
    return this.get(name, 'ints')?.value;
  }
  optFloats(name: string): readonly number[] | undefined {
    return this.get(name, 'floats')?.value;
  }
  optInt(name: string): number | undefined {
    return this.get(name, 'int')?.value;
  }
  optFloat(name: string): number | undefined {
    return this.get(name, 'float')?.value;
  }
  optString(name: string): string | undefined {
    return this.get(name, 'string')?.value;
  }
  type(name: string): ValueType | undefined {
    return this.get(name, 'type')?.value;
  }
}

/** What type inference sees of a node. */
export interface InferContext {
  readonly node: Node;
  readonly attrs: Attrs;
  /** Opset version of the node's domain in the module. */
  readonly opset: number;
  /** Types of the inputs (null for omitted optional inputs or unknown types). */
  readonly inputs: readonly (ValueType | null)[];
  /** Number of outputs the node declares (including omitted ones). */
  readonly outputCount: number;
  /** Contents of input i when it is a compile-time constant, else null. */
  constInput(i: number): Tensor | null;
  /** Whether input i is present (not omitted). */
  hasInput(i: number): boolean;
  /** Infers the output types of a subgraph given its input types (for If/Loop/Scan). */
  inferSubgraph(g: Graph, inputTypes: readonly (ValueType | null)[]): (ValueType | null)[];
}

/** What a reference kernel sees of a node at run time. */
export interface KernelContext {
  readonly node: Node;
  readonly attrs: Attrs;
  readonly opset: number;
  /** Runtime input values; null for omitted optional inputs. */
  readonly inputs: readonly (RtValue | null)[];
  readonly outputCount: number;
  /** Whether output i is requested (declared and not omitted). */
  hasOutput(i: number): boolean;
  /** Required tensor input i (typed error if absent or not a tensor). */
  tensor(i: number): Tensor;
  /** Optional tensor input i: null when omitted (or an empty optional). */
  optTensor(i: number): Tensor | null;
  /** Runs a subgraph with the given inputs; outer-scope values are visible inside it. */
  runSubgraph(g: Graph, inputs: readonly RtValue[]): RtValue[];
}

export interface OpDef {
  readonly opType: string;
  /** '' for the default ONNX domain. */
  readonly domain?: string;
  /** Oldest and newest opset versions whose semantics the definition implements (inclusive). */
  readonly since?: number;
  readonly until?: number;
  /** Attribute names and kinds, for the verifier and the text parser. */
  readonly attrs?: Readonly<Record<string, AttrKind>>;
  readonly description?: string;
  infer(ctx: InferContext): (ValueType | null)[];
  interp(ctx: KernelContext): (RtValue | null)[];
}

const registry = new Map<string, OpDef>();

function key(domain: string, opType: string): string {
  return `${normalizeDomain(domain)}::${opType}`;
}

/** Registers (or replaces, for plugins that override) an operator definition. */
export function registerOp(def: OpDef): OpDef {
  registry.set(key(def.domain ?? '', def.opType), def);
  return def;
}

export function lookupOp(domain: string, opType: string): OpDef | undefined {
  return registry.get(key(domain, opType));
}

export function registeredOps(): OpDef[] {
  return [...registry.values()];
}

/** The definition for a node at a given opset, or a typed 'unsupported' error naming the op. */
export function resolveOp(node: Node, opset: number | undefined): OpDef {
  const dom = normalizeDomain(node.domain);
  const def = lookupOp(dom, node.opType);
  const qualified = dom === '' ? node.opType : `${dom}.${node.opType}`;
  if (!def) {
    throw new KilnError('unsupported', `unsupported op ${qualified}${opset !== undefined ? ` at opset ${opset}` : ''}`, { node: node.name, op: node.opType });
  }
  if (opset === undefined) {
    throw new KilnError('invalid-model', `no opset imported for domain '${dom || 'ai.onnx'}'`, { node: node.name, op: node.opType });
  }
  if ((def.since !== undefined && opset < def.since) || (def.until !== undefined && opset > def.until)) {
    throw new KilnError('unsupported', `unsupported op ${qualified} at opset ${opset}`, { node: node.name, op: node.opType });
  }
  return def;
}
