/**
 * The target definition: one object per target (built-in or plugin) that every command goes
 * through — `compile`, `run`, `conformance`, `bench`, `report`, `fuzz` and the determinism test.
 * Nothing outside a target's own folder switches on a target's name.
 *
 * A target says which pass pipeline runs after lowering (memory planning, level placement, its own
 * passes: all of them real passes, visible in dumps), then only renders (`emit`) and runs (`run`).
 * Backends read what the pipeline decided off the kernel IR itself (buffer levels/offsets, the
 * program's memory summary) or from the pipeline's results map; they import nothing from
 * src/passes or src/driver.
 */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import type { Program, ScalarType } from '../ir/kernel/types.js';
import type { LowerStyle } from '../ir/kernel/lowering.js';
import type { RtValue, Tensor } from '../ir/tensor.js';
import type { Roofline } from '../costmodel/roofline.js';

/** One option of a target, e.g. `board` of mcu, `device` of wgsl/pim, `part` of hls. */
export interface TargetOptionSpec {
  /** One line for `kiln targets` and `--help`. */
  readonly description: string;
  /** Value used when the user gives none. */
  readonly default?: string;
  /** The accepted values, when they form a closed set known up front. */
  readonly values?: readonly string[];
}

/** An external program a target needs (compiler, emulator, GPU runtime). */
export interface TargetTool {
  /** What to call it in messages, e.g. 'arm-none-eabi-gcc'. */
  readonly name: string;
  /** Whether it is usable on this machine (cheap; may be cached). */
  available(): boolean;
  /** Where to get it, e.g. "apt-get install --no-install-recommends gcc-arm-none-eabi". */
  readonly install: string;
}

export interface TargetCapabilities {
  /** Element types whose buffers the target can hold; others are refused before anything runs. Absent: all. */
  readonly dtypes?: readonly ScalarType[];
  /** Whether CI runs (a deterministic sample of) its conformance. */
  readonly ci: boolean;
  /** Whether the target writes files with `kiln compile` (the interpreters do not). */
  readonly emits: boolean;
  /** Its runtime cannot run in several worker threads of one process (conformance then uses one worker). */
  readonly oneThread?: boolean;
  /** Renders programs with a run-time size (`--dynamic`, Program.param); others refuse them. */
  readonly dynamic?: boolean;
  /** Its pipeline is costly per compile (e.g. an ILP per model): whole-suite loops (determinism) take a few samples only. */
  readonly heavyCompile?: boolean;
}

/** Resolved option values (defaults filled in, values checked) by option name. */
export type TargetOptionValues = Readonly<Record<string, string>>;

/** What `emit` and `run` get besides the program. */
export interface TargetContext {
  /** C-identifier-safe model name used in generated identifiers and file names. */
  readonly name: string;
  readonly options: TargetOptionValues;
  /** Results left by the target's pipeline passes (e.g. 'memory-plan'), keyed by name. */
  readonly results: ReadonlyMap<string, unknown>;
  /** Writes a diagnostic line (shown with --verbose). */
  log(message: string): void;
  /** Emit a model that does not fit the device, marked in the report, instead of refusing it (kiln report). */
  readonly allowOverflow?: boolean;
}

/** The files of a compiled model and its report (report.json is written by the driver). */
export interface TargetFiles {
  readonly files: Map<string, string | Uint8Array>;
  /** Target-specific report fields; the driver adds the common ones (passes, compile time). */
  readonly report: Record<string, unknown>;
}

export interface TargetRunResult {
  readonly outputs: Tensor[];
  /** One line about the run (e.g. flash/RAM of an MCU image, simulated cycles), printed by `kiln run`. */
  readonly summary?: string;
  /** Measured figures (cycles, seconds per inference, …) for `kiln bench` and report.json. */
  readonly measures?: Readonly<Record<string, number>>;
}

interface TargetCommon {
  /** Lower-case words joined by '-'; unique in the registry. */
  readonly name: string;
  /** One line for `kiln targets`. */
  readonly description: string;
  readonly options?: Readonly<Record<string, TargetOptionSpec>>;
  readonly tools?: readonly TargetTool[];
  readonly capabilities: TargetCapabilities;
  /** Checks option values beyond `values` (e.g. that a named device exists); throws a usage KilnError. */
  checkOptions?(options: TargetOptionValues): void;
}

/** A target that runs the graph IR directly (the reference interpreter). */
export interface GraphTarget extends TargetCommon {
  readonly level: 'graph';
  run(module: Module, inputs: readonly (RtValue | undefined)[], ctx: TargetContext): RtValue[] | Promise<RtValue[]>;
}

