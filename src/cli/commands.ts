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
import { parseTargetOptions, resolveTarget, targetNames } from '../driver/targets.js';
import { describeTargets, formatTargets } from '../driver/target-list.js';
import { writeFileAtomic } from '../driver/output.js';
import { runFuzz } from '../driver/fuzz-run.js';
import { compileModel, compileTarget, parseInputShapes, parseDynamic } from '../driver/compile.js';
import { printIrFile, IR_LEVELS, type IrLevel } from '../driver/print-ir.js';
import { MEMORY_STRATEGIES, type MemoryStrategy } from '../passes/plan-memory.js';
import { SCHEDULE_MODES, type ScheduleMode } from '../passes/schedule-memory.js';
import type { PatchReport } from '../passes/patch-execution.js';
import { registerCheckCommand, type InProcessMain } from './commands-check.js';
import { registerVizCommands } from './commands-viz.js';
import { addPipelineFlags, pipelineFlagsFrom, verboseLog, activeConfig, registerPipelineCommands, ELIDE_OPTION, FULL_CONSTANTS_OPTION, printOptionsFrom, type PipelineCliOpts } from './commands-pipeline.js';
import { runBench, formatBenchRow, BENCH_HEADER, BENCH_CFLAGS } from '../driver/bench.js';
import { formatValidateRow, formatValidateSummary, validateCostModel, VALIDATE_HEADER } from '../driver/validate-costmodel.js';
import { formatWgslBenchRow, runWgslBench, WGSL_BENCH_HEADER } from '../driver/bench-wgsl.js';
import { createProgress, type Progress } from '../driver/progress.js';
import { startServer } from '../driver/serve.js';

