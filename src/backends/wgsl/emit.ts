/**
 * A program as WebGPU shaders and a manifest: the arena layout (every input, output and temporary
 * its own 16-byte-aligned range: no in-place sharing, so parallel invocations never race through
 * aliasing), the weights blob, one shader per kernel and the dispatch order. `emitWgsl` adds the
 * files of `kiln compile --target wgsl`: one .wgsl per kernel, model.js (the runtime plus the
 * manifest, exporting `load(device, weights?)`), model.d.ts and weights.bin.
 */
import { KilnError } from '../../ir/errors.js';
import { bufferSize, storageOf, type Expr, type KBuffer, type Program, type ScalarType, type Stmt } from '../../ir/kernel/types.js';
import { tensorToBytes } from '../../ir/rawdata.js';
import type { Tensor } from '../../ir/tensor.js';
import { elementBytes, renderKernel, unsupportedType, type WgslPlace, type WgslTypeOptions } from './render.js';
import { createModel, type WgslManifest, type WgslTensorInfo } from './runtime/runtime.js';

/** Limits the layout must respect and rendering choices (WebGPU defaults: 128 MiB per storage binding). */
export interface WgslLimits extends WgslTypeOptions {
  readonly maxStorageBufferBindingSize: number;
  /** Storage buffers one shader may bind (compatibility mode guarantees 4): the arena plus weight chunks. */
  readonly maxStorageBuffersPerShaderStage: number;
}

export const DEFAULT_WGSL_LIMITS: WgslLimits = { maxStorageBufferBindingSize: 134217728, maxStorageBuffersPerShaderStage: 4 };

/** WgslLimits from the wgsl target's options (`allow-f64-as-f32`, `max-storage-binding`). */
export function wgslLimitsOf(options: Readonly<Record<string, string>>): WgslLimits {
  const max = options['max-storage-binding'];
  let bytes = DEFAULT_WGSL_LIMITS.maxStorageBufferBindingSize;
  if (max !== undefined) {
    bytes = Number(max);
    if (!Number.isSafeInteger(bytes) || bytes < 16 || bytes % 4 !== 0) throw new KilnError('usage', `max-storage-binding must be a byte count, a multiple of 4 and at least 16, not '${max}'`);
  }
  return { ...DEFAULT_WGSL_LIMITS, maxStorageBufferBindingSize: bytes, f64AsF32: options['allow-f64-as-f32'] === 'yes' };
}

