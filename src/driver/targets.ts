/**
 * Targets as commands see them: `--target name` (or `name:value` for the target's first option,
 * e.g. `mcu:stm32f446`) plus option flags, resolved against the target registry
 * (src/backends/target.ts), and running a model on one. Nothing here knows a target by name.
 */
import { checkInputs, checkOutputs } from '../ir/check-values.js';
import { modelName } from './model-name.js';
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import type { Program } from '../ir/kernel/types.js';
import type { RtValue, Tensor } from '../ir/tensor.js';
import { specializeInputs } from '../passes/specialize.js';
import { parsePipeline, runPipeline, type PipelineStep } from '../passes/pipeline.js';
import { lookupPass } from '../passes/registry.js';
import '../passes/builtin.js';
import '../backends/index.js';
import { cIdent } from '../backends/c/render.js';
import {
  listTargets,
  lookupTarget,
  requireTargetTools,
  resolveTargetOptions,
  type PipelineSettings,
  type TargetContext,
  type TargetDefinition,
  type TargetOptionValues,
} from '../backends/target.js';

export interface ResolvedTarget {
  readonly def: TargetDefinition;
  /** Every option with defaults filled in. */
  readonly options: TargetOptionValues;
  /** The options the user gave (for labels and summaries). */
  readonly given: TargetOptionValues;
  /** How reports name it: `mcu`, or `mcu:stm32f446` when the first option was given. */
  readonly label: string;
}

