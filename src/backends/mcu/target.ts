/**
 * Target `mcu` (option `board`, default mps2-an386; `mcu:<board>` for short): C99 for a Cortex-M
 * board, cross-compiled with arm-none-eabi-gcc and run under qemu-system-arm with semihosting.
 * Its pipeline plans memory and, for boards with an external level, places activations that do not
 * fit SRAM there (place-levels); `--patches auto` adds patch-based execution before lowering.
 */
import { memoryLayoutOf } from '../../ir/kernel/layout.js';
import { KilnError } from '../../ir/errors.js';
import { boardNames, getBoard } from '../../costmodel/boards.js';
import { planMemoryStep, seconds } from '../memory-pipeline.js';
import { registerTarget, type TargetContext } from '../target.js';
import { commandTool } from '../tools.js';
import { sizeMcuProject } from './build.js';
import { checkEstimate, estimateFit } from './fit.js';
import { emitMcu } from './project.js';
import { describeFit, runMcu } from './run.js';
import { gccCommand, qemuCommand, sizeCommand } from './toolchain.js';

const APT = 'apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi';

const boardOf = (ctx: TargetContext) => getBoard(ctx.options.board!);

registerTarget({
  name: 'mcu',
  description: 'generated C99 for a Cortex-M board (--board), built with arm-none-eabi-gcc and run under qemu-system-arm with semihosting',
  level: 'kernel',
  options: { board: { description: `board description (src/costmodel/boards/: ${boardNames().join(', ')})`, default: 'mps2-an386' } },
  // an unknown board is refused with the known ones, before anything runs
  checkOptions: (options) => void getBoard(options.board!),
  tools: [commandTool(gccCommand, APT), commandTool(sizeCommand, APT), commandTool(qemuCommand, 'apt-get install --no-install-recommends qemu-system-arm')],
  capabilities: { ci: true, emits: true },
  prelude: (options, settings) => (settings.patches === 'auto' ? `patch-execution{board=${options.board}}` : ''),
  pipeline(options, settings) {
    const levelSecs = settings.levelTimeLimitSeconds ?? settings.timeLimitSeconds;
    return `${planMemoryStep(settings)},place-levels{board=${options.board},strategy=${settings.memory},time-limit=${seconds(settings.timeLimitSeconds)},level-time-limit=${seconds(levelSecs)},sections=true}`;
  },
  emit(program, ctx) {
    const board = boardOf(ctx);
    const project = emitMcu(program, ctx.name, board, memoryLayoutOf(ctx.results, 'mcu'));
    // the fit check runs before any tool does
    checkEstimate(project.fit, board);
    return { files: project.files, report: project.report };
  },
  measure(program, emitted, ctx) {
    const board = boardOf(ctx);
    const fit = estimateFit(program, memoryLayoutOf(ctx.results, 'mcu'), board);
    return { ...sizeMcuProject({ files: emitted.files, fit }, program, board) };
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
