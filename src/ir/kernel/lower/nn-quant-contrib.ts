/**
 * Lowerings of the com.microsoft quantized contrib ops (src/ir/ops/quant-contrib.ts): QLinearAdd,
 * QLinearMul, QLinearConcat and QLinearGlobalAveragePool. They work element by element on the
 * int8/uint8 tensors with scalar locals only (QLinearConcat through 256-entry tables), and compute
 * what the interpreter does (QLinearMul's integer path within ±1 LSB, see there).
 */
import { intRange, type DType } from '../../dtype.js';
import { LUT_OPS, lutAlpha, MS_DOMAIN, requantLut } from '../../ops/quant-contrib.js';
import { normAxis } from '../../ops/util.js';
import { Tensor } from '../../tensor.js';
import { add, broadcastIndex, cast, div, flatIndex, idx, lit, load, max, min, mul, sub, un } from '../builder.js';
import { registerLowering, unsupportedLowering } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { req } from './common.js';
import { floatRequant, mulShiftRound, requantize, RequantTable } from './requant.js';
import type { LowerContext } from '../lowering.js';

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);
const f64 = (e: Expr): Expr => cast(e, 'f64');

/** A scalar quantization parameter as f64 (absent or empty: `def`). */
function scalar(b: KBuffer | null, what: string, def: number | null): Expr {
  if (!b || prod(b.shape) === 0) {
    if (def === null) throw unsupportedLowering(`missing ${what}`);
    return lit('f64', def);
  }
  if (prod(b.shape) !== 1) throw unsupportedLowering(`per-axis ${what}`);
  return f64(load(b, idx(0)));
}

/** round half to even, add the zero point, saturate to dt (v and zp f64). */
function requant(v: Expr, zp: Expr, dt: ScalarType): Expr {
  const [lo, hi] = intRange(dt as DType);
  return max(lit('f64', lo), min(lit('f64', hi), add(un('round', v), zp)));
}

/** An f32 value v = m / 2^s exactly, m < 2^24 (null for 0, NaN or infinity). */
function mant24(v: number): { m: number; s: number } | null {
  if (!(v > 0) || !Number.isFinite(v)) return null;
  let e = Math.floor(Math.log2(v)) + 1;
  if (v / 2 ** e >= 1) e++;
  if (v / 2 ** e < 0.5) e--;
  const m = (v / 2 ** e) * 2 ** 24;
  return Number.isInteger(m) ? { m, s: 24 - e } : null;
}

/** Scalar constant at input i, or null when absent or not a compile-time scalar. */
function constScalar(ctx: LowerContext, i: number): number | null {
  const t = ctx.constant(i);
  return t && t.size === 1 ? t.num(0) : null;
}

/** A scalar zero point as an i64 expression (absent: 0). */
function zpI64(b: KBuffer | null): Expr {
  return b && prod(b.shape) > 0 ? cast(load(b, idx(0)), 'i64') : lit('i64', 0);
}

/** v saturated to [lo, hi] (i64). */
function bin64Clamp(v: Expr, lo: number, hi: number): Expr {
  return max(lit('i64', lo), min(lit('i64', hi), v));
}

function checkInt8(t: ScalarType, op: string): void {
  if (t !== 'i8' && t !== 'u8') throw unsupportedLowering(`${op} on ${t}`);
}

