/** Loading a model from either input form, followed by type inference and constant-shape folding. */
import * as fs from 'node:fs';
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { inferModule } from '../ir/infer.js';
import { readOnnxFile } from '../frontend/onnx/import.js';
import { parseModuleText } from '../frontend/text/parser.js';
import { runPasses } from '../passes/pass.js';
import { foldConstantsPass } from '../passes/fold-constants.js';
import '../ir/ops/index.js';

export interface LoadOptions {
  /** Fold constant shape computations after import (default true). */
  fold?: boolean;
}

export function loadModel(file: string, opts: LoadOptions = {}): Module {
  let module: Module;
  if (file.endsWith('.kir')) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new KilnError('io', `cannot read '${file}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    module = parseModuleText(text, file);
  } else {
    module = readOnnxFile(file);
  }
  inferModule(module);
  if (opts.fold ?? true) runPasses(module, [foldConstantsPass]);
  return module;
}
