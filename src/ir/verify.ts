/**
 * Structural and per-op verifier for the graph IR. Checks SSA (each value defined once, before
 * use, in this graph or an enclosing one), producer links, that every op resolves at the module's
 * opset, and that each op's type inference agrees with the types the IR carries.
 */
import { KilnError, locateError } from './errors.js';
import type { Graph, Module, Value } from './graph.js';
import { resolveOp } from './ops/registry.js';
import { inferContext } from './infer.js';
import { tensorType, typeCompatible, type ValueType } from './types.js';

export function verifyModule(module: Module): void {
  verifyGraph(module, module.graph, new Set());
}

function verifyGraph(module: Module, graph: Graph, outer: ReadonlySet<Value>): void {
  const defined = new Set<Value>(outer);
  const define = (v: Value, what: string): void => {
    if (defined.has(v)) throw new KilnError('invalid-model', `value '${v.name}' is defined twice (${what})`, { tensor: v.name });
    defined.add(v);
  };
  // a constant's contents must agree with its declared type: code generators size buffers from the type
  const checkContents = (v: Value): void => {
    if (!v.init) return;
    const held = tensorType(v.init.dtype, v.init.shape);
    if (!typeCompatible(v.type, held)) throw new KilnError('type', `initializer '${v.name}' is declared ${describe(v.type)} but holds ${describe(held)}`, { tensor: v.name });
  };
  for (const v of graph.inputs) {
    checkContents(v);
    define(v, 'graph input');
  }
  for (const v of graph.initializers) {
    if (!v.init) throw new KilnError('invalid-model', `initializer '${v.name}' has no contents`, { tensor: v.name });
    checkContents(v);
    define(v, 'initializer');
  }
  for (const node of graph.nodes) {
    try {
      node.inputs.forEach((v, i) => {
        if (v !== null && !defined.has(v)) throw new KilnError('invalid-model', `input ${i} '${v.name}' is used before it is defined`);
      });
      const opset = module.opsetFor(node.domain);
      const def = resolveOp(node, opset);
      for (const sg of node.subgraphs()) verifyGraph(module, sg, defined);
      const ctx = inferContext(node, opset!, (g) => g.outputs.map((v) => v.type));
      const inferred: (ValueType | null)[] = def.infer(ctx);
      node.outputs.forEach((v, i) => {
        if (v === null) return;
        if (v.producer !== node) throw new KilnError('invalid-model', `output '${v.name}' does not link back to its producer`);
        if (!typeCompatible(v.type, inferred[i] ?? null) && !typeCompatible(inferred[i] ?? null, v.type)) {
          throw new KilnError('type', `output '${v.name}' has type ${describe(v.type)} but the op infers ${describe(inferred[i] ?? null)}`);
        }
        define(v, `output of node ${node.name}`);
      });
    } catch (e) {
      throw locateError(e, node);
    }
  }
  for (const v of graph.outputs) {
    if (!defined.has(v)) throw new KilnError('invalid-model', `graph output '${v.name}' is not defined`, { tensor: v.name });
  }
}

function describe(t: ValueType | null): string {
  if (t === null) return 'unknown';
  if (t.kind === 'tensor') return `${t.dtype}[${t.shape === null ? '*' : t.shape.map((d) => (d === null ? '?' : String(d))).join('x')}]`;
  return t.kind;
}
