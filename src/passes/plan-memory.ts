/**
 * A simple memory plan for kernel programs: each temporary buffer is live from the first to the
 * last kernel that touches it, and gets the lowest offset where it overlaps no live buffer (greedy
 * first fit, in order of first use). Constants are laid out one after another in the weights blob.
 * The memory-planning work replaces the arena part with better strategies.
 */
import { bufferSize, storageOf, type KBuffer, type Program, type ScalarType } from '../ir/kernel/types.js';
import type { Expr, Stmt } from '../ir/kernel/types.js';
import { dtypeInfo } from '../ir/dtype.js';

export interface MemoryPlan {
  arenaOffset: Map<KBuffer, number>;
  arenaBytes: number;
  blobOffset: Map<KBuffer, number>;
  blobBytes: number;
}

const ALIGN = 16;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** Bytes one element takes in memory (sub-byte types are stored one per byte). */
export function elementBytes(t: ScalarType): number {
  if (t === 'index') return 4;
  return Math.max(1, dtypeInfo(t).bits / 8);
}

export function bufferBytes(b: KBuffer): number {
  return bufferSize(b) * elementBytes(b.dtype);
}

function buffersOf(body: readonly Stmt[], into: Set<KBuffer>): void {
  const e = (x: Expr): void => {
    switch (x.k) {
      case 'load': into.add(x.buf); e(x.idx); break;
      case 'bin': e(x.a); e(x.b); break;
      case 'un': case 'cast': e(x.a); break;
      case 'select': e(x.c); e(x.a); e(x.b); break;
      default: break;
    }
  };
  for (const s of body) {
    switch (s.k) {
      case 'for': e(s.lo); e(s.hi); buffersOf(s.body, into); break;
      case 'store': into.add(s.buf); e(s.idx); e(s.val); break;
      case 'let': e(s.init); break;
      case 'set': e(s.val); break;
      case 'if': e(s.c); buffersOf(s.then, into); buffersOf(s.else, into); break;
    }
  }
}

export function planMemory(program: Program): MemoryPlan {
  const first = new Map<KBuffer, number>();
  const last = new Map<KBuffer, number>();
  program.kernels.forEach((k, i) => {
    const used = new Set<KBuffer>();
    buffersOf(k.body, used);
    for (const u of used) {
      const b = storageOf(u);
      if (b.role !== 'temp') continue;
      if (!first.has(b)) first.set(b, i);
      last.set(b, i);
    }
  });
  const placed: { b: KBuffer; off: number; end: number; from: number; to: number }[] = [];
  const arenaOffset = new Map<KBuffer, number>();
  let arenaBytes = 0;
  const order = [...first.keys()].sort((a, b) => first.get(a)! - first.get(b)! || a.id - b.id);
  for (const b of order) {
    const from = first.get(b)!;
    const to = last.get(b)!;
    const size = alignUp(bufferBytes(b));
    const busy = placed.filter((p) => p.from <= to && from <= p.to).sort((x, y) => x.off - y.off);
    let off = 0;
    for (const p of busy) {
      if (off + size <= p.off) break;
      off = Math.max(off, p.end);
    }
    placed.push({ b, off, end: off + size, from, to });
    arenaOffset.set(b, off);
    arenaBytes = Math.max(arenaBytes, off + size);
  }
  const blobOffset = new Map<KBuffer, number>();
  let blobBytes = 0;
  for (const b of program.buffers) {
    if (b.role !== 'const' || b.viewOf) continue;
    blobOffset.set(b, blobBytes);
    blobBytes = alignUp(blobBytes + bufferBytes(b));
  }
  return { arenaOffset, arenaBytes, blobOffset, blobBytes };
}
