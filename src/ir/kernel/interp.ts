/**
 * Reference execution of kernel IR. Each expression is compiled once to a JS closure, then loops
 * run those closures. Semantics follow types.ts: integers wrap, integer division truncates (x/0 = 0),
 * narrow floats compute in double and round on store. Every load and store is bounds-checked, so a
 * wrong lowering fails loudly here rather than silently in generated code.
 */
import { KilnError } from '../errors.js';
import { dtypeInfo, type NumericArray, type BigArray } from '../dtype.js';
import { normalizeNumber, Tensor } from '../tensor.js';
import { roundHalfEven } from '../ops/util.js';
import { erf } from '../ops/elementwise-util.js';
import { bufferSize, shapeAt, storageOf, type BinOp, type Expr, type KBuffer, type Program, type ScalarType, type Stmt, type UnOp } from './types.js';

type Val = number | bigint;
type Fn = () => Val;
type Run = () => void;

function isBigT(t: ScalarType): boolean {
  return t === 'i64' || t === 'u64';
}

/** Wraps a number to an integer type's width (two's complement), or passes floats through. */
function wrap(t: ScalarType, x: number): number {
  switch (t) {
    case 'i8': return (x << 24) >> 24;
    case 'u8': return x & 0xff;
    case 'i16': return (x << 16) >> 16;
    case 'u16': return x & 0xffff;
    case 'i32': case 'index': return x | 0;
    case 'u32': return x >>> 0;
    case 'bool': return x ? 1 : 0;
    case 'i4': case 'u4': case 'i2': case 'u2': return normalizeNumber(t, x);
    default: return x;
  }
}

const wrapBig = (t: ScalarType, x: bigint): bigint => (t === 'u64' ? BigInt.asUintN(64, x) : BigInt.asIntN(64, x));
const isIntT = (t: ScalarType): boolean => {
  if (t === 'index') return true;
  const k = dtypeInfo(t).kind;
  return k === 'int' || k === 'uint' || k === 'bool';
};

/** One binary op on number-valued scalars of type `t` (the operands' type), with Kiln's scalar semantics. */
export function numBin(op: BinOp, t: ScalarType, a: number, b: number): number {
  const int = isIntT(t);
  switch (op) {
    case 'add': return int ? wrap(t, a + b) : a + b;
    case 'sub': return int ? wrap(t, a - b) : a - b;
    case 'mul': return int ? wrap(t, t === 'i32' || t === 'u32' || t === 'index' ? Math.imul(a, b) : a * b) : a * b;
    case 'div': return int ? (b === 0 ? 0 : wrap(t, Math.trunc(a / b))) : a / b;
    case 'mod': return int ? (b === 0 ? 0 : wrap(t, a % b)) : a % b;
    case 'fmod': return a % b;
    case 'min': return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b);
    case 'max': return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
    case 'pow': return int ? (b < 0 ? (a === 1 ? 1 : a === -1 ? (b % 2 ? -1 : 1) : 0) : wrap(t, intPow(a, b, t))) : a ** b;
    case 'atan2': return Math.atan2(a, b);
    case 'lt': return a < b ? 1 : 0;
    case 'le': return a <= b ? 1 : 0;
    case 'gt': return a > b ? 1 : 0;
    case 'ge': return a >= b ? 1 : 0;
    case 'eq': return a === b ? 1 : 0;
    case 'ne': return a !== b ? 1 : 0;
    case 'and': return a && b ? 1 : 0;
    case 'or': return a || b ? 1 : 0;
    case 'xor': return !!a !== !!b ? 1 : 0;
    case 'bitand': return wrap(t, a & b);
    case 'bitor': return wrap(t, a | b);
    case 'bitxor': return wrap(t, a ^ b);
    case 'shl': return b >= dtypeBits(t) ? 0 : wrap(t, a * 2 ** b);
    case 'shr': return b >= dtypeBits(t) ? 0 : wrap(t, Math.floor(a / 2 ** b));
  }
}

/** Integer power with wrap-around at every step, as C's repeated multiplication does. */
function intPow(a: number, b: number, t: ScalarType): number {
  let r = 1;
  let x = a;
  let e = b;
  while (e > 0) {
    if (e & 1) r = numBin('mul', t, r, x);
    x = numBin('mul', t, x, x);
    e = Math.floor(e / 2);
  }
  return r;
}

