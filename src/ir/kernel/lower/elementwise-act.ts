/** Lowerings of activation functions, PRelu, SwiGLU and Clip. */
import { bin, cast, lit, select, un, type KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, ScalarType } from '../types.js';
import { req } from './common.js';
import { legacySlopeShape } from '../../ops/elementwise-util.js';
import { binaryOperands, ct, isFloatType, inputOperand, mapKernel, num, operand, type Operand } from './elementwise-map.js';

const out0 = (ctx: LowerContext) => req(ctx.output(0), 'output');

const add = (a: Expr, b: Expr): Expr => bin('add', a, b);
const sub = (a: Expr, b: Expr): Expr => bin('sub', a, b);
const mul = (a: Expr, b: Expr): Expr => bin('mul', a, b);
const div = (a: Expr, b: Expr): Expr => bin('div', a, b);
const maxE = (a: Expr, b: Expr): Expr => bin('max', a, b);
const minE = (a: Expr, b: Expr): Expr => bin('min', a, b);

/** 1 / (1 + e^-z), with a single exponential of -|z| so neither branch overflows. */
function sigmoid(kb: KernelBuilder, z: Expr, t: ScalarType): Expr {
  const e = kb.let(t, un('exp', un('neg', un('abs', z))), 'e');
  const den = add(num(t, 1), e);
  return select(bin('ge', z, num(t, 0)), div(num(t, 1), den), div(e, den));
}

/** log(1 + e^x) = max(x, 0) + log(1 + e^-|x|). */
function softplus(z: Expr, t: ScalarType): Expr {
  return add(maxE(z, num(t, 0)), un('log', add(num(t, 1), un('exp', un('neg', un('abs', z))))));
}

/** A unary activation computed in the input's compute type. */
function act(opType: string, f: (x: Expr, t: ScalarType, ctx: LowerContext, kb: KernelBuilder) => Expr): void {
  registerLowering({
    opType,
    lower: (ctx) => {
      const x = req(ctx.input(0), 'X');
      const t = ct(x.dtype);
      mapKernel(ctx, [inputOperand(ctx, 0, 'X')], out0(ctx), ([v], kb) => f(cast(v!, t), t, ctx, kb));
    },
  });
}

const fa = (ctx: LowerContext, name: string, def: number): number => ctx.attrs.float(name, def);

act('Relu', (x, t) => select(bin('le', x, num(t, 0)), num(t, 0), x));
act('LeakyRelu', (x, t, ctx) => select(bin('ge', x, num(t, 0)), x, mul(lit(t, fa(ctx, 'alpha', 0.01)), x)));
act('Elu', (x, t, ctx) => select(bin('ge', x, num(t, 0)), x, mul(lit(t, fa(ctx, 'alpha', 1)), sub(un('exp', x), num(t, 1)))));
act('Selu', (x, t, ctx) => {
  const alpha = lit(t, fa(ctx, 'alpha', 1.67326319217681884765625));
  const gamma = lit(t, fa(ctx, 'gamma', 1.05070102214813232421875));
  return select(bin('gt', x, num(t, 0)), mul(gamma, x), mul(gamma, sub(mul(alpha, un('exp', x)), alpha)));
});
act('Celu', (x, t, ctx) => {
  const alpha = lit(t, fa(ctx, 'alpha', 1));
  return add(maxE(num(t, 0), x), minE(num(t, 0), mul(alpha, sub(un('exp', div(x, alpha)), num(t, 1)))));
});
act('Sigmoid', (x, t, _ctx, kb) => sigmoid(kb, x, t));
act('HardSigmoid', (x, t, ctx) => maxE(num(t, 0), minE(num(t, 1), add(mul(lit(t, fa(ctx, 'alpha', 0.2)), x), lit(t, fa(ctx, 'beta', 0.5))))));
act('HardSwish', (x, t) => mul(x, maxE(num(t, 0), minE(num(t, 1), add(div(x, num(t, 6)), num(t, 0.5))))));
act('Softplus', (x, t) => softplus(x, t));
act('Softsign', (x, t) => div(x, add(num(t, 1), un('abs', x))));
act('Tanh', (x) => un('tanh', x));
act('ThresholdedRelu', (x, t, ctx) => select(bin('gt', x, lit(t, fa(ctx, 'alpha', 1))), x, num(t, 0)));
act('Mish', (x, t) => mul(x, un('tanh', softplus(x, t))));
act('Gelu', (x, t, ctx) => {
  const approx = ctx.attrs.string('approximate', 'none');
  const half = num(t, 0.5);
  if (approx === 'tanh') {
    const inner = mul(lit(t, Math.sqrt(2 / Math.PI)), add(x, mul(lit(t, 0.044715), mul(x, mul(x, x)))));
    return mul(mul(half, x), add(num(t, 1), un('tanh', inner)));
  }
  if (approx !== 'none') throw unsupportedLowering(`Gelu approximate='${approx}'`);
  return mul(mul(half, x), add(num(t, 1), un('erf', div(x, lit(t, Math.SQRT2)))));
});
act('Swish', (x, t, ctx, kb) => mul(x, sigmoid(kb, mul(lit(t, fa(ctx, 'alpha', 1)), x), t)));

