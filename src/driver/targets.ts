/** Execution targets known to `kiln run` and `kiln conformance`. */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { interpret } from '../ir/interp/interpreter.js';
import type { RtValue } from '../ir/tensor.js';

export interface RunTarget {
  readonly name: string;
  readonly description: string;
  /** Runs the module on inputs in graph-input order (undefined = use the input's default). */
  run(module: Module, inputs: readonly (RtValue | undefined)[]): RtValue[] | Promise<RtValue[]>;
}

const targets = new Map<string, RunTarget>();

export function registerTarget(t: RunTarget): void {
  targets.set(t.name, t);
}

registerTarget({
  name: 'interp',
  description: 'reference interpreter on the graph IR',
  run: (module, inputs) => interpret(module, inputs),
});

export function getTarget(name: string): RunTarget {
  const t = targets.get(name);
  if (!t) throw new KilnError('usage', `unknown target '${name}' (known: ${[...targets.keys()].join(', ')})`);
  return t;
}

export function targetNames(): string[] {
  return [...targets.keys()];
}
