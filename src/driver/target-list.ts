/** `kiln targets`: every registered target with its options, tools and capabilities. */
import { listTargets } from '../backends/target.js';
import './targets.js';

export interface TargetInfo {
  name: string;
  description: string;
  level: 'graph' | 'kernel';
  options: { name: string; description: string; default: string | null; values: string[] | null }[];
  tools: { name: string; available: boolean; install: string }[];
  capabilities: { ci: boolean; emits: boolean; dtypes: string[] | null };
}

export function describeTargets(): TargetInfo[] {
  return listTargets().map((t) => ({
    name: t.name,
    description: t.description,
    level: t.level,
    options: Object.entries(t.options ?? {}).map(([name, o]) => ({ name, description: o.description, default: o.default ?? null, values: o.values ? [...o.values] : null })),
    tools: (t.tools ?? []).map((tool) => ({ name: tool.name, available: tool.available(), install: tool.install })),
    capabilities: { ci: t.capabilities.ci, emits: t.capabilities.emits, dtypes: t.capabilities.dtypes ? [...t.capabilities.dtypes] : null },
  }));
}

export function formatTargets(list: readonly TargetInfo[]): string {
  const lines: string[] = [];
  for (const t of list) {
    const caps = [t.capabilities.emits ? 'writes files' : 'runs only', t.capabilities.ci ? 'in CI' : 'not in CI', ...(t.capabilities.dtypes ? [`types ${t.capabilities.dtypes.join(' ')}`] : [])];
    lines.push(`${t.name.padEnd(10)} ${t.description}`);
    lines.push(`${''.padEnd(10)} ${caps.join(', ')}`);
    for (const o of t.options) lines.push(`${''.padEnd(10)} option ${o.name}${o.default !== null ? ` (default ${o.default})` : ''}: ${o.description}`);
    for (const tool of t.tools) lines.push(`${''.padEnd(10)} needs ${tool.name}: ${tool.available ? 'installed' : `not installed (${tool.install})`}`);
  }
  return `${lines.join('\n')}\n`;
}