function dtypeBits(t: ScalarType): number {
  return t === 'index' ? 32 : dtypeInfo(t).bits;
}

function bigBin(op: BinOp, t: ScalarType, a: bigint, b: bigint): Val {
  switch (op) {
    case 'add': return wrapBig(t, a + b);
    case 'sub': return wrapBig(t, a - b);
    case 'mul': return wrapBig(t, a * b);
    case 'div': return b === 0n ? 0n : wrapBig(t, a / b);
    case 'mod': case 'fmod': return b === 0n ? 0n : a % b;
    case 'min': return a < b ? a : b;
    case 'max': return a > b ? a : b;
    case 'pow': return b < 0n ? (a === 1n ? 1n : a === -1n ? (b % 2n ? -1n : 1n) : 0n) : wrapBig(t, a ** b);
    case 'lt': return a < b ? 1 : 0;
    case 'le': return a <= b ? 1 : 0;
    case 'gt': return a > b ? 1 : 0;
    case 'ge': return a >= b ? 1 : 0;
    case 'eq': return a === b ? 1 : 0;
    case 'ne': return a !== b ? 1 : 0;
    case 'and': return a && b ? 1 : 0;
    case 'or': return a || b ? 1 : 0;
    case 'xor': return !!a !== !!b ? 1 : 0;
    case 'bitand': return wrapBig(t, a & b);
    case 'bitor': return wrapBig(t, a | b);
    case 'bitxor': return wrapBig(t, a ^ b);
    case 'shl': return b >= 64n ? 0n : wrapBig(t, a << b);
    case 'shr': return b >= 64n ? 0n : wrapBig(t, BigInt.asUintN(64, a) >> b);
    case 'atan2': throw new KilnError('type', 'atan2 on 64-bit integers');
  }
}

function numUn(op: UnOp, t: ScalarType, x: number): number {
  switch (op) {
    case 'neg': return isIntT(t) ? wrap(t, -x) : -x;
    case 'abs': return isIntT(t) ? wrap(t, Math.abs(x)) : Math.abs(x);
    case 'sqrt': return Math.sqrt(x);
    case 'exp': return Math.exp(x);
    case 'log': return Math.log(x);
    case 'sin': return Math.sin(x);
    case 'cos': return Math.cos(x);
    case 'tan': return Math.tan(x);
    case 'asin': return Math.asin(x);
    case 'acos': return Math.acos(x);
    case 'atan': return Math.atan(x);
    case 'sinh': return Math.sinh(x);
    case 'cosh': return Math.cosh(x);
    case 'tanh': return Math.tanh(x);
    case 'asinh': return Math.asinh(x);
    case 'acosh': return Math.acosh(x);
    case 'atanh': return Math.atanh(x);
    case 'erf': return erf(x);
    case 'floor': return Math.floor(x);
    case 'ceil': return Math.ceil(x);
    case 'round': return roundHalfEven(x);
    case 'trunc': return Math.trunc(x);
    case 'not': return x ? 0 : 1;
    case 'bitnot': return wrap(t, ~x);
    case 'isnan': return Number.isNaN(x) ? 1 : 0;
    case 'isinf': return x === Infinity || x === -Infinity ? 1 : 0;
    case 'sign': return Number.isNaN(x) ? NaN : x > 0 ? 1 : x < 0 ? -1 : 0;
    case 'recip': return 1 / x;
  }
}

function bigUn(op: UnOp, t: ScalarType, x: bigint): Val {
  switch (op) {
    case 'neg': return wrapBig(t, -x);
    case 'abs': return wrapBig(t, x < 0n ? -x : x);
    case 'not': return x ? 0 : 1;
    case 'bitnot': return wrapBig(t, ~x);
    case 'sign': return x > 0n ? 1n : x < 0n ? -1n : 0n;
    default: throw new KilnError('type', `${op} on 64-bit integers`);
  }
}

