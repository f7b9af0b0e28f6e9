/** Use-def helpers shared by the canonicalization passes (dce, cse, eliminate-identity). */
import type { Graph, Value } from '../ir/graph.js';

/** Every value a graph reads: node inputs and graph outputs, in its subgraphs too. */
export function usedValues(graph: Graph, into: Set<Value> = new Set()): Set<Value> {
  for (const v of graph.outputs) into.add(v);
  for (const n of graph.nodes) {
    for (const v of n.inputs) if (v !== null) into.add(v);
    for (const sg of n.subgraphs()) usedValues(sg, into);
  }
  return into;
}

/** Follows a replacement chain (a → b → c) to its end. */
export function resolve(subst: ReadonlyMap<Value, Value>, v: Value): Value {
  let cur = v;
  for (let guard = 0; guard <= subst.size; guard++) {
    const next = subst.get(cur);
    if (next === undefined || next === cur) return cur;
    cur = next;
  }
  return cur;
}

/**
 * Rewrites every use of a replaced value (node inputs and subgraph outputs, at any depth). The
 * outputs of `graph` itself are rewritten only with `outputs: true`: they name the model interface.
 */
export function substituteUses(graph: Graph, subst: ReadonlyMap<Value, Value>, opts: { outputs: boolean }): void {
  if (subst.size === 0) return;
  if (opts.outputs) graph.outputs = graph.outputs.map((v) => resolve(subst, v));
  for (const n of graph.nodes) {
    n.inputs = n.inputs.map((v) => (v === null ? null : resolve(subst, v)));
    for (const sg of n.subgraphs()) substituteUses(sg, subst, { outputs: true });
  }
}
