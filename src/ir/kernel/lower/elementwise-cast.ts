/** Lowerings of Cast and CastLike, and of the views Identity and Dropout (inference mode). */
import { dtypeFromOnnx } from '../../dtype.js';
import { maxFinite } from '../../floatfmt.js';
import { bin, cast, lit, select, un } from '../builder.js';
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
  if (to === 'f8e8m0') throw unsupportedLowering('Cast to f8e8m0');
  mapKernel(ctx, [inputOperand(ctx, 0, 'X')], out, ([v]) => castValue(v!, to, saturate));
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
