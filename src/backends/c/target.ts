/** Targets `c` and `c-asan`: generated C99, built with the system C compiler and run. */
import { memoryLayoutOf } from '../../ir/kernel/layout.js';
import { hostRoofline } from '../../costmodel/roofline.js';
import { planMemoryStep } from '../memory-pipeline.js';
import { registerTarget, type KernelTarget, type TargetContext } from '../target.js';
import { commandTool } from '../tools.js';
import { emitC, WEIGHTS_TARGET_OPTIONS, weightsEmitOptions } from './emit.js';
import { usesThreads } from './render.js';
import { cCompiler, runC } from './run.js';
import { KilnError } from '../../ir/errors.js';

/** Flags for the sanitizer run: any AddressSanitizer/UBSan report makes the run fail. */
export const SANITIZE_CFLAGS = '-std=c99 -O0 -g -Wall -Wextra -Werror -pedantic -fno-strict-aliasing -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer';

/** The `threads` option of the host C targets (parallel loops as OpenMP; 1 keeps today's serial C). */
const THREADS_OPTION = {
  threads: { description: 'host threads for loops the parallelize pass finds independent and large enough (OpenMP, built with -fopenmp); 1 = serial C, the reference', default: '1' },
} as const;

function threadsOf(options: Readonly<Record<string, string>>): number {
  const v = options.threads ?? '1';
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > 1024) throw new KilnError('usage', `target option threads must be an integer from 1 to 1024, not '${v}'`);
  return n;
}

/** The parallelize pass before memory planning when threads > 1 (so the plan sees per-thread scratch). */
function threadsStep(options: Readonly<Record<string, string>>): string {
  const n = threadsOf(options);
  return n > 1 ? `parallelize{threads=${n}${options.host !== undefined ? `,host=${options.host}` : ''}},` : '';
}

const cc = commandTool(cCompiler, 'apt-get install --no-install-recommends gcc (or set CC)');

function cTarget(name: string, description: string, cflags: string | undefined): KernelTarget {
  const layout = (ctx: TargetContext) => memoryLayoutOf(ctx.results, name);
  return {
    name,
    description,
    level: 'kernel',
    options: { ...THREADS_OPTION, ...WEIGHTS_TARGET_OPTIONS },
    checkOptions: (options) => void threadsOf(options),
    tools: [cc],
    capabilities: { ci: true, emits: true, dynamic: true },
    // QDQ groups become integer kernels (src/passes/fold-qdq.ts); the model's kiln.requant
    // metadata may keep their float requantization (src/passes/requant.ts)
    prelude: () => 'fold-qdq,requant',
    pipeline: (options, settings) => `${threadsStep(options)}${planMemoryStep(settings)}`,
    emit(program, ctx) {
      const openmp = usesThreads(program);
      const p = emitC(program, ctx.name, layout(ctx), { target: name, ...(cflags ? { cflags } : {}), ...weightsEmitOptions(ctx.options), ...(openmp ? { openmp } : {}) });
      const par = ctx.results.get('parallelize');
      return { files: p.files, report: threadsOf(ctx.options) > 1 ? { ...p.report, threads: threadsOf(ctx.options), parallelize: par } : p.report };
    },
    run: (program, inputs, ctx) => ({ outputs: runC(program, ctx.name, inputs, layout(ctx), { ...(cflags ? { cflags } : {}), ...(usesThreads(program) ? { openmp: true } : {}) }) }),
  };
}

registerTarget({
  ...cTarget('c', 'generated C99, compiled with the system C compiler (cc) and run', undefined),
  options: { host: { description: 'host profile for the roofline of `kiln report` and the threads cost threshold (kiln devices --kind host; default x86-64-avx2)' }, ...THREADS_OPTION, ...WEIGHTS_TARGET_OPTIONS },
  checkOptions: (options) => {
    threadsOf(options);
    if (options.host !== undefined) hostRoofline(options.host);
  },
  roofline: (options) => hostRoofline(options.host),
});

registerTarget(cTarget('c-asan', 'generated C built with -fsanitize=address,undefined (any report fails the case)', SANITIZE_CFLAGS));
