/**
 * Analytical cost of a lowered program: per kernel, the scalar operations and the bytes loaded and
 * stored, counted by walking its loop nests, and a roofline time estimate
 * max(compute cycles, memory cycles) from a target's peak figures (roofline.ts).
 *
 * What counts:
 * - an operation is one scalar bin/un/select/cast on data values; arithmetic and comparisons on
 *   'index' values (addresses, loop control) are free, as are casts to or from 'index'. A float op
 *   (either side of the op is a float type) is a flop, anything else an integer op. Every op counts
 *   1, transcendental functions included (the model has no per-function latency table).
 * - bytes are every scalar load and store at the buffer's element width ('index' 4 bytes, sub-byte
 *   types 1): accesses, not distinct bytes, since the generated code has no cache-aware tiling the
 *   model could credit. `bufferBytes` is the size of the distinct buffers a kernel touches.
 * - a `select` counts its condition plus the costlier of its two operands (only one is evaluated).
 *
 * Loop bounds and branch conditions are evaluated with the enclosing loop variables and index
 * locals: constant bounds multiply; a body whose control depends on the loop variable (triangular
 * loops, padding checks, ragged tiles) is enumerated value by value, exactly, within a budget of
 * body evaluations per kernel. Estimates, each recorded in `estimates` (and `exact` false):
 * - past the budget, the loop variable is bound to the mean of its range and the body counted once
 *   per iteration at that value (exact when the inner bounds are affine in it);
 * - a bound that depends on loaded data counts the loop as one iteration;
 * - a branch whose condition depends on loaded data counts the costlier branch (an upper bound).
 */
import { numBin } from '../ir/kernel/interp.js';
import { byteWidth, isFloat } from '../ir/dtype.js';
import { bufferSize, storageOf, type Expr, type KBuffer, type Kernel, type Program, type ScalarType, type Stmt } from '../ir/kernel/types.js';
import type { Roofline } from './roofline.js';
import { reuseCost, type ReuseCost } from './memory-model.js';

export interface KernelCost {
  name: string;
  /** Graph node and op the kernel was lowered from. */
  node: string;
  op: string;
  flops: number;
  intOps: number;
  /** flops + intOps. */
  ops: number;
  loadBytes: number;
  storeBytes: number;
  /** loadBytes + storeBytes. */
  bytes: number;
  /** Bytes of the distinct buffers the kernel reads or writes. */
  bufferBytes: number;
  /** ops per byte moved; null when the kernel moves no bytes. */
  intensity: number | null;
  computeCycles: number;
  memoryCycles: number;
  /** max(computeCycles, memoryCycles). */
  estCycles: number;
  estSeconds: number;
  bound: 'compute' | 'memory';
  /** False when some count is an estimate; `estimates` says which rule applied. */
  exact: boolean;
  estimates: string[];
  /**
   * The reuse-aware model (memory-model.ts), for profiles with a cache hierarchy (host): bytes per
   * level, vector/scalar compute, its own estimate and the kernel's data-movement lower bound.
   */
  reuse?: ReuseCost;
}

export interface CostOptions {
  /** Body evaluations per kernel spent enumerating loops whose body depends on the loop variable. */
  enumerationBudget?: number;
}

export const DEFAULT_ENUMERATION_BUDGET = 200_000;

interface Counts {
  flops: number;
  intOps: number;
  loadBytes: number;
  storeBytes: number;
}

const zero = (): Counts => ({ flops: 0, intOps: 0, loadBytes: 0, storeBytes: 0 });

function addInto(acc: Counts, c: Counts, times = 1): void {
  acc.flops += c.flops * times;
  acc.intOps += c.intOps * times;
  acc.loadBytes += c.loadBytes * times;
  acc.storeBytes += c.storeBytes * times;
}

function maxOf(a: Counts, b: Counts): Counts {
  return { flops: Math.max(a.flops, b.flops), intOps: Math.max(a.intOps, b.intOps), loadBytes: Math.max(a.loadBytes, b.loadBytes), storeBytes: Math.max(a.storeBytes, b.storeBytes) };
}

const elemBytes = (t: ScalarType): number => (t === 'index' ? 4 : byteWidth(t));
const floaty = (t: ScalarType): boolean => t !== 'index' && isFloat(t);