// Shrink accepts integers: floats compute in their own type, narrow integers in f64 (truncated on
// store), 64-bit integers compare as f64 and shift by the truncated bias.
registerLowering({
  opType: 'Shrink',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const lambd = fa(ctx, 'lambd', 0.5);
    const bias = fa(ctx, 'bias', 0);
    const dt = x.dtype;
    const big = dt === 'i64' || dt === 'u64';
    const t: ScalarType = isFloatType(dt) ? ct(dt) : 'f64';
    mapKernel(ctx, [inputOperand(ctx, 0, 'X')], out0(ctx), ([v]) => {
      const c = cast(v!, t);
      const a = big ? v! : c;
      const vt: ScalarType = big ? dt : t;
      return select(bin('lt', c, lit(t, -lambd)), add(a, num(vt, bias)), select(bin('gt', c, lit(t, lambd)), sub(a, num(vt, bias)), num(vt, 0)));
    });
  },
});

// ---------- PRelu, SwiGLU ----------

registerLowering({
  opType: 'PRelu',
  lower: (ctx) => {
    const [xo, so] = binaryOperands(ctx, ['X', 'slope']);
    const ops = [xo, operand(so.buf, legacySlopeShape(ctx.opset, xo.shape, so.shape, 1))];
    const t = ct(ops[0]!.buf.dtype);
    mapKernel(ctx, ops, out0(ctx), ([xv, sv]) => {
      const x = cast(xv!, t);
      return select(bin('lt', x, num(t, 0)), mul(x, cast(sv!, t)), x);
    });
  },
});

registerLowering({
  opType: 'SwiGLU',
  lower: (ctx) => {
    const ops = binaryOperands(ctx);
    const t = ct(ops[0].buf.dtype);
    const alpha = fa(ctx, 'alpha', 1);
    mapKernel(ctx, ops, out0(ctx), ([av, bv], kb) => {
      const a = cast(av!, t);
      return mul(mul(a, sigmoid(kb, mul(lit(t, alpha), a), t)), cast(bv!, t));
    });
  },
});

// ---------- Clip: bounds from attributes (opset < 11) or optional scalar inputs ----------

registerLowering({
  opType: 'Clip',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'input');
    const t = ct(x.dtype);
    const operands: Operand[] = [inputOperand(ctx, 0, 'X')];
    // each bound: a literal, an operand index (a runtime scalar), or absent
    const bounds: (Expr | number | null)[] = [];
    if (ctx.opset < 11) {
      for (const name of ['min', 'max']) {
        const v = ctx.attrs.optFloat(name);
        bounds.push(v === undefined ? null : lit(t, v));
      }
    } else {
      for (const i of [1, 2]) {
        const b = ctx.input(i);
        if (b === null) {
          bounds.push(null);
          continue;
        }
        const c = ctx.constant(i);
        if (c !== null && c.size === 1) bounds.push(t === 'i64' || t === 'u64' ? lit(t, c.big(0)) : lit(t, c.num(0)));
        else {
          bounds.push(operands.length);
          operands.push(operand(b, []));
        }
      }
    }
    mapKernel(ctx, operands, out0(ctx), (vals, kb) => {
      const bound = (k: number): Expr | null => {
        const b = bounds[k]!;
        return b === null ? null : typeof b === 'number' ? cast(vals[b]!, t) : b;
      };
      let r = cast(vals[0]!, t);
      const lo = bound(0);
      const hi = bound(1);
      if (lo) r = select(bin('lt', r, lo), lo, r);
      if (lo && hi) r = kb.let(t, r, 'c');
      if (hi) r = select(bin('gt', r, hi), hi, r);
      return r;
    });
  },
});
