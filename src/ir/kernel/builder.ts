/**
 * Building kernel IR: typed expression constructors with light constant folding (so index
 * arithmetic stays readable), and a statement builder with nested loops, locals and conditionals.
 */
import { KilnError } from '../errors.js';
import type { BinOp, Expr, KBuffer, LoopAnnotations, ScalarType, Stmt, UnOp } from './types.js';

// ---------- expressions ----------

export const idx = (v: number): Expr => ({ k: 'const', t: 'index', v });
export const lit = (t: ScalarType, v: number | bigint): Expr => ({ k: 'const', t, v: t === 'i64' || t === 'u64' ? BigInt(v) : Number(v) });

const isConst = (e: Expr, v?: number): boolean => e.k === 'const' && (v === undefined || Number(e.v) === v);

const COMPARE: ReadonlySet<BinOp> = new Set(['lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or', 'xor']);

/** A binary expression; comparisons and logical ops give bool. Index constants fold. */
export function bin(op: BinOp, a: Expr, b: Expr): Expr {
  if (a.t !== b.t) throw new KilnError('type', `kernel expression ${op} mixes ${a.t} and ${b.t}`);
  const t: ScalarType = COMPARE.has(op) ? 'bool' : a.t;
  if (a.t === 'index') {
    if (a.k === 'const' && b.k === 'const') {
      const x = Number(a.v);
      const y = Number(b.v);
      switch (op) {
        case 'add': return idx(x + y);
        case 'sub': return idx(x - y);
        case 'mul': return idx(x * y);
        case 'div': if (y !== 0) return idx(Math.trunc(x / y)); break;
        case 'mod': if (y !== 0) return idx(x % y); break;
        case 'min': return idx(Math.min(x, y));
        case 'max': return idx(Math.max(x, y));
        default: break;
      }
    }
    if (op === 'add' && isConst(a, 0)) return b;
    if ((op === 'add' || op === 'sub') && isConst(b, 0)) return a;
    if (op === 'mul' && (isConst(a, 0) || isConst(b, 0))) return idx(0);
    if (op === 'mul' && isConst(a, 1)) return b;
    if ((op === 'mul' || op === 'div') && isConst(b, 1)) return a;
    if (op === 'mod' && isConst(b, 1)) return idx(0);
  }
  return { k: 'bin', t, op, a, b };
}

export const add = (a: Expr, b: Expr): Expr => bin('add', a, b);
export const sub = (a: Expr, b: Expr): Expr => bin('sub', a, b);
export const mul = (a: Expr, b: Expr): Expr => bin('mul', a, b);
export const div = (a: Expr, b: Expr): Expr => bin('div', a, b);
export const mod = (a: Expr, b: Expr): Expr => bin('mod', a, b);
export const min = (a: Expr, b: Expr): Expr => bin('min', a, b);
export const max = (a: Expr, b: Expr): Expr => bin('max', a, b);
export const lt = (a: Expr, b: Expr): Expr => bin('lt', a, b);
export const le = (a: Expr, b: Expr): Expr => bin('le', a, b);
export const gt = (a: Expr, b: Expr): Expr => bin('gt', a, b);
export const ge = (a: Expr, b: Expr): Expr => bin('ge', a, b);
export const eq = (a: Expr, b: Expr): Expr => bin('eq', a, b);
export const ne = (a: Expr, b: Expr): Expr => bin('ne', a, b);
export const and = (a: Expr, b: Expr): Expr => bin('and', a, b);
export const or = (a: Expr, b: Expr): Expr => bin('or', a, b);

export function un(op: UnOp, a: Expr): Expr {
  const t: ScalarType = op === 'not' || op === 'isnan' || op === 'isinf' ? 'bool' : a.t;
  return { k: 'un', t, op, a };
}

export function cast(a: Expr, t: ScalarType): Expr {
  if (a.t === t) return a;
  if (a.k === 'const' && t === 'index' && a.t !== 'bool') return idx(Number(a.v));
  return { k: 'cast', t, a };
}

export function select(c: Expr, a: Expr, b: Expr): Expr {
  if (c.t !== 'bool') throw new KilnError('type', `select condition must be bool, got ${c.t}`);
  if (a.t !== b.t) throw new KilnError('type', `select branches differ: ${a.t} and ${b.t}`);
  return { k: 'select', t: a.t, c, a, b };
}

