/**
 * Target `mcu` (option `board`, default mps2-an386; `mcu:<board>` for short): C99 for a Cortex-M
 * board, cross-compiled with arm-none-eabi-gcc and run under qemu-system-arm with semihosting.
 * Its pipeline plans memory and, for boards with an external level, places activations that do not
 * fit SRAM there (place-levels); `--patches auto` adds patch-based execution before lowering.
 */
import { memoryLayoutOf } from '../../ir/kernel/layout.js';
import { KilnError } from '../../ir/errors.js';
import { getBoard, type Board } from '../../costmodel/boards.js';
import { planMemoryStep, seconds } from '../memory-pipeline.js';
import { registerTarget, type TargetContext } from '../target.js';
import { commandTool } from '../tools.js';
import { sizeMcuProject } from './build.js';
import { checkEstimate, estimateFit, type FitEstimate } from './fit.js';
import { emitMcu } from './project.js';
import { WEIGHTS_TARGET_OPTIONS, weightsEmitOptions } from '../c/emit.js';
import { describeFit, runMcu } from './run.js';
import { gccCommand, qemuCommand, sizeCommand } from './toolchain.js';

const APT = 'apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi';

const boardOf = (ctx: TargetContext) => getBoard(ctx.options.board!);

/** The refusal text of checkEstimate, or null when the estimate fits. */
function overflowText(fit: FitEstimate, board: Board): string | null {
  try {
    checkEstimate(fit, board);
    return null;
  } catch (e) {
    if (e instanceof KilnError) return e.message;
    throw e;
  }
}

registerTarget({
  name: 'mcu',
  description: 'generated C99 for a Cortex-M board (--board), built with arm-none-eabi-gcc and run under qemu-system-arm with semihosting',
  level: 'kernel',
  options: { board: { description: 'board description (kiln boards lists them)', default: 'mps2-an386' }, ...WEIGHTS_TARGET_OPTIONS },
  // an unknown board is refused with the known ones, before anything runs
  checkOptions: (options) => void getBoard(options.board!),
  tools: [commandTool(gccCommand, APT), commandTool(sizeCommand, APT), commandTool(qemuCommand, 'apt-get install --no-install-recommends qemu-system-arm')],
  capabilities: { ci: true, emits: true },
  // QDQ groups become integer kernels (src/passes/fold-qdq.ts) before patches are planned
  prelude: (options, settings) => (settings.patches === 'auto' ? `fold-qdq,requant,patch-execution{board=${options.board}}` : 'fold-qdq,requant'),
  pipeline(options, settings) {
    const levelSecs = settings.levelTimeLimitSeconds ?? settings.timeLimitSeconds;
    return `${planMemoryStep(settings)},place-levels{board=${options.board},strategy=${settings.memory},time-limit=${seconds(settings.timeLimitSeconds)},level-time-limit=${seconds(levelSecs)},sections=true}`;
  },
  emit(program, ctx) {
    const board = boardOf(ctx);
    const project = emitMcu(program, ctx.name, board, memoryLayoutOf(ctx.results, 'mcu'), board, weightsEmitOptions(ctx.options));
    // the fit check runs before any tool does; `kiln report` keeps an overflowing model (marked)
    if (!ctx.allowOverflow) checkEstimate(project.fit, board);
    return { files: project.files, report: project.report };
  },
  measure(program, emitted, ctx) {
    const board = boardOf(ctx);
    const fit = estimateFit(program, memoryLayoutOf(ctx.results, 'mcu'), board);
    const over = ctx.allowOverflow ? overflowText(fit, board) : null;
    return { ...sizeMcuProject({ files: emitted.files, fit }, program, board, over ? { estimateOnly: `does not fit: ${over}` } : {}) };
  },
  run(program, inputs, ctx) {
    const r = runMcu(program, ctx.name, inputs, memoryLayoutOf(ctx.results, 'mcu'), { board: ctx.options.board! });
    return { outputs: r.outputs, summary: describeFit(r) };
  },
  roofline(options) {
    const board = getBoard(options.board!);
    if (!board.roofline) throw new KilnError('unsupported', `board '${board.name}' has no roofline figures (add a "roofline" object to its JSON)`);
    return board.roofline;
  },
});
