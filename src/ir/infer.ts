/**
 * Type and shape inference over a graph (and its subgraphs). Each op's `infer` computes output
 * types from input types and constant inputs; where a model declares a more precise type (value_info,
 * graph outputs) the two are merged, and a contradiction is a typed error naming the node.
 */
import { KilnError, locateError } from './errors.js';
import type { AttrValue, Graph, Module, Node, Value } from './graph.js';
import { normalizeDomain } from './graph.js';
import { Attrs, resolveOp, type InferContext } from './ops/registry.js';
import { Tensor } from './tensor.js';
import type { Dim, ValueType } from './types.js';
import { dimText } from './ops/util.js';

/** Constant contents of a value when known at compile time (initializer or Constant output). */
export function constantOf(v: Value | null): Tensor | null {
  if (v === null) return null;
  if (v.init) return v.init;
  const p = v.producer;
  if (p && p.opType === 'Constant' && normalizeDomain(p.domain) === '') {
    const t = p.attrs.get('value');
    if (t && t.kind === 'tensor') return t.value;
    return constantFromAttributes(p);
  }
  return null;
}

/** The tensor of a Constant given as value_float(s)/value_int(s)/value_string(s). */
function constantFromAttributes(node: Node): Tensor | null {
  const a = node.attrs;
  const one = (name: string): AttrValue | undefined => a.get(name);
  const f = one('value_float');
  if (f?.kind === 'float') return Tensor.scalar('f32', f.value);
  const fs = one('value_floats');
  if (fs?.kind === 'floats') return Tensor.from('f32', [fs.value.length], fs.value);
  const i = one('value_int');
  if (i?.kind === 'int') return Tensor.scalar('i64', BigInt(i.value));
  const is = one('value_ints');
  if (is?.kind === 'ints') return Tensor.from('i64', [is.value.length], is.value.map((x) => BigInt(x)));
  const s = one('value_string');
  if (s?.kind === 'string') return Tensor.scalar('string', s.value);
  const ss = one('value_strings');
  if (ss?.kind === 'strings') return Tensor.from('string', [ss.value.length], ss.value);
  return null;
}

/** Infers types for every node of the module's graph, in order. */
export function inferModule(module: Module): void {
  inferGraph(module, module.graph);
}

export function inferGraph(module: Module, graph: Graph): void {
  for (const node of graph.nodes) inferNode(module, node);
}

/** The inference view of a node; `inferSubgraph` decides how subgraphs are handled. */
export function inferContext(node: Node, opset: number, inferSubgraph: InferContext['inferSubgraph']): InferContext {
  return {
    node,
    attrs: new Attrs(node),
    opset,
    inputs: node.inputs.map((v) => v?.type ?? null),
    outputCount: node.outputs.length,
    constInput: (i) => constantOf(node.inputs[i] ?? null),
    hasInput: (i) => node.inputs[i] !== undefined && node.inputs[i] !== null,
    inferSubgraph,
  };
}

function inferNode(module: Module, node: Node): void {
  const opset = module.opsetFor(node.domain);
  try {
    const def = resolveOp(node, opset);
    const ctx = inferContext(node, opset!, (g, inputTypes) => {
      g.inputs.forEach((v, i) => {
        const t = inputTypes[i];
        if (t !== undefined && t !== null) v.type = v.type === null ? t : mergeTypes(v.type, t, v.name, true);
      });
      inferGraph(module, g);
      return g.outputs.map((v) => v.type);
    });
    const outTypes = def.infer(ctx);
    node.outputs.forEach((v, i) => {
      if (v === null) return;
      const inferred = outTypes[i] ?? null;
      v.type = v.type === null ? inferred : inferred === null ? v.type : mergeTypes(v.type, inferred, v.name, false);
    });
  } catch (e) {
    throw locateError(e, node);
  }
}

/**
 * Merges a declared type with an inferred one: static facts win over symbols/unknowns; two different
 * static facts are an error. `loose` accepts any difference (subgraph inputs whose declared shapes
 * are looser than the loop-carried values).
 */
export function mergeTypes(declared: ValueType, inferred: ValueType, name: string, loose: boolean): ValueType {
  if (declared.kind !== inferred.kind) {
    if (loose) return declared;
    throw new KilnError('type', `value '${name}' is declared ${declared.kind} but inferred ${inferred.kind}`, { tensor: name });
  }
  switch (declared.kind) {
    case 'tensor': {
      const inf = inferred as typeof declared;
      if (declared.dtype !== inf.dtype) {
        if (loose) return declared;
        throw new KilnError('type', `value '${name}' is declared ${declared.dtype} but inferred ${inf.dtype}`, { tensor: name });
      }
      if (declared.shape === null) return { ...declared, shape: inf.shape };
      if (inf.shape === null) return declared;
      if (declared.shape.length !== inf.shape.length) {
        if (loose) return declared;
        throw new KilnError('type', `value '${name}' is declared rank ${declared.shape.length} but inferred rank ${inf.shape.length}`, { tensor: name });
      }
      const shape: Dim[] = declared.shape.map((d, i) => {
        const e = inf.shape![i]!;
        if (typeof e === 'number') {
          if (typeof d === 'number' && d !== e && !loose) {
            throw new KilnError('type', `value '${name}' is declared [${declared.shape!.map(dimText).join(',')}] but inferred [${inf.shape!.map(dimText).join(',')}]`, { tensor: name });
          }
          return loose && typeof d !== 'number' ? d : e;
        }
        return d !== null ? d : e;
      });
      return { ...declared, shape };
    }
    case 'sequence':
    case 'optional': {
      const inf = inferred as typeof declared;
      if (declared.elem === null) return inf;
      if (inf.elem === null) return declared;
      return { kind: declared.kind, elem: mergeTypes(declared.elem, inf.elem, name, loose) };
    }
    case 'map':
      return declared;
  }
}
