/** Visual subcommands of `kiln`: `graph` (Graphviz drawing of the graph IR) and `report` (HTML page). */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { CONSTANTS_MODES, writeGraph, type ConstantsMode } from '../driver/graph.js';
import { writeReport } from '../driver/report.js';
import { parseInputShapes } from '../driver/compile.js';
import { parseTargetOptions } from '../driver/targets.js';
import { MEMORY_STRATEGIES, type MemoryStrategy } from '../passes/plan-memory.js';
import { SCHEDULE_MODES, type ScheduleMode } from '../passes/schedule-memory.js';
import { DEFAULT_HOST_PROFILE } from '../costmodel/roofline.js';
import { si } from '../driver/report-charts.js';
import { formatBytes } from '../driver/units.js';

export function registerVizCommands(program: Command): void {
  program
    .command('graph')
    .description('draw the graph IR with Graphviz: .dot text, or .svg when Graphviz dot is installed')
    .argument('<model>', 'model.onnx or file.kir')
    .option('-o, --output <file>', 'g.dot / g.gv (dot text) or g.svg (needs dot); stdout (dot text) without it')
    .option('--constants <mode>', `initializers: ${CONSTANTS_MODES.join(', ')} (listed in their consumer's box, own nodes, left out)`, 'inline')
    .option('--no-constants', 'leave initializers out (same as --constants none)')
    .action((model: string, opts: { output?: string; constants: string | boolean }) => {
      const mode = opts.constants === false ? 'none' : String(opts.constants);
      if (!(CONSTANTS_MODES as readonly string[]).includes(mode)) throw new KilnError('usage', `unknown --constants '${mode}' (known: ${CONSTANTS_MODES.join(', ')})`);
      const r = writeGraph(model, opts.output, { constants: mode as ConstantsMode });
      if (opts.output === undefined) process.stdout.write(r.text);
      else process.stdout.write(`wrote ${opts.output} (${r.format})\n`);
    });

  program
    .command('report')
    .description('compile a model and write one self-contained HTML page: pass timeline, memory, roofline, per-kernel costs')
    .argument('<model>', 'model.onnx or file.kir')
    .option('-t, --target <target>', 'target (c, mcu, hls)', 'c')
    .option('--target-option <key=value>', 'an option of the target (see kiln targets), e.g. part=xc7a100t for hls; repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--board <name>', 'board for --target mcu (default mps2-an386); its roofline figures are used')
    .option('--host <profile>', `roofline figures for --target c (host devices in src/costmodel/devices/, default ${DEFAULT_HOST_PROFILE})`)
    .requiredOption('-o, --output <file.html>', 'the HTML page to write')
    .option('--input-shape <name=dims...>', 'static shape for an input with dynamic dims, e.g. x=1x3x224x224')
    .option('--memory <strategy>', `memory planning strategy (${MEMORY_STRATEGIES.join(', ')})`, 'auto')
    .option('--time-limit <s>', 'time limit of the memory ILP in seconds', '10')
    .option('--schedule <order>', `node order (${SCHEDULE_MODES.join(', ')})`, 'memory')
    .option('--bench <file.json>', 'a kiln bench --json (or --validate-costmodel --json) file: the measured time of this model (its folder name) is shown next to the predictions')
    .action((model: string, opts: { target: string; targetOption: string[]; board?: string; host?: string; output: string; inputShape?: string[]; memory: string; timeLimit: string; schedule: string; bench?: string }) => {
      if (!(SCHEDULE_MODES as readonly string[]).includes(opts.schedule)) throw new KilnError('usage', `unknown --schedule '${opts.schedule}' (known: ${SCHEDULE_MODES.join(', ')})`);
      if (!(MEMORY_STRATEGIES as readonly string[]).includes(opts.memory)) throw new KilnError('usage', `unknown --memory strategy '${opts.memory}' (known: ${MEMORY_STRATEGIES.join(', ')})`);
      const secs = Number(opts.timeLimit);
      if (!/^\d+(\.\d+)?$/.test(opts.timeLimit.trim()) || !Number.isFinite(secs)) throw new KilnError('usage', `--time-limit '${opts.timeLimit}' must be a number of seconds`);
      if (!/\.html?$/i.test(opts.output)) throw new KilnError('usage', `--output '${opts.output}' must name an .html file`);
      const r = writeReport(model, opts.output, {
        target: opts.target,
        board: opts.board,
        targetOptions: parseTargetOptions(opts.targetOption),
        host: opts.host,
        inputShapes: parseInputShapes(opts.inputShape ?? []),
        memory: opts.memory as MemoryStrategy,
        timeLimitMs: Math.round(secs * 1000),
        schedule: opts.schedule as ScheduleMode,
        ...(opts.bench !== undefined ? { bench: opts.bench } : {}),
      });
      const total = r.costs.reduce((a, c) => a + c.estSeconds, 0);
      const arena = typeof r.report.arenaBytes === 'number' ? `, arena ${formatBytes(r.report.arenaBytes)}` : '';
      const reuse = r.costs.every((c) => c.reuse) && r.costs.length > 0 ? ` (reuse-aware ${si(r.costs.reduce((a, c) => a + c.reuse!.estSeconds, 0), 's')})` : '';
      const measured = r.measured ? `, measured ${si(r.measured.ms / 1000, 's')}` : '';
      process.stdout.write(`wrote ${opts.output}: ${r.costs.length} kernels${arena}, estimated ${si(total, 's')}${reuse} on ${r.roofline.name}${measured}\n`);
      for (const line of r.targetLines) process.stdout.write(`${line}\n`);
      const fit = r.report as unknown as { fits?: { flash: boolean; sram: boolean }; sizeSummary?: string };
      if (fit.fits && !(fit.fits.flash && fit.fits.sram)) process.stdout.write(`${fit.sizeSummary ?? 'the model does not fit the board'}\n`);
    });
}
