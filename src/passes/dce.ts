/**
 * Dead code elimination: removes nodes none of whose outputs is used (by a later node, a subgraph,
 * or a graph output) and initializers nothing reads. Graph inputs stay: they are the interface.
 * Only ops of the standard domains are removed; a custom-domain op may have effects Kiln cannot see.
 */
import type { Graph, Module, Node, Value } from '../ir/graph.js';
import { normalizeDomain } from '../ir/graph.js';
import { definePass } from './pass.js';
import { usedValues } from './rewire.js';

const PURE_DOMAINS = new Set(['', 'ai.onnx.ml']);

function removable(node: Node, used: ReadonlySet<Value>): boolean {
  return PURE_DOMAINS.has(normalizeDomain(node.domain)) && node.outputs.every((v) => v === null || !used.has(v));
}

/** Removes dead nodes and initializers of one graph (and, inside live nodes, of their subgraphs). */
function dceGraph(graph: Graph): number {
  let removed = 0;
  const used = new Set<Value>(graph.outputs);
  const kept: Node[] = [];
  // backwards, so a node that only fed dead nodes is dead too, in one sweep
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (removable(node, used)) {
      removed++;
      continue;
    }
    for (const sg of node.subgraphs()) {
      removed += dceGraph(sg);
      usedValues(sg, used);
    }
    for (const v of node.inputs) if (v !== null) used.add(v);
    kept.push(node);
  }
  graph.nodes = kept.reverse();
  const inits = graph.initializers.filter((v) => used.has(v));
  removed += graph.initializers.length - inits.length;
  graph.initializers = inits;
  return removed;
}

/** Removes dead nodes and unused initializers; returns how many were removed. */
export function eliminateDeadCode(module: Module): number {
  return dceGraph(module.graph);
}

export const dcePass = definePass({
  name: 'dce',
  description: 'remove nodes whose outputs are unused and initializers nothing reads (graph inputs and outputs stay)',
  options: {},
  run: (module) => eliminateDeadCode(module) > 0,
});
