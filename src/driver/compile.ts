/** `kiln compile`: model → specialized graph → kernel program → target files in an output folder. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../ir/errors.js';
import { loadModel } from './load.js';
import type { Module } from '../ir/graph.js';
import type { Program } from '../ir/kernel/types.js';
import type { LoweredSchedule, ScheduleMode } from '../passes/schedule-memory.js';
import { parsePipeline, runPipeline, type PipelineHooks, type PipelineStep } from '../passes/pipeline.js';
import { lookupPass } from '../passes/registry.js';
import { passLevel } from '../passes/pass.js';
import '../passes/builtin.js';
import { finalPatchReport, patchSteps, type PatchReport } from '../passes/patch-execution.js'; // patch-based execution
import { emitC, WEIGHTS_FORMS, type CReport, type EmitOptions, type WeightsForm } from '../backends/c/emit.js';
import { cIdent } from '../backends/c/render.js';
import { getBoard } from '../costmodel/boards.js';
import { sizeMcuProject } from '../backends/mcu/build.js';
import { emitMcu } from '../backends/mcu/project.js';
import { checkEstimate } from '../backends/mcu/fit.js';
import { DEFAULT_ILP_MS, type MemoryPlan, type MemoryStrategy } from '../passes/plan-memory.js';
import { memoryPlotSvg } from '../passes/memory-plot.js';
import { writeFileAtomic } from './output.js';

export interface CompileOptions extends PipelineFlags {
  target: string;
  out: string;
  /** Board for target mcu (default mps2-an386). */
  board?: string;
  /** name → static shape for inputs with dynamic dims. */
  inputShapes?: ReadonlyMap<string, readonly number[]>;
  /** Name used in generated identifiers (default: the model's graph name or file name). */
  name?: string;
  /** Memory planning strategy (default 'auto'). */
  memory?: MemoryStrategy;
  /** Time limit of the memory ILP in milliseconds (default 10 000). */
  timeLimitMs?: number;
  /** Write the arena-over-time picture (SVG) to this file. */
  memoryPlot?: string;
  /** Node order: 'memory' (default) schedules for a smaller peak live set, 'file' keeps the model's order. */
  schedule?: ScheduleMode;
  /** Patch-based execution: 'off' (default), 'auto' (mcu: when the peak exceeds the board's SRAM) or a grid 'RxC'. */
  patches?: 'auto' | 'off' | string;
  /** How constants are emitted: 'incbin' (weights.s + weights.bin, default) or 'c-array' (weights.c). */
  weights?: WeightsForm;
  /** Linker section of the constants. */
  weightsSection?: string;
}

export interface CompileResult {
  dir: string;
  files: string[];
  /** Contents of each file, by name. */
  fileData: ReadonlyMap<string, string | Uint8Array>;
  report: CReport;
  ms: number;
}

/** Parses `name=1x3x224x224` (repeatable) into a map. */
export function parseInputShapes(specs: readonly string[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const s of specs) {
    const eq = s.lastIndexOf('=');
    const dims = eq < 0 ? '' : s.slice(eq + 1);
    if (eq <= 0 || !/^\d+(x\d+)*$|^$/.test(dims)) throw new KilnError('usage', `--input-shape '${s}' must look like name=1x3x224x224`);
    m.set(s.slice(0, eq), dims === '' ? [] : dims.split('x').map(Number));
  }
  return m;
}

/**
 * Writes every file into a fresh sibling folder, then moves it into place, so a failed compile
 * never leaves a half-written output folder.
 */
