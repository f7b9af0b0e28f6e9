/**
 * Lowers a graph module with static shapes to a kernel program: graph inputs, constants and
 * outputs become buffers, every node becomes kernels through its op's lowering definition. Views
 * (reshape-like ops) share their input's buffer; a graph output that would share storage with an
 * input, a constant or another output gets a copy kernel, so outputs are always distinct buffers.
 */
import { KilnError, locateError } from '../ir/errors.js';
import type { Module, Node, Value } from '../ir/graph.js';
import { Attrs } from '../ir/ops/registry.js';
import { constantOf } from '../ir/infer.js';
import { isStaticShape } from '../ir/types.js';
import { KernelBuilder, load } from '../ir/kernel/builder.js';
import { lookupLowering, type LowerContext, type LowerStyle } from '../ir/kernel/lowering.js';
import { indexRangeProblem, storageOf, type KBuffer, type Kernel, type Program, type ScalarType } from '../ir/kernel/types.js';
import type { Tensor } from '../ir/tensor.js';
import '../ir/kernel/lower/index.js';
import { definePass, type PassContext } from './pass.js';
import { accesses } from './fuse-ir.js';
import { graphIoQuant } from './io-quant.js';

class ProgramBuilder {
  readonly program: Program;
  private nextId = 0;
  readonly bufferOf = new Map<Value, KBuffer>();
  private readonly usedNames = new Set<string>();

  constructor(name: string) {
    this.program = { name, buffers: [], inputs: [], outputs: [], kernels: [] };
  }

  uniqueName(base: string): string {
    let name = base.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(?=[0-9])/, '_') || 'buf';
    if (this.usedNames.has(name)) {
      let k = 1;
      while (this.usedNames.has(`${name}_${k}`)) k++;
      name = `${name}_${k}`;
    }
    this.usedNames.add(name);
    return name;
  }

  buffer(name: string, dtype: ScalarType, shape: readonly number[], role: KBuffer['role'], data?: Tensor): KBuffer {
    const why = indexRangeProblem(shape);
    if (why) throw new KilnError('limit', `tensor '${name}': ${why}`, { tensor: name });
    const b: KBuffer = { id: this.nextId++, name: this.uniqueName(name), dtype, shape: [...shape], role };
    if (data) b.data = data;
    this.program.buffers.push(b);
    return b;
  }

  addKernel(k: Kernel): void {
    this.program.kernels.push(k);
  }
}

function staticTensor(v: Value): { dtype: ScalarType; shape: number[] } {
  const t = v.tensorType;
  if (!t) throw new KilnError('unsupported', `value '${v.name}' is not a tensor (${v.type?.kind ?? 'unknown type'})`, { tensor: v.name });
  if (!isStaticShape(t.shape)) throw new KilnError('unsupported', `value '${v.name}' has no static shape`, { tensor: v.name });
  if (t.dtype === 'string' || t.dtype === 'c64' || t.dtype === 'c128') throw new KilnError('unsupported', `element type ${t.dtype} of '${v.name}'`, { tensor: v.name });
  return { dtype: t.dtype, shape: [...t.shape] };
}

/** A kernel that copies src into dst element by element. */
function copyKernel(pb: ProgramBuilder, src: KBuffer, dst: KBuffer, origin: Kernel['origin']): void {
  const kb = new KernelBuilder();
  const n = dst.shape.reduce((a, b) => a * b, 1);
  kb.for(0, n, (i) => kb.store(dst, i, load(src, i)));
  pb.addKernel({ name: pb.uniqueName(`copy_${dst.name}`), origin, body: kb.body });
}

/** Lowers a module; `style` 'gpu' asks the lowerings for grid-friendly loop nests (LowerStyle). */
export function lowerModule(module: Module, style: LowerStyle = 'cpu'): Program {
  const g = module.graph;
  const pb = new ProgramBuilder(g.name || 'model');

  for (const v of g.inputs) {
    const { dtype, shape } = staticTensor(v);
    if (v.init) pb.bufferOf.set(v, pb.buffer(v.name, dtype, shape, 'const', v.init));
    else {
      const b = pb.buffer(v.name, dtype, shape, 'input');
      pb.program.inputs.push(b);
      pb.bufferOf.set(v, b);
    }
  }
  for (const v of g.initializers) {
    const { dtype, shape } = staticTensor(v);
    pb.bufferOf.set(v, pb.buffer(v.name, dtype, shape, 'const', v.init!));
  }
  for (const node of g.nodes) {
    try {
      lowerNode(module, node, pb, style);
    } catch (e) {
      throw locateError(e, node);
    }
  }

  pruneUnreadConstants(pb.program, g.outputs.map((v) => pb.bufferOf.get(v)));

  // Outputs: distinct buffers with role 'output'.
  const claimed = new Set<KBuffer>();
  for (const v of g.outputs) {
    let b = pb.bufferOf.get(v);
    if (!b) throw new KilnError('invalid-model', `graph output '${v.name}' is not computed`, { tensor: v.name });
    if (b.role !== 'temp' || b.viewOf || claimed.has(b)) {
      const { dtype, shape } = staticTensor(v);
      const out = pb.buffer(`${v.name}_out`, dtype, shape, 'output');
      copyKernel(pb, b, out, { node: v.name, op: 'output' });
      b = out;
    }
    b.role = 'output';
    claimed.add(b);
    pb.program.outputs.push(b);
  }
  const quant = graphIoQuant(g);
  if (quant) pb.program.ioQuant = quant;
  return pb.program;
}