function convert(to: ScalarType, x: Val): Val {
  if (isBigT(to)) {
    if (typeof x === 'bigint') return wrapBig(to, x);
    if (!Number.isFinite(x)) return 0n;
    return wrapBig(to, BigInt(Math.trunc(x)));
  }
  if (to === 'bool') return x !== 0 && x !== 0n && !Number.isNaN(x) ? 1 : 0;
  if (isIntT(to)) {
    // narrower integers depend only on the low 32 bits
    if (typeof x === 'bigint') return wrap(to, Number(BigInt.asIntN(32, x)));
    return Number.isFinite(x) ? wrap(to, Math.trunc(x)) : 0;
  }
  const n = Number(x);
  if (to === 'f32') return Math.fround(n);
  if (to === 'f64' || to === 'index') return n;
  return normalizeNumber(to, n);
}

class Compiler {
  private readonly slots = new Map<string, number>();
  readonly locals: Val[] = [];
  constructor(private readonly storage: Map<KBuffer, Tensor>) {}

  /** Presets a variable bound outside the kernel (the program's run-time size). */
  bind(name: string, value: number): void {
    this.locals[this.slot(name)] = value;
  }

  private slot(name: string): number {
    let s = this.slots.get(name);
    if (s === undefined) {
      s = this.locals.length;
      this.slots.set(name, s);
      this.locals.push(0);
    }
    return s;
  }

  private data(buf: KBuffer): { d: NumericArray | BigArray; n: number; t: Tensor } {
    const t = this.storage.get(buf);
    if (!t) throw new KilnError('runtime', `buffer '${buf.name}' has no storage`);
    return { d: t.data as NumericArray | BigArray, n: t.size, t };
  }

  expr(e: Expr): Fn {
    const L = this.locals;
    switch (e.k) {
      case 'const': {
        const v = isBigT(e.t) ? BigInt(e.v) : Number(e.v);
        return () => v;
      }
      case 'var': {
        const s = this.slot(e.name);
        return () => L[s]!;
      }
      case 'load': {
        const { d, n } = this.data(e.buf);
        const i = this.expr(e.idx);
        const name = e.buf.name;
        return () => {
          const k = i() as number;
          if (!(k >= 0 && k < n)) throw new KilnError('runtime', `load out of bounds: ${name}[${k}] (size ${n})`);
          return d[k]!;
        };
      }
      case 'bin': {
        const a = this.expr(e.a);
        const b = this.expr(e.b);
        const op = e.op;
        const t = e.a.t;
        if (isBigT(t)) return () => bigBin(op, t, a() as bigint, b() as bigint);
        // f32 arithmetic rounds every step, as the C (fp-contract off) and WGSL it stands for
        if (t === 'f32') return () => Math.fround(numBin(op, t, a() as number, b() as number));
        return () => numBin(op, t, a() as number, b() as number);
      }
      case 'un': {
        const a = this.expr(e.a);
        const op = e.op;
        const t = e.a.t;
        if (isBigT(t)) return () => bigUn(op, t, a() as bigint);
        if (t === 'f32') return () => Math.fround(numUn(op, t, a() as number));
        return () => numUn(op, t, a() as number);
      }
      case 'cast': {
        const a = this.expr(e.a);
        const to = e.t;
        return () => convert(to, a());
      }
      case 'select': {
        const c = this.expr(e.c);
        const a = this.expr(e.a);
        const b = this.expr(e.b);
        return () => (c() ? a() : b());
      }
    }
  }

  stmts(ss: readonly Stmt[]): Run {
    const runs = ss.map((s) => this.stmt(s));
    if (runs.length === 1) return runs[0]!;
    return () => {
      for (const r of runs) r();
    };
  }

  stmt(s: Stmt): Run {
    const L = this.locals;
    switch (s.k) {
      case 'for': {
        const slot = this.slot(s.v);
        const lo = this.expr(s.lo);
        const hi = this.expr(s.hi);
        const body = this.stmts(s.body);
        return () => {
          const end = hi() as number;
          for (let i = lo() as number; i < end; i++) {
            L[slot] = i;
            body();
          }
        };
      }
      case 'store': {
        const { d, n, t } = this.data(s.buf);
        const i = this.expr(s.idx);
        const v = this.expr(s.val);
        const name = s.buf.name;
        return () => {
          const k = i() as number;
          if (!(k >= 0 && k < n)) throw new KilnError('runtime', `store out of bounds: ${name}[${k}] (size ${n})`);
          t.setScalar(k, v());
        };
      }
      case 'let': {
        const slot = this.slot(s.name);
        const init = this.expr(s.init);
        return () => {
          L[slot] = init();
        };
      }
      case 'set': {
        const slot = this.slot(s.name);
        const v = this.expr(s.val);
        return () => {
          L[slot] = v();
        };
      }
      case 'if': {
        const c = this.expr(s.c);
        const t = this.stmts(s.then);
        const e = this.stmts(s.else);
        return () => {
          if (c()) t();
          else e();
        };
      }
      // run in order, the local loops before it are done
      case 'barrier': return () => {};
    }
  }
}

