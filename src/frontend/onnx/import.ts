/**
 * ONNX ModelProto → graph IR. Resolves names to SSA values (with outer scopes for subgraphs),
 * sorts nodes topologically, inlines model-local functions, decodes every tensor storage form and
 * attaches declared types; type inference runs afterwards (driver/load).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as graphlib from '@dagrejs/graphlib';
import { KilnError, fsError } from '../../ir/errors.js';
import { Graph, Module, Node, Value, normalizeDomain, type AttrValue } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import { optionalType, sequenceType, tensorType, type Dim, type ValueType } from '../../ir/types.js';
import { ModelProtoType, AttrTypeCode } from './schema.js';
import { decodeTensor, elementTypeOf, type TensorDecodeOptions } from './tensorproto.js';
import { int64ToNumber, type PAttribute, type PFunction, type PGraph, type PModel, type PNode, type PSparseTensor, type PType, type PValueInfo } from './proto-types.js';

const utf8 = new TextDecoder('utf-8');
const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

export interface ImportOptions {
  /** Folder against which external data is resolved (defaults to the model file's folder). */
  baseDir?: string;
}

export function readOnnxFile(file: string): Module {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw fsError(e, 'read', file);
  }
  if (bytes.length === 0) throw new KilnError('parse', `cannot read '${file}': empty file (0 bytes), not an ONNX model`);
  return importOnnxBytes(bytes, { baseDir: path.dirname(path.resolve(file)) });
}

export function decodeModelProto(bytes: Uint8Array): PModel {
  try {
    return ModelProtoType.decode(bytes) as unknown as PModel;
  } catch (e) {
    const msg = (e as Error).message;
    // protobufjs reports reading past the end as "index out of range": the file was cut short
    const why = /index out of range|premature end/i.test(msg) ? `truncated protobuf (the data ends inside a field: ${msg})` : msg;
    throw new KilnError('parse', `malformed ONNX protobuf: ${why}`);
  }
}

export function importOnnxBytes(bytes: Uint8Array, opts: ImportOptions = {}): Module {
  const model = decodeModelProto(bytes);
  if (!model.graph) throw new KilnError('invalid-model', 'model has no graph');
  const opsets = new Map<string, number>();
  for (const o of model.opsetImport) opsets.set(normalizeDomain(o.domain ?? ''), int64ToNumber(o.version));
  if (opsets.size === 0) opsets.set('', 1); // IR v1/v2 models imply opset 1
  const functions = new Map<string, PFunction>();
  for (const f of model.functions) {
    functions.set(fnKey(f.domain, f.name, f.overload), f);
    for (const o of f.opsetImport) {
      const d = normalizeDomain(o.domain ?? '');
      if (!opsets.has(d)) opsets.set(d, int64ToNumber(o.version));
    }
  }
  const imp = new Importer(functions, { baseDir: opts.baseDir });
  const graph = imp.graph(model.graph, null);
  const metadata = new Map(model.metadataProps.map((e) => [e.key, e.value] as [string, string]));
  return new Module(graph, opsets, int64ToNumber(model.irVersion), model.producerName ?? '', metadata);
}

function fnKey(domain: string, name: string, overload = ''): string {
  return `${normalizeDomain(domain ?? '')}::${name}::${overload ?? ''}`;
}

/** Name → value bindings; subgraph scopes see outer names. */
class Scope {
  private readonly names = new Map<string, Value>();
  constructor(readonly parent: Scope | null) {}
  lookup(name: string): Value | undefined {
    return this.names.get(name) ?? this.parent?.lookup(name);
  }
  define(name: string, v: Value, what: string): void {
    if (this.names.has(name)) throw new KilnError('invalid-model', `value name '${name}' is defined twice (${what})`, { tensor: name });
    this.names.set(name, v);
  }
  has(name: string): boolean {
    return this.names.has(name);
  }
}