export interface WgslProgram {
  readonly manifest: WgslManifest;
  readonly weights: Uint8Array;
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** Refuses, before anything runs, programs with types the WGSL code cannot hold. */
export function checkWgslTypes(program: Program, opts: WgslTypeOptions = {}): void {
  const check = (t: ScalarType, where: string): void => {
    const why = unsupportedType(t, opts);
    if (why) throw new KilnError('unsupported', `${where}: ${why}`);
  };
  const expr = (e: Expr, where: string): void => {
    check(e.t, where);
    switch (e.k) {
      case 'load': expr(e.idx, where); return;
      case 'bin': expr(e.a, where); expr(e.b, where); return;
      case 'un': case 'cast': expr(e.a, where); return;
      case 'select': expr(e.c, where); expr(e.a, where); expr(e.b, where); return;
      default: return;
    }
  };
  const stmt = (s: Stmt, where: string): void => {
    switch (s.k) {
      case 'for': expr(s.lo, where); expr(s.hi, where); s.body.forEach((x) => stmt(x, where)); return;
      case 'store': check(s.buf.dtype, where); expr(s.idx, where); expr(s.val, where); return;
      case 'let': check(s.t, where); expr(s.init, where); return;
      case 'set': expr(s.val, where); return;
      case 'if': expr(s.c, where); s.then.forEach((x) => stmt(x, where)); s.else.forEach((x) => stmt(x, where)); return;
      case 'barrier': return;
    }
  };
  for (const b of [...program.inputs, ...program.outputs]) check(b.dtype, `${b.role} '${b.name}'`);
  for (const k of program.kernels) k.body.forEach((s) => stmt(s, `node '${k.origin.node}' (${k.origin.op})`));
}

function info(b: KBuffer, offset: number): WgslTensorInfo {
  return { name: b.name, dtype: b.dtype, shape: [...b.shape], offset, bytes: bufferSize(b) * elementBytes(b.dtype) };
}

/** A constant's bytes as the shader reads them (f64 as f32 when that is allowed). */
function constBytes(b: KBuffer): Uint8Array {
  const t = b.data as Tensor;
  if (b.dtype === 'f64') return new Uint8Array(Float32Array.from(t.data as Float64Array).buffer);
  return tensorToBytes(t, false).subarray(0, bufferSize(b) * elementBytes(b.dtype));
}

/** Lays out the program and renders its kernels. */
export function buildWgsl(program: Program, limits: WgslLimits = DEFAULT_WGSL_LIMITS): WgslProgram {
  checkWgslTypes(program, limits);
  const max = limits.maxStorageBufferBindingSize;
  const places = new Map<KBuffer, WgslPlace>();
  let arena = 0;
  // weight chunks, each within one binding: [offset in the blob, bytes]
  const chunks: [number, number][] = [[0, 0]];
  const consts: [KBuffer, number][] = [];
  const roots = new Set<KBuffer>();
  for (const b of [...program.inputs, ...program.outputs, ...program.buffers]) roots.add(storageOf(b));
  for (const b of roots) {
    const bytes = bufferSize(b) * elementBytes(b.dtype);
    if (b.level === 'workgroup') {
      // per-workgroup memory, declared by the shaders that use it
      places.set(b, { space: 'workgroup', chunk: 0, word: 0 });
      continue;
    }
    if (b.role === 'const') {
      if (!b.data) throw new KilnError('invalid-model', `constant '${b.name}' has no data`);
      if (bytes > max) throw new KilnError('unsupported', `constant '${b.name}' needs ${bytes} bytes, over the device's maxStorageBufferBindingSize ${max} (one tensor is not split)`);
      let cur = chunks[chunks.length - 1]!;
      if (cur[1] + bytes > max) {
        cur = [cur[0] + align16(cur[1]), 0];
        chunks.push(cur);
      }
      places.set(b, { space: 'weights', chunk: chunks.length - 1, word: cur[1] / 4 });
      consts.push([b, cur[0] + cur[1]]);
      cur[1] = Math.min(max, align16(cur[1] + bytes));
    } else {
      places.set(b, { space: 'arena', chunk: 0, word: arena / 4 });
      arena = align16(arena + bytes);
    }
  }
  if (arena > max) throw new KilnError('unsupported', `the arena needs ${arena} bytes, over the device's maxStorageBufferBindingSize ${max}`);
  const last = chunks[chunks.length - 1]!;
  const blob = last[0] + last[1];
  const weights = new Uint8Array(blob);
  for (const [b, off] of consts) weights.set(constBytes(b), off);
  const kernels = program.kernels.map((k) => {
    const r = renderKernel(k, places);
    if (r.weights.length + 1 > limits.maxStorageBuffersPerShaderStage) {
      throw new KilnError('unsupported', `kernel ${k.name} (node '${k.origin.node}') reads weights from ${r.weights.length} buffers: with the arena over maxStorageBuffersPerShaderStage ${limits.maxStorageBuffersPerShaderStage}`);
    }
    return { name: k.name, ...r };
  });
  const manifest: WgslManifest = {
    arenaBytes: arena,
    weightBytes: blob,
    weightChunks: chunks.map(([offset, bytes]) => ({ offset, bytes })),
    inputs: program.inputs.map((b) => info(b, places.get(storageOf(b))!.word * 4)),
    outputs: program.outputs.map((b) => info(b, places.get(storageOf(b))!.word * 4)),
    kernels,
  };
  return { manifest, weights };
}

function kernelFileName(name: string, i: number): string {
  return `kernel${String(i).padStart(3, '0')}_${name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 48)}.wgsl`;
}

const DTS = `/* Generated by Kiln. Typings of model.js. */
/// <reference types="@webgpu/types" />
export type WgslArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array;
export interface TensorInfo { readonly name: string; readonly dtype: string; readonly shape: readonly number[]; readonly offset: number; readonly bytes: number }
export interface Model {
  /** Runs once. Inputs in order as their storage-layout bytes (f32 as Float32Array, f16 as bit patterns, bool one byte each). */
  run(inputs: readonly ArrayBufferView[]): Promise<WgslArray[]>;
  readonly manifest: { readonly inputs: readonly TensorInfo[]; readonly outputs: readonly TensorInfo[] };
  destroy(): void;
}
/** Creates buffers and pipelines on the device; weights default to fetching weights.bin next to this module. */
export declare function load(device: GPUDevice, weights?: Uint8Array): Promise<Model>;
`;

/** The files of \`kiln compile --target wgsl\`. */
export function emitWgsl(program: Program, name: string, limits: WgslLimits = DEFAULT_WGSL_LIMITS): { files: Map<string, string | Uint8Array>; report: Record<string, unknown> } {
  const { manifest, weights } = buildWgsl(program, limits);
  const files = new Map<string, string | Uint8Array>();
  manifest.kernels.forEach((k, i) => files.set(kernelFileName(k.name, i), k.code));
  const js = [
    `// Generated by Kiln from model '${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 120)}'. Do not edit.`,
    `const manifest = ${JSON.stringify(manifest)};`,
    `const createModel = ${createModel.toString()};`,
    'export async function load(device, weights) {',
    "  const w = weights ?? new Uint8Array(await (await fetch(new URL('./weights.bin', import.meta.url))).arrayBuffer());",
    '  return createModel(device, manifest, w);',
    '}',
    '',
  ].join('\n');
  files.set('model.js', js);
  files.set('model.d.ts', DTS);
  files.set('weights.bin', weights);
  const dispatches = manifest.kernels.reduce((a, k) => a + k.entries.length, 0);
  const parallel = manifest.kernels.reduce((a, k) => a + k.entries.filter((e) => e.parallel).length, 0);
  return {
    files,
    report: {
      target: 'wgsl',
      name,
      arenaBytes: manifest.arenaBytes,
      weightBytes: manifest.weightBytes,
      weightBuffers: manifest.weightChunks.length,
      f64AsF32: limits.f64AsF32 === true,
      kernels: manifest.kernels.length,
      dispatches,
      parallelDispatches: parallel,
      inputs: manifest.inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
      outputs: manifest.outputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
    },
  };
}
