/** `kiln compile`: model → specialized graph → kernel program → target files in an output folder. */
import { printModule, type PrintOptions } from '../ir/print.js';
import { parseModuleText } from '../frontend/text/parser.js';
import { inferModule } from '../ir/infer.js';
import { generalizeProgram, sampleValues, type Sample } from '../ir/kernel/symbolic.js';
import { verifyProgram } from '../ir/kernel/verify.js';
import { modelName } from './model-name.js';
import * as path from 'node:path';
import { KilnError } from '../ir/errors.js';
import { loadModel } from './load.js';
import type { Module } from '../ir/graph.js';
import type { Program } from '../ir/kernel/types.js';
import type { LoweredSchedule, ScheduleMode, ScheduleReport } from '../passes/schedule-memory.js';
import { parsePipeline, runPipeline, type PassRecord, type PipelineHooks, type PipelineResult, type PipelineStep } from '../passes/pipeline.js';
import { lookupPass } from '../passes/registry.js';
import { passLevel } from '../passes/pass.js';
import '../passes/builtin.js';
import { finalPatchReport, patchSteps, type PatchReport } from '../passes/patch-execution.js'; // patch-based execution
import type { CReport } from '../backends/c/emit.js';
import { cIdent } from '../backends/c/render.js';
import { listTargets, type PipelineSettings } from '../backends/target.js';
import { MEMORY_PLAN } from '../ir/kernel/layout.js';
import { DEFAULT_ILP_MS, type MemoryPlan, type MemoryStrategy } from '../passes/plan-memory.js';
import { memoryPlotSvg } from '../passes/memory-plot.js';
import { checkOutputFile, checkOutputFolder, openDumpFolder, writeFileAtomic, writeOutputFolder, type OutputGuard } from './output.js';
import { canonicalizeSteps, checkTargetDtypes, fuseSteps, lowerStep, packSteps, resolveTarget, targetContext, targetSteps, type ResolvedTarget } from './targets.js';
import { FUSION_RESULT, type FusionDecision } from '../passes/fuse.js';

export interface CompileOptions extends PipelineFlags {
  /** `name` or `name:value` (the target's first option), e.g. `c`, `mcu:stm32f446`. */
  target: string;
  out: string;
  /** Board option of targets that have one (mcu: default mps2-an386). */
  board?: string;
  /** Other target options by name (`--target-option key=value`). */
  targetOptions?: Readonly<Record<string, string>>;
  /** name → static shape for inputs with dynamic dims. */
  inputShapes?: ReadonlyMap<string, readonly number[]>;
  /** A symbolic input dim kept as a run-time size up to a bound (`--dynamic batch<=8`). */
  dynamic?: DynamicDim;
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
  /** Report a model that does not fit the board (fits: false) instead of refusing it (kiln report). */
  allowOverflow?: boolean;
  /** Patch-based execution: 'off' (default), 'auto' (as the target's prelude decides; mcu: when the peak exceeds the board's SRAM) or a grid 'RxC'. */
  patches?: 'auto' | 'off' | string;
  /** Graph canonicalization after specialization (default true; `--no-canonicalize`). */
  canonicalize?: boolean;
  /** Kernel fusion after lowering (default true; `--no-fuse`). */
  fuse?: boolean;
}

/**
 * report.json: the target's fields (the C-like targets' memory section typed here for the CLI
 * summary) plus the common ones the driver adds (schedule, patches, compile time, pass timeline).
 */
export type CompileReport = Partial<Pick<CReport, 'name' | 'arenaBytes' | 'weightBytes' | 'kernels' | 'inputs' | 'outputs'>> & {
  target: string;
  memory?: Partial<CReport['memory']> & { schedule?: ScheduleReport; patches?: PatchReport };
  compileMs: number;
  passes: PassRecord[];
  [extra: string]: unknown;
};

export interface CompileResult {
  dir: string;
  files: string[];
  /** Contents of each file, by name. */
  fileData: ReadonlyMap<string, string | Uint8Array>;
  report: CompileReport;
  ms: number;
}