export function convertType(t: PType | undefined | null, what: string): ValueType | null {
  if (!t) return null;
  if (t.tensorType) {
    if (!t.tensorType.elemType) return null;
    const dt = elementTypeOf(t.tensorType.elemType, what);
    return tensorType(dt, convertShape(t.tensorType));
  }
  if (t.sparseTensorType) {
    throw new KilnError('unsupported', 'unsupported value type sparse_tensor', { tensor: what });
  }
  if (t.sequenceType) return sequenceType(convertType(t.sequenceType.elemType, what));
  if (t.optionalType) return optionalType(convertType(t.optionalType.elemType, what));
  if (t.mapType) {
    const vt = convertType(t.mapType.valueType, what);
    if (vt === null) return null;
    return { kind: 'map', key: elementTypeOf(t.mapType.keyType, what), value: vt };
  }
  return null;
}

function convertShape(t: { shape?: { dim: { dimValue?: unknown; dimParam?: string }[] } }): Dim[] | null {
  if (!t.shape || !has(t, 'shape')) return null;
  return t.shape.dim.map((d) => {
    if (has(d, 'dimValue')) return int64ToNumber(d.dimValue as never);
    if (has(d, 'dimParam') && d.dimParam) return d.dimParam;
    return null;
  });
}

function sparseToDense(s: PSparseTensor, opts: TensorDecodeOptions, what: string): Tensor {
  if (!s.values || !s.indices) throw new KilnError('invalid-model', 'sparse tensor lacks values or indices', { tensor: what });
  const values = decodeTensor(s.values, opts);
  const indices = decodeTensor(s.indices, opts);
  const dims = s.dims.map((d) => int64ToNumber(d));
  const dense = Tensor.zeros(values.dtype, dims);
  const nnz = values.size;
  const idx = indices.toIndexArray();
  const rank = dims.length;
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  for (let k = 0; k < nnz; k++) {
    let flat: number;
    if (indices.shape.length === 1) flat = idx[k]!;
    else {
      flat = 0;
      for (let r = 0; r < rank; r++) flat += idx[k * rank + r]! * strides[r]!;
    }
    if (flat < 0 || flat >= dense.size) throw new KilnError('invalid-model', `sparse index ${flat} out of range`, { tensor: what });
    dense.setScalar(flat, values.get(k));
  }
  return dense;
}

interface FunctionFrame {
  /** Attribute values of the call, by the function's attribute names. */
  attrs: Map<string, AttrValue>;
  /** Prefix that keeps the inlined body's names unique. */
  prefix: string;
}

class Importer {
  private nodeCounter = new Map<string, number>();
  private readonly usedNodeNames = new Set<string>();
  private inlineDepth = 0;

  constructor(
    private readonly functions: Map<string, PFunction>,
    private readonly tensorOpts: TensorDecodeOptions,
  ) {}

  graph(g: PGraph, outer: Scope | null): Graph {
    const scope = new Scope(outer);
    const graph = new Graph(g.name ?? '');
    const inits = new Map<string, Tensor>();
    for (const t of g.initializer) {
      if (!t.name) throw new KilnError('invalid-model', 'initializer without a name');
      if (inits.has(t.name)) throw new KilnError('invalid-model', `initializer '${t.name}' is defined twice`, { tensor: t.name });
      inits.set(t.name, decodeTensor(t, this.tensorOpts));
    }
    for (const s of g.sparseInitializer) {
      const name = s.values?.name ?? '';
      inits.set(name, sparseToDense(s, this.tensorOpts, name));
    }
    for (const vi of g.input) {
      const v = new Value(vi.name, convertType(vi.type, vi.name));
      const init = inits.get(vi.name);
      if (init) {
        v.init = init; // IR v3: an input with an initializer is a default the caller may override
        if (v.type === null) v.type = tensorType(init.dtype, init.shape);
      }
      scope.define(vi.name, v, 'graph input');
      graph.inputs.push(v);
    }
    for (const [name, t] of inits) {
      if (scope.has(name)) continue;
      const v = new Value(name, tensorType(t.dtype, t.shape));
      v.init = t;
      scope.define(name, v, 'initializer');
      graph.initializers.push(v);
    }
    const declared = new Map<string, PValueInfo>();
    for (const vi of [...g.valueInfo, ...g.output]) declared.set(vi.name, vi);
    for (const pn of sortNodes(g.node, scope)) this.node(pn, scope, graph, declared, null);
    for (const vo of g.output) {
      const v = scope.lookup(vo.name);
      if (!v) throw new KilnError('invalid-model', `graph output '${vo.name}' is not produced by any node`, { tensor: vo.name });
      const t = convertType(vo.type, vo.name);
      if (t !== null && v.type === null) v.type = t;
      graph.outputs.push(v);
    }
    for (const qa of g.quantizationAnnotation) this.annotateQuant(scope, qa.tensorName, qa.quantParameterTensorNames);
    return graph;
  }

