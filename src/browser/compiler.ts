/**
 * The compiler's core for a web page: ONNX bytes → graph IR → kernel program (specialize, lower,
 * map-gpu) → WGSL shaders and the WebGPU runtime, with no Node-only code on the path (modules that
 * import Node built-ins for other commands get inert stand-ins in the page; see src/driver/serve.ts).
 */
import { importOnnxBytes } from '../frontend/onnx/import.js';
import { decodeValue } from '../frontend/onnx/values.js';
import { inferModule } from '../ir/infer.js';
import { DEFAULT_ELIDE_OVER, printModule } from '../ir/print.js';
import { printProgram } from '../ir/kernel/print.js';
import type { Tensor } from '../ir/tensor.js';
import { fillFromBytes, tensorToBytes } from '../ir/rawdata.js';
import { Tensor as TensorClass } from '../ir/tensor.js';
import { parsePipeline, runPipeline } from '../passes/pipeline.js';
import { specializeInputs } from '../passes/specialize.js';
import { buildWgsl, wgslLimitsOf } from '../backends/wgsl/emit.js';
import { createModel, type WgslManifest } from '../backends/wgsl/runtime/runtime.js';
import type { Program } from '../ir/kernel/types.js';
import '../passes/builtin.js';
import '../ir/ops/index.js';

export { createModel };

export interface BrowserCompiled {
  /** The graph IR in its text form. */
  readonly graph: string;
  /** The kernel program after map-gpu, in its text form (constants elided). */
  readonly kernelIr: string;
  readonly manifest: WgslManifest;
  readonly weights: Uint8Array;
  readonly program: Program;
  /** Milliseconds per phase. */
  readonly ms: { readonly import: number; readonly passes: number; readonly emit: number };
}

/**
 * Compiles ONNX bytes for WebGPU. `inputs` (optional, in graph-input order) fix the input shapes as
 * `kiln run` does; target options as `--target-option` (allow-f64-as-f32, max-storage-binding).
 */
export function compileOnnxForWebGpu(bytes: Uint8Array, inputs: readonly (Tensor | undefined)[] = [], options: Readonly<Record<string, string>> = {}): BrowserCompiled {
  const t0 = performance.now();
  const module = importOnnxBytes(bytes);
  inferModule(module);
  const graph = printModule(module, { elideConstantsOver: DEFAULT_ELIDE_OVER });
  const t1 = performance.now();
  if (inputs.length > 0) specializeInputs(module, inputs);
  const r = runPipeline({ level: 'graph', module }, parsePipeline('specialize,lower{schedule=memory,style=gpu},map-gpu{invocations=128,groups=65535}'));
  if (r.state.level !== 'kernel') throw new Error('the pipeline did not reach the kernel level');
  const program = r.state.program;
  const t2 = performance.now();
  const { manifest, weights } = buildWgsl(program, wgslLimitsOf(options));
  const t3 = performance.now();
  return { graph, kernelIr: printProgram(program, { elideConstantsOver: DEFAULT_ELIDE_OVER }), manifest, weights, program, ms: { import: t1 - t0, passes: t2 - t1, emit: t3 - t2 } };
}

/** A TensorProto (.pb file bytes) as a tensor. */
export function decodeTensorFile(bytes: Uint8Array): Tensor {
  const v = decodeValue(bytes, null, 'tensor file');
  if (v.kind !== 'tensor') throw new Error(`a ${v.kind} file, not a tensor`);
  return v as unknown as Tensor;
}

/** A tensor's bytes as the WebGPU runtime takes them (f64 as f32, as the shaders hold it). */
export function inputBytes(t: Tensor): ArrayBufferView {
  return t.dtype === 'f64' ? Float32Array.from(t.data as Float64Array) : tensorToBytes(t, false);
}

/** An output of the runtime as a tensor of the program's output type. */
export function outputTensor(program: Program, i: number, out: ArrayBufferView): Tensor {
  const b = program.outputs[i]!;
  if (b.dtype === 'index') throw new Error('index-typed output');
  const t = TensorClass.zeros(b.dtype, b.shape);
  if (b.dtype === 'f64') (t.data as Float64Array).set(out as Float32Array);
  else fillFromBytes(t, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), false);
  return t;
}