/**
 * The value of a program's run-time size that its inputs imply (null without one): the first input
 * with a dynamic dim decides, every input must agree.
 */
export function paramValueOf(program: Program, inputs: readonly Pick<Tensor, 'size'>[]): number | null {
  const param = program.param;
  if (!param) return null;
  let value: number | null = null;
  program.inputs.forEach((b, i) => {
    const x = inputs[i];
    if (b.dynDim === undefined || !x) return;
    const per = bufferSize(b) / param.max;
    const v = per === 0 ? param.max : x.size / per;
    if (!Number.isInteger(v) || v < 1 || v > param.max) {
      throw new KilnError('runtime', `input '${b.name}' has ${x.size} elements: not ${per} × ${param.name} for ${param.name} in 1..${param.max}`, { tensor: b.name });
    }
    if (value !== null && v !== value) throw new KilnError('runtime', `input '${b.name}' implies ${param.name} = ${v}, an earlier input ${value}`, { tensor: b.name });
    value = v;
  });
  return value ?? param.max;
}

/**
 * The storage a run of `program` works on: its inputs (copied when `copyInputs`, so a run that writes
 * in place never touches the caller's tensors), constants, zeroed buffers, and views sharing their
 * root's elements. Shared by the interpreter and backends that interpret part of a program.
 */
export function programStorage(program: Program, inputs: readonly Tensor[], copyInputs = false): Map<KBuffer, Tensor> {
  const storage = new Map<KBuffer, Tensor>();
  if (inputs.length !== program.inputs.length) throw new KilnError('runtime', `program takes ${program.inputs.length} inputs, ${inputs.length} given`);
  const value = paramValueOf(program, inputs);
  program.inputs.forEach((b, i) => {
    const x = inputs[i]!;
    const want = shapeAt(b, program.param, value ?? 0).reduce((a, d) => a * d, 1);
    if (x.size !== want) throw new KilnError('runtime', `input '${b.name}' has ${x.size} elements, the program was compiled for ${want}`);
    storage.set(b, copyInputs ? new Tensor(x.dtype, x.shape, x.data.slice() as typeof x.data) : x);
  });
  for (const b of program.buffers) {
    if (storage.has(b) || b.viewOf) continue;
    if (b.dtype === 'index') throw new KilnError('type', `buffer '${b.name}' cannot hold index values`);
    if (b.role === 'const') {
      if (!b.data) throw new KilnError('runtime', `const buffer '${b.name}' has no data`);
      storage.set(b, b.data);
    } else storage.set(b, Tensor.zeros(b.dtype, b.shape));
  }
  // views share their root's elements
  for (const b of program.buffers) if (b.viewOf) storage.set(b, storage.get(storageOf(b))!);
  return storage;
}

/** Runs a program on input tensors (in program-input order) and returns its outputs. */
export function runProgram(program: Program, inputs: readonly Tensor[]): Tensor[] {
  const storage = programStorage(program, inputs);
  const value = paramValueOf(program, inputs);
  for (const k of program.kernels) {
    const c = new Compiler(storage);
    if (program.param) c.bind(program.param.name, value!);
    const run = c.stmts(k.body);
    try {
      run();
    } catch (e) {
      if (e instanceof KilnError) throw new KilnError(e.code, `${e.message} in kernel ${k.name}`, { node: k.origin.node, op: k.origin.op });
      throw e;
    }
  }
  return program.outputs.map((b) => {
    const t = storage.get(b)!;
    const shape = shapeAt(b, program.param, value ?? 0);
    // at a smaller run-time size the output is the compact prefix of the buffer
    const size = shape.reduce((a, d) => a * d, 1);
    const used = size === t.size ? t : new Tensor(t.dtype, [size], t.data.slice(0, size) as typeof t.data);
    return used.shape.length === shape.length && used.shape.every((d, i) => d === shape[i]) ? used : used.reshape(shape);
  });
}
