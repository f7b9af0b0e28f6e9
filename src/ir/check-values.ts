/**
 * Checks runtime values against a graph's declared input/output types: element type, rank, static
 * dims, and symbolic dims bound consistently (the same symbol means the same size everywhere it
 * appears). Every target goes through this before it runs (inputs) and the interpreter after it
 * runs (outputs), so a wrong feed or a result contradicting its declared type is one error line.
 */
import { KilnError } from './errors.js';
import type { Graph, Value } from './graph.js';
import type { RtValue } from './tensor.js';
import { tensorType, typeCompatible, type ValueType } from './types.js';

/** `f32[1x16]`, `f32[N x 16]`-style text for a declared type. */
export function describeType(t: ValueType | null): string {
  if (t === null) return 'of unknown type';
  if (t.kind === 'tensor') return `${t.dtype}[${t.shape === null ? '*' : t.shape.map((d) => (d === null ? '?' : String(d))).join('x')}]`;
  if (t.kind === 'sequence' || t.kind === 'optional') return `${t.kind}<${describeType(t.elem)}>`;
  return `map<${t.key}, ${describeType(t.value)}>`;
}

/** The type of a runtime value, in the same notation. */
export function describeValue(x: RtValue): string {
  if (x.kind === 'tensor') return `${x.dtype}[${x.shape.join('x')}]`;
  if (x.kind === 'sequence') return `sequence of ${x.items.length}`;
  return 'an empty optional';
}

/**
 * Why `x` does not fit `declared` (null when it fits). `symbols` holds the sizes symbolic dims took
 * so far; a fitting tensor binds the symbols it meets.
 */
export function valueMismatch(declared: ValueType | null, x: RtValue, symbols: Map<string, number>): string | null {
  if (declared === null) return null;
  if (declared.kind === 'optional') return x.kind === 'none' ? null : valueMismatch(declared.elem, x, symbols);
  if (x.kind === 'none') return 'an empty optional where a value is required';
  if (declared.kind === 'sequence') {
    if (x.kind !== 'sequence') return 'a tensor where a sequence is declared';
    // items are checked for their element type only: exporters (and ONNX's own loop tests) declare
    // item shapes loosely, e.g. seq<f32[]> for items of shape [1]
    const elem = declared.elem?.kind === 'tensor' ? tensorType(declared.elem.dtype, null) : declared.elem;
    const bad = x.items.findIndex((it) => valueMismatch(elem, it, new Map()) !== null);
    return bad < 0 ? null : `item ${bad} is ${describeValue(x.items[bad]!)}`;
  }
  if (declared.kind === 'map') return x.kind === 'sequence' || x.kind === 'tensor' ? null : 'not a map';
  if (x.kind !== 'tensor') return `a ${x.kind} where a tensor is declared`;
  if (!typeCompatible(declared, x.type)) return describeValue(x);
  const shape = declared.shape;
  if (shape === null) return null;
  const bound = new Map<string, number>();
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'string') continue;
    const want = symbols.get(d) ?? bound.get(d);
    if (want !== undefined && want !== x.shape[i]) return `${describeValue(x)} (dim ${d} is ${want} elsewhere)`;
    bound.set(d, x.shape[i]!);
  }
  for (const [k, v] of bound) symbols.set(k, v);
  return null;
}

/** Throws a one-line 'type' error naming the first input (graph-input order) that does not fit. */
export function checkInputs(graph: Graph, inputs: readonly (RtValue | undefined)[]): void {
  const symbols = new Map<string, number>();
  graph.inputs.forEach((v, i) => {
    const x = inputs[i];
    if (x !== undefined) checkOne(v, x, symbols, 'input');
  });
}

/** Throws when an output contradicts its declared type (symbols shared with the inputs). */
export function checkOutputs(graph: Graph, inputs: readonly (RtValue | undefined)[], outputs: readonly RtValue[]): void {
  const symbols = new Map<string, number>();
  graph.inputs.forEach((v, i) => {
    const x = inputs[i] ?? v.init ?? undefined;
    if (x !== undefined) valueMismatch(v.type, x, symbols);
  });
  graph.outputs.forEach((v, i) => {
    const x = outputs[i];
    if (x !== undefined) checkOne(v, x, symbols, 'output');
  });
}

function checkOne(v: Value, x: RtValue, symbols: Map<string, number>, role: 'input' | 'output'): void {
  const why = valueMismatch(v.type, x, symbols);
  if (why === null) return;
  const code = role === 'input' ? 'type' : 'runtime';
  throw new KilnError(code, `${role} '${v.name}' is ${why}, the model declares ${describeType(v.type)}`, { tensor: v.name });
}
