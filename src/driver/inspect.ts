/** `kiln inspect`: op histogram, parameter bytes, peak activation bytes, MACs per op type. */
import { allNodes, type Module, type Value } from '../ir/graph.js';
import { dtypeInfo } from '../ir/dtype.js';
import { staticSize, type TensorType } from '../ir/types.js';
import { isMacOp, nodeMacs } from '../ir/macs.js';
import { formatBytesExact } from './units.js';

export interface InspectInfo {
  nodes: number;
  ops: Record<string, { count: number; macs: number }>;
  parameterBytes: number;
  /** Largest sum of live activations at any node in the model's order (what an arena must hold at least). */
  peakActivationBytes: number;
  /** Sum of every activation (what a planner without reuse would need). */
  totalActivationBytes: number;
  /** Activations whose size is not static (symbolic dims). */
  dynamicActivations: number;
  /** Multiply-accumulates of the ops that do them (MatMul, Gemm, Conv and their quantized forms). */
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
    const macs = isMacOp(n.opType) ? nodeMacs(n) : 0;
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
    peakActivationBytes: peakLive(module),
    totalActivationBytes: acts,
    dynamicActivations: dynamic,
    totalMacs,
    inputs: g.inputs.filter((v) => !v.init).map((v) => ({ name: v.name, type: typeText(v.tensorType) })),
    outputs: g.outputs.map((v) => ({ name: v.name, type: typeText(v.tensorType) })),
  };
}

/**
 * Peak of the live activation bytes over the top-level nodes in file order: a value is live from
 * its producer (graph inputs from the start) to its last consumer (graph outputs to the end).
 */
function peakLive(module: Module): number {
  const g = module.graph;
  const n = g.nodes.length;
  const start = new Map<Value, number>();
  const end = new Map<Value, number>();
  for (const v of g.inputs) if (!v.init) start.set(v, 0);
  g.nodes.forEach((node, i) => {
    if (node.opType === 'Constant') return;
    for (const o of node.outputs) if (o) start.set(o, i);
  });
  g.nodes.forEach((node, i) => {
    for (const v of node.inputs) if (v && start.has(v)) end.set(v, i);
  });
  for (const v of g.outputs) if (start.has(v)) end.set(v, n);
  const delta = new Array<number>(n + 2).fill(0);
  for (const [v, s] of start) {
    const t = v.tensorType;
    const b = t ? bytesOf(t) : undefined;
    if (b === undefined) continue;
    delta[s]! += b;
    delta[(end.get(v) ?? s) + 1]! -= b;
  }
  let live = 0;
  let peak = 0;
  for (const d of delta) peak = Math.max(peak, (live += d));
  return peak;
}

export function formatInspect(info: InspectInfo): string {
  const rows: [string, string][] = [
    ['nodes', String(info.nodes)],
    ['inputs', info.inputs.map((i) => `${i.name}: ${i.type}`).join(', ')],
    ['outputs', info.outputs.map((o) => `${o.name}: ${o.type}`).join(', ')],
    ['parameters', formatBytesExact(info.parameterBytes)],
    ['peak activations', `${formatBytesExact(info.peakActivationBytes)} live at once in file order${info.dynamicActivations ? ` (+${info.dynamicActivations} tensors of dynamic size)` : ''}`],
    ['MACs', info.totalMacs.toLocaleString('en-US')],
  ];
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(18)} ${v}`);
  const table = Object.entries(info.ops).sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]));
  const opW = Math.max(2, ...table.map(([op]) => op.length));
  const macs = table.map(([, e]) => (e.macs ? e.macs.toLocaleString('en-US') : '—'));
  const macW = Math.max(4, ...macs.map((m) => m.length));
  lines.push('', `${'op'.padEnd(opW)}  ${'count'.padStart(5)}  ${'MACs'.padStart(macW)}`);
  table.forEach(([op, e], i) => lines.push(`${op.padEnd(opW)}  ${String(e.count).padStart(5)}  ${macs[i]!.padStart(macW)}`));
  return `${lines.join('\n')}\n`;
}