registerLowering({
  opType: 'QLinearAdd',
  domain: MS_DOMAIN,
  lower: (ctx) => {
    const a = req(ctx.input(0), 'A');
    const b = req(ctx.input(3), 'B');
    const c = req(ctx.output(0), 'C');
    checkInt8(a.dtype, 'QLinearAdd');
    const as = scalar(ctx.input(1), 'A_scale', null);
    const az = scalar(ctx.input(2), 'A_zero_point', 0);
    const bs = scalar(ctx.input(4), 'B_scale', null);
    const bz = scalar(ctx.input(5), 'B_zero_point', 0);
    const cs = scalar(ctx.input(6), 'C_scale', null);
    const cz = scalar(ctx.input(7), 'C_zero_point', 0);
    // integer path: ra = A_scale / C_scale and rb rounded to f32 (as below) are exactly ma / 2^sa
    // and mb / 2^sb with 24-bit ma, mb; over the common shift S the numerator is an exact i64
    // (guarded: |term| < 2^61), so the result equals the f64 path's bit for bit
    const [asc, bsc, csc] = [constScalar(ctx, 1), constScalar(ctx, 4), constScalar(ctx, 6)];
    const fa = asc !== null && csc !== null ? mant24(Math.fround(asc / csc)) : null;
    const fb = bsc !== null && csc !== null ? mant24(Math.fround(bsc / csc)) : null;
    const S = fa && fb ? Math.max(fa.s, fb.s, 1) : 0;
    if (fa && fb && !floatRequant(ctx) && S <= 52 && fa.m * 2 ** (S - fa.s) < 2 ** 52 && fb.m * 2 ** (S - fb.s) < 2 ** 52) {
      const [lo, hi] = intRange(c.dtype as DType);
      const A = fa.m * 2 ** (S - fa.s);
      const B = fb.m * 2 ** (S - fb.s);
      ctx.kernel((kb) => {
        const azl = kb.let('i64', zpI64(ctx.input(2)), 'az');
        const bzl = kb.let('i64', zpI64(ctx.input(5)), 'bz');
        const czl = kb.let('i64', mul(zpI64(ctx.input(7)), lit('i64', 2 ** S)), 'cz');
        kb.loops(c.shape, (ix) => {
          const av = sub(cast(load(a, broadcastIndex(ix, a.shape)), 'i64'), azl);
          const bv = sub(cast(load(b, broadcastIndex(ix, b.shape)), 'i64'), bzl);
          // the zero point is added before rounding, as onnxruntime does
          const num = add(add(mul(av, lit('i64', A)), mul(bv, lit('i64', B))), czl);
          kb.store(c, flatIndex(ix, c.shape), bin64Clamp(mulShiftRound(num, lit('i64', 1), lit('i64', S)), lo, hi));
        });
      });
      return;
    }
    ctx.kernel((kb) => {
      // the scale ratios rounded to f32, as onnxruntime uses them; the rest is exact in f64
      const ra = kb.let('f64', f64(cast(div(as, cs), 'f32')), 'ra');
      const rb = kb.let('f64', f64(cast(div(bs, cs), 'f32')), 'rb');
      const azl = kb.let('f64', az, 'az');
      const bzl = kb.let('f64', bz, 'bz');
      const czl = kb.let('f64', cz, 'cz');
      kb.loops(c.shape, (ix) => {
        const av = sub(f64(load(a, broadcastIndex(ix, a.shape))), azl);
        const bv = sub(f64(load(b, broadcastIndex(ix, b.shape))), bzl);
        // the zero point is added before rounding, as onnxruntime does
        kb.store(c, flatIndex(ix, c.shape), requant(add(add(mul(ra, av), mul(rb, bv)), czl), lit('f64', 0), c.dtype));
      });
    });
  },
});

registerLowering({
  opType: 'QLinearGlobalAveragePool',
  domain: MS_DOMAIN,
  lower: (ctx) => {
    const x = req(ctx.input(0), 'X');
    const y = req(ctx.output(0), 'Y');
    checkInt8(x.dtype, 'QLinearGlobalAveragePool');
    const channelsLast = ctx.attrs.int('channels_last', 0) !== 0;
    const xs = scalar(ctx.input(1), 'x_scale', null);
    const xz = scalar(ctx.input(2), 'x_zero_point', 0);
    const ys = scalar(ctx.input(3), 'y_scale', null);
    const yz = scalar(ctx.input(4), 'y_zero_point', 0);
    const r = x.shape.length;
    const N = x.shape[0]!;
    const C = x.shape[channelsLast ? r - 1 : 1]!;
    const size = prod(x.shape) / (N * C);
    const T: ScalarType = 'i32';
    const [xsc, ysc] = [constScalar(ctx, 1), constScalar(ctx, 3)];
    const intPath = xsc !== null && ysc !== null && !floatRequant(ctx);
    // integer path: the interpreter's factor (f32 steps) as a multiplier and shift
    const rq = intPath ? new RequantTable(ctx, [Math.fround(Math.fround(xsc) / Math.fround(Math.fround(ysc) * size))], 'rq') : null;
    const [lo, hi] = intRange(y.dtype as DType);
    ctx.kernel((kb) => {
      // x_scale / (y_scale · size) with each step rounded to f32 (the interpreter's qgapFactor)
      const f32 = (e: Expr): Expr => f64(cast(e, 'f32'));
      const factor = rq ? null : kb.let('f64', f32(div(f32(xs), f32(mul(f32(ys), lit('f64', size))))), 'f');
      const xzl = kb.let(T, cast(rq ? zpI64(ctx.input(2)) : xz, T), 'xz');
      const yzl = rq ? kb.let(T, cast(zpI64(ctx.input(4)), T), 'yz') : kb.let('f64', yz, 'yz');
      kb.for(0, N, (n) => {
        kb.for(0, C, (c) => {
          const acc = kb.let(T, lit(T, 0), 'acc');
          kb.for(0, size, (s) => {
            const i = channelsLast ? add(mul(add(mul(n, idx(size)), s), idx(C)), c) : add(mul(add(mul(n, idx(C)), c), idx(size)), s);
            kb.set(acc, add(acc, sub(cast(load(x, i), T), xzl)));
          });
          const out = rq ? requantize(acc, rq.m(idx(0)), rq.s(idx(0)), yzl, lo, hi, kb) : requant(f32(mul(f64(acc), factor!)), yzl, y.dtype);
          kb.store(y, add(mul(n, idx(C)), c), out);
        });
      });
    });
  },
});

