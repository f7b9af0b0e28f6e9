/**
 * parallelize: marks, in each kernel, the outermost loops whose iterations may run on `threads`
 * host threads at once (`parallel <threads>` loop annotations, rendered by the C backend as an
 * OpenMP `parallel for`). Legality comes from the kernel IR alone (src/ir/kernel/parallel.ts: each
 * iteration writes its own elements, no local assigned across iterations), never from op names.
 * A scratch buffer that every iteration rewrites before reading it (im2col columns, found by
 * src/ir/kernel/privatize.ts) and that nothing outside the loop touches gets one copy per thread:
 * the buffer is replaced by one `slots` times as large, indexed by the iteration's chunk
 * ((v - lo) / chunk under `schedule(static, chunk)`), so the memory plan and the arena report count
 * the copies. A reduction into a shared accumulator is never parallel (the analysis refuses it).
 *
 * Profitability from the host device profile: a loop is parallel only when its predicted serial
 * cycles (the roofline estimate of src/costmodel/kernel-cost.ts, per instance of the loop) times
 * (1 - 1/threads) exceed the profile's `threads.forkJoinCycles`; smaller loops stay serial and the
 * search goes on inside them only while an inner loop could still pay for its own region.
 * With threads=1 the pass changes nothing.
 */
import { KilnError } from '../ir/errors.js';
import { assignedNames, loopDependences, parallelChunk, substitute } from '../ir/kernel/parallel.js';
import { iterationsIndependent } from '../ir/kernel/privatize.js';
import { bufferSize, storageOf, type Expr, type KBuffer, type Kernel, type Program, type Stmt } from '../ir/kernel/types.js';
import { kernelCounts } from '../costmodel/kernel-cost.js';
import { getDevice } from '../costmodel/devices.js';
import { DEFAULT_HOST_PROFILE, hostRoofline, type Roofline } from '../costmodel/roofline.js';
import { definePass, numberOption } from './pass.js';

type For = Stmt & { k: 'for' };

export interface ParallelizeOptions {
  threads: number;
  /** Cycles one parallel region costs (the host profile's threads.forkJoinCycles). */
  forkJoinCycles: number;
  roofline: Roofline;
}

export interface ParallelizeResult {
  /** Loops marked parallel. */
  loops: number;
  /** Kernels with at least one parallel loop. */
  kernels: number;
  /** Buffers given one copy per thread. */
  privatized: number;
  /** Legal loops left serial because the predicted saving is below the fork/join cost. */
  tooSmall: number;
}

function constOf(e: Expr): number | null {
  return e.k === 'const' && typeof e.v === 'number' ? e.v : null;
}

function walkBuffers(ss: readonly Stmt[], f: (b: KBuffer) => void): void {
  const ex = (e: Expr): void => {
    switch (e.k) {
      case 'load': f(storageOf(e.buf)); ex(e.idx); return;
      case 'bin': ex(e.a); ex(e.b); return;
      case 'un': case 'cast': ex(e.a); return;
      case 'select': ex(e.c); ex(e.a); ex(e.b); return;
      default: return;
    }
  };
  for (const s of ss) {
    switch (s.k) {
      case 'for': ex(s.lo); ex(s.hi); walkBuffers(s.body, f); break;
      case 'store': f(storageOf(s.buf)); ex(s.idx); ex(s.val); break;
      case 'let': ex(s.init); break;
      case 'set': ex(s.val); break;
      case 'if': ex(s.c); walkBuffers(s.then, f); walkBuffers(s.else, f); break;
      case 'barrier': break;
    }
  }
}

function names(ss: readonly Stmt[], out: Set<string>): Set<string> {
  const ex = (e: Expr): void => {
    switch (e.k) {
      case 'var': out.add(e.name); return;
      case 'load': ex(e.idx); return;
      case 'bin': ex(e.a); ex(e.b); return;
      case 'un': case 'cast': ex(e.a); return;
      case 'select': ex(e.c); ex(e.a); ex(e.b); return;
      default: return;
    }
  };
  for (const s of ss) {
    if (s.k === 'for') { out.add(s.v); names(s.body, out); }
    else if (s.k === 'let' || s.k === 'set') { out.add(s.name); ex(s.k === 'let' ? s.init : s.val); }
    else if (s.k === 'if') { names(s.then, out); names(s.else, out); }
  }
  return out;
}