/** Parses `--target-option key=value` flags. */
export function parseTargetOptions(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new KilnError('usage', `--target-option '${p}' must look like key=value`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** Resolves `name` or `name:value` and option values into a target with checked options. */
export function resolveTarget(spec: string, given: Readonly<Record<string, string | undefined>> = {}): ResolvedTarget {
  const colon = spec.indexOf(':');
  const name = colon > 0 ? spec.slice(0, colon) : spec;
  const def = lookupTarget(name);
  const explicit: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) if (v !== undefined) explicit[k] = v;
  if (colon > 0) {
    const first = Object.keys(def.options ?? {})[0];
    if (first === undefined) throw new KilnError('usage', `target '${name}' takes no option ('${spec}')`);
    const value = spec.slice(colon + 1);
    if (explicit[first] !== undefined && explicit[first] !== value) throw new KilnError('usage', `'${spec}' and --${first} ${explicit[first]} disagree`);
    explicit[first] = value;
  }
  const options = resolveTargetOptions(def, explicit);
  const first = Object.keys(def.options ?? {})[0];
  const label = first !== undefined && explicit[first] !== undefined ? `${def.name}:${explicit[first]}` : def.name;
  return { def, options, given: Object.freeze(explicit), label };
}

export function targetNames(): string[] {
  return listTargets().map((t) => t.name);
}

/** Settings of the pipelines `run`, `conformance` and `fuzz` use: fast ILP budgets (as before the target API). */
export const RUN_SETTINGS: PipelineSettings = { memory: 'auto', timeLimitSeconds: 1, levelTimeLimitSeconds: 5, patches: 'off' };

/** Graph canonicalization run after specialization unless settings.canonicalize is false. */
export const CANONICALIZE_PIPELINE = 'eliminate-identity,fold-affine,dce';

export function canonicalizeSteps(settings: PipelineSettings): PipelineStep[] {
  return settings.canonicalize === false ? [] : parsePipeline(CANONICALIZE_PIPELINE);
}

/**
 * The fuse pass run right after lowering (every kernel target gets it), with the target's device
 * profile (its roofline's) for the cost model and fast-memory capacity; none when settings.fuse is false.
 */
export function fuseSteps(t: ResolvedTarget, settings: PipelineSettings): PipelineStep[] {
  if (settings.fuse === false || t.def.level !== 'kernel') return [];
  const device = t.def.roofline?.(t.options).name;
  return parsePipeline(device !== undefined ? `fuse{device=${device}}` : 'fuse');
}

/**
 * The pack-subbyte pass right after fusion (every kernel target gets it): int4/uint4 constants are
 * stored two per byte and unpacked where they are loaded (src/passes/pack-subbyte.ts).
 */
export function packSteps(t: ResolvedTarget): PipelineStep[] {
  return t.def.level === 'kernel' ? parsePipeline('pack-subbyte') : [];
}

/** The `lower` step for a target: the given node order, and the target's loop-nest style. */
export function lowerStep(t: ResolvedTarget, schedule: string): PipelineStep {
  const style = t.def.level === 'kernel' ? (t.def.lowerStyle ?? 'cpu') : 'cpu';
  return { pass: lookupPass('lower'), options: style === 'cpu' ? { schedule } : { schedule, style } };
}

/** The target's pipeline after lowering, as steps. */
export function targetSteps(t: ResolvedTarget, settings: PipelineSettings): PipelineStep[] {
  return t.def.level === 'kernel' ? parsePipeline(t.def.pipeline(t.options, settings)) : [];
}

/** The context `emit` and `run` get. */
export function targetContext(t: ResolvedTarget, name: string, results: ReadonlyMap<string, unknown>, log?: (m: string) => void, allowOverflow?: boolean): TargetContext {
  return { name, options: t.options, results, log: log ?? (() => {}), ...(allowOverflow ? { allowOverflow } : {}) };
}

/** Refuses a program with element types the target does not hold, before anything runs. */
export function checkTargetDtypes(def: TargetDefinition, program: Program): void {
  const ok = def.capabilities.dtypes;
  if (!ok) return;
  const bad = program.buffers.find((b) => !ok.includes(b.dtype));
  if (bad) throw new KilnError('unsupported', `target '${def.name}' does not support element type ${bad.dtype} (buffer '${bad.name}')`);
}

/** Specializes to the inputs' shapes, lowers (memory-aware order, as compile does) and runs the target's pipeline. */
export function lowerForTarget(t: ResolvedTarget, module: Module, inputs: readonly (RtValue | undefined)[], settings: PipelineSettings = RUN_SETTINGS): { program: Program; feeds: Tensor[]; results: Map<string, unknown> } {
  specializeInputs(module, inputs);
  // through the pass manager so the verifier runs on the program whenever verification is on
  // the target's graph prelude (QDQ folding, integer requantization) too: `kiln run` and
  // `kiln conformance` run what `kiln compile` emits
  const prelude = t.def.level === 'kernel' && t.def.prelude ? parsePipeline(t.def.prelude(t.options, settings)) : [];
  const steps: PipelineStep[] = [...canonicalizeSteps(settings), ...prelude, lowerStep(t, 'memory'), ...fuseSteps(t, settings), ...packSteps(t), ...targetSteps(t, settings)];
  const r = runPipeline({ level: 'graph', module }, steps);
  const program = (r.state as { program: Program }).program;
  // program inputs are the graph inputs without a default, in order
  const feeds = module.graph.inputs.flatMap((v, i) => (v.init ? [] : [inputs[i] as Tensor]));
  return { program, feeds, results: r.results };
}

export interface TargetRun {
  outputs: RtValue[];
  summary?: string;
}

/** Runs the module on inputs in graph-input order (undefined = the input's default) on a target. */
export async function runOnTarget(t: ResolvedTarget, module: Module, inputs: readonly (RtValue | undefined)[]): Promise<TargetRun> {
  const name = cIdent(modelName(module.graph.name, 'model'));
  const def = t.def;
  // one input check for every target, and every output against its declared type
  checkInputs(module.graph, inputs);
  let r: TargetRun;
  if (def.level === 'graph') r = { outputs: await def.run(module, inputs, targetContext(t, name, new Map())) };
  else {
    requireTargetTools(def);
    const { program, feeds, results } = lowerForTarget(t, module, inputs);
    checkTargetDtypes(def, program);
    const ran = await def.run(program, feeds, targetContext(t, name, results));
    r = { outputs: ran.outputs, ...(ran.summary ? { summary: ran.summary } : {}) };
  }
  checkOutputs(module.graph, inputs, r.outputs);
  return r;
}
