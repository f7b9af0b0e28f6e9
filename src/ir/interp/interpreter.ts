/**
 * Reference interpreter for the graph IR. Clarity over speed: each node runs its op's reference
 * kernel on typed arrays. Values are freed after their last use so large graphs stay linear.
 */
import { KilnError, locateError } from '../errors.js';
import type { Graph, Module, Node, Value } from '../graph.js';
import { normalizeDomain } from '../graph.js';
import { Attrs, resolveOp, type KernelContext } from '../ops/registry.js';
import { NoneValue, type RtValue, type Tensor } from '../tensor.js';

/** A scope of computed values; subgraph scopes see their parents'. */
class Env {
  private readonly values = new Map<Value, RtValue>();
  constructor(private readonly parent: Env | null) {}
  get(v: Value): RtValue | undefined {
    return this.values.get(v) ?? this.parent?.get(v);
  }
  set(v: Value, x: RtValue): void {
    this.values.set(v, x);
  }
  delete(v: Value): void {
    this.values.delete(v);
  }
}

export interface InterpOptions {
  /** Called after each node with its outputs (for differential testing and tracing). */
  onNode?: (node: Node, outputs: readonly (RtValue | null)[]) => void;
}

/** Runs the module's main graph. `inputs` are in graph-input order; missing ones use defaults. */
export function interpret(module: Module, inputs: readonly (RtValue | undefined)[], options: InterpOptions = {}): RtValue[] {
  return runGraph(module, module.graph, inputs, null, options);
}

function runGraph(module: Module, graph: Graph, inputs: readonly (RtValue | undefined)[], parent: Env | null, options: InterpOptions): RtValue[] {
  const env = new Env(parent);
  graph.inputs.forEach((v, i) => {
    const x = inputs[i] ?? v.init ?? undefined;
    if (x === undefined) throw new KilnError('runtime', `missing value for graph input '${v.name}'`, { tensor: v.name });
    env.set(v, x);
  });
  for (const v of graph.initializers) if (v.init) env.set(v, v.init);

  const lastUse = lastUses(graph);
  const keep = new Set<Value>(graph.outputs);
  for (let ni = 0; ni < graph.nodes.length; ni++) {
    const node = graph.nodes[ni]!;
    const outs = runNode(module, node, env, options);
    node.outputs.forEach((v, i) => {
      if (v === null) return;
      const x = outs[i];
      if (x === undefined || x === null) {
        throw new KilnError('runtime', `kernel produced no value for output ${i} ('${v.name}')`, { node: node.name, op: node.opType });
      }
      env.set(v, x);
    });
    options.onNode?.(node, outs);
    for (const v of lastUse.get(ni) ?? []) if (!keep.has(v)) env.delete(v);
  }
  return graph.outputs.map((v) => {
    const x = env.get(v);
    if (x === undefined) throw new KilnError('runtime', `graph output '${v.name}' was never computed`, { tensor: v.name });
    return x;
  });
}

/** For each node index, the values (local to this graph) whose last use it is. */
function lastUses(graph: Graph): Map<number, Value[]> {
  const last = new Map<Value, number>();
  const visit = (g: Graph, at: number): void => {
    for (const n of g.nodes) {
      for (const v of n.inputs) if (v) last.set(v, at);
      for (const sg of n.subgraphs()) {
        visit(sg, at);
        for (const o of sg.outputs) last.set(o, at);
      }
    }
  };
  graph.nodes.forEach((n, i) => {
    for (const v of n.inputs) if (v) last.set(v, i);
    for (const sg of n.subgraphs()) visit(sg, i);
  });
  const byNode = new Map<number, Value[]>();
  for (const [v, i] of last) {
    if (v.producer === null) continue; // graph inputs and initializers stay
    const list = byNode.get(i) ?? [];
    list.push(v);
    byNode.set(i, list);
  }
  return byNode;
}

function runNode(module: Module, node: Node, env: Env, options: InterpOptions): (RtValue | null)[] {
  const opset = module.opsetFor(normalizeDomain(node.domain));
  try {
    const def = resolveOp(node, opset);
    const inputs = node.inputs.map((v) => {
      if (v === null) return null;
      const x = env.get(v);
      if (x === undefined) throw new KilnError('runtime', `value '${v.name}' is used before it is computed`, { tensor: v.name });
      return x;
    });
    const ctx: KernelContext = {
      node,
      attrs: new Attrs(node),
      opset: opset!,
      inputs,
      outputCount: node.outputs.length,
      hasOutput: (i) => node.outputs[i] !== undefined && node.outputs[i] !== null,
      tensor: (i) => {
        const x = inputs[i];
        if (x === undefined || x === null) throw new KilnError('runtime', `input ${i} is required`);
        if (x.kind !== 'tensor') throw new KilnError('runtime', `input ${i} must be a tensor, got a ${x.kind}`);
        return x;
      },
      optTensor: (i) => {
        const x = inputs[i];
        if (x === undefined || x === null || x instanceof NoneValue) return null;
        if (x.kind !== 'tensor') throw new KilnError('runtime', `input ${i} must be a tensor, got a ${x.kind}`);
        return x as Tensor;
      },
      runSubgraph: (g, subInputs) => runGraph(module, g, subInputs, env, options),
    };
    return def.interp(ctx);
  } catch (e) {
    throw locateError(e, node);
  }
}