/** Collects repeatable `--target-option key=value`. */
const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerCommands(program: Command, main: InProcessMain): void {
  program
    .command('targets')
    .description('list the targets: options with defaults, tools (and whether installed), capabilities')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const list = describeTargets();
      process.stdout.write(opts.json ? `${JSON.stringify(list, null, 2)}\n` : formatTargets(list));
    });

  program
    .command('print')
    .description('print the textual IR of a model (.onnx or .kir)')
    .argument('<model>', 'model.onnx or file.kir')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--level <level>', `IR level (${IR_LEVELS.join(', ')}); kernel lowers the model as compile does`)
    .option('--input-shape <name=dims...>', 'static shape for an input with dynamic dims (with --level kernel)')
    .option(...ELIDE_OPTION)
    .option(...FULL_CONSTANTS_OPTION)
    .action((model: string, opts: { output?: string; level?: string; inputShape?: string[]; elideConstants?: number; fullConstants?: boolean }) => {
      if (opts.level !== undefined && !(IR_LEVELS as readonly string[]).includes(opts.level)) throw new KilnError('usage', `unknown --level '${opts.level}' (known: ${IR_LEVELS.join(', ')})`);
      const text = printIrFile(model, { level: opts.level as IrLevel | undefined, inputShapes: parseInputShapes(opts.inputShape ?? []), print: printOptionsFrom(opts) });
      if (opts.output) writeFileAtomic(opts.output, text, { models: [model] });
      else process.stdout.write(text);
    });

  program
    .command('inspect')
    .description('op histogram, parameter bytes, peak activation bytes, MACs of the multiply-accumulate ops')
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
    .option('-t, --target <target>', 'target that writes files (see kiln targets); name:value sets its first option, e.g. mcu:stm32f446', 'c')
    .option('--board <name>', 'board for --target mcu (default mps2-an386; see src/costmodel/boards/)')
    .option('--target-option <key=value>', 'an option of the target (see kiln targets); repeatable', collect, [] as string[])
    .requiredOption('-o, --output <dir>', 'output folder: a new one, or one Kiln wrote before (replaced atomically)')
    .option('--force', 'write into an existing folder Kiln did not create (its other files are kept)')
    .option('--input-shape <name=dims...>', 'static shape for an input with dynamic dims, e.g. x=1x3x224x224')
    .option('--dynamic <name<=N>', "keep the input dim the model names so as a run-time size up to N, e.g. batch<=8 (c, c-asan: the size is the first argument of kiln_<name>_run; the arena is planned for N)")
    .option('--name <id>', 'name used in generated identifiers')
    .option('--memory <strategy>', `memory planning strategy (${MEMORY_STRATEGIES.join(', ')})`, 'auto')
    .option('--time-limit <s>', 'time limit of the memory ILP in seconds', '10')
    .option('--memory-plot <file.svg>', 'draw the arena over time (SVG)')
    .option('--schedule <order>', `node order (${SCHEDULE_MODES.join(', ')}): memory-aware scheduling or the model's order`, 'memory')
    .option('--patches <mode>', "patch-based execution: auto (--target mcu, when the peak exceeds the board's SRAM), off, or a grid RxC", 'auto')
    .option('--weights <form>', 'c, c-asan, mcu: constants as incbin (weights.s + weights.bin, default) or c-array (weights.c); see docs/embedding.md')
    .option('--weights-section <name>', 'linker section for the constants, e.g. .rodata.kiln')
    .option('--no-canonicalize', 'skip graph canonicalization (eliminate-identity, fold-affine, dce) after specialization')
    .option('--no-fuse', 'skip kernel fusion (the fuse pass) after lowering')
    .option('--json', 'print report.json on stdout instead of the summary'))
    .action((model: string, opts: PipelineCliOpts & { canonicalize: boolean; fuse: boolean; target: string; board?: string; targetOption: string[]; output: string; inputShape?: string[]; dynamic?: string; name?: string; memory: string; timeLimit: string; memoryPlot?: string; schedule: string; patches: string; weights?: string; weightsSection?: string; json?: boolean; force?: boolean }) => {
      if (!(SCHEDULE_MODES as readonly string[]).includes(opts.schedule)) throw new KilnError('usage', `unknown --schedule '${opts.schedule}' (known: ${SCHEDULE_MODES.join(', ')})`);
      if (!(MEMORY_STRATEGIES as readonly string[]).includes(opts.memory)) throw new KilnError('usage', `unknown --memory strategy '${opts.memory}' (known: ${MEMORY_STRATEGIES.join(', ')})`);
      const secs = Number(opts.timeLimit);
      if (!/^\d+(\.\d+)?$/.test(opts.timeLimit.trim()) || !Number.isFinite(secs)) throw new KilnError('usage', `--time-limit '${opts.timeLimit}' must be a number of seconds`);
      const targetOptions: Record<string, string> = {
        ...parseTargetOptions(opts.targetOption),
        ...(opts.weights !== undefined ? { weights: opts.weights } : {}),
        ...(opts.weightsSection !== undefined ? { 'weights-section': opts.weightsSection } : {}),
      };
      const target = compileTarget({ target: opts.target, board: opts.board, targetOptions });
      const r = compileModel(model, {
        target: opts.target,
        board: opts.board,
        targetOptions,
        out: opts.output,
        inputShapes: parseInputShapes(opts.inputShape ?? []),
        ...(opts.dynamic !== undefined ? { dynamic: parseDynamic(opts.dynamic) } : {}),
        name: opts.name,
        memory: opts.memory as MemoryStrategy,
        timeLimitMs: Math.round(secs * 1000),
        memoryPlot: opts.memoryPlot,
        schedule: opts.schedule as ScheduleMode,
        patches: opts.patches,
        canonicalize: opts.canonicalize,
        fuse: opts.fuse,
        ...pipelineFlagsFrom(opts, (t) => process.stderr.write(t), activeConfig.passes),
        guard: { force: opts.force ?? false },
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r.report, null, 2)}\n`);
        return;
      }
      const shown = Object.entries(target.options).map(([k, v]) => `${k} ${v}`).join(', ');
      const m = r.report.memory;
      // the figures the target reported (the C-like targets give all of them)
      const parts: string[] = [];
      if (typeof r.report.kernels === 'number') parts.push(`${r.report.kernels} kernels`);
      if (typeof r.report.arenaBytes === 'number') parts.push(`arena ${r.report.arenaBytes} B${m?.strategy !== undefined ? ` (${m.strategy}, lower bound ${m.lowerBoundBytes} B)` : ''}`);
      if (typeof r.report.weightBytes === 'number') parts.push(`weights ${r.report.weightBytes} B`);
      const sizes = parts.length ? `: ${parts.join(', ')}` : '';
      process.stdout.write(`compiled ${model} for ${target.def.name}${shown ? ` (${shown})` : ''} into ${r.dir} in ${(r.ms / 1000).toFixed(2)} s${sizes}\n`);
      if (target.def.level === 'kernel' && target.def.describe) for (const line of target.def.describe(r.report)) process.stdout.write(`${line}\n`);
      if (!m) return;
      const sch = m.schedule;
      if (sch) process.stdout.write(`schedule (${sch.method}): live-set lower bound ${sch.fileOrderPeakBytes} B in file order, ${sch.scheduledPeakBytes} B ${m.order === 'scheduled' ? 'scheduled' : 'kept'} (-${sch.reductionPercent}%)\n`);
      const pt = m.patches;
      if (pt?.grid) process.stdout.write(`patches ${pt.grid} up to ${pt.cut}: peak ${pt.off} B -> ${pt.on} B, +${pt.overheadPct}% MACs (${pt.overheadMacs})\n`);
      const lv = m.levels;
      if (lv) process.stdout.write(`memory levels: ${lv.map((l) => `${l.name} ${l.bytes} B of ${l.capacity} B`).join(', ')}; off-chip traffic ${m.offChipTrafficBytes} B (${m.levelSolver?.method}, ${m.levelSolver?.status})\n`);
      if (typeof r.report.sizeSummary === 'string') process.stdout.write(`${r.report.sizeSummary}\n`);
    });

  program
    .command('run')
    .description('run a model on inputs and write its outputs (.pb); compare when expected outputs are given')
    .argument('[model]', 'model.onnx or file.kir')
    .option('-t, --target <target>', `target (${targetNames().join(', ')})`, 'interp')
    .option('-i, --inputs <paths...>', 'a test_data_set folder or .pb files in graph-input order')
    .option('--expected <paths...>', 'expected outputs (.pb files or a folder with output_N.pb)')
    .option('--out <dir>', 'write outputs as output_N.pb into this folder (new, or one Kiln wrote)')
    .option('--force', "let --out write into the inputs' folder or an existing folder Kiln did not create")
    .option('--board <name>', 'board for --target mcu (default mps2-an386)')
    .option('--target-option <key=value>', 'an option of the target (see kiln targets); repeatable', collect, [] as string[])
    .option('--json', 'print {model, target, ok, summary, rtol, atol, outputs:[{index, name, kind, dtype, shape, compared, match, message, file, maxAbsError, maxRelError}]} on stdout')
    .option('--passes <pipeline>', 'graph passes to run before the target (verified after each)')
    .option('--rtol <x>', 'relative tolerance of the comparison with expected outputs', parseFloat, 1e-3)
    .option('--atol <x>', 'absolute tolerance of the comparison with expected outputs', parseFloat, 1e-5)
    .option('--verbose', "print the passes' log messages (ctx.log) on stderr")
    .action(async (modelArg: string | undefined, opts: { target: string; board?: string; targetOption: string[]; inputs?: string[]; expected?: string[]; out?: string; json?: boolean; passes?: string; force?: boolean; verbose?: boolean; rtol: number; atol: number }) => {
      const { json, verbose, board, targetOption, ...runOpts } = opts;
      if (verbose) Object.assign(runOpts, { log: verboseLog });
      const model = modelArg ?? takeModelFromLists(opts);
      const result = await runCommand(model, { ...runOpts, targetOptions: { ...parseTargetOptions(targetOption), ...(board !== undefined ? { board } : {}) } });
      if (json) {
        const { model: m, target, ok, summary, outputs, rtol, atol } = result;
        process.stdout.write(`${JSON.stringify({ model: m, target, ok, summary, rtol, atol, outputs }, null, 2)}\n`);
      } else process.stdout.write(result.text);
      if (!result.ok) process.exitCode = 1;
    });

  program
    .command('conformance')
    .description('run ONNX backend test cases and print pass rates per folder and op family')
    .argument('<dir>', 'a folder of case folders (or of such folders)')
    .option('-t, --target <target>', `target (${targetNames().join(', ')})`, 'interp')
    .option('--json [file]', 'the full report as JSON: on stdout (human text then goes to stderr), or into a file')
    .option('--filter <substr>', 'only cases whose name contains this')
    .option('--every <n>', 'only every nth case in name order (a fixed sample; after --filter)', (v) => Number(v))
    .option('-j, --jobs <n>', 'parallel workers', (v) => parseInt(v, 10))
    .option('--timeout <ms>', 'time limit per case in milliseconds', (v) => parseInt(v, 10), 30000)
    .option('--families', 'print the per-family table')
    .option('--failures', 'list every case that did not pass, with its reason')
    .option('--board <name>', 'board for --target mcu (default mps2-an386)')
    .option('--target-option <key=value>', 'an option of the target (see kiln targets); repeatable', collect, [] as string[])
    .action(async (dir: string, opts: { target: string; board?: string; targetOption: string[]; json?: string | boolean; filter?: string; every?: number; jobs?: number; timeout: number; families?: boolean; failures?: boolean }) => {
      const targetOptions = { ...parseTargetOptions(opts.targetOption), ...(opts.board !== undefined ? { board: opts.board } : {}) };
      const target = resolveTarget(opts.target, targetOptions).label;
      const out = jsonOutput(opts.json);
      const t0 = performance.now();
      const progress = countProgress(`conformance ${target}`);
      const report = await runConformance(dir, {
        target: opts.target,
        targetOptions,
        filter: opts.filter,
        every: opts.every,
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
    .description('compile time, arena and weight bytes, and run time of generated C next to onnxruntime (one thread, or --threads N for both), or of WGSL next to onnxruntime-web (--target wgsl)')
    .argument('[dirs...]', 'model folders (model.onnx + test_data_set_0) or folders of them', ['samples'])
    .option('--json [file]', 'the results as JSON: on stdout (the table then goes to stderr), or into a file')
    .option('--repeats <n>', 'timed batches per measurement (median reported)', (v) => parseInt(v, 10), 5)
    .option('--cflags <flags>', 'C compiler flags for the timed build', BENCH_CFLAGS)
    .option('-t, --target <target>', 'c: generated C vs onnxruntime-node; wgsl: Kiln\'s WGSL vs onnxruntime-web\'s WebGPU provider in headless Chromium', 'c')
    .option('--no-canonicalize', 'compile without graph canonicalization (to measure what it brings; target c)')
    .option('--no-fuse', 'compile without kernel fusion (to measure what it brings; target c)')
    .option('--validate-costmodel', 'predicted (reuse-aware cost model) vs measured time of 50 (kernel, schedule) variants and of the given model folders; Spearman and median relative error')
    .option('--host <profile>', 'host profile for --validate-costmodel predictions (a name, or a file from kiln calibrate)')
    .option('--small', 'with --validate-costmodel: four tiny variants (a smoke test)')
    .option('--no-variants', 'with --validate-costmodel: only the whole-model comparison of the given folders')
    .option('--threads <n>', 'target c: threads of the generated C (--target-option threads=N, OpenMP) and intra-op threads of onnxruntime', '1')
    .action(async (dirs: string[], opts: { json?: string | boolean; repeats: number; cflags: string; target: string; canonicalize: boolean; fuse: boolean; validateCostmodel?: boolean; host?: string; small?: boolean; variants: boolean; threads: string }) => {
      const out = jsonOutput(opts.json);
      if (opts.validateCostmodel) return validateCommand(dirs, opts, out);
      if (opts.target === 'wgsl' && opts.threads !== '1') throw new KilnError('usage', 'kiln bench --threads applies to --target c only');
      if (opts.target === 'wgsl') return benchWgslCommand(dirs, opts.repeats, out);
      if (opts.target !== 'c') throw new KilnError('usage', `kiln bench --target must be c or wgsl, not '${opts.target}'`);
      const threads = Number(opts.threads);
      if (!/^\d+$/.test(opts.threads) || !Number.isSafeInteger(threads) || threads < 1 || threads > 1024) throw new KilnError('usage', `kiln bench --threads must be an integer from 1 to 1024, not '${opts.threads}'`);
      out.human.write(`${BENCH_HEADER}\n`);
      let progress: Progress | undefined;
      let measured = 0;
      const rows = await runBench(dirs, {
        repeats: opts.repeats,
        cflags: opts.cflags,
        canonicalize: opts.canonicalize,
        fuse: opts.fuse,
        threads,
        onStart: (folders) => (progress = createProgress({ label: 'bench', total: folders.length })),
        onModel: (i, folder) => progress?.tick(i, path.basename(folder)),
        onRow: (r) => {
          progress?.log(`${formatBenchRow(r)}\n`, out.human);
          progress?.tick(++measured);
        },
      });
      progress?.done();
      const how = threads > 1 ? `${threads} threads (OpenMP parallel loops, -fopenmp)` : 'single thread';
      out.human.write(`times in ms per inference; C: ${opts.cflags}, ${how}; ORT: onnxruntime-node, intra-op threads ${threads}\n`);
      out.json({ cflags: opts.cflags, threads, host: hostInfo(), rows });
    });

  program
    .command('serve')
    .description('serve, on 127.0.0.1 only, a page that compiles a dropped ONNX model in the browser, shows its graph and WGSL and runs it on WebGPU with timings')
    .argument('[dir]', 'folder of model folders (model.onnx + test_data_set_0) offered as samples (default: the samples)')
    .option('--port <n>', 'port (default: any free one)', (v) => parseInt(v, 10))
    .action(async (dir: string | undefined, opts: { port?: number }) => {
      const s = await startServer({ ...(dir !== undefined ? { dir } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) });
      process.stdout.write(`kiln serve: ${s.url} (loopback only; Ctrl-C stops)\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => void s.close().then(resolve)));
    });

  // IR tooling and pictures, after the core commands in --help
  registerPipelineCommands(program);
  registerCheckCommand(program, main);
  registerVizCommands(program);
}

