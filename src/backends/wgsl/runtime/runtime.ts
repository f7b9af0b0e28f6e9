/// <reference types="@webgpu/types" />
/**
 * The WebGPU runtime of a compiled model. It uses only the WebGPU API (no Node or DOM imports), so
 * the same code runs in Node (the `webgpu` package) and in a browser (`navigator.gpu`). It is also
 * written into every `kiln compile --target wgsl` output as the body of model.js, via
 * `createModel.toString()`: it must stay one self-contained function that uses nothing from outside
 * its own body (not even imports or module-level helpers).
 *
 * Buffers, pipelines and bind groups are made once in createModel; each run writes the inputs to a
 * staging buffer, records one command buffer (clear the arena, copy the inputs in, one dispatch per
 * entry point in order, copy the outputs out) and reads the outputs back.
 */

/** Where one input/output lives in the arena and how to view its bytes. */
export interface WgslTensorInfo {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte offset in the arena (a multiple of 16). */
  readonly offset: number;
  /** Bytes of its elements in the storage layout (not padded). */
  readonly bytes: number;
}

export interface WgslManifest {
  readonly arenaBytes: number;
  readonly weightBytes: number;
  /** The weights' storage buffers (binding 1 + index): where each starts in the weights blob, its bytes. */
  readonly weightChunks: readonly { readonly offset: number; readonly bytes: number }[];
  readonly inputs: readonly WgslTensorInfo[];
  readonly outputs: readonly WgslTensorInfo[];
  readonly kernels: readonly { readonly name: string; readonly code: string; readonly weights: readonly number[]; readonly entries: readonly { readonly name: string; readonly groups: readonly [number, number, number]; readonly parallel: boolean; readonly loops?: number | null }[] }[];
}

/** Element bytes of outputs (raw storage layout: bool and sub-byte types one per byte, f16/bf16/f8 as bits, f64 as f32). */
export type WgslArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array;

export interface WgslModel {
  /** Runs once; inputs in program-input order (any ArrayBufferView holding the storage-layout bytes). */
  run(inputs: readonly ArrayBufferView[]): Promise<WgslArray[]>;
  readonly manifest: WgslManifest;
  destroy(): void;
}

/** Shader compilation messages of type error (and, with strict, warning) as one line each. */
export interface WgslCompileProblem {
  readonly kernel: string;
  readonly message: string;
}

