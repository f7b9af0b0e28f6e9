/**
 * map-gpu: maps independent loops onto a GPU dispatch grid, as `gpu <dim> <workgroup>` annotations
 * on the kernel IR. For each top-level loop of a kernel whose iterations are independent
 * (src/ir/kernel/parallel.ts, from the access functions, never from op names), the nested
 * independent loops with constant bounds are collapsed (a loop's body may start with index `let`s
 * that are never `set`: each invocation computes them): the innermost becomes x, the next y, and
 * all outer ones share z (z's index is split back into them, outermost slowest). Workgroup sizes are powers of two chosen from the device's limits (options
 * `invocations` = maxComputeInvocationsPerWorkgroup, `groups` = maxComputeWorkgroupsPerDimension);
 * a loop that would need more workgroups than a dimension allows stays unmapped.
 * A backend runs each top-level statement as its own dispatch, and locals do not survive between
 * dispatches: top-level `let`s that are never set and read only constants are first substituted
 * into the statements after them (inlineTopLets); from the first other top-level local on, the
 * kernel is left alone. Unmapped code runs as one invocation.
 */
import { KilnError } from '../ir/errors.js';
import { assignedNames, loopIsParallel, mentions, nextInChain, substitute } from '../ir/kernel/parallel.js';
import { storageOf, type BinOp, type Expr, type GpuDim, type KBuffer, type Kernel, type Program, type Stmt } from '../ir/kernel/types.js';
import { add, bin, idx, lit, load, lt, mul } from '../ir/kernel/builder.js';
import { definePass, numberOption } from './pass.js';

export interface GpuLimits {
  /** maxComputeInvocationsPerWorkgroup (compatibility mode guarantees 128). */
  invocations: number;
  /** maxComputeWorkgroupsPerDimension. */
  groups: number;
  /** Preferred invocations per workgroup (≤ invocations). */
  preferred: number;
  /** Whether long reductions over few outputs become workgroup trees (shared memory and barriers). */
  tree?: boolean;
}

export const DEFAULT_GPU_LIMITS: GpuLimits = { invocations: 128, groups: 65535, preferred: 64, tree: true };

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

/** Reductions at least this long, over at most TREE_MAX_GROUPS outputs, become workgroup trees. */
const TREE_MIN_LENGTH = 64;
const TREE_MAX_GROUPS = 4096;

const v = (name: string, t: 'index' | 'f32' = 'index'): Expr => ({ k: 'var', name, t });

function hasBarrier(ss: readonly Stmt[]): boolean {
  return ss.some((s) => s.k === 'barrier' || (s.k === 'for' && hasBarrier(s.body)) || (s.k === 'if' && (hasBarrier(s.then) || hasBarrier(s.else))));
}

/**
 * The one `set %acc = op(%acc, e)` (op add/min/max on f32) in a reduction loop body where %acc is
 * read nowhere else and nothing is stored; null when the body is not such a reduction.
 */
function reductionOp(body: readonly Stmt[], acc: string): BinOp | null {
  let op: BinOp | null = null;
  let ok = true;
  const walk = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      switch (s.k) {
        case 'set':
          if (s.name !== acc || op !== null || s.val.k !== 'bin' || !['add', 'min', 'max'].includes(s.val.op)) ok = false;
          else if (s.val.a.k === 'var' && s.val.a.name === acc && !mentions(s.val.b, acc)) op = s.val.op;
          else ok = false;
          break;
        case 'store': case 'barrier': ok = false; break;
        case 'let': if (mentions(s.init, acc)) ok = false; break;
        case 'if': if (mentions(s.c, acc)) ok = false; walk(s.then); walk(s.else); break;
        case 'for': if (mentions(s.lo, acc) || mentions(s.hi, acc)) ok = false; walk(s.body); break;
      }
    }
  };
  walk(body);
  return ok ? op : null;
}

/**
 * Turns the reduction in the body of the innermost loop of a mapped chain into a workgroup tree:
 * the chain's loops become `gpu group` loops (one workgroup per output), W invocations each fold a
 * strided part of the reduction into a workgroup buffer, then halve it with barriers between
 * steps; the result, combined with the original initial value, replaces the accumulator. False
 * when the body has no such reduction (`let %acc: f32 = init; for %k … { set %acc = op(%acc, e) }`).
 */
