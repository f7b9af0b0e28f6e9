/**
 * Lowerings of elementwise ops: one broadcast loop nest per op (see elementwise-map.ts). This file
 * has arithmetic, math functions, comparisons, logic, bitwise ops and Where; activations and Clip
 * are in elementwise-act.ts, casts and views in elementwise-cast.ts.
 */
import { bin, cast, lit, select, un } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { BinOp, Expr, ScalarType, UnOp } from '../types.js';
import { req } from './common.js';
import { binaryOperands, ct, isFloatType, isIntType, isSignedType, inputOperand, mapKernel, num, type Operand } from './elementwise-map.js';
import './elementwise-act.js';
import './elementwise-cast.js';

const out0 = (ctx: LowerContext) => req(ctx.output(0), 'output');

// ---------- binary arithmetic ----------

function binaryLowering(opType: string, f: (a: Expr, b: Expr, t: ScalarType, ctx: LowerContext, kb: Parameters<Parameters<typeof mapKernel>[3]>[1]) => Expr): void {
  registerLowering({
    opType,
    lower: (ctx) => {
      const ops = binaryOperands(ctx);
      const t = ct(ops[0].buf.dtype);
      mapKernel(ctx, ops, out0(ctx), ([x, y], kb) => f(cast(x!, t), cast(y!, t), t, ctx, kb));
    },
  });
}

const simple = (op: BinOp) => (a: Expr, b: Expr): Expr => bin(op, a, b);

binaryLowering('Add', simple('add'));
binaryLowering('Sub', simple('sub'));
binaryLowering('Mul', simple('mul'));
binaryLowering('Div', simple('div'));

binaryLowering('Mod', (a, b, t, ctx, kb) => {
  const fmod = ctx.attrs.int('fmod', 0) !== 0;
  const zero = num(t, 0);
  if (isFloatType(t)) {
    if (fmod) return bin('fmod', a, b);
    // python-style: the result takes the divisor's sign; exact zeros take it too
    const r = kb.let(t, bin('fmod', a, b), 'r');
    const bNeg = bin('lt', b, zero);
    return select(bin('eq', r, zero), select(bNeg, lit(t, -0), zero), select(bin('xor', bin('lt', r, zero), bNeg), bin('add', r, b), r));
  }
  if (fmod || !isSignedType(t)) return bin('mod', a, b);
  const r = kb.let(t, bin('mod', a, b), 'r');
  return select(bin('and', bin('ne', r, zero), bin('xor', bin('lt', r, zero), bin('lt', b, zero))), bin('add', r, b), r);
});

// ---------- Pow: output in the base's type, exponent of any numeric type ----------

registerLowering({
  opType: 'Pow',
  lower: (ctx) => {
    const [A, B] = binaryOperands(ctx, ['X', 'Y']);
    const at = A.buf.dtype;
    const bt = B.buf.dtype;
    const out = out0(ctx);
    if (isIntType(at) && isIntType(bt)) {
      // exact integer power, wrapping in i64 (the low bits are those of any wider computation);
      // negative exponents give 1 for base 1, ±1 for base -1 and 0 otherwise
      const baseSigned = isSignedType(at);
      mapKernel(ctx, [A, B], out, ([x, y]) => {
        const base = cast(x!, 'i64');
        const e = cast(y!, 'i64');
        const p = bin('pow', base, e);
        if (!isSignedType(bt)) return p;
        const one = num('i64', 1);
        const zero = num('i64', 0);
        const minusOne = num('i64', -1);
        const odd = bin('ne', bin('bitand', e, one), zero);
        const negative = baseSigned
          ? select(bin('eq', base, one), one, select(bin('eq', base, minusOne), select(odd, minusOne, one), zero))
          : select(bin('eq', base, one), one, zero);
        return select(bin('lt', e, zero), negative, p);
      });
      return;
    }
    let t: ScalarType;
    if (isFloatType(at) && isFloatType(bt)) t = at === 'f64' || bt === 'f64' ? 'f64' : 'f32';
    else if (isFloatType(at)) t = ct(at);
    else t = 'f64';
    mapKernel(ctx, [A, B], out, ([x, y]) => bin('pow', cast(x!, t), cast(y!, t)));
  },
});

// ---------- variadic: Max, Min, Sum, Mean ----------

function variadic(opType: string, op: BinOp, mean = false): void {
  registerLowering({
    opType,
    lower: (ctx) => {
      const ins: Operand[] = [];
      for (let i = 0; i < ctx.inputCount; i++) {
        const b = ctx.input(i);
        if (b) ins.push(inputOperand(ctx, i, `input ${i}`));
      }
      if (ins.length === 0) throw unsupportedLowering(`${opType} without inputs`);
      const dt = ins[0]!.buf.dtype;
      const t = ct(dt);
      const out = out0(ctx);
      const narrow = isFloatType(dt) && t !== dt;
      mapKernel(ctx, ins, out, (vals) => {
        let acc = cast(vals[0]!, t);
        for (let i = 1; i < vals.length; i++) {
          acc = bin(op, acc, cast(vals[i]!, t));
          // the interpreter rounds each partial result to the element type
          if (narrow && op === 'add' && i < vals.length - 1) acc = cast(cast(acc, dt), t);
        }
        if (mean) {
          if (narrow && vals.length > 1) acc = cast(cast(acc, dt), t);
          acc = bin('div', acc, num(t, vals.length));
        }
        return acc;
      });
    },
  });
}