  private annotateQuant(scope: Scope, name: string, params: { key: string; value: string }[]): void {
    const v = scope.lookup(name);
    const kv = new Map(params.map((p) => [p.key, p.value]));
    const scaleV = scope.lookup(kv.get('SCALE_TENSOR') ?? '');
    const zpV = scope.lookup(kv.get('ZERO_POINT_TENSOR') ?? '');
    if (!v || v.type?.kind !== 'tensor' || !scaleV?.init) return;
    v.type = {
      ...v.type,
      quant: {
        scale: scaleV.init.toNumbers(),
        zeroPoint: zpV?.init ? zpV.init.toNumbers() : scaleV.init.toNumbers().map(() => 0),
        ...(zpV?.init ? { storage: zpV.init.dtype } : {}),
      },
    };
  }

  private uniqueNodeName(base: string): string {
    let name = base;
    while (this.usedNodeNames.has(name)) {
      const k = (this.nodeCounter.get(base) ?? 0) + 1;
      this.nodeCounter.set(base, k);
      name = `${base}_${k}`;
    }
    this.usedNodeNames.add(name);
    return name;
  }

  private node(pn: PNode, scope: Scope, graph: Graph, declared: Map<string, PValueInfo>, frame: FunctionFrame | null): void {
    const domain = normalizeDomain(pn.domain ?? '');
    const opType = pn.opType;
    const displayName = pn.name || opType;
    if (!opType) throw new KilnError('invalid-model', 'node has no op_type', { node: displayName });
    const fn = this.functions.get(fnKey(domain, opType, pn.overload));
    const inputs = pn.input.map((name) => {
      if (name === '') return null;
      const v = scope.lookup(frame ? frame.prefix + name : name) ?? (frame ? undefined : undefined);
      if (!v) throw new KilnError('invalid-model', `input '${name}' is not defined (dangling value name)`, { node: displayName, op: opType });
      return v;
    });
    const attrs = new Map<string, AttrValue>();
    for (const pa of pn.attribute) {
      if (pa.refAttrName) {
        const bound = frame?.attrs.get(pa.refAttrName);
        if (bound) attrs.set(pa.name, bound);
        continue;
      }
      attrs.set(pa.name, this.attribute(pa, scope, displayName, opType, frame));
    }
    if (fn) {
      this.inline(fn, pn, inputs, attrs, scope, graph, declared, frame);
      return;
    }
    const name = this.uniqueNodeName(frame ? `${frame.prefix}${displayName}` : displayName);
    const outputs = pn.output.map((oname) => {
      if (oname === '') return null;
      const full = frame ? frame.prefix + oname : oname;
      const v = new Value(full, frame ? null : convertType(declared.get(oname)?.type, oname));
      scope.define(full, v, `output of node ${name}`);
      return v;
    });
    const node = new Node(opType, domain, name, inputs, outputs, attrs);
    for (const v of outputs) if (v) v.producer = node;
    graph.nodes.push(node);
  }