/** Replaces accesses to `from` in `ss` by `to` at `slot * size + idx`. */
function redirect(ss: readonly Stmt[], from: KBuffer, to: KBuffer, slot: Expr, size: number): Stmt[] {
  const off = (idx: Expr): Expr => ({ k: 'bin', t: 'index', op: 'add', a: { k: 'bin', t: 'index', op: 'mul', a: slot, b: { k: 'const', t: 'index', v: size } }, b: idx });
  const ex = (e: Expr): Expr => {
    switch (e.k) {
      case 'load': return storageOf(e.buf) === from ? { ...e, buf: to, idx: off(ex(e.idx)) } : { ...e, idx: ex(e.idx) };
      case 'bin': return { ...e, a: ex(e.a), b: ex(e.b) };
      case 'un': case 'cast': return { ...e, a: ex(e.a) };
      case 'select': return { ...e, c: ex(e.c), a: ex(e.a), b: ex(e.b) };
      default: return e;
    }
  };
  return ss.map((s): Stmt => {
    switch (s.k) {
      case 'for': return { ...s, lo: ex(s.lo), hi: ex(s.hi), body: redirect(s.body, from, to, slot, size) };
      case 'store': return { ...s, buf: storageOf(s.buf) === from ? to : s.buf, idx: storageOf(s.buf) === from ? off(ex(s.idx)) : ex(s.idx), val: ex(s.val) };
      case 'let': return { ...s, init: ex(s.init) };
      case 'set': return { ...s, val: ex(s.val) };
      case 'if': return { ...s, c: ex(s.c), then: redirect(s.then, from, to, slot, size), else: redirect(s.else, from, to, slot, size) };
      case 'barrier': return s;
    }
  });
}

class KernelParallelizer {
  private readonly used: Set<string>;
  private readonly assigned: Set<string>;
  /** `elsewhere`: buffers (storage) that other kernels or the program's inputs/outputs use. */
  constructor(private readonly program: Program, private readonly kernel: Kernel, private readonly elsewhere: ReadonlySet<KBuffer>, private readonly opts: ParallelizeOptions, private readonly result: ParallelizeResult) {
    this.used = names(kernel.body, new Set());
    this.assigned = assignedNames(kernel.body);
  }

  /** Predicted serial cycles of one instance of a loop nest. */
  private cycles(loop: For): number {
    const c = kernelCounts({ name: this.kernel.name, origin: this.kernel.origin, body: [loop] });
    const r = this.opts.roofline;
    return Math.max(c.flops / r.flopsPerCycle + c.intOps / r.intOpsPerCycle, (c.loadBytes + c.storeBytes) / r.bytesPerCycle);
  }

  /** Buffers only this loop touches in the whole program (candidates for one copy per thread). */
  private privatizable(loop: For, bufs: readonly KBuffer[]): boolean {
    for (const b of bufs) {
      if (b.role !== 'temp' || b.viewOf || this.elsewhere.has(b)) return false;
      if (this.program.buffers.some((x) => x.viewOf && storageOf(x) === b)) return false;
      let outside = false;
      const inLoop = new Set<KBuffer>();
      walkBuffers(loop.body, (x) => inLoop.add(x));
      const rest = (ss: readonly Stmt[]): void => {
        for (const s of ss) {
          if (s === loop) continue;
          if (s.k === 'for') { walkBuffers([{ ...s, body: [] }], (x) => { if (x === b) outside = true; }); rest(s.body); }
          else if (s.k === 'if') { walkBuffers([{ ...s, then: [], else: [] }], (x) => { if (x === b) outside = true; }); rest(s.then); rest(s.else); }
          else walkBuffers([s], (x) => { if (x === b) outside = true; });
        }
      };
      rest(this.kernel.body);
      if (outside || !inLoop.has(b)) return false;
    }
    return true;
  }

  /** Marks `loop` parallel, giving each privatized buffer one copy per chunk. */
  private mark(loop: For, n: number, lo: number, priv: readonly KBuffer[]): void {
    const threads = Math.min(this.opts.threads, n);
    const chunk = parallelChunk(n, threads);
    const slots = Math.ceil(n / chunk);
    let body = loop.body;
    if (priv.length > 0) {
      let slotName = `${loop.v}_slot`;
      for (let i = 2; this.used.has(slotName); i++) slotName = `${loop.v}_slot${i}`;
      this.used.add(slotName);
      const slot: Expr = { k: 'var', t: 'index', name: slotName };
      for (const b of priv) {
        const size = bufferSize(b);
        const copy: KBuffer = { id: Math.max(0, ...this.program.buffers.map((x) => x.id)) + 1, name: this.freshBufferName(`${b.name}_x${slots}`), dtype: b.dtype, shape: [slots, ...b.shape], role: 'temp' };
        this.program.buffers.splice(this.program.buffers.indexOf(b), 1, copy);
        body = redirect(body, b, copy, slot, size);
        this.result.privatized++;
      }
      const v: Expr = { k: 'var', t: 'index', name: loop.v };
      const rel: Expr = lo === 0 ? v : { k: 'bin', t: 'index', op: 'sub', a: v, b: { k: 'const', t: 'index', v: lo } };
      body = [{ k: 'let', name: slotName, t: 'index', init: { k: 'bin', t: 'index', op: 'div', a: rel, b: { k: 'const', t: 'index', v: chunk } } }, ...body];
    }
    loop.body.splice(0, loop.body.length, ...body);
    loop.ann.parallel = true;
    loop.ann.threads = threads;
    this.result.loops++;
  }

