/**
 * `kiln graph`: the graph IR as a Graphviz drawing. Nodes are boxes labelled with op and name,
 * edges carry the tensor type (dtype and shape), graph inputs and outputs are ellipses, and the
 * subgraphs of If/Loop/Scan are clusters. Constants (initializers) are listed inside their consumer's
 * box by default, drawn as their own nodes, or left out.
 *
 * Model text (names, dim symbols, op types) is untrusted: it only ever appears inside quoted dot
 * strings, escaped, with control characters removed; dot identifiers are generated (n0, i1, ...).
 */
import { spawnSync } from 'node:child_process';
import { KilnError } from '../ir/errors.js';
import type { Graph, Module, Node, Value } from '../ir/graph.js';
import type { ValueType } from '../ir/types.js';
import { loadModel } from './load.js';
import { writeFileAtomic } from './output.js';

export type ConstantsMode = 'inline' | 'nodes' | 'none';
export const CONSTANTS_MODES: readonly ConstantsMode[] = ['inline', 'nodes', 'none'];

export interface GraphDotOptions {
  /** How initializers are shown (default 'inline'). */
  constants?: ConstantsMode;
}

/** Longest piece of model text put into a label (longer ones end in an ellipsis). */
const MAX_TEXT = 64;
/** Constants listed inside one node's box before the rest are summarized. */
const MAX_INLINE_CONSTANTS = 4;

/** A dot quoted string holding `s` literally: no escape sequence of dot's survives. */
export function dotString(s: string): string {
  const chars = Array.from(s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' '));
  const text = chars.length > MAX_TEXT ? `${chars.slice(0, MAX_TEXT - 1).join('')}…` : chars.join('');
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A multi-line label: each line escaped on its own, joined with dot's centered line break. */
function label(lines: readonly string[]): string {
  return lines.map((l) => dotString(l).slice(1, -1)).join('\\n');
}