/** A target that renders (and runs) the lowered kernel program. */
export interface KernelTarget extends TargetCommon {
  readonly level: 'kernel';
  /**
   * The pass pipeline run after lowering, in `kiln opt` syntax (e.g. `plan-memory{strategy=auto}`),
   * given the resolved options and the driver's memory settings.
   */
  pipeline(options: TargetOptionValues, settings: PipelineSettings): string;
  /** The loop-nest style its lowerings should produce (LowerStyle); absent: 'cpu'. */
  readonly lowerStyle?: LowerStyle;
  /**
   * Graph passes the target wants after specialization and before lowering (e.g. the mcu target's
   * patch-based execution when `settings.patches` is 'auto'); '' or absent: none.
   */
  prelude?(options: TargetOptionValues, settings: PipelineSettings): string;
  /** Renders the program (after the pipeline) to files. Absent for targets that only run. */
  emit?(program: Program, ctx: TargetContext): TargetFiles;
  /**
   * Builds what `emit` wrote to measure it (e.g. an MCU image's flash and RAM with the cross
   * toolchain); the fields go into report.json. Only `kiln compile` calls it (fuzz only renders).
   */
  measure?(program: Program, emitted: TargetFiles, ctx: TargetContext): Record<string, unknown>;
  /** The device figures `kiln report` draws its roofline with. Absent: no report for this target. */
  roofline?(options: TargetOptionValues): Roofline;
  /**
   * Text lines about a compiled design for `kiln compile` and the `kiln report` page (e.g. the HLS
   * target's per-layer folding table), from the report `emit` returned.
   */
  describe?(report: Readonly<Record<string, unknown>>): string[];
  /** Builds and executes the program on inputs in program-input order. */
  run(program: Program, inputs: readonly Tensor[], ctx: TargetContext): TargetRunResult | Promise<TargetRunResult>;
}

/** Driver settings a target's pipeline may pass on to its passes. */
export interface PipelineSettings {
  /** Memory strategy (`--memory`), default 'auto'. */
  readonly memory: string;
  /** ILP budget in seconds (`--time-limit`). */
  readonly timeLimitSeconds: number;
  /** Budget of other placement MIPs (memory levels) in seconds; default timeLimitSeconds. */
  readonly levelTimeLimitSeconds?: number;
  /** Patch-based execution (`--patches`): 'auto' lets the target's prelude decide. */
  readonly patches?: string;
  /** Graph canonicalization after specialization (eliminate-identity, fold-affine, dce); default on. */
  readonly canonicalize?: boolean;
  /** Kernel fusion right after lowering (the `fuse` pass); default on. */
  readonly fuse?: boolean;
}

export type TargetDefinition = GraphTarget | KernelTarget;

const NAME = /^[a-z][a-z0-9-]*$/;

/** Checks a target definition's shape (same checks for built-ins and plugins) and freezes it. */
export function defineTarget<T extends TargetDefinition>(def: T): T {
  const t = def as TargetDefinition;
  if (typeof t !== 'object' || t === null) throw new KilnError('usage', 'defineTarget wants an object {name, description, level, capabilities, run}');
  if (typeof t.name !== 'string' || !NAME.test(t.name)) throw new KilnError('usage', `target name '${String(t.name)}' must be lower-case words joined by '-'`);
  if (typeof t.description !== 'string' || t.description === '') throw new KilnError('usage', `target '${t.name}' needs a description`);
  const level = (t as { level?: unknown }).level;
  if (level !== 'graph' && level !== 'kernel') throw new KilnError('usage', `target '${t.name}' needs level 'graph' or 'kernel'`);
  if (typeof t.run !== 'function') throw new KilnError('usage', `target '${t.name}' needs a run function`);
  if (t.level === 'kernel' && typeof t.pipeline !== 'function') throw new KilnError('usage', `target '${t.name}' needs a pipeline(options) function`);
  if (typeof t.capabilities !== 'object' || t.capabilities === null) throw new KilnError('usage', `target '${t.name}' needs capabilities {ci, emits}`);
  return Object.freeze(Object.assign({}, def));
}

const registry = new Map<string, TargetDefinition>();

/** Adds a target; a second target with the same name is refused. */
export function registerTarget(t: TargetDefinition): void {
  const def = defineTarget(t);
  if (registry.has(def.name)) throw new KilnError('usage', `target '${def.name}' is already registered`);
  registry.set(def.name, def);
}

export function lookupTarget(name: string): TargetDefinition {
  const t = registry.get(name);
  if (!t) throw new KilnError('usage', `unknown target '${name}' (known: ${[...registry.keys()].join(', ')})`);
  return t;
}

export function listTargets(): TargetDefinition[] {
  return [...registry.values()];
}

/**
 * Fills in defaults and checks user option values (`--board x`, `--device y`, or `target:value`
 * for the first option) against the target's option specs; unknown options are refused.
 */
export function resolveTargetOptions(t: TargetDefinition, given: Readonly<Record<string, string | undefined>>): TargetOptionValues {
  const specs = t.options ?? {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue;
    const spec = specs[k];
    if (!spec) throw new KilnError('usage', `option '${k}' does not apply to target '${t.name}' (${Object.keys(specs).length ? `its options: ${Object.keys(specs).join(', ')}` : 'it has no options'})`);
    if (spec.values && !spec.values.includes(v)) throw new KilnError('usage', `option ${k} '${v}' of target '${t.name}' is not one of ${spec.values.join(', ')}`);
    out[k] = v;
  }
  for (const [k, spec] of Object.entries(specs)) if (out[k] === undefined && spec.default !== undefined) out[k] = spec.default;
  t.checkOptions?.(out);
  return Object.freeze(out);
}

/** Throws the one-line refusal when a tool the target needs is missing. */
export function requireTargetTools(t: TargetDefinition): void {
  for (const tool of t.tools ?? []) {
    if (!tool.available()) throw new KilnError('unsupported', `target '${t.name}' needs ${tool.name}, which is not installed (${tool.install})`);
  }
}
