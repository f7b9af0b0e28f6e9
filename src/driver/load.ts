/** Loading a model from either input form, followed by type inference and constant-shape folding. */
import * as fs from 'node:fs';
import { KilnError, fsError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
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
    if (irTextLevel(text) === 'kernel') return { level: 'kernel', program: parseProgramText(text, file) };
    module = parseModuleText(text, file);
  } else {
    module = readOnnxFile(file);
  }
  inferModule(module);
  if (opts.fold ?? true) runPasses(module, [foldConstantsPass]);
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
