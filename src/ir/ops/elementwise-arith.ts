/** Elementwise arithmetic: Sub, Mul, Div, Mod, Pow and the variadic Max, Min, Sum, Mean. */
import { KilnError } from '../errors.js';
import { isBig, isFloat, isInteger, dtypeInfo, type DType } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import type { InferContext } from './registry.js';
import { registerOp } from './registry.js';
import { broadcastInfer, mapBinary, mapUnary, type NumFn2, type BigFn2 } from './util.js';
import { binaryInferOf, binaryOperands, checkInputTypes, checkSameTypes, mapNary, wrapBig, type TypeClass } from './elementwise-util.js';

function binaryInfer(ctx: InferContext, classes: readonly TypeClass[]) {
  checkInputTypes(ctx, classes);
  checkSameTypes(ctx);
  return binaryInferOf(ctx, null);
}

/** Multiplication that keeps the low bits exact for 32-bit integer types. */
function mulFor(dt: DType): NumFn2 {
  if (dt === 'i32' || dt === 'u32') return (a, b) => Math.imul(a, b);
  return (a, b) => a * b;
}

registerOp({
  opType: 'Sub',
  since: 1,
  infer: (ctx) => binaryInfer(ctx, ['numeric']),
  interp: (ctx) => {
    const [a, b] = binaryOperands(ctx);
    return [mapBinary(a, b, (x, y) => x - y, (x, y) => x - y)];
  },
});

registerOp({
  opType: 'Mul',
  since: 1,
  infer: (ctx) => binaryInfer(ctx, ['numeric']),
  interp: (ctx) => {
    const [a, b] = binaryOperands(ctx);
    return [mapBinary(a, b, mulFor(a.dtype), (x, y) => x * y)];
  },
});

registerOp({
  opType: 'Div',
  since: 1,
  infer: (ctx) => binaryInfer(ctx, ['numeric']),
  interp: (ctx) => {
    const [a, b] = binaryOperands(ctx);
    if (isInteger(a.dtype)) {
      // integer division truncates toward zero; division by zero yields 0
      return [mapBinary(a, b, (x, y) => (y === 0 ? 0 : Math.trunc(x / y)), (x, y) => (y === 0n ? 0n : x / y))];
    }
    return [mapBinary(a, b, (x, y) => x / y)];
  },
});

// ---------- Mod ----------

/** Python-style modulo (sign of the divisor) for floats, as numpy.mod. */
function pyModNum(a: number, b: number): number {
  if (b === 0) return NaN;
  const r = a % b;
  if (r !== 0 && r < 0 !== b < 0) return r + b;
  if (r === 0) return b < 0 ? -0 : 0;
  return r;
}

registerOp({
  opType: 'Mod',
  since: 10,
  attrs: { fmod: 'int' },
  infer: (ctx) => binaryInfer(ctx, ['numeric']),
  interp: (ctx) => {
    const [a, b] = binaryOperands(ctx);
    const fmod = ctx.attrs.int('fmod', 0);
    if (isFloat(a.dtype)) {
      if (fmod === 1) return [mapBinary(a, b, (x, y) => x % y)];
      return [mapBinary(a, b, pyModNum)];
    }
    // integers: division by zero yields 0 (as numpy)
    if (fmod === 1) {
      return [mapBinary(a, b, (x, y) => (y === 0 ? 0 : x % y), (x, y) => (y === 0n ? 0n : x % y))];
    }
    return [
      mapBinary(
        a,
        b,
        (x, y) => {
          if (y === 0) return 0;
          const r = x % y;
          return r !== 0 && r < 0 !== y < 0 ? r + y : r;
        },
        (x, y) => {
          if (y === 0n) return 0n;
          const r = x % y;
          return r !== 0n && r < 0n !== y < 0n ? r + y : r;
        },
      ),
    ];
  },
});

// ---------- Pow ----------

function intPowBig(base: bigint, exp: bigint, dt: DType): bigint {
  if (exp < 0n) {
    if (base === 1n) return 1n;
    if (base === -1n) return exp % 2n === 0n ? 1n : -1n;
    return 0n;
  }
  let result = 1n;
  let b = wrapBig(dt, base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = wrapBig(dt, result * b);
    b = wrapBig(dt, b * b);
    e >>= 1n;
  }
  return result;
}

