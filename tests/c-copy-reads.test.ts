// The C renderer leaves restrict off read-only pointers that only unit-stride copy loops read
// (src/backends/c/copy-reads.ts); every other pointer keeps it.
import { describe, expect, it } from 'vitest';
import { parseProgramText } from '../src/frontend/text/kernel-parser.js';
import { copyOnlyReads } from '../src/backends/c/copy-reads.js';
import { kernelBuffers, renderC } from '../src/backends/c/render.js';

const program = (body: string): ReturnType<typeof parseProgramText> =>
  parseProgramText(`kiln.kernel @main {
  buffer %x: input f32[64]
  buffer %w: input f32[64]
  buffer %y: output f32[64]
  inputs (%x, %w)
  outputs (%y)
  kernel @k from "k" ("Conv") {
${body}
  }
}
`);

const copiedFrom = (body: string): string[] => {
  const p = program(body);
  const k = p.kernels[0]!;
  return [...copyOnlyReads(k, kernelBuffers(k).reads)].map((b) => b.name).sort();
};

describe('copy-only reads', () => {
  it('a pointer read only by unit-stride copies (offset on either side) loses restrict; one also read otherwise keeps it', () => {
    const body = `    for %r in 0 to 4 {
      let %b: index = %r * 16
      for %i in 0 to 16 {
        store %y[%b + %i] = %x[%i + %b]
      }
      for %j in 0 to 16 {
        store %y[%j] = %w[%b + %j]
      }
    }
    store %y[0] = %w[3] * 2.0`;
    expect(copiedFrom(body)).toEqual(['x']);
    const p = program(body);
    const c = renderC(p, { arenaOffset: new Map(), arenaBytes: 0, blobOffset: new Map(), blobBytes: 0 }, 'm').source;
    expect(c).toMatch(/static void k_k\(const float \*p_x, const float \*restrict p_w, float \*restrict p_y\)/);
  });

  it('strided, scaled or computed loads, and loops with more than the store, are not copies', () => {
    expect(copiedFrom(`    for %i in 0 to 32 {
      store %y[%i] = %x[%i * 2]
    }`)).toEqual([]);
    expect(copiedFrom(`    for %i in 0 to 32 {
      store %y[%i] = %x[%i] * 2.0
    }`)).toEqual([]);
    expect(copiedFrom(`    for %i in 0 to 32 {
      store %y[%i + 32] = %x[%i + %i]
    }`)).toEqual([]);
    expect(copiedFrom(`    for %i in 0 to 32 {
      store %y[%i] = %x[%i]
      store %y[%i + 32] = %w[%i]
    }`)).toEqual([]);
  });
});