/** One op of operand/result types `a` and `r`, or nothing when it is index arithmetic. */
function opInto(c: Counts, a: ScalarType, r: ScalarType): void {
  if (a === 'index' || r === 'index') return;
  if (floaty(a) || floaty(r)) c.flops++;
  else c.intOps++;
}

const exprCache = new WeakMap<Expr, Counts>();

/** Cost of evaluating an expression once (value-independent). */
function exprCost(e: Expr): Counts {
  const hit = exprCache.get(e);
  if (hit) return hit;
  const c = zero();
  switch (e.k) {
    case 'const':
    case 'var':
      break;
    case 'load':
      addInto(c, exprCost(e.idx));
      c.loadBytes += elemBytes(e.t);
      break;
    case 'bin':
      addInto(c, exprCost(e.a));
      addInto(c, exprCost(e.b));
      opInto(c, e.a.t, e.t === 'bool' ? e.a.t : e.t);
      break;
    case 'un':
      addInto(c, exprCost(e.a));
      opInto(c, e.a.t, e.t === 'bool' ? e.a.t : e.t);
      break;
    case 'cast':
      addInto(c, exprCost(e.a));
      opInto(c, e.a.t, e.t);
      break;
    case 'select':
      addInto(c, exprCost(e.c));
      addInto(c, maxOf(exprCost(e.a), exprCost(e.b)));
      opInto(c, e.t, e.t);
      break;
  }
  exprCache.set(e, c);
  return c;
}

/** Marks a dependence on loaded data or on a local that is assigned after its declaration. */
const DATA = '\u0000data';

class KernelCounter {
  /** Locals never assigned after `let`: their value is their initializer's. */
  private readonly defs = new Map<string, Expr>();
  private readonly loopVars = new Set<string>();
  private readonly depCache = new Map<string, ReadonlySet<string>>();
  private readonly ctlCache = new WeakMap<Stmt[], ReadonlySet<string>>();
  readonly estimates = new Set<string>();
  private budget: number;

  constructor(body: Stmt[], budget: number) {
    this.budget = budget;
    const assigned = new Set<string>();
    const lets = new Map<string, Expr>();
    const scan = (ss: readonly Stmt[]): void => {
      for (const s of ss) {
        if (s.k === 'for') {
          this.loopVars.add(s.v);
          scan(s.body);
        } else if (s.k === 'if') {
          scan(s.then);
          scan(s.else);
        } else if (s.k === 'let') lets.set(s.name, s.init);
        else if (s.k === 'set') assigned.add(s.name);
      }
    };
    scan(body);
    for (const [n, init] of lets) if (!assigned.has(n)) this.defs.set(n, init);
  }

  /** Loop variables (and DATA) an expression's value depends on, through local definitions. */
  private deps(e: Expr, out: Set<string>): void {
    switch (e.k) {
      case 'const':
        return;
      case 'var': {
        if (this.loopVars.has(e.name)) out.add(e.name);
        else if (this.defs.has(e.name)) {
          let d = this.depCache.get(e.name);
          if (!d) {
            const s = new Set<string>();
            this.depCache.set(e.name, s); // names are unique and defined before use, so no cycle
            this.deps(this.defs.get(e.name)!, s);
            d = s;
          }
          for (const x of d) out.add(x);
        } else out.add(DATA);
        return;
      }
      case 'load':
        out.add(DATA);
        return;
      case 'bin':
        this.deps(e.a, out);
        this.deps(e.b, out);
        return;
      case 'un':
      case 'cast':
        this.deps(e.a, out);
        return;
      case 'select':
        this.deps(e.c, out);
        this.deps(e.a, out);
        this.deps(e.b, out);
        return;
    }
  }

  /** What the control flow (trip counts, taken branches) of a statement list depends on. */
  private controlDeps(ss: Stmt[]): ReadonlySet<string> {
    const hit = this.ctlCache.get(ss);
    if (hit) return hit;
    const out = new Set<string>();
    for (const s of ss) {
      if (s.k === 'for') {
        this.deps(s.lo, out);
        this.deps(s.hi, out);
        for (const d of this.controlDeps(s.body)) if (d !== s.v) out.add(d);
      } else if (s.k === 'if') {
        this.deps(s.c, out);
        for (const d of this.controlDeps(s.then)) out.add(d);
        for (const d of this.controlDeps(s.else)) out.add(d);
      }
    }
    this.ctlCache.set(ss, out);
    return out;
  }