function treeReduce(program: Program, chain: For[]): boolean {
  const L = chain[chain.length - 1]!;
  const groups = chain.reduce((a, l) => a * extent(l)!, 1);
  if (groups > TREE_MAX_GROUPS) return false;
  const i = L.body.findIndex((s, j) => s.k === 'let' && s.t === 'f32' && L.body[j + 1]?.k === 'for');
  if (i < 0 || L.body.slice(0, i).some((s) => s.k !== 'let')) return false;
  const accLet = L.body[i] as Stmt & { k: 'let' };
  const red = L.body[i + 1] as For;
  const n = extent(red);
  if (n === null || n < TREE_MIN_LENGTH) return false;
  const op = reductionOp(red.body, accLet.name);
  if (!op) return false;
  const rest = L.body.slice(i + 2);
  // what follows runs once per workgroup (invocation 0): no top-level set there, none of %acc
  if (assignedNames(rest).has(accLet.name) || rest.some((s) => s.k === 'set')) return false;
  const W = n >= 256 ? 64 : 32;
  const lo = constBound(red.lo)!;
  const ids = program.buffers.map((b) => b.id);
  const names = new Set(program.buffers.map((b) => b.name));
  let name = `${accLet.name}.wg`;
  for (let j = 1; names.has(name); j++) name = `${accLet.name}.wg${j}`;
  const sh: KBuffer = { id: Math.max(0, ...ids) + 1, name, dtype: 'f32', shape: [W], role: 'temp', level: 'workgroup' };
  program.buffers.push(sh);
  const ident = lit('f32', op === 'add' ? 0 : op === 'max' ? -Infinity : Infinity);
  const local = (v: string, ext: number, body: Stmt[]): Stmt => ({ k: 'for', v, lo: idx(0), hi: idx(ext), body, ann: { gpu: { dim: 'x', workgroup: W, scope: 'local' } } });
  const lane = `${red.v}.lane`;
  const part = `${red.v}.part`;
  const body: Stmt[] = [
    ...L.body.slice(0, i),
    local(lane, W, [
      { k: 'let', name: accLet.name, t: 'f32', init: ident },
      {
        k: 'for',
        v: part,
        lo: idx(0),
        hi: idx(Math.ceil(n / W)),
        ann: {},
        body: [
          { k: 'let', name: red.v, t: 'index', init: add(idx(lo), add(mul(v(part), idx(W)), v(lane))) },
          { k: 'if', c: lt(v(red.v), idx(lo + n)), then: red.body, else: [] },
        ],
      },
      { k: 'store', buf: sh, idx: v(lane), val: v(accLet.name, 'f32') },
    ]),
    { k: 'barrier' },
  ];
  for (let s = W / 2; s >= 1; s /= 2) {
    const l = `${red.v}.l${s}`;
    body.push(local(l, s, [{ k: 'store', buf: sh, idx: v(l), val: bin(op, load(sh, v(l)), load(sh, add(v(l), idx(s)))) }]), { k: 'barrier' });
  }
  body.push({ k: 'let', name: accLet.name, t: 'f32', init: bin(op, accLet.init, load(sh, idx(0))) }, ...rest);
  L.body.splice(0, L.body.length, ...body);
  const dims: GpuDim[] = ['x', 'y', 'z'];
  [...chain].reverse().forEach((l, j) => {
    l.ann.gpu = { dim: dims[Math.min(j, 2)]!, workgroup: W, scope: 'group' };
  });
  return true;
}

/** Expression nodes in e (a bound on what substitution may copy). */
function exprSize(e: Expr): number {
  switch (e.k) {
    case 'load': return 1 + exprSize(e.idx);
    case 'bin': return 1 + exprSize(e.a) + exprSize(e.b);
    case 'un': case 'cast': return 1 + exprSize(e.a);
    case 'select': return 1 + exprSize(e.c) + exprSize(e.a) + exprSize(e.b);
    default: return 1;
  }
}

/** Whether e's value is fixed for the whole kernel: literals and loads of constant buffers only. */
function fixedValue(e: Expr): boolean {
  switch (e.k) {
    case 'const': return true;
    case 'var': return false;
    case 'load': return storageOf(e.buf).role === 'const' && fixedValue(e.idx);
    case 'bin': return fixedValue(e.a) && fixedValue(e.b);
    case 'un': case 'cast': return fixedValue(e.a);
    case 'select': return fixedValue(e.c) && fixedValue(e.a) && fixedValue(e.b);
  }
}

/** Whether a statement binds (let or loop variable) one of the names. */
function binds(ss: readonly Stmt[], names: ReadonlyMap<string, Expr>): boolean {
  return ss.some((s) => {
    switch (s.k) {
      case 'let': return names.has(s.name);
      case 'for': return names.has(s.v) || binds(s.body, names);
      case 'if': return binds(s.then, names) || binds(s.else, names);
      default: return false;
    }
  });
}