function lowerNode(module: Module, node: Node, pb: ProgramBuilder, style: LowerStyle): void {
  // Constants never become kernels.
  if (node.domain === '' && node.opType === 'Constant') {
    const v = node.outputs[0]!;
    const t = constantOf(v);
    if (!t) throw new KilnError('unsupported', 'Constant without a tensor value');
    const { dtype, shape } = staticTensor(v);
    pb.bufferOf.set(v, pb.buffer(v.name, dtype, shape, 'const', t));
    return;
  }
  const def = lookupLowering(node.domain, node.opType);
  const opset = module.opsetFor(node.domain) ?? 0;
  const qualified = node.domain ? `${node.domain}.${node.opType}` : node.opType;
  if (!def) throw new KilnError('unsupported', `unsupported op ${qualified} at opset ${opset} for code generation`);
  let kernelCount = 0;
  const ctx: LowerContext = {
    style,
    node,
    attrs: new Attrs(node),
    opset,
    inputCount: node.inputs.length,
    outputCount: node.outputs.length,
    input: (i) => {
      const v = node.inputs[i];
      if (v === undefined || v === null) return null;
      const b = pb.bufferOf.get(v);
      if (!b) throw new KilnError('invalid-model', `input '${v.name}' has no buffer`);
      return b;
    },
    constant: (i) => constantOf(node.inputs[i] ?? null),
    output: (i) => {
      const v = node.outputs[i];
      if (v === undefined || v === null) return null;
      let b = pb.bufferOf.get(v);
      if (!b) {
        const { dtype, shape } = staticTensor(v);
        b = pb.buffer(v.name, dtype, shape, 'temp');
        pb.bufferOf.set(v, b);
      }
      return b;
    },
    alias: (o, i) => {
      const out = node.outputs[o];
      const src = ctx.input(i);
      if (!out || !src) throw new KilnError('invalid-model', 'alias of an omitted value');
      if (pb.bufferOf.has(out)) throw new KilnError('invalid-model', `output '${out.name}' already has a buffer`);
      const { dtype, shape } = staticTensor(out);
      if (dtype !== src.dtype || shape.reduce((a, d) => a * d, 1) !== src.shape.reduce((a, d) => a * d, 1)) {
        throw new KilnError('type', `output '${out.name}' cannot be a view of '${src.name}': element type or size differs`);
      }
      const view = pb.buffer(out.name, dtype, shape, src.role === 'const' ? 'const' : 'temp');
      view.viewOf = storageOf(src);
      if (src.role === 'const' && src.data) view.data = src.data.reshape(shape);
      pb.bufferOf.set(out, view);
    },
    constTable: (data, name) => pb.buffer(`${node.name}_${name}`, data.dtype as ScalarType, data.shape, 'const', data),
    temp: (dtype, shape, name) => pb.buffer(`${node.name}_${name ?? 'tmp'}`, dtype, shape, 'temp'),
    kernel: (build, suffix) => {
      const kb = new KernelBuilder();
      build(kb);
      const base = suffix ? `${node.name}_${suffix}` : kernelCount === 0 ? node.name : `${node.name}_${kernelCount}`;
      kernelCount++;
      pb.addKernel({ name: pb.uniqueName(base), origin: { node: node.name, op: node.opType }, body: kb.body });
    },
  };
  def.lower(ctx);
  node.outputs.forEach((v, i) => {
    if (v && !pb.bufferOf.has(v)) throw new KilnError('invalid-model', `lowering of ${qualified} did not produce output ${i}`);
  });
}

/**
 * Drops the constants no kernel reads: an initializer a lowering replaced by a table of its own
 * (QLinearConv's channel-vectorized path reads its weights transposed) or folded into literals
 * (uniform zero points) would otherwise still be emitted with the weights. Graph outputs keep theirs.
 */
function pruneUnreadConstants(program: Program, outputs: readonly (KBuffer | undefined)[]): void {
  const read = new Set<KBuffer>();
  for (const k of program.kernels) for (const b of accesses(k).reads) read.add(b);
  for (const b of outputs) if (b) read.add(storageOf(b));
  program.buffers = program.buffers.filter((b) => b.role !== 'const' || read.has(storageOf(b)));
}
