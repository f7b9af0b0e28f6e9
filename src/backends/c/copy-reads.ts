/**
 * Read-only buffers of a kernel that are read only by unit-stride copy loops
 * (`for v { dst[a + v] = src[b + v] }`, same element type, nothing else in the body).
 *
 * The C renderer leaves `restrict` off their pointers. Such a pointer's values meet nothing but the
 * store they are copied to, so `restrict` only tells the compiler that the copy cannot overlap, and
 * GCC then turns the loop into `memcpy` and, where value ranges bound the length (the short rows of
 * an im2col copy: at most 16 floats in resnet8), expands that inline (`rep movsl` under
 * `-march=native` on this host's tuning), whose start-up cost is several times that of the short
 * copy itself. Without `restrict` the loop becomes a `memmove` call, which GCC does not expand
 * inline for a variable length: resnet8's convolutions whose ReLU used to run in place over their
 * input (so the input was already not `restrict`) kept that speed, the fused ones lost 10–15%.
 */
import { storageOf, type Expr, type KBuffer, type Kernel, type Stmt } from '../../ir/kernel/types.js';

/** Whether `e` mentions the variable `v`. */
function uses(e: Expr, v: string): boolean {
  switch (e.k) {
    case 'var': return e.name === v;
    case 'load': return uses(e.idx, v);
    case 'bin': return uses(e.a, v) || uses(e.b, v);
    case 'un': case 'cast': return uses(e.a, v);
    case 'select': return uses(e.c, v) || uses(e.a, v) || uses(e.b, v);
    default: return false;
  }
}

/** `v` or `base + v` / `v + base` with `base` free of `v`: consecutive elements as `v` counts up. */
function unitStride(idx: Expr, v: string): boolean {
  if (idx.k === 'var') return idx.name === v;
  if (idx.k !== 'bin' || idx.op !== 'add') return false;
  const isV = (e: Expr): boolean => e.k === 'var' && e.name === v;
  return (isV(idx.a) && !uses(idx.b, v)) || (isV(idx.b) && !uses(idx.a, v));
}

/** The load a copy loop reads, or null when `s` is not a unit-stride copy loop. */
function copyLoad(s: Stmt): Extract<Expr, { k: 'load' }> | null {
  if (s.k !== 'for' || s.body.length !== 1) return null;
  const st = s.body[0]!;
  if (st.k !== 'store') return null;
  const val = st.val.k === 'cast' && st.val.t === st.val.a.t ? st.val.a : st.val;
  if (val.k !== 'load' || val.buf.dtype !== st.buf.dtype || storageOf(val.buf) === storageOf(st.buf)) return null;
  return unitStride(val.idx, s.v) && unitStride(st.idx, s.v) ? val : null;
}

/** Storage buffers among `reads` whose every load in `k` is the value of a unit-stride copy loop. */
export function copyOnlyReads(k: Kernel, reads: readonly KBuffer[]): Set<KBuffer> {
  const copied = new Map<KBuffer, number>();
  const loaded = new Map<KBuffer, number>();
  const count = (m: Map<KBuffer, number>, b: KBuffer): void => {
    m.set(storageOf(b), (m.get(storageOf(b)) ?? 0) + 1);
  };
  const visitE = (e: Expr): void => {
    switch (e.k) {
      case 'load': count(loaded, e.buf); visitE(e.idx); break;
      case 'bin': visitE(e.a); visitE(e.b); break;
      case 'un': case 'cast': visitE(e.a); break;
      case 'select': visitE(e.c); visitE(e.a); visitE(e.b); break;
      default: break;
    }
  };
  const visitS = (s: Stmt): void => {
    const c = copyLoad(s);
    if (c) count(copied, c.buf);
    switch (s.k) {
      case 'for': visitE(s.lo); visitE(s.hi); s.body.forEach(visitS); break;
      case 'store': visitE(s.idx); visitE(s.val); break;
      case 'let': visitE(s.init); break;
      case 'set': visitE(s.val); break;
      case 'if': visitE(s.c); s.then.forEach(visitS); s.else.forEach(visitS); break;
      default: break;
    }
  };
  k.body.forEach(visitS);
  return new Set(reads.filter((b) => (copied.get(b) ?? 0) > 0 && copied.get(b) === loaded.get(b)));
}