/** Parses `name=1x3x224x224` (repeatable) into a map. */
export function parseInputShapes(specs: readonly string[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const s of specs) {
    const eq = s.lastIndexOf('=');
    const dims = eq < 0 ? '' : s.slice(eq + 1);
    if (eq <= 0 || !/^\d+(x\d+)*$|^$/.test(dims)) throw new KilnError('usage', `--input-shape '${s}' must look like name=1x3x224x224`);
    const ds = dims === '' ? [] : dims.split('x').map(Number);
    const bad = ds.find((d) => !Number.isSafeInteger(d));
    if (bad !== undefined) throw new KilnError('usage', `--input-shape '${s}': dim ${dims.split('x')[ds.indexOf(bad)]} is not a safe integer (at most ${Number.MAX_SAFE_INTEGER})`);
    m.set(s.slice(0, eq), ds);
  }
  return m;
}

/** `--dynamic name<=max`. */
export interface DynamicDim {
  readonly name: string;
  readonly max: number;
}

/** Parses `batch<=8`. */
export function parseDynamic(spec: string): DynamicDim {
  const m = /^([^<>=\s]+)<=(\d+)$/.exec(spec.trim());
  const max = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(max) || max < 2) throw new KilnError('usage', `--dynamic '${spec}' must look like name<=N with N at least 2 (the model's name for the dim, e.g. batch<=8)`);
  return { name: m[1]!, max };
}

/** The run-time size's name in kernel IR and generated code: a C identifier that no lowering's variable can take. */
export function dynamicParamName(dim: string): string {
  let id = dim.replace(/[^A-Za-z0-9_]/g, '_');
  if (!/^[A-Za-z_]/.test(id)) id = `d_${id}`;
  // lowerings name their variables a prefix and a counter (i12): a trailing digit could collide
  return /[0-9]$/.test(id) ? `${id}_` : id;
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
  /** Who the output policy protects (the model, the inputs) and whether --force was given. */
  guard?: OutputGuard;
  /** Where printed IR goes (default stdout). */
  print?: (text: string) => void;
  /** How --print-ir-* and --dump-dir spell large constants (default: in full; the CLI elides). */
  printOptions?: PrintOptions;
  log?: (message: string) => void;
}

export function pipelineHooks(flags: PipelineFlags): PipelineHooks {
  return {
    verifyEach: flags.verifyEach ?? false,
    ...(flags.log ? { log: flags.log } : {}),
    ...(flags.printIrAfterAll || flags.printIrAfter?.length ? { printAfter: new Set(flags.printIrAfterAll ? ['all'] : flags.printIrAfter) } : {}),
    ...(flags.printIrBefore?.length ? { printBefore: new Set(flags.printIrBefore) } : {}),
    ...(flags.print ? { print: flags.print } : {}),
    ...(flags.printOptions ? { printOptions: flags.printOptions } : {}),
    ...(flags.dumpDir ? { dump: openDumpFolder(flags.dumpDir, flags.guard) } : {}),
  };
}

/** Refuses --print-ir-after/before names that are not in the pipeline (a typo would print nothing). */
export function checkPrintNames(flags: PipelineFlags, steps: readonly PipelineStep[]): void {
  const names = new Set(steps.map((s) => s.pass.name));
  for (const n of [...(flags.printIrAfter ?? []), ...(flags.printIrBefore ?? [])]) {
    if (!names.has(n)) throw new KilnError('usage', `--print-ir-after/--print-ir-before '${n}': no such pass in the pipeline (${[...names].join(', ')})`);
  }
}

/** The driver settings a target's pipeline gets from compile options. */
export function compileSettings(opts: Pick<CompileOptions, 'memory' | 'timeLimitMs' | 'patches' | 'canonicalize' | 'fuse'>): PipelineSettings {
  return { memory: opts.memory ?? 'auto', timeLimitSeconds: (opts.timeLimitMs ?? DEFAULT_ILP_MS) / 1000, patches: opts.patches ?? 'off', canonicalize: opts.canonicalize ?? true, fuse: opts.fuse ?? true };
}

/** The target a compile options object names (target spec, --board, --target-option). */
export function compileTarget(opts: Pick<CompileOptions, 'target' | 'board' | 'targetOptions'>): ResolvedTarget {
  return resolveTarget(opts.target, { ...opts.targetOptions, ...(opts.board !== undefined ? { board: opts.board } : {}) });
}

/**
 * The compile pipeline: specialize → patches (a grid, or what the target's prelude asks for) →
 * user graph passes → lower (memory-aware order) → user kernel passes → the target's pipeline
 * (memory planning, level placement, …); the target then only renders. `--passes` entries are
 * split by level.
 */
