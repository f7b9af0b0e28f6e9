/** Execution targets known to `kiln run` and `kiln conformance`. */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { interpret } from '../ir/interp/interpreter.js';
import type { RtValue, Tensor } from '../ir/tensor.js';
import { specializeInputs } from '../passes/specialize.js';
import { lowerModule } from '../passes/lower.js';
import { runProgram } from '../ir/kernel/interp.js';
import { runC } from '../backends/c/run.js';

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

/** Specializes to the inputs' shapes and lowers; returns the program and its feeds. */
function lowerFor(module: Module, inputs: readonly (RtValue | undefined)[]): { program: ReturnType<typeof lowerModule>; feeds: Tensor[] } {
  specializeInputs(module, inputs);
  const program = lowerModule(module);
  // program inputs are the graph inputs without a default, in order
  const feeds = module.graph.inputs.flatMap((v, i) => (v.init ? [] : [inputs[i] as Tensor]));
  return { program, feeds };
}

registerTarget({
  name: 'c',
  description: 'generated C99, compiled with the system C compiler (cc) and run',
  run: (module, inputs) => {
    const { program, feeds } = lowerFor(module, inputs);
    return runC(program, module.graph.name || 'model', feeds);
  },
});

registerTarget({
  name: 'kernel',
  description: 'lowered kernel IR run by the kernel interpreter (checks the shared lowering)',
  run: (module, inputs) => {
    const { program, feeds } = lowerFor(module, inputs);
    return runProgram(program, feeds);
  },
});

export function getTarget(name: string): RunTarget {
  const t = targets.get(name);
  if (!t) throw new KilnError('usage', `unknown target '${name}' (known: ${[...targets.keys()].join(', ')})`);
  return t;
}

export function targetNames(): string[] {
  return [...targets.keys()];
}
