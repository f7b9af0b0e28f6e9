/** The name a compiled model's C API takes: the graph name, or the file name when the graph's is an exporter default. */
import * as path from 'node:path';

/** Graph names exporters give every model (so two models would clash at link time). */
const GENERIC = new Set(['', 'torch_jit', 'torch-jit-export', 'torch_jit_export', 'main_graph', 'tf2onnx', 'graph', 'model', 'onnx_graph', 'network', 'main']);

export function isGenericGraphName(name: string): boolean {
  return GENERIC.has(name.trim().toLowerCase());
}

/** The graph name unless it is generic; then the file's base name without its extension. */
export function modelName(graphName: string, fileName: string): string {
  return isGenericGraphName(graphName) ? path.basename(fileName).replace(/\.[^.]*$/, '') : graphName;
}
