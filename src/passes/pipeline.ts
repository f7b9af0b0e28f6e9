/**
 * Pipelines: `a,b{k=v,k2=v2},c` names registered passes with options. runPipeline carries the IR
 * across levels (graph → `lower` → kernel), verifies after each pass when asked, and feeds hooks for
 * IR printing (--print-ir-after-all, --print-ir-after/before), numbered dumps (--dump-dir) and the
 * per-pass timeline of the report.
 */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import type { Program } from '../ir/kernel/types.js';
import { printModule, type PrintOptions } from '../ir/print.js';
import { printProgram } from '../ir/kernel/print.js';
import { verifyModule } from '../ir/verify.js';
import { verifyProgram } from '../ir/kernel/verify.js';
import { checkRequires, guardPass, passLevel, verifyAfter, type Pass, type PassContext, type PassLevel } from './pass.js';
import { lookupPass } from './registry.js';

export interface PipelineStep {
  readonly pass: Pass;
  readonly options: Readonly<Record<string, string>>;
}

/** The IR a pipeline carries: a graph module, or (after `lower`) a kernel program. */
export type IrState = { level: 'graph'; module: Module } | { level: 'kernel'; program: Program; module?: Module };

export interface PassRecord {
  name: string;
  level: PassLevel;
  ms: number;
  changed?: boolean;
}

export interface PipelineHooks {
  verifyEach?: boolean;
  log?: (message: string) => void;
  /** Pass names (or 'all') after which the IR is printed to `print`. */
  printAfter?: ReadonlySet<string>;
  printBefore?: ReadonlySet<string>;
  print?: (text: string) => void;
  /** Receives numbered dumps (00-input.kir, 01-<pass>.kir, …); the driver writes them (src/driver/output.ts). */
  dump?: (name: string, text: string) => void;
  /** How printed IR and dumps spell large constants (elided above a size, or in full). */
  printOptions?: PrintOptions;
  /** Results shared by the passes (and returned). */
  results?: Map<string, unknown>;
}

export interface PipelineResult {
  state: IrState;
  timeline: PassRecord[];
  results: Map<string, unknown>;
}

/** Splits `a,b{k=v,k2=v2},c` into names with options (values may hold anything but `,` `{` `}`). */
export function parsePipelineText(text: string): { name: string; options: Record<string, string> }[] {
  const out: { name: string; options: Record<string, string> }[] = [];
  const s = text.trim();
  if (s === '') return out;
  let i = 0;
  const fail = (why: string): never => {
    throw new KilnError('usage', `--passes '${text}': ${why} at character ${i + 1}`);
  };
  while (i < s.length) {
    const m = /^\s*([a-z][a-z0-9-]*)\s*/.exec(s.slice(i));
    if (!m) fail('expected a pass name');
    i += m![0].length;
    const options: Record<string, string> = {};
    if (s[i] === '{') {
      const close = s.indexOf('}', i);
      if (close < 0) fail("unclosed '{'");
      const body = s.slice(i + 1, close).trim();
      if (body !== '') {
        for (const kv of body.split(',')) {
          const eq = kv.indexOf('=');
          const key = (eq < 0 ? kv : kv.slice(0, eq)).trim();
          if (key === '' || /[{}\s]/.test(key)) fail(`bad option '${kv.trim()}' of pass '${m![1]}'`);
          if (key in options) fail(`option '${key}' of pass '${m![1]}' given twice`);
          options[key] = eq < 0 ? 'true' : kv.slice(eq + 1).trim();
        }
      }
      i = close + 1;
      while (s[i] === ' ') i++;
    }
    out.push({ name: m![1]!, options });
    if (i < s.length) {
      if (s[i] !== ',') fail("expected ','");
      i++;
      if (i >= s.length) fail('expected a pass name after the last comma');
    }
  }
  return out;
}

/** Parses a pipeline and resolves every pass in the registry; unknown passes/options are refused. */
export function parsePipeline(text: string): PipelineStep[] {
  return parsePipelineText(text).map(({ name, options }) => {
    const pass = lookupPass(name);
    if (pass.options) {
      for (const k of Object.keys(options)) {
        if (!(k in pass.options)) throw new KilnError('usage', `pass '${name}' has no option '${k}' (known: ${Object.keys(pass.options).join(', ') || 'none'})`);
      }
    }
    return { pass, options };
  });
}

export function printIr(state: IrState, opts: PrintOptions = {}): string {
  return state.level === 'graph' ? printModule(state.module, opts) : printProgram(state.program, opts);
}

export function verifyIr(state: IrState): void {
  if (state.level === 'graph') verifyModule(state.module);
  else verifyProgram(state.program);
}

/** KILN_VERIFY_EACH=1 turns --verify-each on everywhere (the test suite sets it). */
// (no `process` in a web page)
const VERIFY_ALWAYS = typeof process !== 'undefined' && process.env.KILN_VERIFY_EACH === '1';

const wants = (set: ReadonlySet<string> | undefined, name: string): boolean => set !== undefined && (set.has('all') || set.has(name));

/** Runs the steps in order over the IR, switching level at `lower`. */
export function runPipeline(input: IrState, steps: readonly PipelineStep[], hooks: PipelineHooks = {}): PipelineResult {
  let state = input;
  const results = hooks.results ?? new Map<string, unknown>();
  const timeline: PassRecord[] = [];
  const done = new Set<string>();
  const print = hooks.print ?? ((t: string) => process.stdout.write(t));
  let dumpIndex = 0;
  const dump = (label: string): void => {
    if (hooks.dump) hooks.dump(`${String(dumpIndex++).padStart(2, '0')}-${label}.kir`, printIr(state, hooks.printOptions));
  };
  dump('input');
  for (const { pass, options } of steps) {
    const level = passLevel(pass);
    const wanted = level === 'kernel' ? 'kernel' : 'graph';
    if (state.level !== wanted) {
      throw new KilnError('usage', `pass '${pass.name}' works on the ${wanted} level but the IR is at the ${state.level} level here${wanted === 'kernel' ? " (put it after 'lower')" : ''}`);
    }
    checkRequires(pass, done);
    if (wants(hooks.printBefore, pass.name)) print(`// ----- IR before ${pass.name} -----\n${printIr(state, hooks.printOptions)}`);
    const ctx: PassContext = { options, log: hooks.log ?? (() => {}), results };
    const t0 = performance.now();
    let changed: boolean | undefined;
    if (pass.level === 'lower') {
      const module = (state as { module: Module }).module;
      const program = guardPass(pass, () => pass.run(module, ctx));
      state = { level: 'kernel', program, module };
      changed = true;
    } else if (pass.level === 'kernel') {
      const program = (state as { program: Program }).program;
      const r = guardPass(pass, () => pass.run(program, ctx));
      if (typeof r === 'boolean') changed = r;
    } else {
      const module = (state as { module: Module }).module;
      const r = guardPass(pass, () => pass.run(module, ctx));
      if (typeof r === 'boolean') changed = r;
    }
    const ms = performance.now() - t0;
    if (hooks.verifyEach || VERIFY_ALWAYS) {
      const s = state;
      verifyAfter(pass, () => verifyIr(s));
    }
    done.add(pass.name);
    timeline.push({ name: pass.name, level, ms: Math.round(ms * 100) / 100, ...(changed === undefined ? {} : { changed }) });
    if (wants(hooks.printAfter, pass.name)) print(`// ----- IR after ${pass.name} -----\n${printIr(state, hooks.printOptions)}`);
    dump(pass.name);
  }
  return { state, timeline, results };
}
