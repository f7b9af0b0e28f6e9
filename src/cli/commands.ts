import * as os from 'node:os';
import * as path from 'node:path';
/** Subcommands of `kiln`. */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { printModule } from '../ir/print.js';
import { loadModel } from '../driver/load.js';
import { inspectModule, formatInspect } from '../driver/inspect.js';
import { runCommand } from '../driver/run.js';
import { runConformance, summarize } from '../driver/conformance.js';
import { targetNames, targetWithBoard } from '../driver/targets.js';
import { writeFileAtomic } from '../driver/output.js';
import { runFuzz } from '../driver/fuzz-run.js';
import { compileModel, parseInputShapes } from '../driver/compile.js';
import type { WeightsForm } from '../backends/c/emit.js';
import { printIrFile, IR_LEVELS, type IrLevel } from '../driver/print-ir.js';
import { MEMORY_STRATEGIES, type MemoryStrategy } from '../passes/plan-memory.js';
import { SCHEDULE_MODES, type ScheduleMode } from '../passes/schedule-memory.js';
import type { PatchReport } from '../passes/patch-execution.js';
import { registerCheckCommand } from './commands-check.js';
import { registerVizCommands } from './commands-viz.js';
import { addPipelineFlags, pipelineFlagsFrom, activeConfig, registerPipelineCommands, type PipelineCliOpts } from './commands-pipeline.js';
import { runBench, formatBenchRow, BENCH_HEADER, BENCH_CFLAGS } from '../driver/bench.js';
import { createProgress, type Progress } from '../driver/progress.js';

