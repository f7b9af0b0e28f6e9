/** Lowerings of Cast and CastLike, and of the views Identity and Dropout (inference mode). */
import { dtypeFromOnnx } from '../../dtype.js';
import { maxFinite } from '../../floatfmt.js';
import { bin, cast, lit, select, un, type KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, ScalarType } from '../types.js';
import { req } from './common.js';
import { ct, isFloatType, inputOperand, mapKernel, num } from './elementwise-map.js';

const SATURATING = new Set<ScalarType>(['f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz']);

/** One element converted with ONNX Cast semantics (as the interpreter's castTensor). */
function castValue(v: Expr, to: ScalarType, saturate: boolean): Expr {
  const from = v.t;
  if (from === to) return v;
  const fromFloat = isFloatType(from);
  if (to === 'bool') return fromFloat ? bin('ne', cast(v, ct(from)), num(ct(from), 0)) : cast(v, 'bool'); // NaN → true
  if (fromFloat && (to === 'i64' || to === 'u64')) {
    // NaN and infinities give the type's sign-bit pattern
    const x = cast(v, ct(from));
    return select(bin('or', un('isnan', x), un('isinf', x)), lit(to, to === 'i64' ? -(2n ** 63n) : 2n ** 63n), cast(x, to));
  }
  if (saturate && SATURATING.has(to)) {
    const t: ScalarType = fromFloat ? ct(from) : 'f64';
    const m = maxFinite(to as Exclude<ScalarType, 'index'>);
    // clamping first saturates overflow and infinities; NaN propagates
    return cast(bin('max', lit(t, -m), bin('min', lit(t, m), cast(v, t))), to);
  }
  return v;
}

function lowerCast(ctx: LowerContext, to: ScalarType, saturate: boolean): void {
  const x = req(ctx.input(0), 'input');
  if (x.dtype === to) {
    ctx.alias(0, 0);
    return;
  }
  const out = req(ctx.output(0), 'output');
  if (to === 'f8e8m0') {
    const mode = ctx.attrs.string('round_mode', 'up');
    if (mode !== 'up' && mode !== 'down' && mode !== 'nearest') throw unsupportedLowering(`Cast round_mode '${mode}'`);
    mapKernel(ctx, [inputOperand(ctx, 0, 'X')], out, ([v], kb) => toE8M0(kb, v!, saturate, mode));
    return;
  }
  mapKernel(ctx, [inputOperand(ctx, 0, 'X')], out, ([v]) => castValue(v!, to, saturate));
}

/**
 * A power of two (or NaN) as the ONNX conversion to f8e8m0 gives it from the float32 bits of x:
 * the sign is ignored, the exponent field kept and incremented per the rounding mode. The largest
 * power of two not above |x| is found by binary search over the exponent range.
 */
function toE8M0(kb: KernelBuilder, v: Expr, saturate: boolean, mode: 'up' | 'down' | 'nearest'): Expr {
  const t: ScalarType = 'f64';
  const c = (x: number): Expr => lit(t, x);
  const a = kb.let(t, cast(un('abs', cast(v, 'f32')), t), 'a');
  const p = kb.let(t, c(2 ** -126), 'p');
  for (const k of [128, 64, 32, 16, 8, 4, 2, 1]) {
    const cand = bin('mul', p, c(2 ** k));
    kb.set(p, select(bin('le', cand, a), cand, p));
  }
  const twice = bin('mul', p, c(2));
  let r = mode === 'down' ? p : mode === 'up' ? select(bin('lt', p, a), twice, p) : select(bin('ge', a, bin('mul', p, c(1.5))), twice, p);
  r = select(bin('ge', r, c(2 ** 128)), saturate ? c(2 ** 127) : c(NaN), r);
  // below the normal range the exponent field is 0 and only the top mantissa bits matter
  const small = mode === 'down' ? c(2 ** -127) : mode === 'up' ? c(2 ** -126) : select(bin('gt', a, c(2 ** -127)), c(2 ** -126), c(2 ** -127));
  r = select(bin('lt', a, c(2 ** -126)), select(bin('eq', a, c(0)), c(2 ** -127), small), r);
  return select(bin('or', un('isnan', a), un('isinf', a)), c(NaN), r);
}

registerLowering({
  opType: 'Cast',
  lower: (ctx) => {
    const code = ctx.attrs.int('to');
    const to = dtypeFromOnnx(code);
    if (!to || to === 'string' || to === 'c64' || to === 'c128') throw unsupportedLowering(`Cast to type code ${code}`);
    const saturate = ctx.opset >= 19 ? ctx.attrs.int('saturate', 1) !== 0 : true;
    lowerCast(ctx, to, saturate);
  },
});

registerLowering({
  opType: 'CastLike',
  lower: (ctx) => {
    const like = req(ctx.input(1), 'target_type');
    lowerCast(ctx, like.dtype, ctx.attrs.int('saturate', 1) !== 0);
  },
});

// ---------- views ----------

registerLowering({
  opType: 'Identity',
  lower: (ctx) => ctx.alias(0, 0),
});

registerLowering({
  opType: 'Dropout',
  lower: (ctx) => {
    let ratio = 0.5;
    let training = false;
    if (ctx.opset >= 12) {
      if (ctx.input(2) !== null) {
        const tm = ctx.constant(2);
        if (tm === null) throw unsupportedLowering('Dropout with a training_mode computed at run time');
        training = tm.num(0) !== 0;
      }
      if (training && ctx.input(1) !== null) {
        const r = ctx.constant(1);
        if (r === null) throw unsupportedLowering('Dropout in training mode with a ratio computed at run time');
        ratio = r.num(0);
      }
    } else {
      ratio = ctx.attrs.float('ratio', 0.5);
      if (ctx.opset < 7) training = ctx.attrs.int('is_test', 0) === 0;
    }
    if (training && ratio !== 0) throw unsupportedLowering('Dropout in training mode with a nonzero ratio (random mask)');
    ctx.alias(0, 0);
    const mask = ctx.outputCount > 1 ? ctx.output(1) : null;
    if (mask) mapKernel(ctx, [], mask, () => num(ct(mask.dtype), 1));
  },
});