function substStmt(s: Stmt, defs: ReadonlyMap<string, Expr>): Stmt {
  const e = (x: Expr): Expr => substitute(x, defs);
  switch (s.k) {
    case 'for': return { ...s, lo: e(s.lo), hi: e(s.hi), body: s.body.map((b) => substStmt(b, defs)) };
    case 'store': return { ...s, idx: e(s.idx), val: e(s.val) };
    case 'let': return { ...s, init: e(s.init) };
    case 'set': return { ...s, val: e(s.val) };
    case 'if': return { ...s, c: e(s.c), then: s.then.map((b) => substStmt(b, defs)), else: s.else.map((b) => substStmt(b, defs)) };
    case 'barrier': return s;
  }
}

/** Largest expression a top-level `let` may have to be copied into its uses. */
const MAX_INLINED_EXPR = 64;

/**
 * Substitutes the kernel's top-level `let`s into the statements after them when each is never set
 * and its value is fixed (literals, constant buffers, earlier such lets), so that no top-level
 * local is left; the kernel is unchanged (false) when one cannot go.
 */
export function inlineTopLets(k: Kernel): boolean {
  const assigned = assignedNames(k.body);
  const defs = new Map<string, Expr>();
  const rest: Stmt[] = [];
  for (const s of k.body) {
    if (s.k === 'set') return false;
    if (s.k !== 'let') {
      rest.push(s);
      continue;
    }
    const init = substitute(s.init, defs);
    if (assigned.has(s.name) || defs.has(s.name) || !fixedValue(init) || exprSize(init) > MAX_INLINED_EXPR) return false;
    defs.set(s.name, init);
  }
  if (defs.size === 0) return true;
  if (binds(rest, defs)) return false;
  k.body.splice(0, k.body.length, ...rest.map((s) => substStmt(s, defs)));
  return true;
}

export function mapGpu(program: Program, limits: GpuLimits = DEFAULT_GPU_LIMITS): number {
  let mapped = 0;
  for (const k of program.kernels) {
    // a kernel already in workgroup form (a barrier) keeps its mapping
    if (hasBarrier(k.body)) continue;
    clearGpu(k.body);
    inlineTopLets(k);
    // statements from the first top-level local on run as one invocation (locals do not survive
    // between dispatches); the loops before it are mapped
    const first = k.body.findIndex((s) => s.k === 'let' || s.k === 'set');
    const assigned = assignedNames(k.body);
    for (const s of first < 0 ? k.body : k.body.slice(0, first)) {
      if (s.k !== 'for') continue;
      let chain = parallelChain(s, assigned);
      if (chain.length > 0 && limits.tree && treeReduce(program, chain)) {
        mapped++;
        continue;
      }
      while (chain.length > 0 && !assign(chain, limits)) chain = chain.slice(0, -1);
      if (chain.length > 0) mapped++;
    }
  }
  return mapped;
}

export const mapGpuPass = definePass({
  name: 'map-gpu',
  level: 'kernel',
  description: 'map independent loops (from their access functions) onto the GPU dispatch grid as gpu <dim> <workgroup> loop annotations',
  options: {
    invocations: 'maxComputeInvocationsPerWorkgroup of the device (default 128)',
    groups: 'maxComputeWorkgroupsPerDimension of the device (default 65535)',
    workgroup: 'preferred invocations per workgroup (default 64)',
    tree: "'on' (default): long f32 add/min/max reductions over few outputs become workgroup trees; 'off': loops only",
  },
  run: (program, ctx) => {
    const limits: GpuLimits = {
      invocations: numberOption('map-gpu', ctx, 'invocations', { dflt: DEFAULT_GPU_LIMITS.invocations, min: 1, integer: true }),
      groups: numberOption('map-gpu', ctx, 'groups', { dflt: DEFAULT_GPU_LIMITS.groups, min: 1, integer: true }),
      preferred: numberOption('map-gpu', ctx, 'workgroup', { dflt: DEFAULT_GPU_LIMITS.preferred, min: 1, integer: true }),
      tree: ctx.options.tree !== 'off',
    };
    if (ctx.options.tree !== undefined && ctx.options.tree !== 'on' && ctx.options.tree !== 'off') throw new KilnError('usage', `map-gpu: tree must be on or off, not '${ctx.options.tree}'`);
    const n = mapGpu(program, limits);
    ctx.log(`map-gpu: ${n} loop nests mapped to the dispatch grid`);
    return n > 0;
  },
});
