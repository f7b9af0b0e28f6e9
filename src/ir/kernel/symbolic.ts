/**
 * One program with a run-time size from programs lowered at several fixed sizes.
 *
 * The lowerings are written for static shapes. Lowered at a few values of a size (batch = 2, 3, 8, …),
 * a batch-generic model gives programs that differ only in integer constants: loop bounds, strides
 * and flat extents, each an affine function of the size. Fitting each differing constant to
 * `a·size + b` through the samples (and checking the fit on every other sample) turns the programs
 * into one whose constants are expressions of the size, a variable bound at run time. Anything else
 * that differs (a lowering that picked another loop structure, a constant that is not affine, weights
 * that depend on the size) is refused with the kernel and the reason, never guessed.
 */
import { KilnError } from '../errors.js';
import { tensorRawBytes } from '../print.js';
import type { Expr, KBuffer, Kernel, Program, ProgramParam, Stmt } from './types.js';

/** Fixed sizes to lower at for a bound `max`: three points to fit and check, a fourth near the top when there is room. */
export function sampleValues(max: number): number[] {
  const top = Math.max(max, 4);
  const out = [2, 3, top];
  if (max >= 6) out.push(max - 1);
  return out;
}

export interface Sample {
  readonly value: number;
  readonly program: Program;
}

class Mismatch extends Error {}

/** `a·p + b` through the samples' values, or null when they are not affine in integers. */
function fitAffine(values: readonly number[], ys: readonly number[]): { a: number; b: number } | null {
  const a = (ys[1]! - ys[0]!) / (values[1]! - values[0]!);
  const b = ys[0]! - a * values[0]!;
  if (!Number.isInteger(a) || !Number.isInteger(b)) return null;
  return ys.every((y, i) => y === a * values[i]! + b) ? { a, b } : null;
}

const ix = (v: number): Expr => ({ k: 'const', t: 'index', v });

function affineExpr(param: ProgramParam, a: number, b: number): Expr {
  const p: Expr = { k: 'var', t: 'index', name: param.name };
  const scaled: Expr = a === 1 ? p : { k: 'bin', t: 'index', op: 'mul', a: p, b: ix(a) };
  if (b === 0) return scaled;
  return b > 0 ? { k: 'bin', t: 'index', op: 'add', a: scaled, b: ix(b) } : { k: 'bin', t: 'index', op: 'sub', a: scaled, b: ix(-b) };
}

class Generalizer {
  private readonly bufferMap = new Map<KBuffer, KBuffer>();
  private kernel = '';

  constructor(
    private readonly samples: readonly Sample[],
    private readonly param: ProgramParam,
  ) {}

  private get values(): number[] {
    return this.samples.map((s) => s.value);
  }

  private fail(why: string): never {
    throw new Mismatch(this.kernel ? `kernel ${this.kernel}: ${why}` : why);
  }

  private same(xs: readonly unknown[], what: string): void {
    const first = JSON.stringify(xs[0]);
    if (xs.some((x) => JSON.stringify(x) !== first)) this.fail(`${what} differs between sizes (${xs.map((x) => JSON.stringify(x)).join(' / ')})`);
  }

  /** A number that may vary with the size: the expression, or the constant when it does not. */
  private number(ys: readonly number[], what: string): { fit: { a: number; b: number } | null; at: (v: number) => number } {
    if (ys.every((y) => y === ys[0])) return { fit: null, at: () => ys[0]! };
    const fit = fitAffine(this.values, ys);
    if (!fit) this.fail(`${what} is ${ys.join(' / ')} at ${this.param.name} = ${this.values.join(' / ')}: not an affine function of it`);
    return { fit, at: (v) => fit.a * v + fit.b };
  }