  private freshBufferName(base: string): string {
    let n = base;
    for (let i = 2; this.program.buffers.some((b) => b.name === n); i++) n = `${base}_${i}`;
    return n;
  }

  /** Visits statements, holding `fixed` enclosing loop variables; returns loops marked. */
  visit(ss: readonly Stmt[], fixed: Set<string>, defs: Map<string, Expr>): number {
    let marked = 0;
    for (const s of ss) {
      if (s.k === 'let') {
        if (s.t === 'index' && !this.assigned.has(s.name)) defs.set(s.name, substitute(s.init, defs));
        continue;
      }
      if (s.k === 'if') {
        marked += this.visit(s.then, fixed, new Map(defs)) + this.visit(s.else, fixed, new Map(defs));
        continue;
      }
      if (s.k !== 'for') continue;
      const lo = constOf(s.lo);
      const hi = constOf(s.hi);
      const n = lo !== null && hi !== null ? hi - lo : 0;
      let serial = 0;
      if (n >= 2 && this.opts.threads >= 2) {
        serial = this.cycles(s);
        const saving = serial * (1 - 1 / Math.min(this.opts.threads, n));
        const dep = loopDependences(s, fixed, defs);
        const legal = dep.ok && ((dep.invariant.length === 0 && dep.unproven.length === 0) || (this.privatizable(s, dep.invariant) && iterationsIndependent(this.kernel.body, s, dep.invariant, dep.unproven)));
        if (legal && saving > this.opts.forkJoinCycles) {
          this.mark(s, n, lo!, dep.invariant);
          marked++;
          continue;
        }
        if (legal) this.result.tooSmall++;
      }
      // look inside only while one instance of an inner loop could still pay for its region
      if (n !== 1 && serial > 0 && serial / Math.max(1, n) <= this.opts.forkJoinCycles) continue;
      const inner = new Map(defs);
      inner.delete(s.v);
      marked += this.visit(s.body, new Set([...fixed, s.v]), inner);
    }
    return marked;
  }
}

/** Runs the pass over every kernel of the program. */
export function parallelize(program: Program, opts: ParallelizeOptions): ParallelizeResult {
  const result: ParallelizeResult = { loops: 0, kernels: 0, privatized: 0, tooSmall: 0 };
  if (opts.threads < 2) return result;
  const users = new Map<KBuffer, Set<Kernel>>();
  for (const k of program.kernels) walkBuffers(k.body, (b) => {
    const set = users.get(b) ?? new Set();
    set.add(k);
    users.set(b, set);
  });
  for (const k of program.kernels) {
    const elsewhere = new Set([...users].filter(([, ks]) => ks.size > 1 || !ks.has(k)).map(([b]) => b));
    for (const o of [...program.inputs, ...program.outputs]) elsewhere.add(storageOf(o));
    const p = new KernelParallelizer(program, k, elsewhere, opts, result);
    if (p.visit(k.body, new Set(), new Map()) > 0) result.kernels++;
  }
  return result;
}

export const parallelizePass = definePass({
  name: 'parallelize',
  level: 'kernel',
  description: 'mark the outermost independent loops (from their access functions) parallel over host threads, with per-thread copies of rewritten scratch; loops whose predicted saving is below the host profile\'s fork/join cost stay serial',
  options: {
    threads: 'host threads (default 1: nothing changes)',
    host: `host profile for the cost threshold (kiln devices --kind host; default ${DEFAULT_HOST_PROFILE})`,
    'fork-join-cycles': "cycles of one parallel region (default: the host profile's threads.forkJoinCycles)",
  },
  run: (program, ctx) => {
    const threads = numberOption('parallelize', ctx, 'threads', { dflt: 1, min: 1, integer: true });
    const host = ctx.options.host ?? DEFAULT_HOST_PROFILE;
    const roofline = hostRoofline(host);
    let forkJoinCycles: number;
    if (ctx.options['fork-join-cycles'] !== undefined) {
      forkJoinCycles = numberOption('parallelize', ctx, 'fork-join-cycles', { dflt: 0, min: 0 });
    } else {
      const t = getDevice(host, 'host').threads;
      if (!t && threads > 1) throw new KilnError('usage', `parallelize: host profile '${host}' has no threads.forkJoinCycles (give fork-join-cycles=…)`);
      forkJoinCycles = t?.forkJoinCycles ?? 0;
    }
    const r = parallelize(program, { threads, forkJoinCycles, roofline });
    ctx.results.set('parallelize', r);
    ctx.log(`parallelize: ${r.loops} loops in ${r.kernels} kernels over ${threads} threads, ${r.privatized} scratch buffers per thread, ${r.tooSmall} independent loops too small`);
    return r.loops > 0;
  },
});
