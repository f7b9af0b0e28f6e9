/**
 * Common subexpression elimination: a node with the same op, domain, attributes and inputs as an
 * earlier node (in its graph or an enclosing one) is dropped and its outputs' uses take the earlier
 * node's outputs. Never merged: nondeterministic ops (random generators, Dropout), nodes with
 * subgraphs, custom-domain ops, and nodes producing a graph output (the interface keeps its names).
 */
import type { AttrValue, Graph, Module, Node, Value } from '../ir/graph.js';
import { normalizeDomain } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { definePass } from './pass.js';
import { resolve, substituteUses } from './rewire.js';

const NONDETERMINISTIC = new Set(['RandomUniform', 'RandomNormal', 'RandomUniformLike', 'RandomNormalLike', 'Bernoulli', 'Multinomial', 'Dropout']);
const MERGE_DOMAINS = new Set(['', 'ai.onnx.ml']);
/** Two-input ops whose result does not depend on the input order (IEEE add/mul are commutative). */
const COMMUTATIVE = new Set(['Add', 'Mul', 'And', 'Or', 'Xor', 'Equal']);

function floatKey(x: number): string {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x);
  return b.getBigUint64(0).toString(16); // bit pattern: tells -0 from 0 and NaN payloads apart
}

function tensorKey(t: Tensor): string {
  const d = t.data;
  const body = Array.isArray(d) ? JSON.stringify(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
  return `${t.dtype}[${t.shape.join('x')}]${body}`;
}

/** A canonical string for an attribute, or null when it holds a graph (never merged). */
function attrKey(a: AttrValue): string | null {
  switch (a.kind) {
    case 'int':
      return `i${a.value}`;
    case 'float':
      return `f${floatKey(a.value)}`;
    case 'string':
      return `s${JSON.stringify(a.value)}`;
    case 'ints':
      return `I[${a.value.join(',')}]`;
    case 'floats':
      return `F[${a.value.map(floatKey).join(',')}]`;
    case 'strings':
      return `S${JSON.stringify(a.value)}`;
    case 'tensor':
      return `t${tensorKey(a.value)}`;
    case 'tensors':
      return `T[${a.value.map(tensorKey).join(',')}]`;
    case 'type':
      return `y${JSON.stringify(a.value)}`;
    case 'types':
      return `Y${JSON.stringify(a.value)}`;
    case 'graph':
    case 'graphs':
      return null;
  }
}

class Keys {
  private readonly ids = new Map<Value, number>();

  id(v: Value | null): string {
    if (v === null) return '_';
    let n = this.ids.get(v);
    if (n === undefined) {
      n = this.ids.size;
      this.ids.set(v, n);
    }
    return String(n);
  }

  /** The identity of what a node computes, or null when it must not be merged. */
  of(node: Node): string | null {
    const domain = normalizeDomain(node.domain);
    if (!MERGE_DOMAINS.has(domain) || NONDETERMINISTIC.has(node.opType)) return null;
    const attrs: string[] = [];
    for (const name of [...node.attrs.keys()].sort()) {
      const k = attrKey(node.attrs.get(name)!);
      if (k === null) return null;
      attrs.push(`${name}=${k}`);
    }
    let inputs = node.inputs.map((v) => this.id(v));
    if (domain === '' && COMMUTATIVE.has(node.opType) && inputs.length === 2) inputs = [...inputs].sort();
    const outs = node.outputs.map((v) => (v === null ? '_' : 'o')).join('');
    return `${domain}::${node.opType}(${inputs.join(',')}){${attrs.join(';')}}->${outs}`;
  }
}

function cseGraph(graph: Graph, outer: ReadonlyMap<string, Node>, keys: Keys, subst: Map<Value, Value>): number {
  let merged = 0;
  // nodes of enclosing graphs seen so far are in scope here, so they can stand in for inner ones
  const table = new Map(outer);
  const interfaceValues = new Set(graph.outputs);
  const kept: Node[] = [];
  for (const node of graph.nodes) {
    node.inputs = node.inputs.map((v) => (v === null ? null : resolve(subst, v)));
    for (const sg of node.subgraphs()) merged += cseGraph(sg, table, keys, subst);
    const key = keys.of(node);
    if (key !== null) {
      const prev = table.get(key);
      if (prev !== undefined && node.outputs.every((v) => v === null || !interfaceValues.has(v))) {
        node.outputs.forEach((v, i) => {
          if (v !== null) subst.set(v, prev.outputs[i]!);
        });
        merged++;
        continue;
      }
      if (prev === undefined) table.set(key, node);
    }
    kept.push(node);
  }
  graph.nodes = kept;
  return merged;
}

/** Merges duplicate nodes; returns how many were removed. */
export function eliminateCommonSubexpressions(module: Module): number {
  const subst = new Map<Value, Value>();
  const merged = cseGraph(module.graph, new Map(), new Keys(), subst);
  substituteUses(module.graph, subst, { outputs: false });
  return merged;
}

export const csePass = definePass({
  name: 'cse',
  description: 'merge nodes that compute the same thing (same op, domain, attributes and inputs); random ops and nodes with subgraphs are never merged',
  options: {},
  run: (module) => eliminateCommonSubexpressions(module) > 0,
});