variadic('Max', 'max');
variadic('Min', 'min');
variadic('Sum', 'add');
variadic('Mean', 'add', true);

// ---------- unary math ----------

function unary(opType: string, op: UnOp | ((x: Expr, t: ScalarType) => Expr), compute?: (dt: ScalarType) => ScalarType): void {
  registerLowering({
    opType,
    lower: (ctx) => {
      const x = req(ctx.input(0), 'X');
      const t = compute ? compute(x.dtype) : ct(x.dtype);
      mapKernel(ctx, [inputOperand(ctx, 0, 'X')], out0(ctx), ([v]) => {
        const a = cast(v!, t);
        return typeof op === 'string' ? un(op, a) : op(a, t);
      });
    },
  });
}

unary('Neg', 'neg');
unary('Abs', 'abs');
unary('Reciprocal', 'recip');
unary('Sqrt', 'sqrt');
unary('Exp', 'exp');
unary('Log', 'log');
unary('Ceil', 'ceil');
unary('Floor', 'floor');
unary('Round', 'round');
unary('Sign', 'sign');
unary('Sin', 'sin');
unary('Cos', 'cos');
unary('Tan', 'tan');
unary('Asin', 'asin');
unary('Acos', 'acos');
unary('Atan', 'atan');
unary('Sinh', 'sinh');
unary('Cosh', 'cosh');
unary('Asinh', 'asinh');
unary('Acosh', 'acosh');
unary('Atanh', 'atanh');
// Erf accepts integers: computed in f64 and truncated on store
unary('Erf', 'erf', (dt) => (isFloatType(dt) ? ct(dt) : 'f64'));
unary('IsNaN', 'isnan');

registerLowering({
  opType: 'IsInf',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const t = ct(x.dtype);
    const pos = ctx.attrs.int('detect_positive', 1) !== 0;
    const neg = ctx.attrs.int('detect_negative', 1) !== 0;
    mapKernel(ctx, [inputOperand(ctx, 0, 'X')], out0(ctx), ([v]) => {
      const a = cast(v!, t);
      if (pos && neg) return un('isinf', a);
      if (pos) return bin('eq', a, lit(t, Infinity));
      if (neg) return bin('eq', a, lit(t, -Infinity));
      return lit('bool', 0);
    });
  },
});

// ---------- comparisons and logic ----------

function compare(opType: string, op: BinOp): void {
  registerLowering({
    opType,
    lower: (ctx) => {
      const ops = binaryOperands(ctx);
      const t = ct(ops[0].buf.dtype);
      mapKernel(ctx, ops, out0(ctx), ([x, y]) => bin(op, cast(x!, t), cast(y!, t)));
    },
  });
}

compare('Equal', 'eq');
compare('Less', 'lt');
compare('Greater', 'gt');
compare('LessOrEqual', 'le');
compare('GreaterOrEqual', 'ge');
compare('And', 'and');
compare('Or', 'or');
compare('Xor', 'xor');
unary('Not', 'not');

// ---------- bit shifts and bitwise ----------

registerLowering({
  opType: 'BitShift',
  lower: (ctx) => {
    const dir = ctx.attrs.string('direction');
    if (dir !== 'LEFT' && dir !== 'RIGHT') throw unsupportedLowering(`BitShift direction '${dir}'`);
    const ops = binaryOperands(ctx, ['X', 'Y']);
    // unsigned operands shift in a wider signed type: bits shifted past the element width are
    // dropped when the store wraps, and the shift helpers of signed types check b < 0 meaningfully
    const dt = ops[0].buf.dtype;
    const t: ScalarType = dt === 'u32' || dt === 'u64' || dt === 'i64' ? 'i64' : 'i32';
    mapKernel(ctx, ops, out0(ctx), ([x, y]) => bin(dir === 'LEFT' ? 'shl' : 'shr', cast(x!, t), cast(y!, t)));
  },
});

binaryLowering('BitwiseAnd', simple('bitand'));
binaryLowering('BitwiseOr', simple('bitor'));
binaryLowering('BitwiseXor', simple('bitxor'));
unary('BitwiseNot', 'bitnot');

// ---------- Where ----------

registerLowering({
  opType: 'Where',
  lower: (ctx) => {
    const ops = [inputOperand(ctx, 0, 'condition'), inputOperand(ctx, 1, 'X'), inputOperand(ctx, 2, 'Y')];
    const t = ct(ops[1]!.buf.dtype);
    mapKernel(ctx, ops, out0(ctx), ([cv, xv, yv]) => select(cast(cv!, 'bool'), cast(xv!, t), cast(yv!, t)));
  },
});