  private inline(fn: PFunction, call: PNode, inputs: (Value | null)[], callAttrs: Map<string, AttrValue>, scope: Scope, graph: Graph, declared: Map<string, PValueInfo>, frame: FunctionFrame | null): void {
    if (++this.inlineDepth > 64) throw new KilnError('invalid-model', `function ${fn.name} is recursive or nested too deep`, { node: call.name || call.opType, op: call.opType });
    const prefix = `${frame?.prefix ?? ''}${call.name || fn.name}/`;
    const attrs = new Map<string, AttrValue>();
    for (const pa of fn.attributeProto) attrs.set(pa.name, this.attribute(pa, scope, call.name, call.opType, frame));
    for (const [k, v] of callAttrs) attrs.set(k, v);
    const inner = new Scope(scope);
    fn.input.forEach((name, i) => {
      const v = inputs[i];
      if (v) inner.define(prefix + name, v, 'function input');
    });
    const sub: FunctionFrame = { attrs, prefix };
    for (const pn of fn.node) this.node(pn, inner, graph, declared, sub);
    // Bind the call's outputs to the body's outputs through Identity nodes so names stay stable.
    call.output.forEach((oname, i) => {
      if (oname === '') return;
      const src = inner.lookup(prefix + fn.output[i]!);
      if (!src) throw new KilnError('invalid-model', `function ${fn.name} does not produce output '${fn.output[i]}'`, { node: call.name || call.opType, op: call.opType });
      const out = new Value(oname, convertType(declared.get(oname)?.type, oname));
      scope.define(oname, out, 'function call output');
      const id = new Node('Identity', '', this.uniqueNodeName(`${prefix}output${i}`), [src], [out]);
      out.producer = id;
      graph.nodes.push(id);
    });
    this.inlineDepth--;
  }

  private attribute(pa: PAttribute, scope: Scope, node: string, op: string, frame: FunctionFrame | null): AttrValue {
    let type = pa.type;
    if (!type) type = guessAttrType(pa);
    const where = { node, op };
    switch (type) {
      case AttrTypeCode.FLOAT: return { kind: 'float', value: pa.f };
      case AttrTypeCode.INT: return { kind: 'int', value: int64ToNumber(pa.i) };
      case AttrTypeCode.STRING: return { kind: 'string', value: utf8.decode(new Uint8Array(pa.s)) };
      case AttrTypeCode.TENSOR:
        if (!pa.t) throw new KilnError('invalid-model', `attribute '${pa.name}' has no tensor`, where);
        return { kind: 'tensor', value: decodeTensor(pa.t, this.tensorOpts) };
      case AttrTypeCode.SPARSE_TENSOR:
        if (!pa.sparseTensor) throw new KilnError('invalid-model', `attribute '${pa.name}' has no sparse tensor`, where);
        return { kind: 'tensor', value: sparseToDense(pa.sparseTensor, this.tensorOpts, pa.name) };
      case AttrTypeCode.GRAPH:
        if (!pa.g) throw new KilnError('invalid-model', `attribute '${pa.name}' has no graph`, where);
        if (frame) throw new KilnError('unsupported', 'subgraphs inside model-local functions are not supported', where);
        return { kind: 'graph', value: this.graph(pa.g, scope) };
      case AttrTypeCode.FLOATS: return { kind: 'floats', value: [...pa.floats] };
      case AttrTypeCode.INTS: return { kind: 'ints', value: pa.ints.map((x) => int64ToNumber(x)) };
      case AttrTypeCode.STRINGS: return { kind: 'strings', value: pa.strings.map((s) => utf8.decode(new Uint8Array(s))) };
      case AttrTypeCode.TENSORS: return { kind: 'tensors', value: pa.tensors.map((t) => decodeTensor(t, this.tensorOpts)) };
      case AttrTypeCode.GRAPHS: return { kind: 'graphs', value: pa.graphs.map((g) => this.graph(g, scope)) };
      case AttrTypeCode.TYPE_PROTO: {
        const t = convertType(pa.tp, pa.name);
        if (!t) throw new KilnError('invalid-model', `attribute '${pa.name}' has no type`, where);
        return { kind: 'type', value: t };
      }
      case AttrTypeCode.TYPE_PROTOS:
        return { kind: 'types', value: pa.typeProtos.map((t) => convertType(t, pa.name)).filter((t): t is ValueType => t !== null) };
      default:
        throw new KilnError('invalid-model', `attribute '${pa.name}' has unknown type ${type}`, where);
    }
  }
}

