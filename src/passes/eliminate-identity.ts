/**
 * Removes ops that return their input unchanged: Identity, Dropout in inference mode (mask unused),
 * Cast/CastLike to the input's own element type, Transpose by the identity permutation, and
 * Reshape/Flatten/Squeeze/Unsqueeze/Expand whose static output shape is the input's. A Transpose of
 * a Transpose first reads the inner one's input with the composed permutation (so a pair that
 * cancels becomes an identity Transpose and goes; the inner one goes with dce when unused). Uses of the
 * output are rewired to the input. When the output is a graph output (a name of the interface), the
 * input's producer is made to produce that output instead; if the input has no producer in the same
 * graph (a graph input, a constant, an outer value) the op stays.
 */
import type { Graph, Module, Node, Value } from '../ir/graph.js';
import { normalizeDomain } from '../ir/graph.js';
import { constantOf } from '../ir/infer.js';
import { isStaticShape } from '../ir/types.js';
import { definePass } from './pass.js';
import { resolve, substituteUses, usedValues } from './rewire.js';

const SHAPE_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Expand']);

function sameStaticTensor(a: Value, b: Value): boolean {
  const x = a.tensorType;
  const y = b.tensorType;
  if (!x || !y || x.dtype !== y.dtype || !isStaticShape(x.shape) || !isStaticShape(y.shape)) return false;
  return x.shape.length === y.shape.length && x.shape.every((d, i) => d === y.shape![i]);
}

function dropoutIsInference(node: Node, opset: number): boolean {
  if (opset >= 12) {
    if (node.inputs[2] === undefined || node.inputs[2] === null) return true;
    const tm = constantOf(node.inputs[2]);
    return tm !== null && tm.size === 1 && tm.num(0) === 0;
  }
  if (opset < 7) {
    const t = node.attrs.get('is_test');
    return t?.kind === 'int' && t.value !== 0;
  }
  return true; // opsets 7-11 have no training mode in inference graphs
}

/** Whether `node` returns its first input unchanged as its first output (ignoring unused extra outputs). */
export function isNoOp(node: Node, opset: number, used: ReadonlySet<Value>): boolean {
  if (normalizeDomain(node.domain) !== '') return false;
  const input = node.inputs[0] ?? null;
  const output = node.outputs[0] ?? null;
  if (input === null || output === null) return false;
  if (node.outputs.slice(1).some((v) => v !== null && used.has(v))) return false;
  switch (node.opType) {
    case 'Identity':
      return node.outputs.length === 1;
    case 'Dropout':
      return dropoutIsInference(node, opset);
    case 'Cast': {
      const to = node.attrs.get('to');
      const t = input.tensorType;
      return t !== null && output.tensorType?.dtype === t.dtype && to?.kind === 'int' && output.tensorType !== null;
    }
    case 'CastLike': {
      const target = node.inputs[1]?.tensorType;
      return input.tensorType !== null && target !== undefined && target !== null && input.tensorType.dtype === target.dtype;
    }
    case 'Transpose': {
      const t = input.tensorType;
      if (!t || t.shape === null) return false;
      const perm = node.attrs.get('perm');
      if (perm === undefined) return t.shape.length <= 1; // the default perm reverses the dims
      return perm.kind === 'ints' && perm.value.length === t.shape.length && perm.value.every((p, i) => p === i);
    }
    default:
      return SHAPE_OPS.has(node.opType) && sameStaticTensor(input, output);
  }
}

/** The permutation of a Transpose over a rank-`rank` input (absent: the dims reversed). */
function permOf(node: Node, rank: number): number[] | null {
  const perm = node.attrs.get('perm');
  if (perm === undefined) return Array.from({ length: rank }, (_, i) => rank - 1 - i);
  return perm.kind === 'ints' && perm.value.length === rank ? [...perm.value] : null;
}

/** Transpose(Transpose(x, p1), p2) → Transpose(x, p1∘p2); returns how many were rewritten. */
function composeTransposes(graph: Graph): number {
  let n = 0;
  for (const node of graph.nodes) {
    for (const sg of node.subgraphs()) n += composeTransposes(sg);
    if (node.opType !== 'Transpose' || normalizeDomain(node.domain) !== '') continue;
    const inner = node.inputs[0]?.producer;
    if (!inner || inner.opType !== 'Transpose' || normalizeDomain(inner.domain) !== '' || !graph.nodes.includes(inner)) continue;
    const rank = inner.inputs[0]?.tensorType?.shape?.length;
    if (rank === undefined) continue;
    const p1 = permOf(inner, rank);
    const p2 = permOf(node, rank);
    if (!p1 || !p2) continue;
    // out2[j] = out1 dim p2[j] = in dim p1[p2[j]]
    node.inputs[0] = inner.inputs[0]!;
    node.attrs.set('perm', { kind: 'ints', value: p2.map((j) => p1[j]!) });
    n++;
  }
  return n;
}

function eliminateInGraph(graph: Graph, module: Module, used: ReadonlySet<Value>, subst: Map<Value, Value>): number {
  let removed = 0;
  const outputs = new Set(graph.outputs);
  const kept: Node[] = [];
  const keptSet = new Set<Node>();
  for (const node of graph.nodes) {
    for (const sg of node.subgraphs()) removed += eliminateInGraph(sg, module, used, subst);
    const opset = module.opsetFor(node.domain) ?? 1;
    if (!isNoOp(node, opset, used)) {
      kept.push(node);
      keptSet.add(node);
      continue;
    }
    const input = resolve(subst, node.inputs[0]!);
    const output = node.outputs[0]!;
    if (!outputs.has(output)) {
      subst.set(output, input);
      removed++;
      continue;
    }
    // the output is part of the interface: the input's producer takes over its name
    const producer = input.producer;
    if (producer === null || !keptSet.has(producer) || outputs.has(input)) {
      kept.push(node);
      keptSet.add(node);
      continue;
    }
    producer.outputs = producer.outputs.map((v) => (v === input ? output : v));
    output.producer = producer;
    subst.set(input, output);
    removed++;
  }
  graph.nodes = kept;
  return removed;
}

/** Removes no-op nodes; returns how many. */
export function eliminateIdentities(module: Module): number {
  const composed = composeTransposes(module.graph);
  const subst = new Map<Value, Value>();
  const removed = composed + eliminateInGraph(module.graph, module, usedValues(module.graph), subst);
  substituteUses(module.graph, subst, { outputs: false });
  return removed;
}

export const eliminateIdentityPass = definePass({
  name: 'eliminate-identity',
  description: 'remove no-op nodes (Identity, inference Dropout, Cast to the same type, identity Transpose, Reshape to the same shape) and rewire their uses; Transpose pairs compose into one',
  options: {},
  run: (module) => eliminateIdentities(module) > 0,
});
