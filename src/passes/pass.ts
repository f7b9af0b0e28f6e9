/**
 * The pass API, shared by built-in passes and plugins: a pass has a name, a description, the IR level
 * it works on, and a `run` that transforms a module in place. The manager verifies after each pass
 * when asked (always in tests).
 */
import type { Module } from '../ir/graph.js';
import { verifyModule } from '../ir/verify.js';
import { locateError, KilnError } from '../ir/errors.js';

export interface PassContext {
  /** Options given on the command line, e.g. `tile{budget=64KiB}` → { budget: '64KiB' }. */
  readonly options: Readonly<Record<string, string>>;
  /** Writes a diagnostic line (shown with --verbose). */
  log(message: string): void;
}

export interface Pass {
  readonly name: string;
  readonly description: string;
  /** Names of passes that must have run before this one. */
  readonly requires?: readonly string[];
  /** Transforms the module in place; returns whether anything changed (informational). */
  run(module: Module, ctx: PassContext): boolean | void;
}

export function definePass(pass: Pass): Pass {
  if (!/^[a-z][a-z0-9-]*$/.test(pass.name)) throw new KilnError('usage', `pass name '${pass.name}' must be lower-case words joined by '-'`);
  return Object.freeze({ ...pass });
}

export interface RunPassesOptions {
  verifyEach?: boolean;
  options?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  log?: (message: string) => void;
  /** Called after each pass (IR dumps, timelines). */
  afterPass?: (pass: Pass, module: Module, ms: number) => void;
}

export function runPasses(module: Module, passes: readonly Pass[], opts: RunPassesOptions = {}): Module {
  const done = new Set<string>();
  for (const pass of passes) {
    for (const r of pass.requires ?? []) {
      if (!done.has(r)) throw new KilnError('usage', `pass '${pass.name}' requires '${r}' to run first`);
    }
    const t0 = performance.now();
    try {
      pass.run(module, { options: opts.options?.[pass.name] ?? {}, log: opts.log ?? (() => {}) });
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw locateError(e, { name: `pass ${pass.name}`, opType: 'pass' });
    }
    if (opts.verifyEach) verifyModule(module);
    done.add(pass.name);
    opts.afterPass?.(pass, module, performance.now() - t0);
  }
  return module;
}
