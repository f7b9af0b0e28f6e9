/**
 * The programmatic API's entry points: importOnnx, runPasses (pipelines over either IR level) and
 * compile (in memory, or into a folder). The CLI commands are thin wrappers around the same calls.
 */
import * as path from 'node:path';
import { KilnError } from './ir/errors.js';
import type { Module } from './ir/graph.js';
import type { Program } from './ir/kernel/types.js';
import { inferModule } from './ir/infer.js';
import { importOnnxBytes, readOnnxFile } from './frontend/onnx/import.js';
import { parsePipeline, runPipeline, type IrState, type PassRecord, type PipelineStep } from './passes/pipeline.js';
import type { Pass } from './passes/pass.js';
import { compileModule, pipelineHooks, type CompileOptions, type CompileReport, type PipelineFlags } from './driver/compile.js';
import { loadModel } from './driver/load.js';
import { writeOutputFolder } from './driver/output.js';
import './passes/builtin.js';
import './ir/ops/index.js';

/** Reads an ONNX model (a file path or the bytes of one) into graph IR with inferred types. */
export function importOnnx(model: string | Uint8Array): Module {
  const module = typeof model === 'string' ? readOnnxFile(model) : importOnnxBytes(model);
  inferModule(module);
  return module;
}

export interface RunPassesResult {
  /** The module (graph level; after `lower` it is the module the program came from). */
  module: Module;
  /** The kernel program, when the pipeline lowered the module. */
  program?: Program;
  timeline: PassRecord[];
  results: Map<string, unknown>;
}

/**
 * Runs passes over a module in place: a pipeline string (`'cse,dce'`, `'lower,plan-memory'`) or pass
 * objects (registered or not). Pipeline flags: verifyEach, printIrAfter…, dumpDir.
 */
export function runPasses(module: Module, passes: string | readonly Pass[], flags: Omit<PipelineFlags, 'passes'> = {}): RunPassesResult {
  const steps: PipelineStep[] = typeof passes === 'string' ? parsePipeline(passes) : passes.map((pass) => ({ pass, options: {} }));
  const r = runPipeline({ level: 'graph', module }, steps, pipelineHooks(flags));
  const state: IrState = r.state;
  return { module, ...(state.level === 'kernel' ? { program: state.program } : {}), timeline: r.timeline, results: r.results };
}

export interface CompileApiOptions extends Omit<CompileOptions, 'out'> {
  /** Output folder; when omitted nothing is written and the files are only returned. */
  out?: string;
}

export interface CompileApiResult {
  files: ReadonlyMap<string, string | Uint8Array>;
  report: CompileReport;
  ms: number;
}

/** Compiles a model (file path, ONNX bytes or a Module) for a target. */
export function compile(model: string | Uint8Array | Module, opts: CompileApiOptions): CompileApiResult {
  if (opts.memoryPlot !== undefined) throw new KilnError('usage', 'compile(): memoryPlot is a CLI option; use report.memory or memoryPlotSvg');
  const module = typeof model === 'string' ? loadModel(model) : model instanceof Uint8Array ? importOnnx(model) : model;
  const name = typeof model === 'string' ? path.basename(model) : 'model';
  const r = compileModule(module, name, opts);
  if (opts.out !== undefined) writeOutputFolder(opts.out, r.fileData, { ...opts.guard, ...(typeof model === 'string' ? { models: [model] } : {}) });
  return { files: r.fileData, report: r.report, ms: r.ms };
}