/**
 * QLinearMul. Integer path (constant scales): the exact product (a - a_zp)(b - b_zp) (|p| ≤ 2^16)
 * times a_scale · b_scale / c_scale as a fixed-point multiplier and shift, rounded half to even, plus
 * c_zero_point. The interpreter (and the float DQ → Mul → Q model) round three f32 products on the
 * way, so the two differ by 1 LSB where the exact value lies within those roundings of a half-way
 * point (a tie in exact arithmetic, for instance, may land on either side in f32). `kiln.requant =
 * "float"` and non-constant scales take the interpreter's f32 steps, bit for bit.
 */
registerLowering({
  opType: 'QLinearMul',
  domain: MS_DOMAIN,
  lower: (ctx) => {
    const a = req(ctx.input(0), 'A');
    const b = req(ctx.input(3), 'B');
    const c = req(ctx.output(0), 'C');
    checkInt8(a.dtype, 'QLinearMul');
    const [lo, hi] = intRange(c.dtype as DType);
    const [asc, bsc, csc] = [constScalar(ctx, 1), constScalar(ctx, 4), constScalar(ctx, 6)];
    const f = Math.fround;
    if (asc !== null && bsc !== null && csc !== null && !floatRequant(ctx)) {
      const rq = new RequantTable(ctx, [(f(asc) * f(bsc)) / f(csc)], 'rq');
      ctx.kernel((kb) => {
        const azl = kb.let('i32', cast(zpI64(ctx.input(2)), 'i32'), 'az');
        const bzl = kb.let('i32', cast(zpI64(ctx.input(5)), 'i32'), 'bz');
        const czl = kb.let('i64', zpI64(ctx.input(7)), 'cz');
        kb.loops(c.shape, (ix) => {
          const av = sub(cast(load(a, broadcastIndex(ix, a.shape)), 'i32'), azl);
          const bv = sub(cast(load(b, broadcastIndex(ix, b.shape)), 'i32'), bzl);
          // a local: requantize reads its operand several times
          const p = kb.let('i32', mul(av, bv), 'p');
          kb.store(c, flatIndex(ix, c.shape), requantize(p, rq.m(idx(0)), rq.s(idx(0)), czl, lo, hi, kb));
        });
      });
      return;
    }
    const f32 = (e: Expr): Expr => cast(e, 'f32');
    ctx.kernel((kb) => {
      const asl = kb.let('f32', f32(scalar(ctx.input(1), 'A_scale', null)), 'as');
      const bsl = kb.let('f32', f32(scalar(ctx.input(4), 'B_scale', null)), 'bs');
      const csl = kb.let('f32', f32(scalar(ctx.input(6), 'C_scale', null)), 'cs');
      const azl = kb.let('i32', cast(zpI64(ctx.input(2)), 'i32'), 'az');
      const bzl = kb.let('i32', cast(zpI64(ctx.input(5)), 'i32'), 'bz');
      const czl = kb.let('f64', scalar(ctx.input(7), 'C_zero_point', 0), 'cz');
      kb.loops(c.shape, (ix) => {
        const av = mul(asl, f32(sub(cast(load(a, broadcastIndex(ix, a.shape)), 'i32'), azl)));
        const bv = mul(bsl, f32(sub(cast(load(b, broadcastIndex(ix, b.shape)), 'i32'), bzl)));
        kb.store(c, flatIndex(ix, c.shape), requant(f64(div(mul(av, bv), csl)), czl, c.dtype));
      });
    });
  },
});

