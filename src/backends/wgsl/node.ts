/**
 * WebGPU in Node: a device from the `webgpu` package (Dawn). On machines without a GPU, Dawn's
 * OpenGL ES backend on Mesa llvmpipe (EGL_PLATFORM=surfaceless, a compatibility-mode adapter).
 * Node-only (the browser gets its device from navigator.gpu); the runtime itself is not.
 */
import { execFileSync } from 'node:child_process';
import { isMainThread } from 'node:worker_threads';
import { KilnError } from '../../ir/errors.js';
import type { Program } from '../../ir/kernel/types.js';
import { Tensor } from '../../ir/tensor.js';
import { fillFromBytes, tensorToBytes } from '../../ir/rawdata.js';
import { buildWgsl, type WgslLimits } from './emit.js';
import { createModel } from './runtime/runtime.js';
import { LLVMPIPE_LOOP_LIMIT } from './iterations.js';

interface DawnModule {
  create(options: string[]): GPU;
  globals: object;
}

// Mesa's EGL reads the variable with getenv: it must be in the process environment before any
// worker thread starts (a worker's process.env is a private copy)
if (isMainThread) process.env.EGL_PLATFORM ??= 'surfaceless';

let gpuPromise: Promise<GPU> | undefined;

/** The process's Dawn instance (made once: Dawn instances are heavy). */
async function openGpu(): Promise<GPU> {
  let dawn: DawnModule;
  try {
    dawn = (await import('webgpu' as string)) as DawnModule;
  } catch {
    throw new KilnError('unsupported', 'the webgpu package (Dawn) is not installed');
  }
  // GPUBufferUsage and friends, which WebGPU code may expect as globals
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return dawn.create(process.env.KILN_DAWN_BACKEND ? [`backend=${process.env.KILN_DAWN_BACKEND}`] : ['backend=opengles']);
}

/**
 * Opens a Dawn device. Callers destroy it when done: a live device keeps Dawn polling for events,
 * and a worker thread that exits while it polls takes the process down.
 */
export async function openDevice(): Promise<GPUDevice> {
  gpuPromise ??= openGpu().catch((e: unknown) => {
    gpuPromise = undefined;
    throw e;
  });
  const gpu = await gpuPromise;
  // an adapter gives one device; ask again each time
  const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
  if (!adapter) throw new KilnError('unsupported', 'Dawn found no WebGPU adapter (Mesa not installed? apt-get install libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)');
  const device = await adapter.requestDevice();
  device.addEventListener('uncapturederror', () => {});
  return device;
}

let probed: boolean | undefined;

/**
 * Whether Dawn can create an adapter here, checked once in a child process (a synchronous answer
 * for the tool check, and a crash in a broken driver stack cannot take Kiln down).
 */
export function dawnAvailable(): boolean {
  if (probed !== undefined) return probed;
  const probe = "process.env.EGL_PLATFORM ??= 'surfaceless'; const { create } = await import('webgpu'); const a = await create(['backend=opengles']).requestAdapter({ featureLevel: 'compatibility' }); process.stdout.write(a ? 'ok' : 'none'); process.exit(0);";
  try {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000, cwd: new URL('.', import.meta.url).pathname });
    probed = out.toString() === 'ok';
  } catch {
    probed = false;
  }
  return probed;
}

/** Runs a program on the Node WebGPU device; inputs and outputs in program order. */
export async function runWgslNode(program: Program, inputs: readonly Tensor[], opts: { strict?: boolean; limits?: WgslLimits } = {}): Promise<Tensor[]> {
  const { manifest, weights } = buildWgsl(program, opts.limits);
  const device = await openDevice();
  const info = device.adapterInfo as GPUAdapterInfo | undefined;
  if (info && /llvmpipe/i.test(`${info.device} ${info.description} ${info.architecture}`)) {
    for (const k of manifest.kernels) {
      const e = k.entries.find((x) => x.loops !== undefined && x.loops !== null && x.loops > LLVMPIPE_LOOP_LIMIT);
      if (e) {
        device.destroy();
        throw new KilnError('unsupported', `kernel ${k.name}: one invocation runs up to ${e.loops} loop iterations, and Mesa llvmpipe stops an invocation's loops after ${LLVMPIPE_LOOP_LIMIT}`);
      }
    }
  }
  let model;
  try {
    model = await createModel(device, manifest, weights, opts.strict ?? false);
  } catch (e) {
    device.destroy();
    throw new KilnError('runtime', (e as Error).message.split('\n')[0]!);
  }
  try {
    // f64 travels as f32 (allow-f64-as-f32): the shaders hold it so
    const outs = await model.run(inputs.map((t) => (t.dtype === 'f64' ? Float32Array.from(t.data as Float64Array) : tensorToBytes(t, false))));
    return program.outputs.map((b, i) => {
      if (b.dtype === 'index') throw new KilnError('type', 'index-typed output');
      const t = Tensor.zeros(b.dtype, b.shape);
      const o = outs[i]!;
      if (b.dtype === 'f64') {
        (t.data as Float64Array).set(o as Float32Array);
        return t;
      }
      fillFromBytes(t, new Uint8Array(o.buffer, o.byteOffset, o.byteLength), false);
      return t;
    });
  } finally {
    model.destroy();
    device.destroy();
  }
}
