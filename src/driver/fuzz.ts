/**
 * Fuzzing of Kiln's front end and interpreter. Mutates ONNX models (raw bytes and structure-aware:
 * dims, element types, cycles, dangling/duplicate names, attribute types, opsets) and textual IR,
 * then runs import → inference → constant folding → verifier → print/parse → interpreter →
 * specialization → lowering → each file-writing target's pipeline and rendering. The only
 * acceptable outcomes are success and a KilnError; anything else is a crash. Mutations are a pure
 * function of (seed, index, corpus), so any finding replays exactly.
 */
import { isKilnError } from '../ir/errors.js';
import { importOnnxBytes } from '../frontend/onnx/import.js';
import { ModelProtoType } from '../frontend/onnx/schema.js';
import { parseModuleText } from '../frontend/text/parser.js';
import { printModule } from '../ir/print.js';
import { inferModule } from '../ir/infer.js';
import { verifyModule } from '../ir/verify.js';
import { interpret } from '../ir/interp/interpreter.js';
import { Tensor, setMaxTensorBytes, type RtValue } from '../ir/tensor.js';
import { isStaticShape } from '../ir/types.js';
import type { Module } from '../ir/graph.js';
import { runPasses } from '../passes/pass.js';
import { foldConstantsPass } from '../passes/fold-constants.js';
import { specializeShapes } from '../passes/specialize.js';
import { lowerModule } from '../passes/lower.js';
import { listTargets } from '../backends/target.js';
import { parsePipeline, runPipeline } from '../passes/pipeline.js';
import type { Program } from '../ir/kernel/types.js';
import { RUN_SETTINGS, resolveTarget, targetContext, type ResolvedTarget } from './targets.js';
import type { PGraph, PModel, PNode } from '../frontend/onnx/proto-types.js';
import '../ir/ops/index.js';

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

export type FuzzInput = { kind: string; format: 'onnx'; bytes: Uint8Array } | { kind: string; format: 'kir'; text: string };

const HOSTILE_DIMS = [0, -1, -7, 1, 3, 2 ** 31, 2 ** 40, 1e15];
const HOSTILE_INTS = [0, -1, 1, 2, -(2 ** 31), 2 ** 31 - 1, 2 ** 40, -(2 ** 40), 1e15];

function graphsOf(g: PGraph): PGraph[] {
  const out = [g];
  for (const n of g.node) for (const a of n.attribute) {
    if (a.g) out.push(...graphsOf(a.g));
    for (const sg of a.graphs) out.push(...graphsOf(sg));
  }
  return out;
}

function allNodes(m: PModel): PNode[] {
  return m.graph ? graphsOf(m.graph).flatMap((g) => g.node) : [];
}