  buffers(): KBuffer[] {
    const lists = this.samples.map((s) => s.program.buffers);
    this.same(lists.map((l) => l.length), 'the number of buffers');
    const out = lists[0]!.map((b0, i) => {
      const bs = lists.map((l) => l[i]!);
      this.same(bs.map((b) => [b.name, b.dtype, b.role, b.shape.length, b.level ?? null]), `buffer ${b0.name}`);
      let dynDim: number | undefined;
      const shape = b0.shape.map((_d, k) => {
        const n = this.number(bs.map((b) => b.shape[k]!), `dim ${k} of buffer ${b0.name}`);
        if (n.fit && (b0.role === 'input' || b0.role === 'output')) {
          // the C API takes a program input/output as one pointer: only one dim may scale, in proportion
          if (n.fit.b !== 0 || dynDim !== undefined) this.fail(`program ${b0.role} ${b0.name} has shape [${bs.map((b) => b.shape.join('x')).join('] / [')}]: only one dim may scale with ${this.param.name}, in proportion`);
          dynDim = k;
        }
        return n.at(this.param.max);
      });
      if (b0.data) {
        const bytes = bs.map((b) => (b.data ? Buffer.from(tensorRawBytes(b.data)).toString('base64') : ''));
        if (bytes.some((x) => x !== bytes[0])) this.fail(`the contents of constant ${b0.name} depend on ${this.param.name}`);
      }
      const nb: KBuffer = { id: b0.id, name: b0.name, dtype: b0.dtype, shape, role: b0.role };
      if (b0.data && shape.every((d, k) => d === b0.data!.shape[k])) nb.data = b0.data;
      else if (b0.data) this.fail(`constant ${b0.name} has a shape that depends on ${this.param.name}`);
      if (b0.level !== undefined) nb.level = b0.level;
      if (dynDim !== undefined) nb.dynDim = dynDim;
      bs.forEach((b) => this.bufferMap.set(b, nb));
      return nb;
    });
    lists[0]!.forEach((b0, i) => {
      const views = lists.map((l) => l[i]!.viewOf?.id ?? null);
      this.same(views, `the storage of buffer ${b0.name}`);
      if (b0.viewOf) out[i]!.viewOf = this.bufferMap.get(b0.viewOf)!;
    });
    return out;
  }

  private buf(bs: readonly KBuffer[]): KBuffer {
    const mapped = bs.map((b) => this.bufferMap.get(b));
    if (mapped.some((m) => m === undefined || m !== mapped[0])) this.fail(`accesses buffer ${bs[0]!.name} in one size and ${bs.find((b) => this.bufferMap.get(b) !== mapped[0])?.name} in another`);
    return mapped[0]!;
  }

  expr(es: readonly Expr[]): Expr {
    const e0 = es[0]!;
    this.same(es.map((e) => [e.k, e.t]), 'an expression');
    switch (e0.k) {
      case 'const': {
        const vs = es.map((e) => (e as typeof e0).v);
        const same = (v: number | bigint): boolean => v === vs[0] || (typeof v === 'number' && Number.isNaN(v) && Number.isNaN(vs[0]));
        if (vs.every(same)) return e0;
        if (e0.t !== 'index') this.fail(`a ${e0.t} constant (${vs.join(' / ')}) depends on ${this.param.name}; only index arithmetic may`);
        const n = this.number(vs.map(Number), 'an index constant');
        return affineExpr(this.param, n.fit!.a, n.fit!.b);
      }
      case 'var':
        this.same(es.map((e) => (e as typeof e0).name), 'a variable');
        return e0;
      case 'load': {
        const ls = es as (typeof e0)[];
        return { k: 'load', t: e0.t, buf: this.buf(ls.map((e) => e.buf)), idx: this.expr(ls.map((e) => e.idx)) };
      }
      case 'bin': {
        const bs = es as (typeof e0)[];
        this.same(bs.map((e) => e.op), 'an operator');
        return { k: 'bin', t: e0.t, op: e0.op, a: this.expr(bs.map((e) => e.a)), b: this.expr(bs.map((e) => e.b)) };
      }
      case 'un': {
        const us = es as (typeof e0)[];
        this.same(us.map((e) => e.op), 'an operator');
        return { k: 'un', t: e0.t, op: e0.op, a: this.expr(us.map((e) => e.a)) };
      }
      case 'cast': {
        const cs = es as (typeof e0)[];
        return { k: 'cast', t: e0.t, a: this.expr(cs.map((e) => e.a)) };
      }
      case 'select': {
        const ss = es as (typeof e0)[];
        return { k: 'select', t: e0.t, c: this.expr(ss.map((e) => e.c)), a: this.expr(ss.map((e) => e.a)), b: this.expr(ss.map((e) => e.b)) };
      }
    }
  }

  stmts(lists: readonly (readonly Stmt[])[]): Stmt[] {
    this.same(lists.map((l) => l.length), 'the number of statements');
    return lists[0]!.map((_s, i) => this.stmt(lists.map((l) => l[i]!)));
  }