export function compilePipeline(opts: Omit<CompileOptions, 'out'>, target: ResolvedTarget = compileTarget(opts)): PipelineStep[] {
  const parts = compilePipelineParts(opts, target);
  return [...parts.front, ...parts.back];
}

/** The compile pipeline in two parts: up to the kernel level with the user's passes, and the target's steps. */
export function compilePipelineParts(opts: Omit<CompileOptions, 'out'>, target: ResolvedTarget, inputShapes = opts.inputShapes): { front: PipelineStep[]; back: PipelineStep[] } {
  const shapes: Record<string, string> = {};
  for (const [k, dims] of inputShapes ?? new Map()) shapes[k] = dims.join('x');
  const user = parsePipeline(opts.passes ?? '').filter((s) => s.pass.name !== 'lower');
  const kernel = user.filter((s) => passLevel(s.pass) === 'kernel');
  const graph = user.filter((s) => passLevel(s.pass) === 'graph');
  const settings = compileSettings(opts);
  const prelude = target.def.level === 'kernel' && target.def.prelude ? parsePipeline(target.def.prelude(target.options, settings)) : [];
  return {
    front: [
      { pass: lookupPass('specialize'), options: shapes },
      ...canonicalizeSteps(settings), // eliminate-identity, fold-affine, dce
      ...patchSteps(opts.patches), // patch-based execution (src/passes/patch-execution.ts)
      ...prelude,
      ...graph,
      lowerStep(target, opts.schedule ?? 'memory'),
      ...fuseSteps(target, settings),
      ...packSteps(target),
      ...kernel,
    ],
    back: targetSteps(target, settings),
  };
}


function runStatic(module: Module, opts: Omit<CompileOptions, 'out'>, target: ResolvedTarget): PipelineResult {
  const steps = compilePipeline(opts, target);
  checkPrintNames(opts, steps);
  return runPipeline({ level: 'graph', module }, steps, pipelineHooks(opts));
}

/**
 * `--dynamic name<=max`: the front of the pipeline runs at a few fixed sizes (each on its own copy of
 * the module), the programs merge into one with a run-time size (src/ir/kernel/symbolic.ts), and the
 * target's steps (memory planning for the largest size, …) run once on it.
 */
function runDynamic(module: Module, opts: Omit<CompileOptions, 'out'>, target: ResolvedTarget): PipelineResult {
  const dyn = opts.dynamic!;
  if (!target.def.capabilities.dynamic) {
    const able = listTargets().filter((t) => t.capabilities.dynamic).map((t) => t.name);
    throw new KilnError('unsupported', `target '${target.def.name}' takes no run-time sizes (--dynamic works with: ${able.join(', ')})`);
  }
  const param = { name: dynamicParamName(dyn.name), max: dyn.max };
  const text = printModule(module);
  const samples: Sample[] = [];
  let last: PipelineResult | undefined;
  for (const value of sampleValues(dyn.max)) {
    const copy = parseModuleText(text, 'dynamic.kir');
    inferModule(copy);
    const shapes = dynamicShapes(copy, dyn, value, opts.inputShapes);
    const parts = compilePipelineParts(opts, target, shapes);
    // dumps and printed IR show the merged program through the target's steps (one numbered series)
    const run = runPipeline({ level: 'graph', module: copy }, parts.front, { verifyEach: opts.verifyEach ?? false, ...(opts.log ? { log: opts.log } : {}) });
    if (run.state.level !== 'kernel') throw new KilnError('usage', 'the compile pipeline did not reach the kernel level');
    samples.push({ value, program: run.state.program });
    if (value === Math.max(dyn.max, 4) || last === undefined) last = run;
  }
  const program = generalizeProgram(samples, param);
  verifyProgram(program);
  const back = compilePipelineParts(opts, target).back;
  const run = runPipeline({ level: 'kernel', program }, back, { ...pipelineHooks(opts), results: last!.results });
  return { ...run, timeline: [...last!.timeline, ...run.timeline] };
}

