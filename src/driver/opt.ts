/**
 * `kiln opt`: runs a pipeline over textual IR (either level) or an ONNX model and returns the
 * resulting IR text, like mlir-opt. With no passes a .kir file comes back byte for byte.
 */
import { parsePipeline, printIr, runPipeline, type PassRecord } from '../passes/pipeline.js';
import { loadIr } from './load.js';
import { checkPrintNames, pipelineHooks, type PipelineFlags } from './compile.js';
import '../passes/builtin.js';
import '../ir/ops/index.js';

export interface OptResult {
  text: string;
  timeline: PassRecord[];
}

export function optFile(file: string, flags: PipelineFlags): OptResult {
  const steps = parsePipeline(flags.passes ?? '');
  checkPrintNames(flags, steps);
  // no folding on load: with no passes, a .kir file must come back exactly as it was (elided
  // constants included: they print back as they were, but no pass may compute with them)
  const r = runPipeline(loadIr(file, { fold: false, allowElided: steps.length === 0 }), steps, pipelineHooks({ ...flags, guard: { ...flags.guard, models: [file] } }));
  return { text: printIr(r.state), timeline: r.timeline };
}
