/**
 * Folds constant shape computations: Shape/Size of statically shaped tensors, and small integer
 * computations whose inputs are all constants (the Shape→Gather→Concat→Reshape chains exporters
 * emit). Folded values become initializers; type inference then re-runs so consumers see the
 * constants (a Reshape whose target shape was computed gets a static output shape).
 */
import { Graph, Module, Node, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { isStaticShape, tensorType, typeCompatible } from '../ir/types.js';
import { isFloat } from '../ir/dtype.js';
import { constantOf, inferModule } from '../ir/infer.js';
import { interpret } from '../ir/interp/interpreter.js';
import { definePass } from './pass.js';

/** Largest folded result, in elements: shape computations are tiny. */
const MAX_SHAPE_FOLD_ELEMENTS = 1024;
/** With `all`, any constant subexpression up to this size is computed at compile time. */
const MAX_ALL_FOLD_ELEMENTS = 1 << 24;
const NEVER_FOLD = new Set(['RandomUniform', 'RandomNormal', 'RandomUniformLike', 'RandomNormalLike', 'Bernoulli', 'Multinomial', 'Constant']);

function foldable(node: Node, all: boolean): boolean {
  if (node.domain !== '' || NEVER_FOLD.has(node.opType) || node.subgraphs().length > 0) return false;
  if (node.outputs.some((o) => o === null)) return false;
  // a DequantizeLinear of an integer weight stays: fold-qdq turns it into an integer kernel's
  // operand, and the weight keeps its integer size in memory
  if (node.opType === 'DequantizeLinear') return false;
  const limit = all ? MAX_ALL_FOLD_ELEMENTS : MAX_SHAPE_FOLD_ELEMENTS;
  return node.outputs.every((o) => {
    const t = o?.tensorType;
    if (t === null || t === undefined || t.dtype === 'string' || !isStaticShape(t.shape)) return false;
    return (all || !isFloat(t.dtype)) && t.shape.reduce((a, b) => a * b, 1) <= limit;
  });
}

/** Value of a Shape/Size node when its input shape is static. */
function shapeValue(node: Node, module: Module): Tensor | null {
  const x = node.inputs[0]?.tensorType;
  if (!x || !isStaticShape(x.shape)) return null;
  if (node.opType === 'Size') return Tensor.scalar('i64', BigInt(x.shape.reduce((a, b) => a * b, 1)));
  const rank = x.shape.length;
  const opset = module.opsetFor('') ?? 1;
  let start = 0;
  let end = rank;
  if (opset >= 15) {
    const s = node.attrs.get('start');
    const e = node.attrs.get('end');
    if (s?.kind === 'int') start = s.value;
    if (e?.kind === 'int') end = e.value;
  }
  const clamp = (v: number): number => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
  const dims = x.shape.slice(clamp(start), Math.max(clamp(start), clamp(end)));
  return Tensor.from('i64', [dims.length], dims.map((d) => BigInt(d)));
}

function evaluate(node: Node, module: Module, all: boolean): Tensor[] | null {
  if (node.domain === '' && (node.opType === 'Shape' || node.opType === 'Size')) {
    const t = shapeValue(node, module);
    return t ? [t] : null;
  }
  if (!foldable(node, all)) return null;
  const consts = node.inputs.map((v) => (v === null ? null : constantOf(v)));
  if (node.inputs.some((v, i) => v !== null && consts[i] === null)) return null;
  // Run the node alone through the interpreter: one reference semantics for folding and execution.
  const inputs = node.inputs.filter((v): v is Value => v !== null);
  const g = new Graph('fold', inputs, node.outputs.filter((v): v is Value => v !== null), [node]);
  const m = new Module(g, module.opsets);
  const outs = interpret(m, inputs.map((v) => constantOf(v)!));
  return outs.every((o) => o.kind === 'tensor') ? (outs as Tensor[]) : null;
}

function foldGraph(graph: Graph, module: Module, all: boolean): number {
  let folded = 0;
  const kept: Node[] = [];
  for (const node of graph.nodes) {
    const branch = all ? constantBranch(node) : null;
    if (branch) {
      kept.push(...inlineBranch(graph, node, branch));
      folded++;
      continue;
    }
    let values: Tensor[] | null = null;
    try {
      values = evaluate(node, module, all);
    } catch {
      values = null; // leave the node for run time, where the error is reported with context
    }
    // a value that contradicts the output's inferred type means the op's folding and inference
    // disagree: keep the node, so the contradiction cannot reach the code generators as a constant
    if (values === null || !node.outputs.every((v, i) => !v || (values![i] !== undefined && typeCompatible(v.type, tensorType(values![i]!.dtype, values![i]!.shape))))) {
      kept.push(node);
      continue;
    }
    node.outputs.forEach((v, i) => {
      if (!v) return;
      v.init = values![i]!;
      v.producer = null;
      graph.initializers.push(v);
    });
    folded++;
  }
  graph.nodes = kept;
  return folded;
}

/** The branch an If will take when its condition is a compile-time constant. */
function constantBranch(node: Node): Graph | null {
  if (node.domain !== '' || node.opType !== 'If') return null;
  const c = constantOf(node.inputs[0] ?? null);
  if (!c || c.size !== 1) return null;
  const a = node.attrs.get(c.num(0) ? 'then_branch' : 'else_branch');
  return a?.kind === 'graph' ? a.value : null;
}

/**
 * Replaces an If by the nodes of its chosen branch: the branch's constants join the graph's, and
 * each If output becomes an Identity of the branch output (so names downstream stay the same).
 */
function inlineBranch(graph: Graph, node: Node, branch: Graph): Node[] {
  graph.initializers.push(...branch.initializers);
  const nodes: Node[] = [...branch.nodes];
  node.outputs.forEach((out, i) => {
    const src = branch.outputs[i];
    if (!out || !src) return;
    const id = new Node('Identity', '', `${node.name}/out${i}`, [src], [out]);
    out.producer = id;
    nodes.push(id);
  });
  return nodes;
}

/** Folds until nothing changes; returns the number of nodes folded. */
export function foldConstants(module: Module, all = false): number {
  let total = 0;
  for (;;) {
    const n = foldGraph(module.graph, module, all);
    if (n === 0) break;
    total += n;
    inferModule(module);
  }
  return total;
}

export const foldConstantsPass = definePass({
  name: 'fold-constants',
  description: 'fold constant shape computations (Shape of static tensors, small integer constant expressions) into initializers; with {all=true}, every constant subexpression',
  run: (module, ctx) => foldConstants(module, ctx.options.all === 'true') > 0,
});
