/** Execution targets known to `kiln run` and `kiln conformance`. */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { interpret } from '../ir/interp/interpreter.js';
import type { RtValue, Tensor } from '../ir/tensor.js';
import { specializeInputs } from '../passes/specialize.js';
import { lowerPass } from '../passes/lower.js';
import { runPipeline } from '../passes/pipeline.js';
import type { Program } from '../ir/kernel/types.js';
import { runProgram } from '../ir/kernel/interp.js';
import { runC } from '../backends/c/run.js';
import { describeFit, runMcu } from '../backends/mcu/run.js';
import { getBoard } from '../costmodel/boards.js';
import { wgslTarget } from '../backends/wgsl/target.js';
import { mapGpuPass } from '../passes/map-gpu.js';

export interface RunTarget {
  readonly name: string;
  readonly description: string;
  /** Runs the module on inputs in graph-input order (undefined = use the input's default). */
  run(module: Module, inputs: readonly (RtValue | undefined)[]): RtValue[] | Promise<RtValue[]>;
  /** A line about the last run (e.g. flash/RAM of the MCU image), printed by `kiln run`. */
  summary?(): string | undefined;
}

/** Targets that take an option after a colon, e.g. `mcu:stm32f446` (the board). */
const optionTargets = new Map<string, (option: string | undefined) => RunTarget>();

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
function lowerFor(module: Module, inputs: readonly (RtValue | undefined)[]): { program: Program; feeds: Tensor[] } {
  specializeInputs(module, inputs);
  // memory-aware node order, as `kiln compile` does (semantics-preserving); through the pass
  // manager so the verifier runs on the program whenever verification is on
  const r = runPipeline({ level: 'graph', module }, [{ pass: lowerPass, options: { schedule: 'memory' } }]);
  const program = (r.state as { program: Program }).program;
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

/** Flags for the sanitizer run: any AddressSanitizer/UBSan report makes the run fail. */
export const SANITIZE_CFLAGS = '-std=c99 -O0 -g -Wall -Wextra -Werror -pedantic -fno-strict-aliasing -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer';

registerTarget({
  name: 'c-asan',
  description: 'generated C built with -fsanitize=address,undefined (any report fails the case)',
  run: (module, inputs) => {
    const { program, feeds } = lowerFor(module, inputs);
    return runC(program, module.graph.name || 'model', feeds, { cflags: SANITIZE_CFLAGS });
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

// WGSL through the target definition (until the driver goes through the target registry for all)
registerTarget({
  name: 'wgsl',
  description: wgslTarget.description,
  run: async (module, inputs) => {
    const { program, feeds } = lowerFor(module, inputs);
    runPipeline({ level: 'kernel', program }, [{ pass: mapGpuPass, options: { invocations: '128', groups: '65535' } }]);
    return (await wgslTarget.run(program, feeds, { name: module.graph.name || 'model', options: {}, results: new Map(), log: () => {} })).outputs;
  },
});

/** `mcu` (board mps2-an386) or `mcu:<board>`: cross-compiled, run under QEMU with semihosting. */
function mcuTarget(option: string | undefined): RunTarget {
  // an explicit board is checked now (a usage error before any case runs); the default lazily
  const board = option === undefined ? undefined : getBoard(option).name;
  let last: string | undefined;
  return {
    name: board === undefined ? 'mcu' : `mcu:${board}`,
    description: 'generated C99 for a Cortex-M board (--board, default mps2-an386), built with arm-none-eabi-gcc and run under qemu-system-arm with semihosting',
    run: (module, inputs) => {
      const { program, feeds } = lowerFor(module, inputs);
      const r = runMcu(program, module.graph.name || 'model', feeds, { board });
      last = describeFit(r);
      return r.outputs;
    },
    summary: () => last,
  };
}
optionTargets.set('mcu', mcuTarget);
registerTarget(mcuTarget(undefined));

/** The target name `kiln run`/`conformance` use for a target with a board (`mcu` + stm32f446 → `mcu:stm32f446`). */
export function targetWithBoard(target: string, board: string | undefined): string {
  if (board === undefined) return target;
  if (!optionTargets.has(target)) throw new KilnError('usage', `--board applies to --target mcu, not '${target}'`);
  getBoard(board);
  return `${target}:${board}`;
}

export function getTarget(name: string): RunTarget {
  const colon = name.indexOf(':');
  if (colon > 0 && optionTargets.has(name.slice(0, colon))) return optionTargets.get(name.slice(0, colon))!(name.slice(colon + 1));
  const base = optionTargets.get(name);
  if (base) return base(undefined);
  const t = targets.get(name);
  if (!t) throw new KilnError('usage', `unknown target '${name}' (known: ${[...targets.keys()].join(', ')})`);
  return t;
}

export function targetNames(): string[] {
  return [...targets.keys()];
}
