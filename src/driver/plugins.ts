/**
 * Plugins: ES modules that add passes, ops and targets through the public API. A plugin's default
 * export is either a function `(kiln) => ({ passes?, ops?, targets? }) | void` that receives Kiln's
 * programmatic API (so the plugin uses the same classes as the compiler that loads it), or an object
 * `{ passes?, ops?, targets? }`. Passes are registered in the pass registry, ops with defineOp,
 * targets with registerTarget (docs/targets.md). The API object is handed in by the caller
 * (src/index.ts's loadPlugin), so this module does not import the public API.
 * `kiln.config.mjs` (default export) or `kiln.config.json` in the working folder can name plugins
 * and default extra passes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KilnError } from '../ir/errors.js';
import { lookupOp } from '../ir/ops/registry.js';
import { defineOp, type OpDefinition } from '../ir/ops/define-op.js';
import type { Pass } from '../passes/pass.js';
import { registerPass } from '../passes/registry.js';
import { registerTarget, type TargetDefinition } from '../backends/target.js';

export interface PluginContents {
  readonly passes?: readonly Pass[];
  readonly ops?: readonly OpDefinition[];
  readonly targets?: readonly TargetDefinition[];
}

export interface LoadedPlugin {
  file: string;
  passes: string[];
  ops: string[];
  targets: string[];
}

export interface KilnConfig {
  /** Plugin files, relative to the config file. */
  plugins?: string[];
  /** Extra passes for `kiln compile` when --passes is not given. */
  passes?: string;
}

const loaded = new Map<string, LoadedPlugin>();

function isContents(x: unknown): x is PluginContents {
  return typeof x === 'object' && x !== null && ('passes' in x || 'ops' in x || 'targets' in x);
}

/** Files of the plugins loaded in this process (conformance workers load them again). */
export function loadedPluginFiles(): string[] {
  return [...loaded.keys()];
}

/**
 * Imports a plugin file and registers what it provides (a file is loaded once per process); `api`
 * is what a plugin's setup function receives (the public API module).
 */
export async function loadPluginWith(file: string, api: object): Promise<LoadedPlugin> {
  const abs = path.resolve(file);
  const seen = loaded.get(abs);
  if (seen) return seen;
  if (!fs.existsSync(abs)) throw new KilnError('io', `plugin '${file}' not found`);
  const fail = (why: string): never => {
    throw new KilnError('usage', `plugin '${file}': ${why}`);
  };
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    return fail(`failed to load: ${(e as Error).message.split('\n')[0]}`);
  }
  let contents: unknown = mod.default ?? { passes: mod.passes, ops: mod.ops, targets: mod.targets };
  try {
    if (typeof contents === 'function') contents = (contents as (kiln: object) => unknown)(api);
  } catch (e) {
    if (e instanceof KilnError) return fail(e.oneLine());
    return fail(`its setup function threw: ${(e as Error).message.split('\n')[0]}`);
  }
  const record: LoadedPlugin = { file: abs, passes: [], ops: [], targets: [] };
  if (contents !== undefined && contents !== null) {
    if (!isContents(contents)) return fail('the default export must be a function (kiln) => ({passes, ops, targets}) or an object {passes, ops, targets}');
    try {
      for (const p of contents.passes ?? []) record.passes.push(registerPass(p).name);
      for (const o of contents.ops ?? []) {
        if (!lookupOp(o.domain, o.opType)) defineOp(o);
        record.ops.push(`${o.domain}::${o.opType}`);
      }
      for (const t of contents.targets ?? []) {
        registerTarget(t);
        record.targets.push(t.name);
      }
    } catch (e) {
      if (e instanceof KilnError) return fail(e.oneLine());
      throw e;
    }
  }
  loaded.set(abs, record);
  return record;
}

/** Reads kiln.config.mjs or kiln.config.json from `dir` (null when neither exists). */
export async function loadConfig(dir: string): Promise<{ file: string; config: KilnConfig } | null> {
  for (const name of ['kiln.config.mjs', 'kiln.config.json']) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    let raw: unknown;
    try {
      raw = name.endsWith('.json') ? JSON.parse(fs.readFileSync(file, 'utf8')) : ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
    } catch (e) {
      throw new KilnError('usage', `config '${file}': ${(e as Error).message.split('\n')[0]}`);
    }
    if (typeof raw !== 'object' || raw === null) throw new KilnError('usage', `config '${file}' must hold an object`);
    const c = raw as Record<string, unknown>;
    const config: KilnConfig = {};
    if (c.plugins !== undefined) {
      if (!Array.isArray(c.plugins) || !c.plugins.every((p) => typeof p === 'string')) throw new KilnError('usage', `config '${file}': plugins must be a list of file names`);
      config.plugins = (c.plugins as string[]).map((p) => path.resolve(dir, p));
    }
    if (c.passes !== undefined) {
      if (typeof c.passes !== 'string') throw new KilnError('usage', `config '${file}': passes must be a pipeline string like 'cse,dce'`);
      config.passes = c.passes;
    }
    for (const k of Object.keys(c)) if (k !== 'plugins' && k !== 'passes') throw new KilnError('usage', `config '${file}': unknown key '${k}' (known: plugins, passes)`);
    return { file, config };
  }
  return null;
}