/** Old models (IR v1) lack AttributeProto.type: infer it from the field in use. */
function guessAttrType(pa: PAttribute): number {
  if (has(pa, 'f')) return AttrTypeCode.FLOAT;
  if (has(pa, 'i')) return AttrTypeCode.INT;
  if (has(pa, 's')) return AttrTypeCode.STRING;
  if (pa.t) return AttrTypeCode.TENSOR;
  if (pa.g) return AttrTypeCode.GRAPH;
  if (pa.floats.length) return AttrTypeCode.FLOATS;
  if (pa.ints.length) return AttrTypeCode.INTS;
  if (pa.strings.length) return AttrTypeCode.STRINGS;
  if (pa.tensors.length) return AttrTypeCode.TENSORS;
  if (pa.graphs.length) return AttrTypeCode.GRAPHS;
  return AttrTypeCode.UNDEFINED;
}

/**
 * Stable topological order (file order where the file is already sorted). Names used by a node's
 * subgraphs count as its inputs. A cycle is a typed error naming a node on it.
 */
function sortNodes(nodes: PNode[], scope: Scope): PNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.output.forEach((o) => {
    if (o !== '') producer.set(o, i);
  }));
  const deps = nodes.map((n) => {
    const names = new Set<string>(n.input.filter((x) => x !== ''));
    for (const a of n.attribute) {
      if (a.g) collectOuterNames(a.g, names);
      for (const g of a.graphs) collectOuterNames(g, names);
    }
    const d = new Set<number>();
    for (const name of names) {
      const p = producer.get(name);
      if (p !== undefined && !scope.has(name)) d.add(p);
    }
    return d;
  });
  const sorted = deps.every((d, i) => [...d].every((p) => p < i));
  if (sorted) return nodes;
  const indeg = deps.map((d) => d.size);
  const users = nodes.map(() => [] as number[]);
  deps.forEach((d, i) => d.forEach((p) => users[p]!.push(i)));
  const ready: number[] = [];
  indeg.forEach((k, i) => {
    if (k === 0) ready.push(i);
  });
  const out: PNode[] = [];
  while (ready.length) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    out.push(nodes[i]!);
    for (const u of users[i]!) if (--indeg[u]! === 0) ready.push(u);
  }
  if (out.length !== nodes.length) {
    // name the nodes of an actual cycle (Kahn's leftovers include nodes merely downstream of one)
    const g = new graphlib.Graph();
    deps.forEach((d, i) => {
      g.setNode(String(i));
      d.forEach((p) => g.setEdge(String(p), String(i)));
    });
    const found = (graphlib.alg.findCycles(g)[0] ?? []).map(Number).sort((a: number, b: number) => a - b);
    const cycle = found.length > 0 ? found : [indeg.findIndex((k) => k > 0)];
    const n = nodes[cycle[0]!]!;
    const through = cycle.slice(1, 4).map((i) => nodes[i]!.name || nodes[i]!.opType);
    throw new KilnError('invalid-model', `graph has a cycle${through.length ? ` through ${through.join(', ')}${cycle.length > 4 ? ', …' : ''}` : ''}`, { node: n.name || n.opType, op: n.opType });
  }
  return out;
}

function collectOuterNames(g: PGraph, into: Set<string>): void {
  for (const n of g.node) {
    for (const i of n.input) if (i !== '') into.add(i);
    for (const a of n.attribute) {
      if (a.g) collectOuterNames(a.g, into);
      for (const sg of a.graphs) collectOuterNames(sg, into);
    }
  }
  for (const o of g.output) into.add(o.name);
}