/** Input shapes at one size of the dynamic dim: every input dim named like it takes the value. */
function dynamicShapes(module: Module, dyn: DynamicDim, value: number, given: ReadonlyMap<string, readonly number[]> = new Map()): Map<string, readonly number[]> {
  const shapes = new Map(given);
  const seen: string[] = [];
  for (const v of module.graph.inputs) {
    const dims = v.tensorType?.shape;
    if (v.init || !dims || shapes.has(v.name)) continue;
    for (const d of dims) if (typeof d === 'string') seen.push(d);
    if (dims.some((d) => d === dyn.name)) {
      const other = dims.find((d) => d !== dyn.name && typeof d !== 'number');
      if (other !== undefined) throw new KilnError('usage', `--dynamic ${dyn.name}: input '${v.name}' has another dynamic dim '${other ?? '?'}'; fix it with --input-shape or make it the dynamic one`, { tensor: v.name });
      shapes.set(v.name, dims.map((d) => (d === dyn.name ? value : (d as number))));
    }
  }
  if (![...shapes.keys()].some((k) => !given.has(k))) {
    throw new KilnError('usage', `--dynamic: no model input has a dim named '${dyn.name}' (named dims: ${[...new Set(seen)].join(', ') || 'none'})`);
  }
  return shapes;
}

/** Compiles a loaded module in memory: the target's files (report.json included) and its report. */
export function compileModule(module: Module, fileName: string, opts: Omit<CompileOptions, 'out'>): Omit<CompileResult, 'dir'> & { plan: MemoryPlan | undefined; program: Program } {
  const t0 = performance.now();
  const target = compileTarget(opts);
  const def = target.def;
  if (def.level !== 'kernel' || !def.emit || !def.capabilities.emits) {
    throw new KilnError('usage', `target '${def.name}' does not write files (compile targets: ${listTargets().filter((t) => t.capabilities.emits).map((t) => t.name).join(', ')})`);
  }
  const run = opts.dynamic ? runDynamic(module, opts, target) : runStatic(module, opts, target);
  if (run.state.level !== 'kernel') throw new KilnError('usage', 'the compile pipeline did not reach the kernel level');
  const program = run.state.program;
  checkTargetDtypes(def, program);
  const lowered = run.results.get('lowering') as LoweredSchedule | undefined;
  const name = cIdent(opts.name ?? modelName(module.graph.name, fileName));
  const t1 = performance.now();
  const ctx = targetContext(target, name, run.results, opts.log, opts.allowOverflow);
  const emitted = def.emit(program, ctx);
  const report = emitted.report as CompileReport;
  if (def.measure) Object.assign(report, def.measure(program, emitted, ctx));
  // common fields: the schedule the lowering kept and patch-based execution (memory section)
  const patches = run.results.get('patches') as PatchReport | undefined;
  if (lowered?.schedule || patches) {
    report.memory ??= {};
    if (lowered?.schedule) report.memory.schedule = lowered.schedule;
    if (patches) report.memory.patches = finalPatchReport(patches, lowered?.schedule?.scheduledPeakBytes);
  }
  const ms = performance.now() - t0;
  report.compileMs = Math.round(ms);
  const fusion = run.results.get(FUSION_RESULT) as FusionDecision[] | undefined;
  if (fusion) report.fusion = fusion;
  report.passes = [...run.timeline, { name: `emit-${def.name}`, level: 'backend' as PassRecord['level'], ms: Math.round((performance.now() - t1) * 100) / 100 }];
  emitted.files.set('report.json', `${JSON.stringify(report, null, 2)}\n`);
  const plan = run.results.get(MEMORY_PLAN) as MemoryPlan | undefined;
  return { files: [...emitted.files.keys()], fileData: emitted.files, report, ms, plan, program };
}


export function compileModel(file: string, opts: CompileOptions): CompileResult {
  const t0 = performance.now();
  // refuse an output the policy does not allow before spending time on the compile
  const guard: OutputGuard = { ...opts.guard, models: [file] };
  checkOutputFolder(opts.out, guard);
  if (opts.memoryPlot) checkOutputFile(opts.memoryPlot, guard);
  const module = loadModel(file);
  const r = compileModule(module, file, { ...opts, guard });
  if (opts.memoryPlot && !r.plan) throw new KilnError('usage', `--memory-plot: target '${opts.target}' made no memory plan`);
  writeOutputFolder(opts.out, r.fileData, guard);
  const name = cIdent(opts.name ?? modelName(module.graph.name, file));
  if (opts.memoryPlot && r.plan) writeFileAtomic(opts.memoryPlot, memoryPlotSvg(r.plan, { title: name }), guard);
  return { dir: opts.out, files: r.files, fileData: r.fileData, report: r.report, ms: performance.now() - t0 };
}