/**
 * QLinearConcat with constant scales and zero points: each input copied into its slice of the
 * output, through a 256-entry table of the output type when its quantization differs from the
 * output's (the table is the interpreter's requantLut, so the result is the same bit for bit).
 */
registerLowering({
  opType: 'QLinearConcat',
  domain: MS_DOMAIN,
  lower: (ctx) => {
    const y = req(ctx.output(0), 'Y');
    checkInt8(y.dtype, 'QLinearConcat');
    const dt = y.dtype as DType;
    const ys = constScalar(ctx, 0);
    const yzT = ctx.input(1) ? ctx.constant(1) : null;
    if (ys === null || (ctx.input(1) && (!yzT || yzT.size !== 1))) throw unsupportedLowering('QLinearConcat with non-constant output scale or zero point');
    const yz = yzT ? yzT.num(0) : 0;
    const rank = y.shape.length;
    const axis = normAxis(ctx.attrs.int('axis'), rank);
    const lo = intRange(dt)[0];
    let off = 0;
    for (let i = 2; i < ctx.node.inputs.length; i += 3) {
      const x = req(ctx.input(i), 'X');
      const xs = constScalar(ctx, i + 1);
      const xzT = ctx.input(i + 2) ? ctx.constant(i + 2) : null;
      if (xs === null || (ctx.input(i + 2) && (!xzT || xzT.size !== 1))) throw unsupportedLowering('QLinearConcat with a non-constant input scale or zero point');
      const xz = xzT ? xzT.num(0) : 0;
      const same = Math.fround(xs) === Math.fround(ys) && xz === yz;
      const lut = same ? null : ctx.constTable(Tensor.from(dt, [256], requantLut(dt, xs, xz, dt, ys, yz)), 'requant_lut');
      const start = off;
      off += x.shape[axis]!;
      if (prod(x.shape) === 0) continue;
      ctx.kernel((kb) => {
        kb.loops(x.shape, (ix) => {
          const v = load(x, flatIndex(ix, x.shape));
          const oix = ix.map((e, d) => (d === axis ? add(e, idx(start)) : e));
          kb.store(y, flatIndex(oix, y.shape), lut ? load(lut, cast(sub(cast(v, 'i32'), lit('i32', lo)), 'index')) : v);
        });
      });
    }
  },
});

/** QLinearSigmoid / QLinearLeakyRelu with constant scales and zero points: one table load per element (the interpreter's table). */
for (const [opType, fnOf] of LUT_OPS) {
  registerLowering({
    opType,
    domain: MS_DOMAIN,
    lower: (ctx) => {
      const x = req(ctx.input(0), 'X');
      const y = req(ctx.output(0), 'Y');
      checkInt8(x.dtype, opType);
      const dt = x.dtype as DType;
      const param = (i: number, what: string, def: number | null): number => {
        if (!ctx.input(i)) {
          if (def === null) throw unsupportedLowering(`missing ${what}`);
          return def;
        }
        const t = ctx.constant(i);
        if (!t || t.size !== 1) throw unsupportedLowering(`${opType} with a non-constant or per-axis ${what}`);
        return t.num(0);
      };
      const table = requantLut(dt, param(1, 'X_scale', null), param(2, 'X_zero_point', 0), dt, param(3, 'Y_scale', null), param(4, 'Y_zero_point', 0), fnOf(lutAlpha(ctx.attrs)));
      const lut = ctx.constTable(Tensor.from(dt, [256], table), 'lut');
      const lo = intRange(dt)[0];
      if (prod(x.shape) === 0) return;
      ctx.kernel((kb) => {
        kb.for(0, prod(x.shape), (i) => kb.store(y, i, load(lut, cast(sub(cast(load(x, i), 'i32'), lit('i32', lo)), 'index'))));
      });
    },
  });
}