registerOp({
  opType: 'Pow',
  since: 1,
  infer: (ctx) => {
    checkInputTypes(ctx, ['numeric']);
    if (ctx.opset < 12) checkSameTypes(ctx);
    // the output takes the base's element type, whatever the exponent's
    const base = ctx.inputs[0];
    return binaryInferOf(ctx, base && base.kind === 'tensor' ? base.dtype : null);
  },
  interp: (ctx) => {
    const [a, b] = binaryOperands(ctx, false);
    const outT = a.dtype;
    if (isInteger(a.dtype) && isInteger(b.dtype)) {
      // exact integer power with wraparound in the base's type
      const wide: DType = dtypeInfo(outT).kind === 'uint' ? 'u64' : 'i64';
      return [
        mapNary([a, b], outT, ([x, y]) => {
          const r = intPowBig(BigInt(x as number | bigint), BigInt(y as number | bigint), wide);
          if (isBig(outT)) return wrapBig(outT, r);
          const bits = dtypeInfo(outT).bits;
          return Number(wide === 'u64' ? BigInt.asUintN(bits, r) : BigInt.asIntN(bits, r));
        }),
      ];
    }
    // otherwise compute in double and convert to the base's type (truncating for integers)
    if (!isBig(a.dtype) && !isBig(b.dtype) && a.dtype === b.dtype) {
      return [mapBinary(a, b, (x, y) => Math.pow(x, y))];
    }
    return [mapNary([a, b], outT, ([x, y]) => Math.pow(Number(x), Number(y)))];
  },
});

// ---------- variadic ----------

function variadicInfer(ctx: InferContext, classes: readonly TypeClass[]) {
  if (ctx.inputs.length === 0) throw new KilnError('type', `${ctx.node.opType} needs at least one input`);
  checkInputTypes(ctx, classes);
  checkSameTypes(ctx);
  return broadcastInfer(ctx);
}

function allInputs(ctx: { inputs: readonly unknown[]; tensor(i: number): Tensor }): Tensor[] {
  const ts: Tensor[] = [];
  for (let i = 0; i < ctx.inputs.length; i++) ts.push(ctx.tensor(i));
  if (ts.length === 0) throw new KilnError('runtime', 'variadic op needs at least one input');
  return ts;
}

function fold(ts: Tensor[], fn: NumFn2, fnBig: BigFn2): Tensor {
  let acc = ts[0]!;
  // a single input still goes through a map so the output is a fresh tensor
  if (ts.length === 1) return mapUnary(acc, (x) => x, (x) => x);
  for (let i = 1; i < ts.length; i++) acc = mapBinary(acc, ts[i]!, fn, fnBig);
  return acc;
}

const maxNum: NumFn2 = (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a >= b ? a : b);
const minNum: NumFn2 = (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a <= b ? a : b);

registerOp({
  opType: 'Max',
  since: 1,
  infer: (ctx) => variadicInfer(ctx, ['numeric']),
  interp: (ctx) => [fold(allInputs(ctx), maxNum, (a, b) => (a >= b ? a : b))],
});

registerOp({
  opType: 'Min',
  since: 1,
  infer: (ctx) => variadicInfer(ctx, ['numeric']),
  interp: (ctx) => [fold(allInputs(ctx), minNum, (a, b) => (a <= b ? a : b))],
});

registerOp({
  opType: 'Sum',
  since: 1,
  infer: (ctx) => variadicInfer(ctx, ['numeric']),
  interp: (ctx) => [fold(allInputs(ctx), (a, b) => a + b, (a, b) => a + b)],
});

registerOp({
  opType: 'Mean',
  since: 1,
  infer: (ctx) => variadicInfer(ctx, ['float']),
  interp: (ctx) => {
    const ts = allInputs(ctx);
    let acc = ts[0]!;
    for (let i = 1; i < ts.length; i++) acc = mapBinary(acc, ts[i]!, (a, b) => a + b);
    const n = ts.length;
    return [mapUnary(acc, (a) => a / n)];
  },
});