  private stmt(ss: readonly Stmt[]): Stmt {
    const s0 = ss[0]!;
    this.same(ss.map((s) => s.k), 'a statement');
    switch (s0.k) {
      case 'for': {
        const fs = ss as (typeof s0)[];
        this.same(fs.map((s) => [s.v, s.ann]), 'a loop');
        return { k: 'for', v: s0.v, lo: this.expr(fs.map((s) => s.lo)), hi: this.expr(fs.map((s) => s.hi)), body: this.stmts(fs.map((s) => s.body)), ann: s0.ann };
      }
      case 'store': {
        const st = ss as (typeof s0)[];
        return { k: 'store', buf: this.buf(st.map((s) => s.buf)), idx: this.expr(st.map((s) => s.idx)), val: this.expr(st.map((s) => s.val)) };
      }
      case 'let': {
        const ls = ss as (typeof s0)[];
        this.same(ls.map((s) => [s.name, s.t]), 'a local');
        return { k: 'let', name: s0.name, t: s0.t, init: this.expr(ls.map((s) => s.init)) };
      }
      case 'set': {
        const xs = ss as (typeof s0)[];
        this.same(xs.map((s) => s.name), 'an assignment');
        return { k: 'set', name: s0.name, val: this.expr(xs.map((s) => s.val)) };
      }
      case 'if': {
        const is = ss as (typeof s0)[];
        return { k: 'if', c: this.expr(is.map((s) => s.c)), then: this.stmts(is.map((s) => s.then)), else: this.stmts(is.map((s) => s.else)) };
      }
      case 'barrier': return s0;
    }
  }

  kernels(): Kernel[] {
    const lists = this.samples.map((s) => s.program.kernels);
    this.same(lists.map((l) => l.length), 'the number of kernels');
    return lists[0]!.map((k0, i) => {
      const ks = lists.map((l) => l[i]!);
      this.kernel = k0.name;
      this.same(ks.map((k) => [k.name, k.origin]), `kernel ${k0.name}`);
      const body = this.stmts(ks.map((k) => k.body));
      this.kernel = '';
      return { name: k0.name, origin: k0.origin, body };
    });
  }
}

/**
 * The program with `param` as a run-time size, from programs lowered at the sizes `samples` give
 * (see sampleValues). Refused with KilnError('unsupported') naming what is not size-generic.
 */
export function generalizeProgram(samples: readonly Sample[], param: ProgramParam): Program {
  if (samples.length < 3) throw new KilnError('usage', 'a run-time size needs programs at three or more sizes');
  const g = new Generalizer(samples, param);
  try {
    const first = samples[0]!.program;
    const buffers = g.buffers();
    const byId = (list: readonly KBuffer[]): KBuffer[] => list.map((b) => buffers[first.buffers.indexOf(b)]!);
    const kernels = g.kernels();
    const out: Program = { name: first.name, buffers, inputs: byId(first.inputs), outputs: byId(first.outputs), kernels, param };
    if (first.ioQuant) out.ioQuant = first.ioQuant;
    if (!out.inputs.some((b) => b.dynDim !== undefined)) throw new Mismatch(`no program input scales with ${param.name}`);
    return out;
  } catch (e) {
    if (e instanceof Mismatch) throw new KilnError('unsupported', `--dynamic ${param.name}: ${e.message}`);
    throw e;
  }
}

/**
 * The program at one value of its run-time size, for analyses that need constant bounds: the same
 * buffers (so results keyed by buffer carry over), kernels with the size's variable replaced.
 */
export function bindParam(program: Program, value: number): Program {
  const param = program.param;
  if (!param) return program;
  const e = (x: Expr): Expr => {
    switch (x.k) {
      case 'const': return x;
      case 'var': return x.name === param.name ? ix(value) : x;
      case 'load': return { ...x, idx: e(x.idx) };
      case 'bin': return foldIndex({ ...x, a: e(x.a), b: e(x.b) });
      case 'un': return { ...x, a: e(x.a) };
      case 'cast': return { ...x, a: e(x.a) };
      case 'select': return { ...x, c: e(x.c), a: e(x.a), b: e(x.b) };
    }
  };
  const s = (x: Stmt): Stmt => {
    switch (x.k) {
      case 'for': return { ...x, lo: e(x.lo), hi: e(x.hi), body: x.body.map(s) };
      case 'store': return { ...x, idx: e(x.idx), val: e(x.val) };
      case 'let': return { ...x, init: e(x.init) };
      case 'set': return { ...x, val: e(x.val) };
      case 'if': return { ...x, c: e(x.c), then: x.then.map(s), else: x.else.map(s) };
      case 'barrier': return x;
    }
  };
  const { param: _dropped, ...rest } = program;
  return { ...rest, kernels: program.kernels.map((k) => ({ ...k, body: k.body.map(s) })) };
}

/** Index arithmetic on two constants folded, as the lowerings fold it for a static size. */
function foldIndex(x: Expr & { k: 'bin' }): Expr {
  if (x.t !== 'index' || x.a.k !== 'const' || x.b.k !== 'const') return x;
  const a = Number(x.a.v);
  const b = Number(x.b.v);
  switch (x.op) {
    case 'add': return ix(a + b);
    case 'sub': return ix(a - b);
    case 'mul': return ix(a * b);
    default: return x;
  }
}