export function registerCommands(program: Command): void {
  program
    .command('print')
    .description('print the textual IR of a model (.onnx or .kir)')
    .argument('<model>', 'model.onnx or file.kir')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--level <level>', `IR level (${IR_LEVELS.join(', ')}); kernel lowers the model as compile does`)
    .option('--input-shape <name=dims...>', 'static shape for an input with dynamic dims (with --level kernel)')
    .action((model: string, opts: { output?: string; level?: string; inputShape?: string[] }) => {
      if (opts.level !== undefined && !(IR_LEVELS as readonly string[]).includes(opts.level)) throw new KilnError('usage', `unknown --level '${opts.level}' (known: ${IR_LEVELS.join(', ')})`);
      const text = printIrFile(model, { level: opts.level as IrLevel | undefined, inputShapes: parseInputShapes(opts.inputShape ?? []) });
      if (opts.output) writeFileAtomic(opts.output, text);
      else process.stdout.write(text);
    });

  program
    .command('inspect')
    .description('op histogram, parameter and activation bytes, MACs per op type')
    .argument('<model>', 'model.onnx or file.kir')
    .option('--json', 'print JSON')
    .action((model: string, opts: { json?: boolean }) => {
      const info = inspectModule(loadModel(model));
      process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : formatInspect(info));
    });

  addPipelineFlags(program
    .command('compile')
    .description('compile a model to target code in an output folder')
    .argument('<model>', 'model.onnx or file.kir')
    .option('-t, --target <target>', 'target (c, mcu)', 'c')
    .option('--board <name>', 'board for --target mcu (default mps2-an386; see src/costmodel/boards/)')
    .requiredOption('-o, --output <dir>', 'output folder (replaced atomically)')
    .option('--input-shape <name=dims...>', 'static shape for an input with dynamic dims, e.g. x=1x3x224x224')
    .option('--name <id>', 'name used in generated identifiers')
    .option('--memory <strategy>', `memory planning strategy (${MEMORY_STRATEGIES.join(', ')})`, 'auto')
    .option('--time-limit <s>', 'time limit of the memory ILP in seconds', '10')
    .option('--memory-plot <file.svg>', 'draw the arena over time (SVG)')
    .option('--schedule <order>', `node order (${SCHEDULE_MODES.join(', ')}): memory-aware scheduling or the model's order`, 'memory')
    .option('--patches <mode>', "patch-based execution: auto (--target mcu, when the peak exceeds the board's SRAM), off, or a grid RxC", 'auto')
    .option('--weights <form>', 'constants as incbin (weights.s + weights.bin) or c-array (weights.c); see docs/embedding.md', 'incbin')
    .option('--weights-section <name>', 'linker section for the constants, e.g. .rodata.kiln')
    .option('--json', 'print report.json on stdout instead of the summary'))
    .action((model: string, opts: PipelineCliOpts & { target: string; board?: string; output: string; inputShape?: string[]; name?: string; memory: string; timeLimit: string; memoryPlot?: string; schedule: string; patches: string; weights: string; weightsSection?: string; json?: boolean }) => {
      if (!(SCHEDULE_MODES as readonly string[]).includes(opts.schedule)) throw new KilnError('usage', `unknown --schedule '${opts.schedule}' (known: ${SCHEDULE_MODES.join(', ')})`);
      if (!(MEMORY_STRATEGIES as readonly string[]).includes(opts.memory)) throw new KilnError('usage', `unknown --memory strategy '${opts.memory}' (known: ${MEMORY_STRATEGIES.join(', ')})`);
      const secs = Number(opts.timeLimit);
      if (!/^\d+(\.\d+)?$/.test(opts.timeLimit.trim()) || !Number.isFinite(secs)) throw new KilnError('usage', `--time-limit '${opts.timeLimit}' must be a number of seconds`);
      const r = compileModel(model, {
        target: opts.target,
        board: opts.board,
        out: opts.output,
        inputShapes: parseInputShapes(opts.inputShape ?? []),
        name: opts.name,
        memory: opts.memory as MemoryStrategy,
        timeLimitMs: Math.round(secs * 1000),
        memoryPlot: opts.memoryPlot,
        schedule: opts.schedule as ScheduleMode,
        patches: opts.patches,
        weights: opts.weights as WeightsForm,
        ...(opts.weightsSection !== undefined ? { weightsSection: opts.weightsSection } : {}),
        ...pipelineFlagsFrom(opts, (t) => process.stderr.write(t), activeConfig.passes),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r.report, null, 2)}\n`);
        return;
      }
      process.stdout.write(`compiled ${model} for ${opts.target}${opts.target === 'mcu' ? ` (board ${opts.board ?? 'mps2-an386'})` : ''} into ${r.dir} in ${(r.ms / 1000).toFixed(2)} s: ${r.report.kernels} kernels, arena ${r.report.arenaBytes} B (${r.report.memory.strategy}, lower bound ${r.report.memory.lowerBoundBytes} B), weights ${r.report.weightBytes} B\n`);
      const sch = r.report.memory.schedule;
      if (sch) process.stdout.write(`schedule (${sch.method}): live-set lower bound ${sch.fileOrderPeakBytes} B in file order, ${sch.scheduledPeakBytes} B ${r.report.memory.order === 'scheduled' ? 'scheduled' : 'kept'} (-${sch.reductionPercent}%)\n`);
      const pt = (r.report.memory as { patches?: PatchReport }).patches;
      if (pt?.grid) process.stdout.write(`patches ${pt.grid} up to ${pt.cut}: peak ${pt.off} B -> ${pt.on} B, +${pt.overheadPct}% MACs (${pt.overheadMacs})\n`);
      const lv = r.report.memory.levels;
      if (lv) process.stdout.write(`memory levels: ${lv.map((l) => `${l.name} ${l.bytes} B of ${l.capacity} B`).join(', ')}; off-chip traffic ${r.report.memory.offChipTrafficBytes} B (${r.report.memory.levelSolver?.method}, ${r.report.memory.levelSolver?.status})\n`);
      if (typeof r.report.sizeSummary === 'string') process.stdout.write(`${r.report.sizeSummary}\n`);
    });

  program
    .command('run')
    .description('run a model on inputs and write its outputs (.pb); compare when expected outputs are given')
    .argument('<model>', 'model.onnx or file.kir')
    .option('-t, --target <target>', `target (${targetNames().join(', ')})`, 'interp')
    .option('-i, --inputs <paths...>', 'a test_data_set folder or .pb files in graph-input order')
    .option('--expected <paths...>', 'expected outputs (.pb files or a folder with output_N.pb)')
    .option('--out <dir>', 'write outputs as output_N.pb into this folder')
    .option('--board <name>', 'board for --target mcu (default mps2-an386)')
    .option('--json', 'print {model, target, ok, summary, outputs:[{index, name, kind, dtype, shape, compared, match, message, file}]} on stdout')
    .option('--passes <pipeline>', 'graph passes to run before the target (verified after each)')
    .action(async (model: string, opts: { target: string; board?: string; inputs?: string[]; expected?: string[]; out?: string; json?: boolean; passes?: string }) => {
      const { json, ...runOpts } = opts;
      const result = await runCommand(model, { ...runOpts, target: targetWithBoard(opts.target, opts.board) });
      if (json) {
        const { model: m, target, ok, summary, outputs } = result;
        process.stdout.write(`${JSON.stringify({ model: m, target, ok, summary, outputs }, null, 2)}\n`);
      } else process.stdout.write(result.text);
      if (!result.ok) process.exitCode = 1;
    });

  program
    .command('conformance')
    .description('run ONNX backend test cases and print pass rates per folder and op family')
    .argument('<dir>', 'a folder of case folders (or of such folders)')
    .option('-t, --target <target>', 'target', 'interp')
    .option('--json [file]', 'the full report as JSON: on stdout (human text then goes to stderr), or into a file')
    .option('--filter <substr>', 'only cases whose name contains this')
    .option('-j, --jobs <n>', 'parallel workers', (v) => parseInt(v, 10))
    .option('--timeout <ms>', 'time limit per case in milliseconds', (v) => parseInt(v, 10), 30000)
    .option('--families', 'print the per-family table')
    .option('--failures', 'list every case that did not pass, with its reason')
    .option('--board <name>', 'board for --target mcu (default mps2-an386)')
    .action(async (dir: string, opts: { target: string; board?: string; json?: string | boolean; filter?: string; jobs?: number; timeout: number; families?: boolean; failures?: boolean }) => {
      if (!targetNames().includes(opts.target)) throw new KilnError('usage', `unknown target '${opts.target}' (known: ${targetNames().join(', ')})`);
      const target = targetWithBoard(opts.target, opts.board);
      const out = jsonOutput(opts.json);
      const t0 = performance.now();
      const progress = countProgress(`conformance ${opts.target}`);
      const report = await runConformance(dir, {
        target,
        filter: opts.filter,
        jobs: opts.jobs,
        caseTimeoutMs: opts.timeout,
        onStart: progress.start,
        onProgress: progress.update,
      });
      progress.done();
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      const lines: string[] = [];
      if (opts.failures) {
        for (const c of report.cases) if (c.status !== 'pass') lines.push(`${c.status.padEnd(11)} ${c.folder}/${c.name}: ${c.message}`);
        lines.push('');
      }
      if (opts.families) {
        lines.push('per op family:');
        for (const g of summarize(report, 'family')) lines.push(`  ${g.group.padEnd(36)} ${String(g.passed).padStart(4)} / ${g.total}`);
        lines.push('');
      }
      lines.push('per folder:');
      for (const g of summarize(report, 'folder')) lines.push(`  ${g.group.padEnd(36)} ${String(g.passed).padStart(4)} / ${g.total} (${pct(g.passed, g.total)})`);
      lines.push('');
      lines.push(`target ${report.target}: ${report.passed} passed, ${report.failed} failed, ${report.errored} errored, ${report.unsupported} unsupported, of ${report.total} (${pct(report.passed, report.total)}) in ${secs} s`);
      out.human.write(`${lines.join('\n')}\n`);
      out.json(report);
    });

  program
    .command('fuzz')
    .description('mutate the models under <dir> and check that Kiln only succeeds or refuses with a one-line error')
    .argument('<dir>', 'corpus: a folder of ONNX test case folders')
    .option('-n, --count <n>', 'mutated inputs to run', (v) => parseInt(v, 10), 2000)
    .option('--seed <n>', 'seed (same seed, same inputs)', (v) => parseInt(v, 10), 1)
    .option('-j, --jobs <n>', 'parallel workers', (v) => parseInt(v, 10))
    .option('--timeout <ms>', 'time limit per input (a longer run counts as a hang)', (v) => parseInt(v, 10), 10000)
    .option('--filter <substr>', 'only corpus cases whose name contains this')
    .option('--json [file]', 'the summary with every finding as JSON: on stdout (human text then goes to stderr), or into a file')
    .action(async (dir: string, opts: { count: number; seed: number; jobs?: number; timeout: number; filter?: string; json?: string | boolean }) => {
      const out = jsonOutput(opts.json);
      const t0 = performance.now();
      const progress = countProgress('fuzz');
      const s = await runFuzz(dir, { count: opts.count, seed: opts.seed, jobs: opts.jobs, timeoutMs: opts.timeout, filter: opts.filter, onStart: progress.start, onProgress: progress.update });
      progress.done();
      for (const f of s.findings.slice(0, 50)) out.human.write(`${f.outcome} ${f.file} #${f.index} [${f.kind}]: ${f.message}\n`);
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      out.human.write(`fuzz seed ${s.seed}: ${s.total} inputs, ${s.ok} ok, ${s.refused} refused with an error, ${s.crashes} crashes, ${s.hangs} hangs in ${secs} s\n`);
      out.json(s);
      if (s.crashes + s.hangs > 0) process.exitCode = 1;
    });

  program
    .command('bench')
    .description('compile time, arena and weight bytes, and run time of generated C next to onnxruntime (one thread)')
    .argument('[dirs...]', 'model folders (model.onnx + test_data_set_0) or folders of them', ['samples'])
    .option('--json [file]', 'the results as JSON: on stdout (the table then goes to stderr), or into a file')
    .option('--repeats <n>', 'timed batches per measurement (median reported)', (v) => parseInt(v, 10), 5)
    .option('--cflags <flags>', 'C compiler flags for the timed build', BENCH_CFLAGS)
    .action(async (dirs: string[], opts: { json?: string | boolean; repeats: number; cflags: string }) => {
      const out = jsonOutput(opts.json);
      out.human.write(`${BENCH_HEADER}\n`);
      let progress: Progress | undefined;
      let measured = 0;
      const rows = await runBench(dirs, {
        repeats: opts.repeats,
        cflags: opts.cflags,
        onStart: (folders) => (progress = createProgress({ label: 'bench', total: folders.length })),
        onModel: (i, folder) => progress?.tick(i, path.basename(folder)),
        onRow: (r) => {
          progress?.log(`${formatBenchRow(r)}\n`, out.human);
          progress?.tick(++measured);
        },
      });
      progress?.done();
      out.human.write(`times in ms per inference; C: ${opts.cflags}, single thread; ORT: onnxruntime-node, intra-op threads 1\n`);
      out.json({ cflags: opts.cflags, host: hostInfo(), rows });
    });

  // IR tooling and pictures, after the core commands in --help
  registerPipelineCommands(program);
  registerCheckCommand(program);
  registerVizCommands(program);
}

function pct(a: number, b: number): string {
  return b === 0 ? '0.0%' : `${((100 * a) / b).toFixed(1)}%`;
}

/** A progress bar over a count that is known once the driver has found its jobs. */
function countProgress(label: string): { start: (total: number) => void; update: (done: number, total: number) => void; done: () => void } {
  let p: Progress | undefined;
  return {
    start: (total) => (p = createProgress({ label, total })),
    update: (done) => p?.tick(done),
    done: () => p?.done(),
  };
}

/**
 * Where `--json [file]` sends things. No value (or `-`): JSON on stdout and the human text on
 * stderr, so stdout parses as a whole. A file: JSON there, human text on stdout as without --json.
 */
function jsonOutput(opt: string | boolean | undefined): { human: NodeJS.WritableStream; json: (value: unknown) => void } {
  const text = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  if (opt === true || opt === '-') return { human: process.stderr, json: (v) => void process.stdout.write(text(v)) };
  if (typeof opt === 'string') return { human: process.stdout, json: (v) => writeFileAtomic(opt, text(v)) };
  return { human: process.stdout, json: () => {} };
}

function hostInfo(): { cpus: string; cores: number; node: string } {
  const cpus = os.cpus();
  return { cpus: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version };
}
