/**
 * The WGSL target: the map-gpu pass's annotations (from access functions, in the text form), the
 * shaders Dawn validates (errors and warnings both fail), a deterministic sample of the ONNX
 * conformance cases run on WebGPU (Dawn's OpenGL ES backend on Mesa llvmpipe here), and the
 * generated ES module of `kiln compile --target wgsl` loaded and run as a user would.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseProgramText } from '../src/frontend/text/kernel-parser.js';
import { printProgram } from '../src/ir/kernel/print.js';
import { verifyProgram } from '../src/ir/kernel/verify.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { mapGpu } from '../src/passes/map-gpu.js';
import { runCase } from '../src/driver/testcase.js';
import { dawnAvailable, openDevice, runWgslNode } from '../src/backends/wgsl/node.js';
import { buildWgsl, emitWgsl, wgslLimitsOf } from '../src/backends/wgsl/emit.js';
import { Tensor } from '../src/ir/tensor.js';
import { ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';
import { FLOAT, floatTensor, modelBytes, node, vi } from './helpers/onnx-builder.js';
import { importOnnx } from '../src/api.js';
import { lowerModule } from '../src/passes/lower.js';
import '../src/driver/targets.js';
import { LLVMPIPE_LOOP_LIMIT } from '../src/backends/wgsl/iterations.js';

const haveDawn = dawnAvailable();
if (!haveDawn) console.log('skipped: webgpu/Mesa not installed');
const haveData = fs.existsSync(path.join(ONNX_TESTS, 'node'));
if (!haveData) console.log('skipped: ../shared/onnx-tests not present');

const PROGRAM = `kiln.kernel @t {
  buffer %a: input f32[4,8]
  buffer %b: output f32[4,8]
  buffer %s: output f32[4]
  buffer %c: output f32[8]
  inputs (%a)
  outputs (%b, %s, %c)
  kernel @ew from "n0" ("Whatever") {
    for %i in 0 to 4 {
      for %j in 0 to 8 {
        store %b[%i * 8 + %j] = %a[%i * 8 + %j] * 2.0
      }
    }
  }
  kernel @rowsum from "n1" ("Whatever") {
    for %i in 0 to 4 {
      let %acc: f32 = 0.0
      for %k in 0 to 8 {
        set %acc = %acc + %a[%i * 8 + %k]
      }
      store %s[%i] = %acc
    }
  }
  kernel @scan from "n2" ("Whatever") {
    store %c[0] = %a[0]
    for %i in 1 to 8 {
      store %c[%i] = %c[%i - 1] + %a[%i]
    }
  }
}
`;

// a pooling-like nest: offsets through lets, an inner window loop, 4 independent loops
const POOLISH = `kiln.kernel @t {
  buffer %x: input f32[2,3,6,7]
  buffer %y: output f32[2,3,5,7]
  inputs (%x)
  outputs (%y)
  kernel @pool from "n" ("Whatever") {
    for %n in 0 to 2 {
      for %c in 0 to 3 {
        let %b: index = (%n * 3 + %c) * 42
        let %yb: index = (%n * 3 + %c) * 35
        for %h in 0 to 5 {
          let %o: index = %h * 7
          for %w in 0 to 7 {
            let %acc: f32 = 0.0
            for %k in 0 to 2 {
              set %acc = %acc + %x[%b + (%h + %k) * 7 + %w]
            }
            store %y[%yb + %o + %w] = %acc
          }
        }
      }
    }
  }
}
`;

describe('map-gpu', () => {
  it('maps independent loops from their access functions and leaves dependent ones', () => {
    const p = parseProgramText(PROGRAM);
    mapGpu(p);
    verifyProgram(p);
    const text = printProgram(p);
    expect(text).toContain('for %i in 0 to 4 gpu y 4 {');
    expect(text).toContain('for %j in 0 to 8 gpu x 8 {');
    // the row sum: rows are independent; the reduction loop carries %acc
    expect(text).toMatch(/kernel @rowsum[^]*for %i in 0 to 4 gpu x 4 \{[^]*for %k in 0 to 8 \{/);
    // the prefix sum reads what the previous iteration wrote
    expect(text).toMatch(/kernel @scan[^]*for %i in 1 to 8 \{/);
    expect(text.match(/gpu/g)?.length).toBe(3);
    // text form round trip with the annotations
    const again = parseProgramText(text);
    expect(printProgram(again)).toBe(text);
    // annotations do not change what the interpreter computes
    const a = Tensor.from('f32', [4, 8], Array.from({ length: 32 }, (_, i) => i - 3.5));
    const before = runProgram(parseProgramText(PROGRAM), [a]);
    const after = runProgram(again, [a]);
    after.forEach((t, i) => expect(Array.from(t.data as Float32Array)).toEqual(Array.from(before[i]!.data as Float32Array)));
  });

  it('collapses loops through index lets (row offsets) and shares z among outer loops', () => {
    const p = parseProgramText(POOLISH);
    mapGpu(p);
    verifyProgram(p);
    const text = printProgram(p);
    expect(text).toContain('for %n in 0 to 2 gpu z');
    expect(text).toContain('for %c in 0 to 3 gpu z');
    expect(text).toContain('for %h in 0 to 5 gpu y');
    expect(text).toContain('for %w in 0 to 7 gpu x');
    // the window loop reads a neighbour row: it stays inside the invocation
    expect(text).toMatch(/for %k in 0 to 2 \{/);
    expect(printProgram(parseProgramText(text))).toBe(text);
  });

  it('keeps a loop whose let is set later, or whose offsets overlap, unmapped', () => {
    const p = parseProgramText(POOLISH.replace('let %o: index = %h * 7', 'let %o: index = %h * 6'));
    mapGpu(p);
    // rows 6 wide for 7 columns: row h's last element is row h+1's first, so %h is not independent
    expect(printProgram(p)).not.toMatch(/for %h in 0 to 5 gpu/);
  });

  it('verifies workgroup forms: barriers and local loops only directly in a group loop', () => {
    const wrap = (body: string): string => `kiln.kernel @t {
  buffer %y: output f32[64]
  buffer %w: temp f32[64] level "workgroup"
  inputs ()
  outputs (%y)
  kernel @k from "n" ("X") {
${body}
  }
}
`;
    const ok = wrap('    for %g in 0 to 1 gpu group x 64 {\n      for %l in 0 to 64 gpu local x 64 {\n        store %w[%l] = 1.0\n      }\n      barrier\n      for %l in 0 to 64 gpu local x 64 {\n        store %y[%l] = %w[63 - %l]\n      }\n    }');
    const p = parseProgramText(ok);
    verifyProgram(p);
    expect(printProgram(parseProgramText(printProgram(p)))).toBe(printProgram(p));
    expect(() => verifyProgram(parseProgramText(wrap('    barrier')))).toThrow(/a barrier must be directly in a gpu group loop/);
    expect(() => verifyProgram(parseProgramText(wrap('    for %l in 0 to 64 gpu local x 64 {\n      store %y[%l] = 1.0\n    }')))).toThrow(/a gpu local loop must be directly in a gpu group loop/);
    expect(() => verifyProgram(parseProgramText(ok.replace('for %l in 0 to 64 gpu local x 64 {\n        store %y', 'for %l in 0 to 65 gpu local x 64 {\n        store %y')))).toThrow(/constant bounds within the workgroup size 64/);
    expect(() => parseProgramText(ok.replace('gpu group x', 'gpu team x'))).toThrow(/gpu scope 'team' is not group or local/);
  });

  it('refuses malformed gpu annotations with a located error', () => {
    expect(() => parseProgramText(PROGRAM.replace('for %j in 0 to 8 {', 'for %j in 0 to 8 gpu w 8 {'))).toThrow(/gpu dimension 'w' is not x, y or z/);
  });

  it('substitutes top-level lets of fixed values (literals, constants) so the loop after them maps; others keep the kernel whole', () => {
    const text = (init: string): string => `kiln.kernel @t {
  buffer %x: input f32[16]
  buffer %k: const i32[2] = dense<[3, 5]>
  buffer %y: output f32[8]
  inputs (%x)
  outputs (%y)
  kernel @k from "n" ("Whatever") {
    let %base: index = 2 * 3
    let %z: i32 = ${init}
    for %i in 0 to 8 {
      store %y[%i] = %x[%i + %base] * cast<f32>(%z)
    }
  }
}
`;
    const fixed = parseProgramText(text('%k[1] + 1'));
    const x = Tensor.from('f32', [16], Array.from({ length: 16 }, (_, i) => i - 4.5));
    const want = runProgram(fixed, [x]);
    mapGpu(fixed);
    expect(fixed.kernels[0]!.body.map((s) => s.k)).toEqual(['for']);
    expect(printProgram(fixed)).toMatch(/for %i in 0 to 8 gpu x 8/);
    expect(Array.from(runProgram(fixed, [x])[0]!.data as Float32Array)).toEqual(Array.from(want[0]!.data as Float32Array));
    // a let reading an input could change between dispatches' views: the kernel stays one invocation
    const varying = parseProgramText(text('cast<i32>(%x[0])'));
    mapGpu(varying);
    expect(varying.kernels[0]!.body.map((s) => s.k)).toEqual(['let', 'let', 'for']);
    expect(printProgram(varying)).not.toMatch(/gpu/);
    // loops before the first top-level local still map (a softmax, then a loss summed in a local)
    const before = parseProgramText(`kiln.kernel @t {
  buffer %x: input f32[64]
  buffer %e: output f32[64]
  buffer %s: output f32[1]
  inputs (%x)
  outputs (%e, %s)
  kernel @k from "n" ("Whatever") {
    for %i in 0 to 64 {
      store %e[%i] = exp(%x[%i])
    }
    let %acc: f32 = 0.0
    for %j in 0 to 64 {
      set %acc = %acc + %e[%j]
    }
    store %s[0] = %acc
  }
}
`);
    mapGpu(before);
    expect(printProgram(before)).toMatch(/for %i in 0 to 64 gpu x 64/);
    expect(printProgram(before)).toMatch(/for %j in 0 to 64 \{/);
    expect(buildWgsl(before).manifest.kernels[0]!.entries.map((e) => e.parallel)).toEqual([true, false]);
  });

  it('lowers for GPU targets into per-output nests that all map to the grid and compute what the CPU nests compute', () => {
    const ints = (name: string, v: number[]): Record<string, unknown> => ({ name, ints: v, type: 7 });
    const vals = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => ((i * k) % 11) / 8 - 0.6);
    const bytes = modelBytes({
      nodes: [
        node('Conv', ['x', 'w1', 'b1'], ['c1'], { attribute: [ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])] }),
        node('Conv', ['c1', 'w2'], ['c2'], { attribute: [ints('pads', [1, 0, 1, 2]), { name: 'group', i: 8, type: 2 }] }),
        node('Flatten', ['c2'], ['f']),
        node('MatMul', ['f', 'w3'], ['y']),
      ],
      inputs: [vi('x', FLOAT, [1, 4, 9, 9])],
      outputs: [vi('y', FLOAT, [1, 6])],
      initializers: [floatTensor('w1', [8, 4, 3, 3], vals(288, 7)), floatTensor('b1', [8], vals(8, 3)), floatTensor('w2', [8, 1, 3, 3], vals(72, 5)), floatTensor('w3', [200, 6], vals(1200, 13))],
    });
    const x = Tensor.from('f32', [1, 4, 9, 9], vals(324, 17));
    const cpu = lowerModule(importOnnx(bytes), 'cpu');
    const gpu = lowerModule(importOnnx(bytes), 'gpu');
    mapGpu(gpu);
    const entries = buildWgsl(gpu).manifest.kernels.flatMap((k) => k.entries);
    expect(entries.filter((e) => !e.parallel)).toEqual([]);
    expect(Math.max(...entries.map((e) => e.loops ?? Infinity))).toBeLessThan(LLVMPIPE_LOOP_LIMIT / 100);
    const want = runProgram(cpu, [x])[0]!.data as Float32Array;
    const got = runProgram(gpu, [x])[0]!.data as Float32Array;
    expect(got.length).toBe(6);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
  });

  describe.skipIf(!haveDawn)('on WebGPU', () => {
    it('runs the mapped program and matches the interpreter; shaders validate without warnings', async () => {
      const p = parseProgramText(PROGRAM);
      mapGpu(p);
      const a = Tensor.from('f32', [4, 8], Array.from({ length: 32 }, (_, i) => (i * 7) % 5 - 1.25));
      const want = runProgram(p, [a]);
      const got = await runWgslNode(p, [a], { strict: true });
      got.forEach((t, i) => expect(Array.from(t.data as Float32Array)).toEqual(Array.from(want[i]!.data as Float32Array)));
      const { manifest } = buildWgsl(p);
      expect(manifest.kernels.map((k) => k.entries.map((e) => e.parallel))).toEqual([[true], [true], [false]]);
    });

    it('bounds one invocation\'s loop iterations, and on llvmpipe refuses an entry over its 65535 (it would return partial results)', async () => {
      const p = parseProgramText(`kiln.kernel @t {
  buffer %a: input f32[70000]
  buffer %c: output f32[70000]
  inputs (%a)
  outputs (%c)
  kernel @scan from "n" ("Whatever") {
    store %c[0] = %a[0]
    for %i in 1 to 70000 {
      store %c[%i] = %c[%i - 1] + %a[%i]
    }
  }
}
`);
      mapGpu(p);
      expect(buildWgsl(p).manifest.kernels[0]!.entries).toMatchObject([{ parallel: false, loops: 69999 }]);
      const device = await openDevice();
      const llvmpipe = /llvmpipe/i.test(`${device.adapterInfo.device} ${device.adapterInfo.description}`);
      device.destroy();
      const a = Tensor.from('f32', [70000], Array.from({ length: 70000 }, () => 1));
      if (llvmpipe) await expect(runWgslNode(p, [a])).rejects.toThrow(/up to 69999 loop iterations, and Mesa llvmpipe stops/);
      else expect((await runWgslNode(p, [a]))[0]!.data[69999]).toBe(70000);
    });

    it('runs a nest collapsed through lets (z shared by two loops) as the interpreter does', async () => {
      const p = parseProgramText(POOLISH);
      mapGpu(p);
      const x = Tensor.from('f32', [2, 3, 6, 7], Array.from({ length: 252 }, (_, i) => ((i * 13) % 17) - 8.5));
      const want = runProgram(p, [x]);
      const got = await runWgslNode(p, [x], { strict: true });
      expect(Array.from(got[0]!.data as Float32Array)).toEqual(Array.from(want[0]!.data as Float32Array));
      expect(buildWgsl(p).manifest.kernels[0]!.entries[0]!.groups[2]).toBe(6);
    });

    it('splits weights over max-storage-binding into several bindings, and refuses a shader that would need too many', async () => {
      const w = (k: number): string => `dense<[${Array.from({ length: 48 }, (_, i) => `${(i * k) % 7}.5`).join(', ')}]>`;
      const text = `kiln.kernel @t {
  buffer %a: input f32[16]
  buffer %w0: const f32[48] = ${w(1)}
  buffer %w1: const f32[48] = ${w(3)}
  buffer %w2: const f32[48] = ${w(5)}
  buffer %y: output f32[16]
  buffer %z: output f32[16]
  inputs (%a)
  outputs (%y, %z)
  kernel @k from "n" ("X") {
    for %i in 0 to 16 {
      store %y[%i] = %a[%i] * %w0[%i * 3] + %w1[%i * 3 + 1] - %w2[47 - %i * 3]
    }
  }
  kernel @k2 from "n2" ("X") {
    for %i in 0 to 16 {
      store %z[%i] = %w2[%i + 20] * %a[%i]
    }
  }
}
`;
      const p = parseProgramText(text);
      mapGpu(p);
      const limits = wgslLimitsOf({ 'max-storage-binding': '192' });
      const { manifest } = buildWgsl(p, limits);
      expect(manifest.weightChunks.length).toBe(3);
      expect(manifest.kernels.map((k) => k.weights)).toEqual([[0, 1, 2], [2]]);
      expect(manifest.kernels[1]!.code).toContain('@group(0) @binding(3) var<storage, read> weights2');
      const a = Tensor.from('f32', [16], Array.from({ length: 16 }, (_, i) => i - 7.25));
      const want = runProgram(p, [a]);
      const got = await runWgslNode(p, [a], { strict: true, limits });
      got.forEach((t, i) => expect(Array.from(t.data as Float32Array)).toEqual(Array.from(want[i]!.data as Float32Array)));
      // one shader reading 3 chunks plus the arena is over a 3-buffer limit
      expect(() => buildWgsl(p, { ...limits, maxStorageBuffersPerShaderStage: 3 })).toThrow(/reads weights from 3 buffers/);
      // a constant larger than one binding is refused with the reason
      expect(() => buildWgsl(p, wgslLimitsOf({ 'max-storage-binding': '128' }))).toThrow(/constant 'w0' needs 192 bytes, over the device's maxStorageBufferBindingSize 128/);
    });

    it('f8/f4 stores round as the interpreter; f64 is refused unless computed in f32', async () => {
      const p = parseProgramText(`kiln.kernel @t {
  buffer %a: input f32[64]
  buffer %e: output f8e4m3fn[64]
  buffer %u: output f8e4m3fnuz[64]
  buffer %m: output f8e5m2[64]
  buffer %n: output f8e5m2fnuz[64]
  buffer %f: output f4e2m1[64]
  buffer %b: output f32[64]
  inputs (%a)
  outputs (%e, %u, %m, %n, %f, %b)
  kernel @k from "n" ("X") {
    for %i in 0 to 64 {
      store %e[%i] = cast<f8e4m3fn>(%a[%i])
      store %u[%i] = cast<f8e4m3fnuz>(%a[%i])
      store %m[%i] = cast<f8e5m2>(%a[%i])
      store %n[%i] = cast<f8e5m2fnuz>(%a[%i])
      store %f[%i] = cast<f4e2m1>(%a[%i])
      store %b[%i] = cast<f32>(cast<f8e5m2>(%a[%i])) + cast<f32>(cast<f4e2m1>(%a[%i]))
    }
  }
}
`);
      mapGpu(p);
      // ties, subnormals, overflow, ±0, NaN and ±inf of every format
      const vals = [0, -0, 0.5, -1.75, 3.25, 448, 464, 480, 57344, 61440, 1e6, -1e6, 2 ** -9, 2 ** -10, 3 * 2 ** -11, 2 ** -17, 1.5 * 2 ** -17, 0.25, 0.75, 2.5, 5, 7, -6.5, NaN, Infinity, -Infinity, 1e-30, 240, 248, 256, 15.5, 17];
      const a = Tensor.from('f32', [64], Array.from({ length: 64 }, (_, i) => (i < vals.length ? vals[i]! : (i - 40) * 1.37)));
      const want = runProgram(p, [a]);
      const got = await runWgslNode(p, [a], { strict: true });
      got.forEach((t, i) => expect(Array.from(t.data as ArrayLike<number>)).toEqual(Array.from(want[i]!.data as ArrayLike<number>)));
      const d = parseProgramText(`kiln.kernel @t {
  buffer %a: input f64[4]
  buffer %y: output f64[4]
  inputs (%a)
  outputs (%y)
  kernel @k from "n" ("X") {
    for %i in 0 to 4 {
      store %y[%i] = %a[%i] * 0.5:f64
    }
  }
}
`);
      expect(() => buildWgsl(d)).toThrow(/f64 is not available in WGSL \(--target-option allow-f64-as-f32=yes computes it in f32\)/);
      const x = Tensor.from('f64', [4], [1, -3, 0.1, 1e10]);
      const y = await runWgslNode(d, [x], { strict: true, limits: wgslLimitsOf({ 'allow-f64-as-f32': 'yes' }) });
      expect(Array.from(y[0]!.data as Float64Array)).toEqual([0.5, -1.5, Math.fround(Math.fround(0.1) * 0.5), 5e9]);
    });

    it('runs reductions as workgroup trees (shared memory, barriers) exactly as the interpreter runs the mapped program', async () => {
      const p = parseProgramText(fs.readFileSync(path.resolve('tests/ir/map-gpu-tree.kir'), 'utf8'));
      const a = Tensor.from('f32', [6, 1000], Array.from({ length: 6000 }, (_, i) => ((i * 7919) % 201) - 100));
      mapGpu(p);
      verifyProgram(p);
      expect(printProgram(p)).toContain('gpu group x 64');
      const want = runProgram(p, [a]);
      const { manifest } = buildWgsl(p);
      expect(manifest.kernels[0]!.code).toContain('var<workgroup>');
      expect(manifest.kernels[0]!.code.match(/workgroupBarrier\(\);/g)?.length).toBe(7);
      expect(manifest.kernels[0]!.entries[0]!.groups).toEqual([6, 1, 1]);
      expect(manifest.kernels[1]!.entries[0]!.groups).toEqual([3, 2, 1]);
      const got = await runWgslNode(p, [a], { strict: true });
      got.forEach((t, i) => expect(Array.from(t.data as Float32Array)).toEqual(Array.from(want[i]!.data as Float32Array)));
    });

    it('packs sub-word types: neighbours written by different invocations survive', async () => {
      const p = parseProgramText(`kiln.kernel @t {
  buffer %a: input i8[37]
  buffer %h: output f16[37]
  buffer %m: output bool[37]
  buffer %q: output u4[37]
  buffer %g: output i2[37]
  inputs (%a)
  outputs (%h, %m, %q, %g)
  kernel @k from "n" ("X") {
    for %i in 0 to 37 {
      store %h[%i] = cast<f16>(cast<f32>(%a[%i]) / 3.0)
      store %m[%i] = %a[%i] > 0:i8
      store %q[%i] = cast<u4>(%a[%i])
      store %g[%i] = cast<i2>(cast<f32>(%a[%i]) - 0.5)
    }
  }
}
`);
      mapGpu(p);
      expect(printProgram(p)).toContain('gpu x');
      const a = Tensor.from('i8', [37], Array.from({ length: 37 }, (_, i) => ((i * 37) % 256) - 128));
      const want = runProgram(p, [a]);
      const got = await runWgslNode(p, [a], { strict: true });
      got.forEach((t, i) => expect(Array.from(t.data as ArrayLike<number>)).toEqual(Array.from(want[i]!.data as ArrayLike<number>)));
    });

    it('emulates i64/u64 with vec2<u32> exactly as the interpreter computes them', async () => {
      const ops = ['add', 'sub', 'mul', 'div', 'mod', 'min', 'max', 'bitxor', 'shr', 'shl'];
      // shift amounts kept in 0..15 (negative amounts are outside every ONNX op's domain)
      const lines = ops.map((op, j) => `      store %r[%i * ${ops.length} + ${j}] = ${op}(%a[%i], ${op.startsWith('sh') ? 'bitand(%b[%i], 15)' : '%b[%i]'})`);
      const p = parseProgramText(`kiln.kernel @t {
  buffer %a: input i64[8]
  buffer %b: input i64[8]
  buffer %r: output i64[${8 * ops.length}]
  buffer %c: output u64[8]
  buffer %f: output f32[8]
  buffer %l: output bool[8]
  inputs (%a, %b)
  outputs (%r, %c, %f, %l)
  kernel @k from "n" ("X") {
    for %i in 0 to 8 {
${lines.join('\n')}
      store %c[%i] = cast<u64>(%a[%i]) / cast<u64>(%b[%i])
      store %f[%i] = cast<f32>(%a[%i])
      store %l[%i] = %a[%i] < %b[%i]
    }
  }
}
`);
      mapGpu(p);
      const big = [0n, 1n, -1n, 123456789012345n, -98765432109876n, 2n ** 62n + 7n, -(2n ** 63n), 40n];
      const a = Tensor.from('i64', [8], big);
      const b = Tensor.from('i64', [8], [3n, -7n, 5n, -4096n, 12345n, 3n, -1n, 0n]);
      const want = runProgram(p, [a, b]);
      const got = await runWgslNode(p, [a, b], { strict: true });
      got.forEach((t, i) => expect(Array.from(t.data as ArrayLike<number | bigint>)).toEqual(Array.from(want[i]!.data as ArrayLike<number | bigint>)));
    });
  });
});

describe.skipIf(!haveDawn || !haveData)('wgsl conformance sample', () => {
  // every 20th case in name order: a fixed, deterministic slice of all op families
  const all = haveData ? fs.readdirSync(path.join(ONNX_TESTS, 'node')).sort() : [];
  const sample = all.filter((_, i) => i % 20 === 0);

  it('every case passes or is refused with a reason; none fails or errors', async () => {
    const bad: string[] = [];
    let passed = 0;
    for (const c of sample) {
      const r = await runCase(path.join(ONNX_TESTS, 'node', c), 'wgsl');
      if (r.status === 'pass') passed++;
      else if (r.status !== 'unsupported') bad.push(`${c}: ${r.status} ${r.message}`);
      else expect(r.message).not.toBe('');
    }
    console.log(`wgsl conformance sample: ${passed}/${sample.length} pass`);
    expect(bad).toEqual([]);
    expect(passed).toBeGreaterThan(0);
  }, 300_000);
});

describe.skipIf(!haveDawn || !haveData)('kiln compile --target wgsl files', () => {
  it('model.js loads on a device and computes what the interpreter computes', async () => {
    const p = parseProgramText(PROGRAM);
    mapGpu(p);
    const dir = tempDir();
    const { files, report } = emitWgsl(p, 't');
    for (const [n, d] of files) fs.writeFileSync(path.join(dir, n), d);
    expect(report.parallelDispatches).toBe(2);
    expect(fs.readFileSync(path.join(dir, 'model.d.ts'), 'utf8')).toContain('export declare function load(device: GPUDevice');
    expect(emitWgsl(p, 't').files.get('model.js')).toBe(files.get('model.js'));
    const mod = (await import(pathToFileURL(path.join(dir, 'model.js')).href)) as { load(d: GPUDevice, w: Uint8Array): Promise<{ run(x: ArrayBufferView[]): Promise<ArrayBufferView[]>; destroy(): void }> };
    const device = await openDevice();
    try {
      const model = await mod.load(device, new Uint8Array(fs.readFileSync(path.join(dir, 'weights.bin'))));
      const a = Tensor.from('f32', [4, 8], Array.from({ length: 32 }, (_, i) => i / 8));
      const out = await model.run([a.data as Float32Array]);
      const want = runProgram(p, [a]);
      out.forEach((o, i) => expect(Array.from(o as Float32Array)).toEqual(Array.from(want[i]!.data as Float32Array)));
      model.destroy();
    } finally {
      device.destroy();
    }
  });
});
