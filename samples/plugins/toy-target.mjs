// Example Kiln plugin: a toy target, registered through the same target API as the built-ins.
//
//   target toy   emit: writes the kernel IR after the target's pipeline as text (model.kir, the
//                .kir form `kiln print --level kernel` prints) or, with option style=summary, one
//                line per kernel (summary.txt); run: the kernel interpreter.
//
// Use it:  kiln --plugin samples/plugins/toy-target.mjs targets
//          kiln --plugin samples/plugins/toy-target.mjs compile model.onnx --target toy -o out
//          kiln --plugin samples/plugins/toy-target.mjs run model.onnx --target toy --inputs test_data_set_0
//          kiln --plugin samples/plugins/toy-target.mjs conformance cases/ --target toy:summary
// The default export receives Kiln's programmatic API, so the plugin never imports a second copy.

export default function plugin(kiln) {
  const { defineTarget, printProgram, runProgram, memoryLayoutOf } = kiln;

  const toy = defineTarget({
    name: 'toy',
    description: 'example plugin target: kernel IR as text, run by the kernel interpreter',
    level: 'kernel',
    options: {
      style: { description: "'kir' (the kernel IR text) or 'summary' (one line per kernel)", default: 'kir', values: ['kir', 'summary'] },
    },
    capabilities: { ci: false, emits: true },
    // passes after lowering: memory planning, so the dump and the summary show arena offsets
    pipeline: (options, settings) => `plan-memory{strategy=${settings.memory},time-limit=${settings.timeLimitSeconds}}`,
    emit(program, ctx) {
      const layout = memoryLayoutOf(ctx.results, 'toy');
      const files = new Map();
      if (ctx.options.style === 'summary') {
        const lines = program.kernels.map((k, i) => `${i} ${k.name} (${k.origin.op})`);
        files.set('summary.txt', `${ctx.name}: ${program.kernels.length} kernels, arena ${layout.arenaBytes} B\n${lines.join('\n')}\n`);
      } else files.set('model.kir', printProgram(program));
      return { files, report: { target: 'toy', name: ctx.name, kernels: program.kernels.length, arenaBytes: layout.arenaBytes, style: ctx.options.style } };
    },
    run: (program, inputs, ctx) => ({ outputs: runProgram(program, inputs), summary: `toy (${ctx.options.style}): ${program.kernels.length} kernels run by the kernel interpreter` }),
  });

  return { targets: [toy] };
}