/** Compact type text: f32[1,3,224,224], seq<i64[?]>, ? when unknown. */
export function typeLabel(t: ValueType | null): string {
  if (t === null) return '?';
  switch (t.kind) {
    case 'tensor':
      return `${t.dtype}[${t.shape === null ? '*' : t.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
    case 'sequence':
      return `seq<${typeLabel(t.elem)}>`;
    case 'optional':
      return `opt<${typeLabel(t.elem)}>`;
    case 'map':
      return `map<${t.key},${typeLabel(t.value)}>`;
  }
}

class DotWriter {
  private readonly out: string[] = [];
  private readonly source = new Map<Value, string>();
  private next = 0;
  private clusters = 0;
  constructor(private readonly constants: ConstantsMode) {}

  private id(prefix: string): string {
    return `${prefix}${this.next++}`;
  }

  private isConstant(v: Value): boolean {
    return v.producer === null && v.init !== null;
  }

  /** Emits one graph's inputs, nodes and outputs at the given indentation. */
  graph(g: Graph, ind: string, inputsAreConstants: boolean): void {
    for (const v of g.inputs) {
      if (inputsAreConstants && v.init !== null && this.constants !== 'nodes') continue;
      const id = this.id('i');
      this.source.set(v, id);
      this.out.push(`${ind}${id} [shape=ellipse, style=filled, fillcolor="#dbeafe", label="${label(['input', v.name, typeLabel(v.type)])}"];`);
    }
    if (this.constants === 'nodes') {
      for (const v of g.initializers) {
        const id = this.id('c');
        this.source.set(v, id);
        this.out.push(`${ind}${id} [shape=note, fontsize=8, style=filled, fillcolor="#f3f4f6", label="${label([v.name, typeLabel(v.type)])}"];`);
      }
    }
    for (const n of g.nodes) this.node(n, ind);
    for (const v of g.outputs) {
      const id = this.id('o');
      this.out.push(`${ind}${id} [shape=ellipse, style=filled, fillcolor="#dcfce7", label="${label(['output', v.name, typeLabel(v.type)])}"];`);
      this.edge(v, id, ind);
    }
  }

  private edge(v: Value, to: string, ind: string): void {
    const from = this.source.get(v);
    if (from === undefined) return;
    this.out.push(`${ind}${from} -> ${to} [label="${label([typeLabel(v.type)])}"];`);
  }

  private node(n: Node, ind: string): void {
    const id = this.id('n');
    const lines = [n.domain === '' || n.domain === 'ai.onnx' ? n.opType : `${n.domain}.${n.opType}`];
    if (n.name !== '') lines.push(n.name);
    const consts = this.constants === 'inline' ? n.inputs.filter((v): v is Value => v !== null && this.isConstant(v) && !this.source.has(v)) : [];
    for (const v of consts.slice(0, MAX_INLINE_CONSTANTS)) lines.push(`${v.name}: ${typeLabel(v.type)}`);
    if (consts.length > MAX_INLINE_CONSTANTS) lines.push(`+${consts.length - MAX_INLINE_CONSTANTS} more constants`);
    this.out.push(`${ind}${id} [shape=box, style="rounded,filled", fillcolor="#fef3c7", label="${label(lines)}"];`);
    for (const v of n.inputs) if (v !== null) this.edge(v, id, ind);
    for (const v of n.outputs) if (v !== null) this.source.set(v, id);
    for (const [attr, a] of n.attrs) {
      const graphs = a.kind === 'graph' ? [a.value] : a.kind === 'graphs' ? a.value : [];
      graphs.forEach((sg, i) => {
        const cid = `cluster_${this.clusters++}`;
        const name = `${n.opType} ${n.name || '<unnamed>'}: ${attr}${graphs.length > 1 ? `[${i}]` : ''}`;
        this.out.push(`${ind}subgraph ${cid} {`);
        this.out.push(`${ind}  label="${label([name])}"; style="rounded,dashed"; color="#9ca3af";`);
        const first = this.out.length;
        this.graph(sg, `${ind}  `, false);
        this.out.push(`${ind}}`);
        // the first statement of the cluster names a dot id; a dotted edge ties the op to its body
        const m = /^\s*([a-z]\d+) \[/.exec(this.out[first + 0] ?? '');
        if (m) this.out.push(`${ind}${id} -> ${m[1]} [style=dotted, arrowhead=odot, lhead=${cid}];`);
      });
    }
  }

  text(): string {
    return this.out.join('\n');
  }
}

/** Graphviz dot text of a module's main graph and its subgraphs. */
export function graphToDot(module: Module, opts: GraphDotOptions = {}): string {
  const w = new DotWriter(opts.constants ?? 'inline');
  w.graph(module.graph, '  ', true);
  const title = module.graph.name === '' ? 'graph' : module.graph.name;
  return [
    'digraph kiln {',
    `  graph [rankdir=TB, compound=true, fontname="Helvetica", fontsize=12, labelloc=t, label="${label([title])}"];`,
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8, color="#4b5563"];',
    w.text(),
    '}',
    '',
  ].join('\n');
}

/** Whether Graphviz `dot` runs here. */
export function hasDot(): boolean {
  const r = spawnSync('dot', ['-V'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

/** Renders dot text to SVG with Graphviz. */
export function dotToSvg(dot: string): string {
  if (!hasDot()) throw new KilnError('unsupported', "writing SVG needs Graphviz 'dot', which is not installed; write .dot instead");
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8', maxBuffer: 1 << 30, timeout: 300_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || `exit status ${r.status}`).trim().split('\n')[0];
    throw new KilnError('io', `Graphviz dot failed: ${why}`);
  }
  return r.stdout;
}

export interface GraphOutput {
  format: 'dot' | 'svg';
  text: string;
}

/** The drawing of a model file, as dot text or (for an .svg output name) SVG. */
export function renderGraph(model: string, out: string | undefined, opts: GraphDotOptions = {}): GraphOutput {
  const format = out === undefined || /\.(dot|gv)$/i.test(out) ? 'dot' : /\.svg$/i.test(out) ? 'svg' : null;
  if (format === null) throw new KilnError('usage', `cannot tell the format of '${out}': name it .dot, .gv or .svg`);
  // fail before the model is read when SVG cannot be written
  if (format === 'svg' && !hasDot()) throw new KilnError('unsupported', "writing SVG needs Graphviz 'dot', which is not installed; write .dot instead");
  const dot = graphToDot(loadModel(model), opts);
  return { format, text: format === 'svg' ? dotToSvg(dot) : dot };
}

/** `kiln graph`: writes the drawing to `out`, or returns the dot text for stdout. */
export function writeGraph(model: string, out: string | undefined, opts: GraphDotOptions = {}): GraphOutput {
  const r = renderGraph(model, out, opts);
  if (out !== undefined) writeFileAtomic(out, r.text, { models: [model] });
  return r;
}
