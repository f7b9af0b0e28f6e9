/** The reuse-aware memory model on hand-built nests whose footprints and traffic are computed by hand. */
import { describe, expect, it } from 'vitest';
import { parseProgramText } from '../src/frontend/text/kernel-parser.js';
import { affineOf, contractionBoundBytes, flashAttentionBoundBytes, kernelFootprint, kernelTraffic, reuseCost } from '../src/costmodel/memory-model.js';
import { hostRoofline, type Roofline } from '../src/costmodel/roofline.js';
import { kernelCosts } from '../src/costmodel/kernel-cost.js';
import type { Kernel } from '../src/ir/kernel/types.js';

const one = (bufs: string[], ins: string[], outs: string[], body: string): Kernel =>
  parseProgramText(`kiln.kernel @main {\n${bufs.map((b) => `  buffer ${b}\n`).join('')}  inputs (${ins.join(', ')})\n  outputs (${outs.join(', ')})\n  kernel @k from "k" ("K") {\n${body}  }\n}\n`).kernels[0]!;

const gemm = (n: number, order: 'ikj' | 'ijk-acc' | 'jik-acc'): Kernel => {
  const inner =
    order === 'ikj'
      ? `for %i in 0 to ${n} {\n for %k in 0 to ${n} {\n for %j in 0 to ${n} {\n store %c[%i * ${n} + %j] = %c[%i * ${n} + %j] + %a[%i * ${n} + %k] * %b[%k * ${n} + %j]\n }\n }\n }\n`
      : `for %${order[0]} in 0 to ${n} {\n for %${order[1]} in 0 to ${n} {\n let %s: f32 = 0.0\n for %k in 0 to ${n} {\n set %s = %s + %a[%i * ${n} + %k] * %b[%k * ${n} + %j]\n }\n store %c[%i * ${n} + %j] = %s\n }\n }\n`;
  return one([`%a: input f32[${n}, ${n}]`, `%b: input f32[${n}, ${n}]`, `%c: output f32[${n}, ${n}]`], ['%a', '%b'], ['%c'], inner);
};

/** A two-level hierarchy: a fast memory of `fast` bytes, then DRAM. */
const twoLevel = (fast: number): Roofline => ({
  ...hostRoofline('x86-64-avx2'),
  levels: [
    { name: 'L1', bytes: fast, lineBytes: 64, bytesPerCycle: 64, measured: false },
    { name: 'DRAM', bytes: null, lineBytes: 64, bytesPerCycle: 8, measured: false },
  ],
});

describe('affine access functions', () => {
  it('reads strides and offsets through index locals, and refuses div/mod', () => {
    const k = one(['%x: input f32[64]', '%y: output f32[8]'], ['%x'], ['%y'], 'for %i in 0 to 8 {\n let %p: index = %i * 8 + 3\n store %y[%i] = %x[%p - 1]\n }\n');
    const loop = k.body[0] as Extract<Kernel['body'][number], { k: 'for' }>;
    const store = loop.body[1] as Extract<Kernel['body'][number], { k: 'store' }>;
    const defs = new Map([['p', (loop.body[0] as Extract<Kernel['body'][number], { k: 'let' }>).init]]);
    const a = affineOf((store.val as Extract<typeof store.val, { k: 'load' }>).idx, defs, new Set(['i']));
    expect(a).toEqual({ c: 2, co: new Map([['i', 8]]) });
    const d = one(['%x: input f32[64]', '%y: output f32[64]'], ['%x'], ['%y'], 'for %i in 0 to 64 {\n store %y[%i] = %x[%i / 2]\n }\n');
    const dl = (d.body[0] as Extract<Kernel['body'][number], { k: 'for' }>).body[0] as Extract<Kernel['body'][number], { k: 'store' }>;
    expect(affineOf((dl.val as Extract<typeof dl.val, { k: 'load' }>).idx, new Map(), new Set(['i']))).toBeNull();
  });
});

describe('footprints', () => {
  it('a copy of 1024 f32 touches both buffers once: 2 x 4096 bytes', () => {
    const k = one(['%x: input f32[1024]', '%y: output f32[1024]'], ['%x'], ['%y'], 'for %i in 0 to 1024 {\n store %y[%i] = %x[%i]\n }\n');
    expect(kernelFootprint(k)).toBe(8192);
    // streaming through a 1 KiB fast memory still moves each byte about once (spatial reuse along i)
    expect(Math.abs(kernelTraffic(k, 1024) - 8192) / 8192).toBeLessThan(0.02);
  });

  it('a 64^3 GEMM touches 3 x 16 KiB; in 32 KiB (B fits with two rows of A and C) it moves about that once', () => {
    const k = gemm(64, 'ikj');
    expect(kernelFootprint(k)).toBe(3 * 16384);
    expect(Math.abs(kernelTraffic(k, 32768) - 3 * 16384) / (3 * 16384)).toBeLessThan(0.01);
    // in 4 KiB, B (16 KiB) no longer stays: it is read once per row i, A and C once
    const byHand = 64 * 64 * 64 * 4 + 16384 + 16384;
    expect(Math.abs(kernelTraffic(k, 4096) - byHand) / byHand).toBeLessThan(0.05);
  });

  it('a 3x3 convolution window counts the overlapping input rows once (not 9 x the output)', () => {
    // x is 10x10 f32 = 400 B = 7 lines; w 36 B = 1 line; y 8x8 f32 = 256 B = 4 lines
    const k = one(['%x: input f32[10, 10]', '%w: input f32[3, 3]', '%y: output f32[8, 8]'], ['%x', '%w'], ['%y'],
      'for %oy in 0 to 8 {\n for %ox in 0 to 8 {\n let %s: f32 = 0.0\n for %ky in 0 to 3 {\n for %kx in 0 to 3 {\n set %s = %s + %x[(%oy + %ky) * 10 + %ox + %kx] * %w[%ky * 3 + %kx]\n }\n }\n store %y[%oy * 8 + %ox] = %s\n }\n }\n');
    expect(kernelFootprint(k)).toBe((7 + 1 + 4) * 64);
  });
});

