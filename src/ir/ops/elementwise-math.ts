/** Unary elementwise math: Neg, Abs, Reciprocal, Sqrt, Exp, Log, rounding, Sign, trig, Erf, IsNaN, IsInf. */
import { KilnError } from '../errors.js';
import { dtypeInfo } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { registerOp } from './registry.js';
import { mapUnary, sameAsInput, type NumFn1, type BigFn1 } from './util.js';
import { checkInputTypes, erf, roundHalfEven, sameShapeAs, type TypeClass } from './elementwise-util.js';

function unary(opType: string, since: number, classes: readonly TypeClass[], fn: NumFn1, fnBig?: BigFn1): void {
  registerOp({
    opType,
    since,
    infer: (ctx) => {
      checkInputTypes(ctx, classes);
      return sameAsInput(ctx);
    },
    interp: (ctx) => {
      const x = ctx.tensor(0);
      const k = dtypeInfo(x.dtype).kind;
      if (k === 'string' || k === 'complex') throw new KilnError('type', `${opType}: element type ${x.dtype} is not supported`);
      return [mapUnary(x, fn, fnBig)];
    },
  });
}

unary('Neg', 1, ['signed'], (x) => -x, (x) => -x);
unary('Abs', 1, ['numeric'], (x) => Math.abs(x), (x) => (x < 0n ? -x : x));
unary('Reciprocal', 1, ['float'], (x) => 1 / x);
unary('Sqrt', 1, ['float'], Math.sqrt);
unary('Exp', 1, ['float'], Math.exp);
unary('Log', 1, ['float'], Math.log);
unary('Ceil', 1, ['float'], Math.ceil);
unary('Floor', 1, ['float'], Math.floor);
unary('Round', 11, ['float'], roundHalfEven);
unary('Sign', 9, ['numeric'], (x) => (Number.isNaN(x) ? NaN : x > 0 ? 1 : x < 0 ? -1 : 0), (x) => (x > 0n ? 1n : x < 0n ? -1n : 0n));
unary('Sin', 7, ['float'], Math.sin);
unary('Cos', 7, ['float'], Math.cos);
unary('Tan', 7, ['float'], Math.tan);
unary('Asin', 7, ['float'], Math.asin);
unary('Acos', 7, ['float'], Math.acos);
unary('Atan', 7, ['float'], Math.atan);
unary('Sinh', 9, ['float'], Math.sinh);
unary('Cosh', 9, ['float'], Math.cosh);
unary('Asinh', 9, ['float'], Math.asinh);
unary('Acosh', 9, ['float'], Math.acosh);
unary('Atanh', 9, ['float'], Math.atanh);
unary('Erf', 9, ['numeric'], erf);

registerOp({
  opType: 'IsNaN',
  since: 9,
  infer: (ctx) => {
    checkInputTypes(ctx, ['float']);
    return sameShapeAs(ctx, 0, 'bool');
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    return [mapUnary(x, (v) => (Number.isNaN(v) ? 1 : 0), undefined, 'bool')];
  },
});

registerOp({
  opType: 'IsInf',
  since: 10,
  attrs: { detect_positive: 'int', detect_negative: 'int' },
  infer: (ctx) => {
    checkInputTypes(ctx, ['float']);
    return sameShapeAs(ctx, 0, 'bool');
  },
  interp: (ctx) => {
    const x: Tensor = ctx.tensor(0);
    const pos = ctx.attrs.int('detect_positive', 1) !== 0;
    const neg = ctx.attrs.int('detect_negative', 1) !== 0;
    return [mapUnary(x, (v) => ((pos && v === Infinity) || (neg && v === -Infinity) ? 1 : 0), undefined, 'bool')];
  },
});