  /** Value of an index/bool expression under bound loop variables; undefined when it depends on data. */
  private evaluate(e: Expr, env: ReadonlyMap<string, number>): number | undefined {
    switch (e.k) {
      case 'const':
        return Number(e.v);
      case 'var': {
        const v = env.get(e.name);
        if (v !== undefined) return v;
        const d = this.defs.get(e.name);
        return d ? this.evaluate(d, env) : undefined;
      }
      case 'load':
        return undefined;
      case 'cast': {
        const a = this.evaluate(e.a, env);
        if (a === undefined) return undefined;
        return e.t === 'bool' ? (a !== 0 ? 1 : 0) : floaty(e.t) ? a : Math.trunc(a);
      }
      case 'select': {
        const c = this.evaluate(e.c, env);
        if (c === undefined) return undefined;
        return this.evaluate(c !== 0 ? e.a : e.b, env);
      }
      case 'un': {
        const a = this.evaluate(e.a, env);
        if (a === undefined) return undefined;
        switch (e.op) {
          case 'neg': return -a;
          case 'abs': return Math.abs(a);
          case 'not': return a === 0 ? 1 : 0;
          default: return undefined;
        }
      }
      case 'bin': {
        const a = this.evaluate(e.a, env);
        if (a === undefined) return undefined;
        // short-circuit so a guard like `i < n && data[i] > 0` still decides when the guard fails
        if (e.op === 'and' && a === 0) return 0;
        if (e.op === 'or' && a !== 0) return 1;
        const b = this.evaluate(e.b, env);
        if (b === undefined) return undefined;
        // bigint-valued (64-bit) arithmetic is left to numBin's number form: trip counts stay far below 2^53
        return numBin(e.op, e.a.t, a, b);
      }
    }
  }

  count(ss: Stmt[], env: ReadonlyMap<string, number>): Counts {
    const c = zero();
    for (const s of ss) {
      switch (s.k) {
        case 'store':
          addInto(c, exprCost(s.idx));
          addInto(c, exprCost(s.val));
          c.storeBytes += elemBytes(s.buf.dtype);
          break;
        case 'let':
          addInto(c, exprCost(s.init));
          break;
        case 'set':
          addInto(c, exprCost(s.val));
          break;
        case 'if': {
          addInto(c, exprCost(s.c));
          const v = this.evaluate(s.c, env);
          if (v === undefined) {
            this.estimates.add('a branch depends on loaded data: the costlier branch is counted');
            addInto(c, maxOf(this.count(s.then, env), this.count(s.else, env)));
          } else addInto(c, this.count(v !== 0 ? s.then : s.else, env));
          break;
        }
        case 'for':
          addInto(c, exprCost(s.lo));
          addInto(c, exprCost(s.hi));
          addInto(c, this.loop(s, env));
          break;
      }
    }
    return c;
  }

  private loop(s: Extract<Stmt, { k: 'for' }>, env: ReadonlyMap<string, number>): Counts {
    const lo = this.evaluate(s.lo, env);
    const hi = this.evaluate(s.hi, env);
    const c = zero();
    if (lo === undefined || hi === undefined) {
      this.estimates.add('a loop bound depends on loaded data: counted as one iteration');
      const inner = new Map(env);
      if (lo !== undefined) inner.set(s.v, lo);
      addInto(c, this.count(s.body, inner));
      return c;
    }
    const trips = Math.max(0, hi - lo);
    if (trips === 0) return c;
    if (!this.controlDeps(s.body).has(s.v)) {
      addInto(c, this.count(s.body, env), trips);
      return c;
    }
    if (Number.isInteger(trips) && trips <= this.budget) {
      this.budget -= trips;
      const inner = new Map(env);
      for (let i = 0; i < trips; i++) {
        inner.set(s.v, lo + i);
        addInto(c, this.count(s.body, inner));
      }
      return c;
    }
    this.estimates.add('a loop whose body depends on its variable was counted at the variable\'s mean (enumeration budget spent)');
    const inner = new Map(env);
    inner.set(s.v, lo + (trips - 1) / 2);
    addInto(c, this.count(s.body, inner), trips);
    return c;
  }
}