/** Structure-aware mutations of a decoded model; each returns a short description. */
const structural: ((m: PModel, r: Rand) => string | null)[] = [
  (m, r) => {
    const g = pick(r, graphsOf(m.graph!));
    const vis = [...g.input, ...g.output, ...g.valueInfo].filter((v) => v.type?.tensorType?.shape?.dim.length);
    if (!vis.length) return null;
    const v = pick(r, vis);
    const d = pick(r, v.type!.tensorType!.shape!.dim);
    const val = pick(r, HOSTILE_DIMS);
    (d as Record<string, unknown>).dimValue = val;
    return `dim of ${v.name} = ${val}`;
  },
  (m, r) => {
    const inits = m.graph!.initializer;
    if (!inits.length) return null;
    const t = pick(r, inits);
    if (!t.dims.length) t.dims.push(pick(r, HOSTILE_DIMS));
    else t.dims[int(r, t.dims.length)] = pick(r, HOSTILE_DIMS);
    return `initializer ${t.name} dims`;
  },
  (m, r) => {
    const g = pick(r, graphsOf(m.graph!));
    const vis = [...g.input, ...g.output].filter((v) => v.type?.tensorType);
    if (!vis.length) return null;
    const v = pick(r, vis);
    v.type!.tensorType!.elemType = int(r, 30);
    return `elem type of ${v.name}`;
  },
  (m, r) => {
    const inits = m.graph!.initializer;
    if (!inits.length) return null;
    const t = pick(r, inits);
    t.dataType = int(r, 30);
    return `data type of initializer ${t.name}`;
  },
  (m, r) => {
    const nodes = m.graph!.node;
    if (nodes.length < 1) return null;
    const i = int(r, nodes.length);
    const j = i + int(r, nodes.length - i);
    const src = nodes[j]!.output[0];
    if (!src || !nodes[i]!.input.length) return null;
    nodes[i]!.input[int(r, nodes[i]!.input.length)] = src;
    return `cycle ${i}<-${j}`;
  },
  (m, r) => {
    const n = pick(r, allNodes(m));
    if (!n?.input.length) return null;
    n.input[int(r, n.input.length)] = `dangling_${int(r, 1000)}`;
    return 'dangling input';
  },
  (m, r) => {
    const nodes = allNodes(m);
    if (nodes.length < 2) return null;
    const a = pick(r, nodes);
    const b = pick(r, nodes);
    if (!a.output.length || !b.output.length) return null;
    a.output[0] = b.output[0]!;
    return 'duplicate output name';
  },
  (m, r) => {
    const withAttrs = allNodes(m).filter((n) => n.attribute.length);
    if (!withAttrs.length) return null;
    const a = pick(r, pick(r, withAttrs).attribute);
    a.type = int(r, 16);
    return `attribute ${a.name} type`;
  },
  (m, r) => {
    const withAttrs = allNodes(m).filter((n) => n.attribute.length);
    if (!withAttrs.length) return null;
    const a = pick(r, pick(r, withAttrs).attribute);
    const v = pick(r, HOSTILE_INTS);
    a.i = v;
    if (a.ints.length) a.ints[int(r, a.ints.length)] = v;
    a.f = pick(r, [NaN, Infinity, -1e30, 0]);
    return `attribute ${a.name} value`;
  },
  (m, r) => {
    const n = pick(r, allNodes(m));
    if (!n?.attribute.length) return null;
    n.attribute.splice(int(r, n.attribute.length), 1);
    return `drop attribute of ${n.opType}`;
  },
  (m, r) => {
    if (!m.opsetImport.length) return null;
    m.opsetImport[int(r, m.opsetImport.length)]!.version = pick(r, [0, -3, 1, 5, 99, 100000, 2 ** 40]);
    return 'opset';
  },
  (m, r) => {
    const n = pick(r, allNodes(m));
    if (!n) return null;
    n.opType = pick(r, ['', 'Add', 'Conv', 'Loop', 'Nope', 'Reshape', 'Gather', n.opType.toLowerCase()]);
    return 'op type';
  },
  (m, r) => {
    const n = pick(r, allNodes(m));
    if (!n?.input.length) return null;
    if (r() < 0.5) n.input.pop();
    else n.input.push(pick(r, ['', n.input[0]!]));
    return 'input count';
  },
  (m, r) => {
    const g = m.graph!;
    if (!g.output.length) return null;
    g.output[int(r, g.output.length)]!.name = pick(r, ['', 'missing_out', g.input[0]?.name ?? 'x']);
    return 'graph output name';
  },
];

function bitFlips(bytes: Uint8Array, r: Rand): Uint8Array {
  const out = Uint8Array.from(bytes);
  const flips = 1 + int(r, 8);
  for (let i = 0; i < flips && out.length; i++) out[int(r, out.length)]! ^= 1 << int(r, 8);
  return out;
}

/** The index-th mutation of a corpus entry (pure function of seed and index). */
export function mutate(bytes: Uint8Array, seed: number, index: number): FuzzInput {
  const r = rng(seed * 1_000_003 + index);
  const choice = r();
  if (choice < 0.2) return { kind: 'bitflip', format: 'onnx', bytes: bitFlips(bytes, r) };
  if (choice < 0.3) return { kind: 'truncate', format: 'onnx', bytes: bytes.subarray(0, int(r, bytes.length)) };
  let model: PModel;
  try {
    model = ModelProtoType.decode(bytes) as unknown as PModel;
  } catch {
    return { kind: 'bitflip', format: 'onnx', bytes: bitFlips(bytes, r) };
  }
  if (!model.graph) return { kind: 'truncate', format: 'onnx', bytes: bytes.subarray(0, int(r, bytes.length)) };
  if (choice < 0.4) {
    // textual IR: print the unmutated model, then damage the text
    return { kind: 'text', format: 'kir', text: '' };
  }
  const kinds: string[] = [];
  const rounds = 1 + int(r, 3);
  for (let i = 0; i < rounds; i++) {
    const k = pick(r, structural)(model, r);
    if (k) kinds.push(k);
  }
  const msg = ModelProtoType.fromObject(model as unknown as Record<string, unknown>);
  return { kind: kinds.join('; ') || 'none', format: 'onnx', bytes: ModelProtoType.encode(msg).finish() };
}

export function mutateText(text: string, r: Rand): string {
  const lines = text.split('\n');
  const op = int(r, 5);
  if (op === 0 && text.length) {
    const at = int(r, text.length);
    return text.slice(0, at) + text.slice(at + 1 + int(r, 8));
  }
  if (op === 1) {
    const i = int(r, lines.length);
    lines.splice(i, 0, lines[int(r, lines.length)]!);
    return lines.join('\n');
  }
  if (op === 2) {
    lines.splice(int(r, lines.length), 1);
    return lines.join('\n');
  }
  if (op === 3) {
    const at = int(r, text.length);
    return text.slice(0, at) + pick(r, ['%', '"', '{', '}', '<', '>', '?', 'x', '-1', '99999999999', 'tensor<', '(', ')', ',', '=', '\\']) + text.slice(at);
  }
  return text.replace(/\d+/g, (d) => (r() < 0.1 ? String(pick(r, HOSTILE_INTS)) : d));
}

