/**
 * The tile pass's schedule templates (src/passes/tile.ts, lower/perf-gemm.ts): every register tile,
 * K block and im2col block computes what the plain loop nest computes (kernel interpreter, small
 * random problems with ragged rows, columns and K blocks), and the search respects its capacity
 * constraints. The decisions per shape and device are FileCheck tests (tests/ir/tile-*.kir).
 */
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { parseModuleText } from '../src/frontend/text/parser.js';
import { lowerModule } from '../src/passes/lower.js';
import { specializeInputs } from '../src/passes/specialize.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { Tensor } from '../src/ir/tensor.js';
import { parseFixedTile, tileMachine, tilePolicy } from '../src/passes/tile.js';
import type { TilePolicy } from '../src/ir/kernel/lower/schedule.js';

const PLAIN: TilePolicy = { conv: () => null, gemm: () => null };

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(s / 2 ** 31 - 1);
  }
  return out;
}

function dense(shape: number[], seed: number): string {
  const n = shape.reduce((a, b) => a * b, 1);
  return `dense<[${values(n, seed).map((v) => v.toFixed(6)).join(', ')}]>`;
}

function run(text: string, inputShape: number[], policy: TilePolicy): { out: Float32Array; notes: string[] } {
  const n = inputShape.reduce((a, b) => a * b, 1);
  const x = Tensor.from('f32', inputShape, values(n, 7));
  const module = parseModuleText(text);
  specializeInputs(module, [x]);
  const program = lowerModule(module, 'cpu', policy);
  const [y] = runProgram(program, [x]);
  return { out: y!.data as Float32Array, notes: program.notes ?? [] };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const conv = (c: number, m: number, h: number, w: number, k: number, pad: number, stride: number): string => `kiln.module opsets {"" = 17} {
  graph @main(%x: tensor<2x${c}x${h}x${w}xf32>) -> (%y) {
    const %w: tensor<${m}x${c}x${k}x${k}xf32> = ${dense([m, c, k, k], 3)}
    const %b: tensor<${m}xf32> = ${dense([m], 5)}
    %y = "Conv"(%x, %w, %b) {pads = ints[${pad}, ${pad}, ${pad}, ${pad}], strides = ints[${stride}, ${stride}]} name "conv"
  }
}`;

const gemm = (m: number, k: number, n: number, extra: string): string => `kiln.module opsets {"" = 17} {
  graph @main(%x: tensor<${m}x${k}xf32>) -> (%y) {
    const %w: tensor<${n}x${k}xf32> = ${dense([n, k], 11)}
    const %c: tensor<${n}xf32> = ${dense([n], 13)}
    %y = "Gemm"(%x, %w, %c) {transB = 1${extra}} name "fc"
  }
}`;

const matmul = (b: number, m: number, k: number, n: number): string => `kiln.module opsets {"" = 17} {
  graph @main(%x: tensor<${b}x${m}x${k}xf32>) -> (%y) {
    const %w: tensor<${k}x${n}xf32> = ${dense([k, n], 17)}
    %y = "MatMul"(%x, %w) name "mm"
  }
}`;

describe('schedule templates compute what the plain loop nests compute', () => {
  const cases: [string, string, number[], string][] = [
    ['3x3 conv, ragged rows/cols, 3 K blocks, 2-row im2col blocks', conv(5, 7, 6, 5, 3, 1, 1), [2, 5, 6, 5], '3x8/16/2'],
    ['strided conv, K not a multiple of kc', conv(3, 9, 7, 7, 3, 1, 2), [2, 3, 7, 7], '4x4/10/1'],
    ['pointwise conv (X read directly), K blocks', conv(40, 6, 4, 6, 1, 0, 1), [2, 40, 4, 6], '4x16/16'],
    ['Gemm transB with bias, alpha and beta (finishing pass after K blocks)', gemm(13, 37, 21, ', alpha = 0.5, beta = 2.0'), [13, 37], '5x8/8'],
    ['Gemm transB, one K block', gemm(9, 20, 33, ''), [9, 20], '2x16'],
    ['batched MatMul, ragged everything', matmul(2, 11, 29, 19), [2, 11, 29], '3x8/12'],
  ];
  for (const [name, text, shape, tile] of cases) {
    it(`${name} (tile=${tile})`, () => {
      const plain = run(text, shape, PLAIN);
      const tiled = run(text, shape, tilePolicy('x86-64-avx2', parseFixedTile(tile)));
      expect(plain.notes.filter((n) => n.startsWith('tile:'))).toEqual([]);
      expect(tiled.notes.some((n) => n.startsWith('tile:') && n.includes(`R=${tile.split('x')[0]} `))).toBe(true);
      // same products, same order over k (the partial sums have the accumulator type); the plain nest
      // may contract differently, so allow rounding
      expect(maxDiff(plain.out, tiled.out)).toBeLessThan(1e-4);
    });
  }
});

describe('search', () => {
  it('keeps accumulators within the registers and the K slab within a cache level', () => {
    for (const dev of ['x86-64-avx2', 'x86-64-avx512', 'stm32f446']) {
      const m = tileMachine(dev);
      const p = tilePolicy(dev).gemm({ M: 450, N: 512, K: 4608, count: 1, accT: 'f32', kBlockable: true });
      expect(p).not.toBeNull();
      const s = p!.schedule;
      const lanes = m.vectorBits / 32;
      const vec = Math.ceil(s.W / lanes);
      expect(s.R * vec + vec + 1).toBeLessThanOrEqual(m.registers);
      expect(s.W % lanes).toBe(0);
    }
  });

  it('refuses a malformed tile option', () => {
    expect(() => parseFixedTile('8by32')).toThrow(/RxW/);
    expect(parseFixedTile('8x32/K')).toEqual({ R: 8, W: 32, kc: Infinity });
  });
});