export function load(buf: KBuffer, index: Expr): Expr {
  if (index.t !== 'index') throw new KilnError('type', `load index must be 'index', got ${index.t}`);
  return { k: 'load', t: buf.dtype, buf, idx: index };
}

/** Flat row-major offset of a multi-index in a shape (dims of size 1 contribute nothing). */
export function flatIndex(indices: readonly Expr[], shape: readonly number[]): Expr {
  if (indices.length !== shape.length) throw new KilnError('type', `index rank ${indices.length} does not match shape rank ${shape.length}`);
  let e: Expr = idx(0);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1) e = add(mul(indices[d]!, idx(stride)), e);
    stride *= shape[d]!;
  }
  return e;
}

/**
 * Offset into an operand broadcast (numpy rules) to an output of shape `outShape`, given the
 * output's multi-index.
 */
export function broadcastIndex(outIdx: readonly Expr[], operandShape: readonly number[]): Expr {
  const off = outIdx.length - operandShape.length;
  return flatIndex(operandShape.map((d, i) => (d === 1 ? idx(0) : outIdx[off + i]!)), operandShape);
}

// ---------- statements ----------

/** Most statements one kernel may have before lowering refuses it (real models stay under 1,000). */
export const MAX_KERNEL_STATEMENTS = 1 << 16;

/** Builds a kernel body: nested loops, locals, conditionals and stores, with unique names. */
export class KernelBuilder {
  private readonly stack: Stmt[][];
  private counter = 0;

  constructor() {
    this.stack = [[]];
  }

  get body(): Stmt[] {
    return this.stack[0]!;
  }

  private emitted = 0;

  private emit(s: Stmt): void {
    // a lowering unrolls loops over dims, counts and attribute entries; one sized by hostile data
    // would build a kernel without end, so the statement count is capped here for every lowering
    if (++this.emitted > MAX_KERNEL_STATEMENTS) throw new KilnError('limit', `kernel has over ${MAX_KERNEL_STATEMENTS} statements (an unrolled loop sized by the model's data?)`);
    this.stack[this.stack.length - 1]!.push(s);
  }

  private block(fn: () => void): Stmt[] {
    this.stack.push([]);
    fn();
    return this.stack.pop()!;
  }

  fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  /** for (v = lo; v < hi; v++) body(v) */
  for(lo: Expr | number, hi: Expr | number, body: (v: Expr) => void, ann: LoopAnnotations = {}): void {
    const name = this.fresh('i');
    const v: Expr = { k: 'var', t: 'index', name };
    const loE = typeof lo === 'number' ? idx(lo) : lo;
    const hiE = typeof hi === 'number' ? idx(hi) : hi;
    const stmts = this.block(() => body(v));
    this.emit({ k: 'for', v: name, lo: loE, hi: hiE, body: stmts, ann });
  }

  /** A loop nest over every index of `shape` (outermost first). */
  loops(shape: readonly number[], body: (indices: Expr[]) => void): void {
    const go = (d: number, acc: Expr[]): void => {
      if (d === shape.length) {
        body(acc);
        return;
      }
      if (shape[d] === 1) {
        go(d + 1, [...acc, idx(0)]);
        return;
      }
      this.for(0, shape[d]!, (v) => go(d + 1, [...acc, v]));
    };
    go(0, []);
  }

  /** Declares a mutable local and returns it as an expression. */
  let(t: ScalarType, init: Expr, prefix = 'v'): Expr {
    if (init.t !== t) throw new KilnError('type', `local of type ${t} initialized with ${init.t}`);
    const name = this.fresh(prefix);
    this.emit({ k: 'let', name, t, init });
    return { k: 'var', t, name };
  }

  set(local: Expr, val: Expr): void {
    if (local.k !== 'var') throw new KilnError('type', 'only locals can be assigned');
    if (local.t !== val.t) throw new KilnError('type', `assigning ${val.t} to local of type ${local.t}`);
    this.emit({ k: 'set', name: local.name, val });
  }

  if(c: Expr, then: () => void, otherwise?: () => void): void {
    if (c.t !== 'bool') throw new KilnError('type', `if condition must be bool, got ${c.t}`);
    const t = this.block(then);
    const e = otherwise ? this.block(otherwise) : [];
    this.emit({ k: 'if', c, then: t, else: e });
  }

  store(buf: KBuffer, index: Expr, val: Expr): void {
    if (index.t !== 'index') throw new KilnError('type', `store index must be 'index', got ${index.t}`);
    this.emit({ k: 'store', buf, idx: index, val: cast(val, buf.dtype) });
  }
}
