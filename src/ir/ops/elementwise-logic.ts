/** Comparisons, boolean logic, bit shifts, bitwise ops and Where. */
import { KilnError } from '../errors.js';
import { dtypeInfo } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import type { InferContext } from './registry.js';
import { registerOp } from './registry.js';
import { mapBinary, mapUnary, sameAsInput, broadcastInfer, type NumFn2, type BigFn2 } from './util.js';
import { binaryInferOf, binaryOperands, broadcastInferOf, checkInputTypes, checkSameTypes, mapNary, type TypeClass } from './elementwise-util.js';

// ---------- comparisons ----------

function compare(opType: string, since: number, classes: readonly TypeClass[], fn: NumFn2, fnBig: (a: bigint, b: bigint) => boolean, fnStr?: (a: string, b: string) => boolean): void {
  registerOp({
    opType,
    since,
    infer: (ctx: InferContext) => {
      checkInputTypes(ctx, classes);
      checkSameTypes(ctx);
      return binaryInferOf(ctx, 'bool');
    },
    interp: (ctx) => {
      const [a, b] = binaryOperands(ctx);
      if (a.dtype === 'string') {
        if (!fnStr) throw new KilnError('type', `${opType}: string inputs are not supported`);
        return [mapNary([a, b], 'bool', ([x, y]) => fnStr(x as string, y as string))];
      }
      return [mapBinary(a, b, fn, (x, y) => (fnBig(x, y) ? 1n : 0n), 'bool')];
    },
  });
}

compare('Equal', 1, ['numeric', 'bool', 'string'], (a, b) => (a === b ? 1 : 0), (a, b) => a === b, (a, b) => a === b);
compare('Less', 1, ['numeric', 'bool'], (a, b) => (a < b ? 1 : 0), (a, b) => a < b);
compare('Greater', 1, ['numeric', 'bool'], (a, b) => (a > b ? 1 : 0), (a, b) => a > b);
compare('LessOrEqual', 12, ['numeric', 'bool'], (a, b) => (a <= b ? 1 : 0), (a, b) => a <= b);
compare('GreaterOrEqual', 12, ['numeric', 'bool'], (a, b) => (a >= b ? 1 : 0), (a, b) => a >= b);

// ---------- boolean logic ----------

function logic(opType: string, fn: NumFn2): void {
  registerOp({
    opType,
    since: 1,
    infer: (ctx) => {
      checkInputTypes(ctx, ['bool']);
      return binaryInferOf(ctx, 'bool');
    },
    interp: (ctx) => {
      const [a, b] = binaryOperands(ctx);
      return [mapBinary(a, b, fn, undefined, 'bool')];
    },
  });
}

logic('And', (a, b) => (a !== 0 && b !== 0 ? 1 : 0));
logic('Or', (a, b) => (a !== 0 || b !== 0 ? 1 : 0));
logic('Xor', (a, b) => ((a !== 0) !== (b !== 0) ? 1 : 0));

registerOp({
  opType: 'Not',
  since: 1,
  infer: (ctx) => {
    checkInputTypes(ctx, ['bool']);
    return sameAsInput(ctx);
  },
  interp: (ctx) => [mapUnary(ctx.tensor(0), (x) => (x !== 0 ? 0 : 1))],
});

// ---------- bit shifts ----------

registerOp({
  opType: 'BitShift',
  since: 11,
  attrs: { direction: 'string' },
  infer: (ctx) => {
    checkInputTypes(ctx, ['uint']);
    checkSameTypes(ctx);
    const dir = ctx.attrs.string('direction');
    if (dir !== 'LEFT' && dir !== 'RIGHT') throw new KilnError('type', `BitShift: direction must be LEFT or RIGHT, got '${dir}'`);
    return broadcastInfer(ctx);
  },
  interp: (ctx) => {
    const [x, y] = binaryOperands(ctx);
    const dir = ctx.attrs.string('direction');
    if (dir !== 'LEFT' && dir !== 'RIGHT') throw new KilnError('type', `BitShift: direction must be LEFT or RIGHT, got '${dir}'`);
    const bits = dtypeInfo(x.dtype).bits;
    const bigBits = BigInt(bits);
    let fn: NumFn2;
    let fnBig: BigFn2;
    if (dir === 'LEFT') {
      // multiplying by a power of two is exact in double; the store wraps to the type's width
      fn = (a, b) => (b >= bits ? 0 : a * 2 ** b);
      fnBig = (a, b) => (b >= bigBits ? 0n : BigInt.asUintN(bits, a << b));
    } else {
      fn = (a, b) => (b >= bits ? 0 : Math.floor(a / 2 ** b));
      fnBig = (a, b) => (b >= bigBits ? 0n : a >> b);
    }
    return [mapBinary(x, y, fn, fnBig)];
  },
});

// ---------- bitwise ----------

function bitwise(opType: string, fn: NumFn2, fnBig: BigFn2): void {
  registerOp({
    opType,
    since: 18,
    infer: (ctx) => {
      checkInputTypes(ctx, ['integer']);
      checkSameTypes(ctx);
      return broadcastInfer(ctx);
    },
    interp: (ctx) => {
      const [a, b] = binaryOperands(ctx);
      return [mapBinary(a, b, fn, fnBig)];
    },
  });
}

// 32-bit JS bit operators give signed results; the typed-array store wraps them back into the type
bitwise('BitwiseAnd', (a, b) => a & b, (a, b) => a & b);
bitwise('BitwiseOr', (a, b) => a | b, (a, b) => a | b);
bitwise('BitwiseXor', (a, b) => a ^ b, (a, b) => a ^ b);

registerOp({
  opType: 'BitwiseNot',
  since: 18,
  infer: (ctx) => {
    checkInputTypes(ctx, ['integer']);
    return sameAsInput(ctx);
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const bits = dtypeInfo(x.dtype).bits;
    const unsigned = dtypeInfo(x.dtype).kind === 'uint';
    return [mapUnary(x, (v) => ~v, (v) => (unsigned ? BigInt.asUintN(bits, ~v) : ~v))];
  },
});

// ---------- Where ----------

registerOp({
  opType: 'Where',
  since: 9,
  infer: (ctx) => {
    checkInputTypes(ctx, ['bool'], [0]);
    checkSameTypes(ctx, [1, 2]);
    const x = ctx.inputs[1];
    const y = ctx.inputs[2];
    const dt = (x && x.kind === 'tensor' ? x.dtype : y && y.kind === 'tensor' ? y.dtype : null) ?? 'f32';
    return broadcastInferOf(ctx, [0, 1, 2], dt);
  },
  interp: (ctx) => {
    const c: Tensor = ctx.tensor(0);
    const x = ctx.tensor(1);
    const y = ctx.tensor(2);
    if (x.dtype !== y.dtype) throw new KilnError('type', `Where: X and Y element types ${x.dtype} and ${y.dtype} differ`);
    return [mapNary([c, x, y], x.dtype, ([cv, xv, yv]) => (Number(cv) !== 0 ? xv! : yv!))];
  },
});