/** Distinct storage buffers a kernel loads from or stores to. */
function touchedBuffers(k: Kernel): Set<KBuffer> {
  const out = new Set<KBuffer>();
  const ex = (e: Expr): void => {
    switch (e.k) {
      case 'load': out.add(storageOf(e.buf)); ex(e.idx); break;
      case 'bin': ex(e.a); ex(e.b); break;
      case 'un': case 'cast': ex(e.a); break;
      case 'select': ex(e.c); ex(e.a); ex(e.b); break;
      default: break;
    }
  };
  const st = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      if (s.k === 'for') { ex(s.lo); ex(s.hi); st(s.body); }
      else if (s.k === 'if') { ex(s.c); st(s.then); st(s.else); }
      else if (s.k === 'store') { out.add(storageOf(s.buf)); ex(s.idx); ex(s.val); }
      else if (s.k === 'let') ex(s.init);
      else if (s.k === 'set') ex(s.val);
    }
  };
  st(k.body);
  return out;
}

/** Operation and byte counts of one kernel, with the estimates that were needed. */
export function kernelCounts(k: Kernel, opts: CostOptions = {}): Counts & { exact: boolean; estimates: string[] } {
  const counter = new KernelCounter(k.body, opts.enumerationBudget ?? DEFAULT_ENUMERATION_BUDGET);
  const c = counter.count(k.body, new Map());
  return { ...c, exact: counter.estimates.size === 0, estimates: [...counter.estimates].sort() };
}

/** Per-kernel counts and roofline estimates for a lowered program on a target. */
export function kernelCosts(program: Program, target: Roofline, opts: CostOptions = {}): KernelCost[] {
  return program.kernels.map((k) => {
    const c = kernelCounts(k, opts);
    const ops = c.flops + c.intOps;
    const bytes = c.loadBytes + c.storeBytes;
    const computeCycles = c.flops / target.flopsPerCycle + c.intOps / target.intOpsPerCycle;
    const memoryCycles = bytes / target.bytesPerCycle;
    const estCycles = Math.max(computeCycles, memoryCycles);
    let bufferBytes = 0;
    for (const b of touchedBuffers(k)) bufferBytes += bufferSize(b) * elemBytes(b.dtype);
    return {
      name: k.name,
      node: k.origin.node,
      op: k.origin.op,
      flops: c.flops,
      intOps: c.intOps,
      ops,
      loadBytes: c.loadBytes,
      storeBytes: c.storeBytes,
      bytes,
      bufferBytes,
      intensity: bytes > 0 ? ops / bytes : null,
      computeCycles,
      memoryCycles,
      estCycles,
      estSeconds: estCycles / target.clockHz,
      bound: computeCycles >= memoryCycles ? 'compute' : 'memory',
      exact: c.exact,
      estimates: c.estimates,
      ...(target.levels ? { reuse: reuseCost(k, target) } : {}),
    };
  });
}

export interface CostTotals {
  /** Sum of the reuse-aware estimates (host profiles), else null. */
  reuseSeconds: number | null;
  flops: number;
  intOps: number;
  ops: number;
  bytes: number;
  estCycles: number;
  estSeconds: number;
  computeBound: number;
  memoryBound: number;
  exact: boolean;
}

/** Sums over kernels; kernels run one after another, so the estimated times add. */
export function costTotals(costs: readonly KernelCost[]): CostTotals {
  const t: CostTotals = { reuseSeconds: costs.length > 0 && costs.every((c) => c.reuse) ? 0 : null, flops: 0, intOps: 0, ops: 0, bytes: 0, estCycles: 0, estSeconds: 0, computeBound: 0, memoryBound: 0, exact: true };
  for (const c of costs) {
    t.flops += c.flops;
    t.intOps += c.intOps;
    t.ops += c.ops;
    t.bytes += c.bytes;
    t.estCycles += c.estCycles;
    t.estSeconds += c.estSeconds;
    if (t.reuseSeconds !== null && c.reuse) t.reuseSeconds += c.reuse.estSeconds;
    if (c.bound === 'compute') t.computeBound++;
    else t.memoryBound++;
    t.exact &&= c.exact;
  }
  return t;
}
