/** Kiln's programmatic API. */
export { KilnError, type KilnErrorCode } from './ir/errors.js';
export type { DType } from './ir/dtype.js';
export { Tensor, SequenceValue, NoneValue, type RtValue } from './ir/tensor.js';
export { tensorType, type ValueType, type TensorType, type Dim } from './ir/types.js';
export { Module, Graph, Node, Value, type AttrValue } from './ir/graph.js';
export { registerOp, lookupOp, type OpDef, type InferContext, type KernelContext } from './ir/ops/registry.js';
export { inferModule } from './ir/infer.js';
export { verifyModule } from './ir/verify.js';
export { interpret } from './ir/interp/interpreter.js';
export { printModule } from './ir/print.js';
export { parseModuleText } from './frontend/text/parser.js';
export { parseProgramText, parseIrText, irTextLevel, type IrText } from './frontend/text/kernel-parser.js';
export { printProgram } from './ir/kernel/print.js';
export { verifyProgram } from './ir/kernel/verify.js';
export { importOnnxBytes, readOnnxFile } from './frontend/onnx/import.js';
export { exportOnnx } from './frontend/onnx/export.js';
export { encodeTensor, decodeTensor } from './frontend/onnx/tensorproto.js';
export { encodeValue, readValueFile } from './frontend/onnx/values.js';
export { definePass, numberOption, type NumberOptionSpec, type Pass, type GraphPass, type KernelPass, type LowerPass, type PassContext, type PassLevel } from './passes/pass.js';
export { registerPass, lookupPass, registeredPasses } from './passes/registry.js';
export { parsePipeline, runPipeline, printIr, type IrState, type PipelineStep, type PassRecord } from './passes/pipeline.js';
export { defineOp, type OpDefinition } from './ir/ops/define-op.js';
export { registerLowering, type LowerContext, type LoweringDef } from './ir/kernel/lowering.js';
export { KernelBuilder, load, bin, un, cast, select, lit, idx } from './ir/kernel/builder.js';
export type { Program, Kernel, KBuffer, Expr, Stmt, ScalarType } from './ir/kernel/types.js';
export { compile, importOnnx, runPasses, type CompileApiOptions, type CompileApiResult, type RunPassesResult } from './api.js';
export { type PluginContents, type LoadedPlugin } from './driver/plugins.js';
export {
  defineTarget,
  registerTarget,
  lookupTarget,
  listTargets,
  type TargetDefinition,
  type GraphTarget,
  type KernelTarget,
  type TargetContext,
  type TargetFiles,
  type TargetRunResult,
  type TargetOptionSpec,
  type TargetOptionValues,
  type TargetTool,
  type TargetCapabilities,
  type PipelineSettings,
} from './backends/index.js';
export { memoryLayoutOf, MEMORY_PLAN, type MemoryLayout } from './ir/kernel/layout.js';
export { runProgram } from './ir/kernel/interp.js';
export { foldConstantsPass } from './passes/fold-constants.js';
export { foldQdqPass, foldQdq } from './passes/fold-qdq.js';
export { requantPass } from './passes/requant.js';
export { scheduleMemoryPass, scheduleGraph, lowerScheduled, type ScheduleReport, type ScheduleResult } from './passes/schedule-memory.js';
export { loadModel } from './driver/load.js';
export { runConformance, type ConformanceReport } from './driver/conformance.js';
import './ir/ops/index.js';
import { loadPluginWith, type LoadedPlugin } from './driver/plugins.js';

/** Imports a plugin file and registers its passes, ops and targets (once per file and process). */
export async function loadPlugin(file: string): Promise<LoadedPlugin> {
  // the API a plugin's setup function receives is this module's own namespace (already evaluated)
  const api = (await import(import.meta.url)) as object;
  return loadPluginWith(file, api);
}
