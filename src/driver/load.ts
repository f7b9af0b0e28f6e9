/** Loading a model from either input form, followed by type inference and constant-shape folding. */
import * as fs from 'node:fs';
import { KilnError, fsError } from '../ir/errors.js';
import type { Graph, Module } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { inferModule } from '../ir/infer.js';
import { readOnnxFile } from '../frontend/onnx/import.js';
import { parseModuleText } from '../frontend/text/parser.js';
import { irTextLevel, parseProgramText } from '../frontend/text/kernel-parser.js';
import type { Program } from '../ir/kernel/types.js';
import { runPasses } from '../passes/pass.js';
import { foldConstantsPass } from '../passes/fold-constants.js';
import '../ir/ops/index.js';

export interface LoadOptions {
  /** Fold constant shape computations after import (default true). */
  fold?: boolean;
  /**
   * Accept constants printed without their data (`dense<elided:…>`), for commands that only print
   * the IR back; every other command refuses them (their zeros are placeholders, not values).
   */
  allowElided?: boolean;
}

/** The first constant of a parsed file whose data was elided, by name. */
function firstElided(ir: LoadedIr): string | null {
  if (ir.level === 'kernel') return ir.program.buffers.find((b) => b.data?.elidedDigest !== undefined)?.name ?? null;
  const elided = (t: Tensor | null): boolean => t?.elidedDigest !== undefined;
  const inGraph = (g: Graph): string | null => {
    for (const v of [...g.inputs, ...g.initializers]) if (elided(v.init)) return v.name;
    for (const n of g.nodes) {
      for (const [k, a] of n.attrs) {
        if ((a.kind === 'tensor' && elided(a.value)) || (a.kind === 'tensors' && a.value.some(elided))) return `${n.name || n.opType}.${k}`;
      }
      for (const sg of n.subgraphs()) {
        const found = inGraph(sg);
        if (found !== null) return found;
      }
    }
    return null;
  };
  return inGraph(ir.module.graph);
}

/** True when the IR holds elided constants and `opts` allows them; refused with one line otherwise. */
export function refuseElided(ir: LoadedIr, file: string, opts: LoadOptions = {}): boolean {
  const name = firstElided(ir);
  if (name === null) return false;
  if (opts.allowElided) return true;
  throw new KilnError('usage', `'${file}': a constant was printed without its data (dense<elided:…>); print the model again with --full-constants to use it here`, { tensor: name });
}

/** Either IR level, as read from a file. */
export type LoadedIr = { level: 'graph'; module: Module } | { level: 'kernel'; program: Program };

/**
 * Reads a model at the level the file holds: .onnx and `kiln.module` .kir give the graph level
 * (types inferred, constant shapes folded unless `fold: false`), `kiln.kernel` .kir the kernel level.
 */
export function loadIr(file: string, opts: LoadOptions = {}): LoadedIr {
  let module: Module;
  if (file.endsWith('.kir')) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw fsError(e, 'read', file);
    }
    if (irTextLevel(text) === 'kernel') {
      const ir: LoadedIr = { level: 'kernel', program: parseProgramText(text, file) };
      refuseElided(ir, file, opts);
      return ir;
    }
    module = parseModuleText(text, file);
  } else {
    module = readOnnxFile(file);
  }
  const hasElided = refuseElided({ level: 'graph', module }, file, opts);
  inferModule(module);
  // folding would compute with the placeholders' zeros
  if ((opts.fold ?? true) && !hasElided) runPasses(module, [foldConstantsPass]);
  return { level: 'graph', module };
}

/** Reads a graph-level model; a kernel-level .kir is refused with one line. */
export function loadModel(file: string, opts: LoadOptions = {}): Module {
  const ir = loadIr(file, opts);
  if (ir.level === 'kernel') {
    throw new KilnError('usage', `'${file}' is kernel-level IR (kiln.kernel); this command needs a graph-level model (.onnx, or .kir starting with kiln.module)`);
  }
  return ir.module;
}