describe('lower bounds', () => {
  it('a GEMM is a contraction: max(compulsory, 2 MACs e / sqrt(S/e)) per level, and the model stays above it', () => {
    const r = reuseCost(gemm(64, 'ikj'), twoLevel(4096));
    expect(r.lowerBound.kind).toBe('contraction');
    expect(r.lowerBound.macs).toBe(64 ** 3);
    expect(r.lowerBound.compulsoryBytes).toBe(3 * 16384);
    const dram = r.levels.find((l) => l.name === 'DRAM')!;
    // 2 * 262144 * 4 / sqrt(1024) = 65536 > 49152 compulsory
    expect(contractionBoundBytes(64 ** 3, 4096, 4)).toBe(65536);
    expect(dram.boundBytes).toBe(65536);
    expect(dram.bytes).toBeGreaterThanOrEqual(dram.boundBytes);
    expect(r.boundDistance).toBeGreaterThanOrEqual(1);
  });

  it('an elementwise kernel is bounded by its compulsory traffic; data that fits the fast memory is warm', () => {
    const k = one(['%x: input f32[4096]', '%y: output f32[4096]'], ['%x'], ['%y'], 'for %i in 0 to 4096 {\n store %y[%i] = %x[%i] * 2.0\n }\n');
    const cold = reuseCost(k, twoLevel(4096));
    expect(cold.lowerBound.kind).toBe('compulsory');
    expect(cold.levels[1]!.boundBytes).toBe(2 * 4096 * 4);
    const warm = reuseCost(k, twoLevel(1 << 20));
    expect(warm.levels[1]!.bytes).toBe(0);
  });

  it('FlashAttention bound: n^2 d^2 / M elements once that exceeds the compulsory 4nd', () => {
    expect(flashAttentionBoundBytes(1024, 64, 4 * 1024, 4)).toBe(4 * ((1024 * 1024 * 64 * 64) / 1024));
    expect(flashAttentionBoundBytes(16, 8, 1 << 20, 4)).toBe(4 * 4 * 16 * 8);
  });
});

describe('vector credit', () => {
  const r = hostRoofline('x86-64-avx2');
  it('unit-stride innermost loops are vector, strided ones scalar', () => {
    const unit = one(['%x: input f32[4096]', '%y: output f32[4096]'], ['%x'], ['%y'], 'for %i in 0 to 4096 {\n store %y[%i] = %x[%i] * 2.0\n }\n');
    const strided = one(['%x: input f32[64, 64]', '%y: output f32[64, 64]'], ['%x'], ['%y'], 'for %i in 0 to 64 {\n for %j in 0 to 64 {\n store %y[%j * 64 + %i] = %x[%i * 64 + %j] * 2.0\n }\n }\n');
    expect(reuseCost(unit, r)).toMatchObject({ vectorOps: 4096, scalarOps: 0 });
    expect(reuseCost(strided, r)).toMatchObject({ vectorOps: 0, scalarOps: 4096 });
  });

  it('a float accumulator is scalar and latency-bound unless the loop around it is unit-stride (outer-loop vectorization)', () => {
    const ijk = reuseCost(gemm(64, 'ijk-acc'), r);
    const jik = reuseCost(gemm(64, 'jik-acc'), r);
    expect(ijk.scalarOps).toBe(0);
    expect(jik.vectorOps).toBe(0);
    expect(jik.computeCycles).toBeGreaterThan(4 * ijk.computeCycles);
  });

  it('kernelCosts keeps its access-count fields and adds the reuse model for host profiles only', () => {
    const p = parseProgramText(`kiln.kernel @main {\n  buffer %x: input f32[16]\n  buffer %y: output f32[16]\n  inputs (%x)\n  outputs (%y)\n  kernel @k from "k" ("K") {\n    for %i in 0 to 16 {\n      store %y[%i] = %x[%i]\n    }\n  }\n}\n`);
    const [c] = kernelCosts(p, r);
    expect(c!.bytes).toBe(16 * 8);
    expect(c!.reuse?.levels.map((l) => l.name)).toEqual(['L1', 'L2', 'L3', 'DRAM']);
    const [m] = kernelCosts(p, { ...r, levels: undefined });
    expect(m!.reuse).toBeUndefined();
  });
});
