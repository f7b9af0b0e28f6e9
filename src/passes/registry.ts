/**
 * The pass registry: built-in passes and plugin passes register here under unique names, and
 * pipelines (`--passes a,b{k=v}`) look them up by name.
 */
import { KilnError } from '../ir/errors.js';
import { definePass, passLevel, type Pass } from './pass.js';

const passes = new Map<string, Pass>();

/** Registers a pass (validated like definePass); a second pass with the same name is refused. */
export function registerPass<P extends Pass>(pass: P): P {
  const p = definePass(pass);
  const old = passes.get(p.name);
  if (old && old !== pass) throw new KilnError('usage', `a pass named '${p.name}' is already registered`);
  passes.set(p.name, p);
  return p;
}

export function lookupPass(name: string): Pass {
  const p = passes.get(name);
  if (!p) throw new KilnError('usage', `unknown pass '${name}' (known: ${[...passes.keys()].sort().join(', ')})`);
  return p;
}

export function hasPass(name: string): boolean {
  return passes.has(name);
}

/** Registered passes in name order, for `kiln opt --list-passes`. */
export function registeredPasses(): Pass[] {
  return [...passes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function describePass(p: Pass): string {
  const opts = Object.entries(p.options ?? {}).map(([k, v]) => `\n      ${k}=…  ${v}`).join('');
  return `  ${p.name.padEnd(22)} [${passLevel(p)}] ${p.description}${opts}`;
}