function validateCommand(dirs: string[], opts: { repeats: number; cflags: string; host?: string; small?: boolean; variants: boolean }, out: ReturnType<typeof jsonOutput>): void {
  out.human.write(`${VALIDATE_HEADER}\n`);
  let progress: Progress | undefined;
  let done = 0;
  const r = validateCostModel({
    repeats: opts.repeats,
    cflags: opts.cflags,
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    small: opts.small ?? false,
    variants: opts.variants,
    models: opts.small ? [] : dirs,
    onStart: (total) => (progress = createProgress({ label: 'validate', total })),
    onRow: (row) => {
      progress?.log(`${formatValidateRow(row)}\n`, out.human);
      progress?.tick(++done);
    },
  });
  progress?.done();
  for (const l of formatValidateSummary(r)) out.human.write(`${l}\n`);
  out.json({ host: hostInfo(), ...r });
}

async function benchWgslCommand(dirs: string[], repeats: number, out: ReturnType<typeof jsonOutput>): Promise<void> {
  let progress: Progress | undefined;
  let measured = 0;
  const r = await runWgslBench(dirs, {
    repeats,
    onStart: (folders) => {
      // printed once Chromium, the adapter and onnxruntime-web are known to be there
      out.human.write(`${WGSL_BENCH_HEADER}\n`);
      progress = createProgress({ label: 'bench', total: folders.length });
    },
    onModel: (i, folder) => progress?.tick(i, path.basename(folder)),
    onRow: (row) => {
      progress?.log(`${formatWgslBenchRow(row)}\n`, out.human);
      progress?.tick(++measured);
    },
  });
  progress?.done();
  out.human.write(`times in ms per inference (inputs uploaded, outputs read back); ${r.browser}, adapter ${r.adapter}; ORT: ${r.ort}; err: max |output - expected|\n`);
  out.json({ target: 'wgsl', browser: r.browser, adapter: r.adapter, ort: r.ort, host: hostInfo(), rows: r.rows });
}

/**
 * `kiln run -i DIR model.onnx`: the variadic --inputs/--expected take every word after them, the
 * model included; when no model argument is left, the model is the list entry that names one.
 */
function takeModelFromLists(opts: { inputs?: string[]; expected?: string[] }): string {
  for (const list of [opts.inputs, opts.expected]) {
    const i = list?.findIndex((p) => /\.(onnx|kir)$/i.test(p)) ?? -1;
    if (list && i >= 0) return list.splice(i, 1)[0]!;
  }
  throw new KilnError('usage', "missing argument 'model' (kiln run <model.onnx> --inputs <dir or .pb files>)");
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
export function jsonOutput(opt: string | boolean | undefined): { human: NodeJS.WritableStream; json: (value: unknown) => void } {
  const text = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  if (opt === true || opt === '-') return { human: process.stderr, json: (v) => void process.stdout.write(text(v)) };
  if (typeof opt === 'string') return { human: process.stdout, json: (v) => writeFileAtomic(opt, text(v)) };
  return { human: process.stdout, json: () => {} };
}

function hostInfo(): { cpus: string; cores: number; node: string } {
  const cpus = os.cpus();
  return { cpus: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version };
}
