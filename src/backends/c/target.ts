/** Targets `c` and `c-asan`: generated C99, built with the system C compiler and run. */
import { memoryLayoutOf } from '../../ir/kernel/layout.js';
import { hostRoofline } from '../../costmodel/roofline.js';
import { planMemoryStep } from '../memory-pipeline.js';
import { registerTarget, type KernelTarget, type TargetContext } from '../target.js';
import { commandTool } from '../tools.js';
import { emitC, WEIGHTS_TARGET_OPTIONS, weightsEmitOptions } from './emit.js';
import { cCompiler, runC } from './run.js';

/** Flags for the sanitizer run: any AddressSanitizer/UBSan report makes the run fail. */
export const SANITIZE_CFLAGS = '-std=c99 -O0 -g -Wall -Wextra -Werror -pedantic -fno-strict-aliasing -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer';

const cc = commandTool(cCompiler, 'apt-get install --no-install-recommends gcc (or set CC)');

function cTarget(name: string, description: string, cflags: string | undefined): KernelTarget {
  const layout = (ctx: TargetContext) => memoryLayoutOf(ctx.results, name);
  return {
    name,
    description,
    level: 'kernel',
    options: WEIGHTS_TARGET_OPTIONS,
    tools: [cc],
    capabilities: { ci: true, emits: true, dynamic: true },
    // QDQ groups become integer kernels (src/passes/fold-qdq.ts); the model's kiln.requant
    // metadata may keep their float requantization (src/passes/requant.ts)
    prelude: () => 'fold-qdq,requant',
    pipeline: (_options, settings) => planMemoryStep(settings),
    emit(program, ctx) {
      const p = emitC(program, ctx.name, layout(ctx), { target: name, ...(cflags ? { cflags } : {}), ...weightsEmitOptions(ctx.options) });
      return { files: p.files, report: p.report };
    },
    run: (program, inputs, ctx) => ({ outputs: runC(program, ctx.name, inputs, layout(ctx), cflags ? { cflags } : {}) }),
  };
}

registerTarget({
  ...cTarget('c', 'generated C99, compiled with the system C compiler (cc) and run', undefined),
  options: { host: { description: 'host profile for the roofline of `kiln report` (kiln devices --kind host; default x86-64-avx2)' }, ...WEIGHTS_TARGET_OPTIONS },
  checkOptions: (options) => void (options.host !== undefined && hostRoofline(options.host)),
  roofline: (options) => hostRoofline(options.host),
});

registerTarget(cTarget('c-asan', 'generated C built with -fsanitize=address,undefined (any report fails the case)', SANITIZE_CFLAGS));
