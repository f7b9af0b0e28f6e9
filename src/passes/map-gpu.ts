/**
 * map-gpu: maps independent loops onto a GPU dispatch grid, as `gpu <dim> <workgroup>` annotations
 * on the kernel IR. For each top-level loop of a kernel whose iterations are independent
 * (src/ir/kernel/parallel.ts, from the access functions, never from op names), the nested
 * independent loops with constant bounds are collapsed (a loop's body may start with index `let`s
 * that are never `set`: each invocation computes them): the innermost becomes x, the next y, and
 * all outer ones share z (z's index is split back into them, outermost slowest). Workgroup sizes are powers of two chosen from the device's limits (options
 * `invocations` = maxComputeInvocationsPerWorkgroup, `groups` = maxComputeWorkgroupsPerDimension);
 * a loop that would need more workgroups than a dimension allows stays unmapped.
 * Kernels with top-level locals are left alone: a backend runs each top-level statement as its own
 * dispatch, and locals do not survive between dispatches. Unmapped code runs as one invocation.
 */
import { KilnError } from '../ir/errors.js';
import { assignedNames, loopIsParallel, nextInChain } from '../ir/kernel/parallel.js';
import type { Expr, GpuDim, Program, Stmt } from '../ir/kernel/types.js';
import { definePass } from './pass.js';

export interface GpuLimits {
  /** maxComputeInvocationsPerWorkgroup (compatibility mode guarantees 128). */
  invocations: number;
  /** maxComputeWorkgroupsPerDimension. */
  groups: number;
  /** Preferred invocations per workgroup (≤ invocations). */
  preferred: number;
}

export const DEFAULT_GPU_LIMITS: GpuLimits = { invocations: 128, groups: 65535, preferred: 64 };

type For = Stmt & { k: 'for' };

function constBound(e: For['lo']): number | null {
  return e.k === 'const' && typeof e.v === 'number' ? e.v : null;
}

function extent(l: For): number | null {
  const lo = constBound(l.lo);
  const hi = constBound(l.hi);
  return lo === null || hi === null ? null : Math.max(0, hi - lo);
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function clearGpu(ss: readonly Stmt[]): void {
  for (const s of ss) {
    if (s.k === 'for') {
      delete s.ann.gpu;
      clearGpu(s.body);
    } else if (s.k === 'if') {
      clearGpu(s.then);
      clearGpu(s.else);
    }
  }
}

/** The chain of collapsible independent loops starting at a top-level loop (outermost first). */
function parallelChain(top: For, assigned: ReadonlySet<string>): For[] {
  const chain: For[] = [];
  const fixed = new Set<string>();
  const defs = new Map<string, Expr>();
  let cur: For | undefined = top;
  while (cur) {
    const n = extent(cur);
    if (n === null || n === 0 || !loopIsParallel(cur, fixed, defs)) break;
    chain.push(cur);
    fixed.add(cur.v);
    cur = nextInChain(cur.body, assigned, defs);
  }
  return chain;
}

/** Annotates one chain (outermost first) with dims and workgroup sizes; false when it cannot fit. */
function assign(chain: For[], limits: GpuLimits): boolean {
  const inner = [...chain].reverse();
  // x, y, then every outer loop on z (their extents multiply)
  const groups: For[][] = [inner.slice(0, 1), inner.slice(1, 2), inner.slice(2)].filter((g) => g.length > 0);
  const dims: GpuDim[] = ['x', 'y', 'z'];
  const ext = groups.map((g) => g.reduce((a, l) => a * extent(l)!, 1));
  const sizes: number[] = [];
  let budget = Math.max(1, Math.min(limits.preferred, limits.invocations));
  for (const n of ext) {
    const w = Math.min(pow2AtLeast(n), budget);
    sizes.push(w);
    budget = Math.max(1, Math.floor(budget / w));
  }
  // too many workgroups along a dimension: widen the workgroup up to the device's limit
  for (let i = 0; i < ext.length; i++) {
    const n = ext[i]!;
    while (Math.ceil(n / sizes[i]!) > limits.groups && sizes.reduce((a, b) => a * b, 1) * 2 <= limits.invocations) sizes[i]! *= 2;
    if (Math.ceil(n / sizes[i]!) > limits.groups || n > 2 ** 31 - 1) return false;
  }
  groups.forEach((g, i) => {
    for (const l of g) l.ann.gpu = { dim: dims[i]!, workgroup: sizes[i]! };
  });
  return true;
}

export function mapGpu(program: Program, limits: GpuLimits = DEFAULT_GPU_LIMITS): number {
  let mapped = 0;
  for (const k of program.kernels) {
    clearGpu(k.body);
    if (k.body.some((s) => s.k === 'let' || s.k === 'set')) continue;
    const assigned = assignedNames(k.body);
    for (const s of k.body) {
      if (s.k !== 'for') continue;
      let chain = parallelChain(s, assigned);
      while (chain.length > 0 && !assign(chain, limits)) chain = chain.slice(0, -1);
      if (chain.length > 0) mapped++;
    }
  }
  return mapped;
}

function positiveInt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new KilnError('usage', `map-gpu: ${name} must be a positive integer, not '${v}'`);
  return n;
}

export const mapGpuPass = definePass({
  name: 'map-gpu',
  level: 'kernel',
  description: 'map independent loops (from their access functions) onto the GPU dispatch grid as gpu <dim> <workgroup> loop annotations',
  options: {
    invocations: 'maxComputeInvocationsPerWorkgroup of the device (default 128)',
    groups: 'maxComputeWorkgroupsPerDimension of the device (default 65535)',
    workgroup: 'preferred invocations per workgroup (default 64)',
  },
  run: (program, ctx) => {
    const limits: GpuLimits = {
      invocations: positiveInt(ctx.options.invocations, 'invocations', DEFAULT_GPU_LIMITS.invocations),
      groups: positiveInt(ctx.options.groups, 'groups', DEFAULT_GPU_LIMITS.groups),
      preferred: positiveInt(ctx.options.workgroup, 'workgroup', DEFAULT_GPU_LIMITS.preferred),
    };
    const n = mapGpu(program, limits);
    ctx.log(`map-gpu: ${n} loop nests mapped to the dispatch grid`);
    return n > 0;
  },
});
