/**
 * The `wgsl` target: kernels as WGSL compute shaders run through WebGPU (in Node: Dawn, on machines
 * without a GPU its OpenGL ES backend on Mesa llvmpipe). Its pipeline maps independent loops onto
 * the dispatch grid (map-gpu) with the limits every compatibility-mode adapter guarantees.
 */
import { defineTarget, registerTarget, type KernelTarget } from '../target.js';
import { emitWgsl, wgslLimitsOf } from './emit.js';
import { dawnAvailable, runWgslNode } from './node.js';

/** Limits every WebGPU compatibility-mode device has (the spec's defaults for that feature level). */
export const COMPAT_LIMITS = { maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupsPerDimension: 65535 } as const;

export const wgslTarget: KernelTarget = defineTarget({
  name: 'wgsl',
  description: 'WGSL compute shaders run with WebGPU (Node: the webgpu package, Dawn; no GPU: Mesa llvmpipe)',
  level: 'kernel',
  tools: [
    {
      name: 'webgpu (Dawn) with a WebGPU adapter',
      available: dawnAvailable,
      install: 'webgpu package or Mesa not installed: npm install webgpu; apt-get install --no-install-recommends libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri',
    },
  ],
  options: {
    'allow-f64-as-f32': { description: 'compute f64 in f32 (WGSL has no f64; otherwise refused)', default: 'no', values: ['no', 'yes'] },
    'max-storage-binding': { description: "the device's maxStorageBufferBindingSize in bytes (default 134217728); weights over it are split across bindings" },
  },
  checkOptions: (options) => void wgslLimitsOf(options),
  // f64 is listed: it is refused (or computed in f32) by the backend, with the reason
  capabilities: { ci: true, emits: true, oneThread: true, dtypes: ['f32', 'f64', 'f16', 'bf16', 'f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f4e2m1', 'i64', 'u64', 'i32', 'u32', 'i16', 'u16', 'i8', 'u8', 'i4', 'u4', 'i2', 'u2', 'bool'] },
  lowerStyle: 'gpu',
  pipeline: () => `map-gpu{invocations=${COMPAT_LIMITS.maxComputeInvocationsPerWorkgroup},groups=${COMPAT_LIMITS.maxComputeWorkgroupsPerDimension}}`,
  emit: (program, ctx) => emitWgsl(program, ctx.name, wgslLimitsOf(ctx.options)),
  run: async (program, inputs, ctx) => ({ outputs: await runWgslNode(program, inputs, { strict: true, limits: wgslLimitsOf(ctx.options) }) }),
});

registerTarget(wgslTarget);
