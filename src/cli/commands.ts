import * as os from 'node:os';
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
import { MEMORY_STRATEGIES, type MemoryStrategy } from '../passes/plan-memory.js';
import { SCHEDULE_MODES, type ScheduleMode } from '../passes/schedule-memory.js';
import { runBench, formatBenchRow, BENCH_HEADER, BENCH_CFLAGS } from '../driver/bench.js';

export function registerCommands(program: Command): void {
  program
    .command('print')
    .description('print the textual IR of a model (.onnx or .kir)')
    .argument('<model>', 'model.onnx or file.kir')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action((model: string, opts: { output?: string }) => {
      const text = printModule(loadModel(model));
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

  program
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
    .action((model: string, opts: { target: string; board?: string; output: string; inputShape?: string[]; name?: string; memory: string; timeLimit: string; memoryPlot?: string; schedule: string }) => {
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
      });
      process.stdout.write(`compiled ${model} for ${opts.target}${opts.target === 'mcu' ? ` (board ${opts.board ?? 'mps2-an386'})` : ''} into ${r.dir} in ${(r.ms / 1000).toFixed(2)} s: ${r.report.kernels} kernels, arena ${r.report.arenaBytes} B (${r.report.memory.strategy}, lower bound ${r.report.memory.lowerBoundBytes} B), weights ${r.report.weightBytes} B\n`);
      const sch = r.report.memory.schedule;
      if (sch) process.stdout.write(`schedule (${sch.method}): live-set lower bound ${sch.fileOrderPeakBytes} B in file order, ${sch.scheduledPeakBytes} B ${r.report.memory.order === 'scheduled' ? 'scheduled' : 'kept'} (-${sch.reductionPercent}%)\n`);
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
    .action(async (model: string, opts: { target: string; board?: string; inputs?: string[]; expected?: string[]; out?: string }) => {
      const result = await runCommand(model, { ...opts, target: targetWithBoard(opts.target, opts.board) });
      process.stdout.write(result.text);
      if (!result.ok) process.exitCode = 1;
    });

  program
    .command('conformance')
    .description('run ONNX backend test cases and print pass rates per folder and op family')
    .argument('<dir>', 'a folder of case folders (or of such folders)')
    .option('-t, --target <target>', 'target', 'interp')
    .option('--json <file>', 'write the full report as JSON')
    .option('--filter <substr>', 'only cases whose name contains this')
    .option('-j, --jobs <n>', 'parallel workers', (v) => parseInt(v, 10))
    .option('--timeout <ms>', 'time limit per case in milliseconds', (v) => parseInt(v, 10), 30000)
    .option('--families', 'print the per-family table')
    .option('--failures', 'list every case that did not pass, with its reason')
    .option('--board <name>', 'board for --target mcu (default mps2-an386)')
    .action(async (dir: string, opts: { target: string; board?: string; json?: string; filter?: string; jobs?: number; timeout: number; families?: boolean; failures?: boolean }) => {
      if (!targetNames().includes(opts.target)) throw new KilnError('usage', `unknown target '${opts.target}' (known: ${targetNames().join(', ')})`);
      const target = targetWithBoard(opts.target, opts.board);
      const t0 = performance.now();
      const progress = progressReporter();
      const report = await runConformance(dir, {
        target,
        filter: opts.filter,
        jobs: opts.jobs,
        caseTimeoutMs: opts.timeout,
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
      process.stdout.write(`${lines.join('\n')}\n`);
      if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
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
    .option('--json <file>', 'write the summary with every finding as JSON')
    .action(async (dir: string, opts: { count: number; seed: number; jobs?: number; timeout: number; filter?: string; json?: string }) => {
      const t0 = performance.now();
      const progress = progressReporter();
      const s = await runFuzz(dir, { count: opts.count, seed: opts.seed, jobs: opts.jobs, timeoutMs: opts.timeout, filter: opts.filter, onProgress: progress.update });
      progress.done();
      for (const f of s.findings.slice(0, 50)) process.stdout.write(`${f.outcome} ${f.file} #${f.index} [${f.kind}]: ${f.message}\n`);
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      process.stdout.write(`fuzz seed ${s.seed}: ${s.total} inputs, ${s.ok} ok, ${s.refused} refused with an error, ${s.crashes} crashes, ${s.hangs} hangs in ${secs} s\n`);
      if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify(s, null, 2)}\n`);
      if (s.crashes + s.hangs > 0) process.exitCode = 1;
    });

  program
    .command('bench')
    .description('compile time, arena and weight bytes, and run time of generated C next to onnxruntime (one thread)')
    .argument('[dirs...]', 'model folders (model.onnx + test_data_set_0) or folders of them', ['samples'])
    .option('--json <file>', 'write the results as JSON')
    .option('--repeats <n>', 'timed batches per measurement (median reported)', (v) => parseInt(v, 10), 5)
    .option('--cflags <flags>', 'C compiler flags for the timed build', BENCH_CFLAGS)
    .action(async (dirs: string[], opts: { json?: string; repeats: number; cflags: string }) => {
      process.stdout.write(`${BENCH_HEADER}\n`);
      const rows = await runBench(dirs, { repeats: opts.repeats, cflags: opts.cflags, onRow: (r) => process.stdout.write(`${formatBenchRow(r)}\n`) });
      process.stdout.write(`times in ms per inference; C: ${opts.cflags}, single thread; ORT: onnxruntime-node, intra-op threads 1\n`);
      if (opts.json) writeFileAtomic(opts.json, `${JSON.stringify({ cflags: opts.cflags, host: hostInfo(), rows }, null, 2)}\n`);
    });
}

function pct(a: number, b: number): string {
  return b === 0 ? '0.0%' : `${((100 * a) / b).toFixed(1)}%`;
}

/** A progress bar on a terminal; nothing in CI or when stderr is not a TTY. */
function progressReporter(): { update?: (done: number, total: number) => void; done: () => void } {
  if (process.env.CI === 'true' || !process.stderr.isTTY) return { done: () => {} };
  const width = 30;
  return {
    update: (done, total) => {
      const filled = Math.round((width * done) / Math.max(1, total));
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
    },
    done: () => process.stderr.write('\r\x1b[K'),
  };
}


function hostInfo(): { cpus: string; cores: number; node: string } {
  const cpus = os.cpus();
  return { cpus: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version };
}
