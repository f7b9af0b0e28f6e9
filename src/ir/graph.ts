/** Graph IR: values (SSA), nodes with attributes and subgraphs, graphs and modules. */
import type { ValueType, TensorType } from './types.js';
import type { Tensor } from './tensor.js';

export type AttrValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly value: Tensor }
  | { readonly kind: 'graph'; readonly value: Graph }
  | { readonly kind: 'type'; readonly value: ValueType }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  | { readonly kind: 'tensors'; readonly value: readonly Tensor[] }
  | { readonly kind: 'graphs'; readonly value: readonly Graph[] }
  | { readonly kind: 'types'; readonly value: readonly ValueType[] };

export type AttrKind = AttrValue['kind'];

/** An SSA value: produced by one node (or a graph input / initializer), used by any number. */
export class Value {
  name: string;
  type: ValueType | null;
  /** Producing node; null for graph inputs and initializers. */
  producer: Node | null = null;
  /** Constant contents for initializers (and graph inputs with a default, as in IR v3 models). */
  init: Tensor | null = null;

  constructor(name: string, type: ValueType | null) {
    this.name = name;
    this.type = type;
  }

  get tensorType(): TensorType | null {
    return this.type !== null && this.type.kind === 'tensor' ? this.type : null;
  }
}

export class Node {
  name: string;
  opType: string;
  /** '' is the default ONNX domain. */
  domain: string;
  /** null marks an omitted optional input. */
  inputs: (Value | null)[];
  /** null marks an omitted optional output. */
  outputs: (Value | null)[];
  attrs: Map<string, AttrValue>;

  constructor(opType: string, domain: string, name: string, inputs: (Value | null)[], outputs: (Value | null)[], attrs: Map<string, AttrValue> = new Map()) {
    this.opType = opType;
    this.domain = domain;
    this.name = name;
    this.inputs = inputs;
    this.outputs = outputs;
    this.attrs = attrs;
  }

  /** Subgraphs held in attributes (If branches, Loop/Scan bodies, SequenceMap bodies). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attrs.values()) {
      if (a.kind === 'graph') out.push(a.value);
      else if (a.kind === 'graphs') out.push(...a.value);
    }
    return out;
  }
}

export class Graph {
  name: string;
  inputs: Value[];
  outputs: Value[];
  nodes: Node[];
  /** Constants that are not graph inputs, in file order. */
  initializers: Value[];

  constructor(name: string, inputs: Value[] = [], outputs: Value[] = [], nodes: Node[] = [], initializers: Value[] = []) {
    this.name = name;
    this.inputs = inputs;
    this.outputs = outputs;
    this.nodes = nodes;
    this.initializers = initializers;
  }
}

/** A whole model: the main graph plus the opset versions it binds against. */
export class Module {
  graph: Graph;
  /** Domain → opset version; '' is the default ONNX domain. */
  opsets: Map<string, number>;
  irVersion: number;
  producer: string;
  metadata: Map<string, string>;

  constructor(graph: Graph, opsets: Map<string, number>, irVersion = 10, producer = '', metadata: Map<string, string> = new Map()) {
    this.graph = graph;
    this.opsets = opsets;
    this.irVersion = irVersion;
    this.producer = producer;
    this.metadata = metadata;
  }

  opsetFor(domain: string): number | undefined {
    return this.opsets.get(normalizeDomain(domain));
  }
}

export function normalizeDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

/** Every node in a graph and its subgraphs, depth first. */
export function* allNodes(g: Graph): Generator<Node> {
  for (const n of g.nodes) {
    yield n;
    for (const sg of n.subgraphs()) yield* allNodes(sg);
  }
}
