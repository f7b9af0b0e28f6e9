/** `kiln inspect`: op histogram, parameter and activation bytes, MACs per op type. */
import { allNodes, type Module } from '../ir/graph.js';
import { dtypeInfo } from '../ir/dtype.js';
import { staticSize, type TensorType } from '../ir/types.js';
import { nodeMacs } from '../ir/macs.js';

export interface InspectInfo {
  nodes: number;
  ops: Record<string, { count: number; macs: number }>;
  parameterBytes: number;
  activationBytes: number;
  /** Activations whose size is not static (symbolic dims). */
  dynamicActivations: number;
  totalMacs: number;
  inputs: { name: string; type: string }[];
  outputs: { name: string; type: string }[];
}

const bytesOf = (t: TensorType): number | undefined => {
  const n = staticSize(t);
  return n === undefined ? undefined : Math.ceil((n * dtypeInfo(t.dtype).bits) / 8);
};

function typeText(t: TensorType | null): string {
  if (!t) return '?';
  return `${t.dtype}[${t.shape === null ? '*' : t.shape.map((d) => (d === null ? '?' : String(d))).join('x')}]`;
}

export function inspectModule(module: Module): InspectInfo {
  const g = module.graph;
  const ops: Record<string, { count: number; macs: number }> = {};
  let params = 0;
  let acts = 0;
  let dynamic = 0;
  let totalMacs = 0;
  for (const v of [...g.initializers, ...g.inputs]) if (v.init) params += Math.ceil((v.init.size * dtypeInfo(v.init.dtype).bits) / 8);
  for (const n of allNodes(g)) {
    const key = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    const macs = nodeMacs(n);
    const e = (ops[key] ??= { count: 0, macs: 0 });
    e.count++;
    e.macs += macs;
    totalMacs += macs;
    if (n.opType === 'Constant') {
      const t = n.attrs.get('value');
      if (t?.kind === 'tensor') params += Math.ceil((t.value.size * dtypeInfo(t.value.dtype).bits) / 8);
      continue;
    }
    for (const o of n.outputs) {
      const t = o?.tensorType;
      if (!t) continue;
      const b = bytesOf(t);
      if (b === undefined) dynamic++;
      else acts += b;
    }
  }
  return {
    nodes: [...allNodes(g)].length,
    ops,
    parameterBytes: params,
    activationBytes: acts,
    dynamicActivations: dynamic,
    totalMacs,
    inputs: g.inputs.filter((v) => !v.init).map((v) => ({ name: v.name, type: typeText(v.tensorType) })),
    outputs: g.outputs.map((v) => ({ name: v.name, type: typeText(v.tensorType) })),
  };
}

export function formatInspect(info: InspectInfo): string {
  const lines = [
    `nodes: ${info.nodes}`,
    `inputs: ${info.inputs.map((i) => `${i.name}: ${i.type}`).join(', ')}`,
    `outputs: ${info.outputs.map((o) => `${o.name}: ${o.type}`).join(', ')}`,
    `parameter bytes: ${info.parameterBytes}`,
    `activation bytes: ${info.activationBytes}${info.dynamicActivations ? ` (+${info.dynamicActivations} tensors of dynamic size)` : ''}`,
    `MACs: ${info.totalMacs}`,
    '',
    `${'op'.padEnd(32)} ${'count'.padStart(6)} ${'MACs'.padStart(14)}`,
  ];
  for (const [op, e] of Object.entries(info.ops).sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))) {
    lines.push(`${op.padEnd(32)} ${String(e.count).padStart(6)} ${String(e.macs).padStart(14)}`);
  }
  return `${lines.join('\n')}\n`;
}