export async function createModel(device: GPUDevice, manifest: WgslManifest, weights: Uint8Array, strict = false): Promise<WgslModel> {
  const STORAGE = 0x80;
  const COPY_SRC = 0x4;
  const COPY_DST = 0x8;
  const MAP_READ = 0x1;
  const round4 = (n: number): number => Math.ceil(n / 4) * 4;
  const arena = device.createBuffer({ size: Math.max(16, round4(manifest.arenaBytes)), usage: STORAGE | COPY_SRC | COPY_DST });
  const weightBufs = manifest.weightChunks.map((c) => {
    const buf = device.createBuffer({ size: Math.max(16, round4(c.bytes)), usage: STORAGE | COPY_DST });
    if (c.bytes > 0) {
      const padded = new Uint8Array(round4(c.bytes));
      padded.set(weights.subarray(c.offset, c.offset + c.bytes));
      device.queue.writeBuffer(buf, 0, padded);
    }
    return buf;
  });
  const inBytes = manifest.inputs.reduce((a, t) => a + round4(t.bytes), 0);
  const outBytes = manifest.outputs.reduce((a, t) => a + round4(t.bytes), 0);
  const staging = device.createBuffer({ size: Math.max(16, inBytes), usage: COPY_SRC | COPY_DST });
  const readback = device.createBuffer({ size: Math.max(16, outBytes), usage: MAP_READ | COPY_DST });
  // one bind group per set of weight chunks the shaders read (most models: one, arena + weights)
  const groupsByKey = new Map<string, { layout: GPUPipelineLayout; group: GPUBindGroup }>();
  const bindingsFor = (chunks: readonly number[]): { layout: GPUPipelineLayout; group: GPUBindGroup } => {
    const key = chunks.join(',');
    let g = groupsByKey.get(key);
    if (!g) {
      const layout = device.createBindGroupLayout({
        entries: [{ binding: 0, visibility: 4, buffer: { type: 'storage' } }, ...chunks.map((c) => ({ binding: 1 + c, visibility: 4, buffer: { type: 'read-only-storage' as const } }))],
      });
      const group = device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: arena } }, ...chunks.map((c) => ({ binding: 1 + c, resource: { buffer: weightBufs[c]! } }))] });
      g = { layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), group };
      groupsByKey.set(key, g);
    }
    return g;
  };
  const dispatches: { pipeline: GPUComputePipeline; group: GPUBindGroup; groups: readonly [number, number, number] }[] = [];
  device.pushErrorScope('validation');
  const problems: string[] = [];
  for (const k of manifest.kernels) {
    const module = device.createShaderModule({ code: k.code, label: k.name });
    const info = await module.getCompilationInfo();
    for (const m of info.messages) {
      if (m.type === 'error' || (strict && m.type === 'warning')) problems.push(`shader of ${k.name}: ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`);
    }
    if (problems.length > 0) break;
    const b = bindingsFor(k.weights);
    for (const e of k.entries) {
      dispatches.push({ pipeline: device.createComputePipeline({ layout: b.layout, compute: { module, entryPoint: e.name }, label: `${k.name}.${e.name}` }), group: b.group, groups: e.groups });
    }
  }
  const err = await device.popErrorScope();
  if (problems.length > 0 || err) {
    arena.destroy();
    for (const w of weightBufs) w.destroy();
    staging.destroy();
    readback.destroy();
    throw new Error(problems[0] ?? `WebGPU validation: ${err!.message}`);
  }
  const view = (dtype: string, buf: ArrayBuffer): WgslArray => {
    switch (dtype) {
      case 'f32': case 'f64': return new Float32Array(buf);
      case 'i32': return new Int32Array(buf);
      case 'u32': return new Uint32Array(buf);
      case 'i16': return new Int16Array(buf);
      case 'u16': case 'f16': case 'bf16': return new Uint16Array(buf);
      case 'i8': case 'i4': case 'i2': return new Int8Array(buf);
      default: return new Uint8Array(buf);
    }
  };
  return {
    manifest,
    async run(inputs: readonly ArrayBufferView[]): Promise<WgslArray[]> {
      if (inputs.length !== manifest.inputs.length) throw new Error(`the model takes ${manifest.inputs.length} inputs, ${inputs.length} given`);
      const host = new Uint8Array(Math.max(16, inBytes));
      let at = 0;
      manifest.inputs.forEach((t, i) => {
        const x = inputs[i]!;
        if (x.byteLength !== t.bytes) throw new Error(`input ${i} ('${t.name}') has ${x.byteLength} bytes, the model wants ${t.bytes}`);
        host.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), at);
        at += round4(t.bytes);
      });
      device.queue.writeBuffer(staging, 0, host);
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder();
      enc.clearBuffer(arena);
      at = 0;
      for (const t of manifest.inputs) {
        if (t.bytes > 0) enc.copyBufferToBuffer(staging, at, arena, t.offset, round4(t.bytes));
        at += round4(t.bytes);
      }
      if (dispatches.length > 0) {
        const pass = enc.beginComputePass();
        for (const d of dispatches) {
          pass.setBindGroup(0, d.group);
          pass.setPipeline(d.pipeline);
          pass.dispatchWorkgroups(d.groups[0], d.groups[1], d.groups[2]);
        }
        pass.end();
      }
      at = 0;
      for (const t of manifest.outputs) {
        if (t.bytes > 0) enc.copyBufferToBuffer(arena, t.offset, readback, at, round4(t.bytes));
        at += round4(t.bytes);
      }
      device.queue.submit([enc.finish()]);
      const e = await device.popErrorScope();
      if (e) throw new Error(`WebGPU validation: ${e.message}`);
      await readback.mapAsync(MAP_READ);
      const all = readback.getMappedRange().slice(0);
      readback.unmap();
      at = 0;
      return manifest.outputs.map((t) => {
        const out = all.slice(at, at + t.bytes);
        at += round4(t.bytes);
        return view(t.dtype, out);
      });
    },
    destroy(): void {
      arena.destroy();
      for (const w of weightBufs) w.destroy();
      staging.destroy();
      readback.destroy();
    },
  };
}