export function writeFolderAtomic(dir: string, files: ReadonlyMap<string, string | Uint8Array>): void {
  const abs = path.resolve(dir);
  const tmp = `${abs}.kiln-tmp-${process.pid}`;
  const old = `${abs}.kiln-old-${process.pid}`;
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    for (const [name, data] of files) fs.writeFileSync(path.join(tmp, name), data);
    if (fs.existsSync(abs)) fs.renameSync(abs, old);
    fs.renameSync(tmp, abs);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(abs) && fs.existsSync(old)) fs.renameSync(old, abs);
    throw new KilnError('io', `cannot write '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Pipeline flags shared by `kiln compile` and `kiln opt`. */
export interface PipelineFlags {
  /** Extra passes: graph passes run after specialization, kernel passes after lowering. */
  passes?: string;
  verifyEach?: boolean;
  printIrAfterAll?: boolean;
  printIrAfter?: readonly string[];
  printIrBefore?: readonly string[];
  dumpDir?: string;
  /** Where printed IR goes (default stdout). */
  print?: (text: string) => void;
  log?: (message: string) => void;
}

export function pipelineHooks(flags: PipelineFlags): PipelineHooks {
  return {
    verifyEach: flags.verifyEach ?? false,
    ...(flags.log ? { log: flags.log } : {}),
    ...(flags.printIrAfterAll || flags.printIrAfter?.length ? { printAfter: new Set(flags.printIrAfterAll ? ['all'] : flags.printIrAfter) } : {}),
    ...(flags.printIrBefore?.length ? { printBefore: new Set(flags.printIrBefore) } : {}),
    ...(flags.print ? { print: flags.print } : {}),
    ...(flags.dumpDir ? { dumpDir: flags.dumpDir } : {}),
  };
}

/** Refuses --print-ir-after/before names that are not in the pipeline (a typo would print nothing). */
export function checkPrintNames(flags: PipelineFlags, steps: readonly PipelineStep[]): void {
  const names = new Set(steps.map((s) => s.pass.name));
  for (const n of [...(flags.printIrAfter ?? []), ...(flags.printIrBefore ?? [])]) {
    if (!names.has(n)) throw new KilnError('usage', `--print-ir-after/--print-ir-before '${n}': no such pass in the pipeline (${[...names].join(', ')})`);
  }
}

/**
 * The compile pipeline: specialize → user graph passes → lower (memory-aware order) → user kernel
 * passes; the backend then plans memory and renders. `--passes` entries are split by level.
 */
export function compilePipeline(opts: CompileOptions): PipelineStep[] {
  const shapes: Record<string, string> = {};
  for (const [k, dims] of opts.inputShapes ?? new Map()) shapes[k] = dims.join('x');
  const user = parsePipeline(opts.passes ?? '').filter((s) => s.pass.name !== 'lower');
  const kernel = user.filter((s) => passLevel(s.pass) === 'kernel');
  const graph = user.filter((s) => passLevel(s.pass) === 'graph');
  return [
    { pass: lookupPass('specialize'), options: shapes },
    ...patchSteps(opts.patches, opts.target, opts.board), // patch-based execution (src/passes/patch-execution.ts)
    ...graph,
    { pass: lookupPass('lower'), options: { schedule: opts.schedule ?? 'memory' } },
    ...kernel,
  ];
}

function weightOpts(opts: Pick<CompileOptions, 'weights' | 'weightsSection'>): Pick<EmitOptions, 'weights' | 'weightsSection'> {
  if (opts.weights !== undefined && !WEIGHTS_FORMS.includes(opts.weights)) throw new KilnError('usage', `unknown --weights '${String(opts.weights)}' (known: ${WEIGHTS_FORMS.join(', ')})`);
  return { ...(opts.weights ? { weights: opts.weights } : {}), ...(opts.weightsSection !== undefined ? { weightsSection: opts.weightsSection } : {}) };
}

/** Compiles a loaded module in memory: the target's files (report.json included) and its report. */
export function compileModule(module: Module, fileName: string, opts: Omit<CompileOptions, 'out'>): Omit<CompileResult, 'dir'> & { plan: MemoryPlan; program: Program } {
  const t0 = performance.now();
  if (opts.target !== 'c' && opts.target !== 'mcu') throw new KilnError('usage', `unknown compile target '${opts.target}' (known: c, mcu)`);
  if (opts.board !== undefined && opts.target !== 'mcu') throw new KilnError('usage', `--board applies to --target mcu, not '${opts.target}'`);
  const board = opts.target === 'mcu' ? getBoard(opts.board ?? 'mps2-an386') : null;
  const steps = compilePipeline(opts as CompileOptions);
  checkPrintNames(opts, steps);
  const run = runPipeline({ level: 'graph', module }, steps, pipelineHooks(opts));
  if (run.state.level !== 'kernel') throw new KilnError('usage', 'the compile pipeline did not reach the kernel level');
  const program = run.state.program;
  const lowered = run.results.get('lowering') as LoweredSchedule | undefined;
  const name = cIdent(opts.name ?? (module.graph.name || path.basename(fileName).replace(/\.[^.]*$/, '')));
  const memory = {
    strategy: opts.memory ?? 'auto',
    timeLimitMs: opts.timeLimitMs ?? DEFAULT_ILP_MS,
    order: lowered?.order ?? 'file',
    // the liveness computed while choosing the order is only valid if no kernel pass changed the program
    ...(lowered?.liveness && lowered.program === program && !steps.some((s) => passLevel(s.pass) === 'kernel') ? { liveness: lowered.liveness } : {}),
  };
  const t1 = performance.now();
  let project;
  if (board) {
    const mcu = emitMcu(program, name, board, board, memory, weightOpts(opts));
    // fit check before any tool runs, then the real sizes when the cross compiler is installed
    checkEstimate(mcu.fit, board);
    const sized = sizeMcuProject(mcu, program, board);
    Object.assign(mcu.report, sized);
    project = mcu;
  } else project = emitC(program, name, { target: opts.target, memory, ...weightOpts(opts) });
  if (lowered?.schedule) project.report.memory.schedule = lowered.schedule;
  // patch-based execution: memory.patches
  const patches = run.results.get('patches') as PatchReport | undefined;
  if (patches) Object.assign(project.report.memory, { patches: finalPatchReport(patches, lowered?.schedule?.scheduledPeakBytes) });
  const ms = performance.now() - t0;
  project.report.compileMs = Math.round(ms);
  project.report.passes = [...run.timeline, { name: `emit-${opts.target}`, level: 'backend', ms: Math.round((performance.now() - t1) * 100) / 100 }];
  project.files.set('report.json', `${JSON.stringify(project.report, null, 2)}\n`);
  return { files: [...project.files.keys()], fileData: project.files, report: project.report, ms, plan: project.plan, program };
}

export function compileModel(file: string, opts: CompileOptions): CompileResult {
  const t0 = performance.now();
  const module = loadModel(file);
  const r = compileModule(module, file, opts);
  writeFolderAtomic(opts.out, r.fileData);
  const name = cIdent(opts.name ?? (module.graph.name || path.basename(file).replace(/\.[^.]*$/, '')));
  if (opts.memoryPlot) writeFileAtomic(opts.memoryPlot, memoryPlotSvg(r.plan, { title: name }));
  return { dir: opts.out, files: r.files, fileData: r.fileData, report: r.report, ms: performance.now() - t0 };
}