export type Outcome = 'ok' | 'refused' | 'crash';

export interface FuzzResult {
  outcome: Outcome;
  kind: string;
  message: string;
}

/** Zero inputs for every graph input with a static, small shape; null when none can be made. */
function syntheticInputs(m: Module): RtValue[] | null {
  const out: RtValue[] = [];
  for (const v of m.graph.inputs) {
    if (v.init) {
      out.push(v.init);
      continue;
    }
    const t = v.tensorType;
    if (!t || !isStaticShape(t.shape) || t.shape.reduce((a, b) => a * b, 1) > 1 << 16) return null;
    out.push(Tensor.zeros(t.dtype, t.shape));
  }
  return out;
}

function pipeline(input: FuzzInput, r: Rand, original: Uint8Array): void {
  let module: Module;
  if (input.format === 'kir') {
    const base = importOnnxBytes(original);
    inferModule(base);
    module = parseModuleText(mutateText(printModule(base), r), 'fuzz.kir');
  } else {
    module = importOnnxBytes(input.bytes);
  }
  inferModule(module);
  runPasses(module, [foldConstantsPass]);
  verifyModule(module);
  const text = printModule(module);
  const again = printModule(parseModuleText(text, 'roundtrip.kir'));
  if (again !== text) throw new Error('print/parse round trip changed the text');
  const inputs = syntheticInputs(module);
  if (inputs) interpret(module, inputs);
  // code generation: specialization, lowering, then every target that writes files (no tools run)
  specializeShapes(module, new Map());
  renderTargets(module);
}

/**
 * Runs each file-writing target's pipeline and `emit` on the lowered program. Targets with the same
 * pipeline share one run; a pipeline that extends one already run (mcu's adds place-levels to c's
 * plan-memory) runs only its extra passes on the same program.
 */
function renderTargets(module: Module): void {
  const groups = new Map<string, ResolvedTarget[]>();
  for (const def of listTargets()) {
    if (def.level !== 'kernel' || !def.emit || !def.capabilities.emits) continue;
    const t = resolveTarget(def.name);
    // targets sharing a lowering style and a pipeline render one program
    const key = `${def.lowerStyle ?? 'cpu'}|${def.pipeline(t.options, RUN_SETTINGS)}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  let program: Program | null = null;
  let results = new Map<string, unknown>();
  let done = '';
  for (const [key, targets] of [...groups].sort((a, b) => a[0].length - b[0].length)) {
    const bar = key.indexOf('|');
    let steps = key.slice(bar + 1);
    if (program && done !== '' && key.startsWith(`${done},`)) steps = key.slice(done.length + 1);
    else if (program && done !== '') program = null;
    if (!program) {
      program = lowerModule(module, key.slice(0, bar) === 'gpu' ? 'gpu' : 'cpu');
      results = new Map();
    }
    program = (runPipeline({ level: 'kernel', program }, parsePipeline(steps), { results }).state as { program: Program }).program;
    done = key;
    for (const t of targets) if (t.def.level === 'kernel') t.def.emit?.(program, targetContext(t, 'fuzz', results));
  }
}

export function runOne(corpusBytes: Uint8Array, seed: number, index: number): FuzzResult {
  const input = mutate(corpusBytes, seed, index);
  const r = rng(seed * 7_919 + index);
  try {
    pipeline(input, r, corpusBytes);
    return { outcome: 'ok', kind: input.kind, message: '' };
  } catch (e) {
    if (isKilnError(e)) return { outcome: 'refused', kind: input.kind, message: e.oneLine() };
    const err = e as Error;
    const where = err?.stack?.split('\n')[1]?.trim() ?? '';
    return { outcome: 'crash', kind: input.kind, message: `${err?.name ?? 'Error'}: ${err?.message ?? String(e)} ${where}` };
  }
}

/** The fuzzer's own tensor byte limit: lower than the CLI default, so hostile shapes fail fast. */
export const FUZZ_MAX_TENSOR_BYTES = 64 * 1024 * 1024;

/** Caps tensor sizes during fuzzing so hostile shapes are refused before allocation. */
export function configureFuzzLimits(maxTensorBytes = FUZZ_MAX_TENSOR_BYTES): void {
  setMaxTensorBytes(maxTensorBytes);
}

export interface FuzzSummary {
  seed: number;
  total: number;
  ok: number;
  refused: number;
  crashes: number;
  hangs: number;
  /** Crashes and hangs, for replay with the same seed and index. */
  findings: { file: string; index: number; kind: string; outcome: string; message: string }[];
}
