/**
 * The pass API, shared by built-in passes and plugins. A pass has a name, a description, the IR
 * level it works on and a `run` that transforms that level in place:
 *  - graph passes (`level: 'graph'`, the default) get the graph-IR Module;
 *  - kernel passes (`level: 'kernel'`) get the lowered kernel Program;
 *  - the one lowering pass (`level: 'lower'`) turns the Module into a Program.
 * The pass manager (runPasses / runPipeline) checks `requires`, verifies after each pass when asked
 * (always in tests) and reports per-pass timings to hooks (IR dumps, report timeline).
 */
import type { Module } from '../ir/graph.js';
import type { Program } from '../ir/kernel/types.js';
import { verifyModule } from '../ir/verify.js';
import { locateError, KilnError } from '../ir/errors.js';

export type PassLevel = 'graph' | 'kernel' | 'lower';

export interface PassContext {
  /** Options given in the pipeline, e.g. `tile{budget=64KiB}` → { budget: '64KiB' }. */
  readonly options: Readonly<Record<string, string>>;
  /** Writes a diagnostic line (shown with --verbose). */
  log(message: string): void;
  /**
   * Results passes leave for later passes and the driver (e.g. 'memory-plan'), keyed by name. Shared
   * by every pass of one pipeline run.
   */
  readonly results: Map<string, unknown>;
}

interface PassCommon {
  /** Lower-case words joined by '-'; unique in the registry. */
  readonly name: string;
  readonly description: string;
  /** Names of passes that must have run before this one in the same pipeline. */
  readonly requires?: readonly string[];
  /** Option names the pass understands, with a one-line description each; others are refused. */
  readonly options?: Readonly<Record<string, string>>;
}

export interface GraphPass extends PassCommon {
  readonly level?: 'graph';
  /** Transforms the module in place; returns whether anything changed (informational). */
  run(module: Module, ctx: PassContext): boolean | void;
}

export interface KernelPass extends PassCommon {
  readonly level: 'kernel';
  /** Transforms the program in place; returns whether anything changed (informational). */
  run(program: Program, ctx: PassContext): boolean | void;
}

export interface LowerPass extends PassCommon {
  readonly level: 'lower';
  run(module: Module, ctx: PassContext): Program;
}

export type Pass = GraphPass | KernelPass | LowerPass;

/** Limits of a numeric pass option (numberOption). */
export interface NumberOptionSpec {
  /** value when the option is not given */
  readonly dflt: number;
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/**
 * A numeric option of a pass, checked against its limits: a usage error naming the pass, the option
 * and the value otherwise (for built-in passes and plugins alike).
 */
export function numberOption(pass: string, ctx: PassContext, name: string, spec: NumberOptionSpec): number {
  const v = ctx.options[name];
  if (v === undefined) return spec.dflt;
  const n = Number(v);
  const lo = spec.min ?? -Infinity;
  const hi = spec.max ?? Infinity;
  const ok = v.trim() !== '' && Number.isFinite(n) && n >= lo && n <= hi && (!spec.integer || Number.isSafeInteger(n));
  if (ok) return n;
  const kind = spec.integer ? 'an integer' : 'a number';
  const want =
    spec.integer && lo === 1 && hi === Infinity ? 'a positive integer'
    : lo === 0 && hi === Infinity ? `a non-negative ${spec.integer ? 'integer' : 'number'}`
    : hi === Infinity ? `${kind} of at least ${lo}`
    : `${kind} from ${lo} to ${hi}`;
  throw new KilnError('usage', `${pass}: ${name} must be ${want}, not '${v}'`);
}

export function passLevel(p: Pass): PassLevel {
  return p.level ?? 'graph';
}

export function definePass<P extends Pass>(pass: P): P {
  if (typeof pass !== 'object' || pass === null) throw new KilnError('usage', 'definePass wants an object {name, description, run}');
  if (typeof pass.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(pass.name)) throw new KilnError('usage', `pass name '${String(pass.name)}' must be lower-case words joined by '-'`);
  if (typeof pass.description !== 'string' || pass.description === '') throw new KilnError('usage', `pass '${pass.name}' needs a description`);
  if (typeof pass.run !== 'function') throw new KilnError('usage', `pass '${pass.name}' needs a run(module, ctx) function`);
  const level = (pass as { level?: unknown }).level;
  if (level !== undefined && level !== 'graph' && level !== 'kernel' && level !== 'lower') throw new KilnError('usage', `pass '${pass.name}' has unknown level '${String(level)}' (graph, kernel or lower)`);
  return Object.freeze(Object.assign({}, pass));
}

export interface RunPassesOptions {
  verifyEach?: boolean;
  /** Options per pass name. */
  options?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  log?: (message: string) => void;
  /** Called after each pass (IR dumps, timelines). */
  afterPass?: (pass: Pass, module: Module, ms: number) => void;
}

/**
 * Runs graph passes over a module (the simple form of the API; pipelines that lower to the kernel
 * level use runPipeline from pipeline.ts).
 */
export function runPasses(module: Module, passes: readonly GraphPass[], opts: RunPassesOptions = {}): Module {
  const done = new Set<string>();
  const results = new Map<string, unknown>();
  for (const pass of passes) {
    if (passLevel(pass) !== 'graph') throw new KilnError('usage', `runPasses takes graph passes; '${pass.name}' works on the ${passLevel(pass)} level (use runPipeline)`);
    checkRequires(pass, done);
    const t0 = performance.now();
    guardPass(pass, () => pass.run(module, { options: opts.options?.[pass.name] ?? {}, log: opts.log ?? (() => {}), results }));
    if (opts.verifyEach) verifyAfter(pass, () => verifyModule(module));
    done.add(pass.name);
    opts.afterPass?.(pass, module, performance.now() - t0);
  }
  return module;
}

export function checkRequires(pass: Pass, done: ReadonlySet<string>): void {
  for (const r of pass.requires ?? []) {
    if (!done.has(r)) throw new KilnError('usage', `pass '${pass.name}' requires '${r}' to run first`);
  }
}

/** Runs a pass body; errors that are not KilnErrors are reported as coming from the pass. */
export function guardPass<T>(pass: Pass, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw locateError(e, { name: `pass ${pass.name}`, opType: 'pass' });
  }
}

/** Runs the verifier after a pass; a failure names the pass that broke the IR. */
export function verifyAfter(pass: Pass, verify: () => void): void {
  try {
    verify();
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(e.code, `IR invalid after pass '${pass.name}': ${e.message}`, e.location);
    throw e;
  }
}
