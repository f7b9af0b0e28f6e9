/**
 * Lowerings of quantization: QuantizeLinear, DequantizeLinear (per-tensor, per-axis, blocked),
 * DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, QLinearConv.
 */
import { KilnError } from '../../errors.js';
import { dtypeFromOnnx, dtypeInfo, intRange, type DType } from '../../dtype.js';
import { add, broadcastIndex, mod, cast, div, flatIndex, idx, lit, load, lt, max, min, mul, select, sub, un } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { KernelBuilder } from '../builder.js';
import { clip } from './nn-conv.js';
import { resolveWindow, windowSpec } from '../../ops/nn-common.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { req } from './common.js';
import { Tensor } from '../../tensor.js';
import { isMiniFloat, maxFinite } from '../../floatfmt.js';
import { normAxis } from '../../ops/util.js';
import { matmulShapes } from '../../ops/config/linalg.js';
import { emitQConv, qconvFastApplies, type QConvSpec } from './perf-qconv.js';
import { floatRequant, requantize, RequantTable } from './requant.js';

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);
const isIntType = (t: ScalarType): boolean => t !== 'index' && (dtypeInfo(t as DType).kind === 'int' || dtypeInfo(t as DType).kind === 'uint');
const f64 = (e: Expr): Expr => cast(e, 'f64');

/** Index into a per-tensor / per-axis / blocked parameter tensor, given x's multi-index. */
function paramIndex(xShape: readonly number[], p: KBuffer, ix: readonly Expr[], axisAttr: number, block: number): Expr {
  if (prod(p.shape) === 1) return idx(0);
  const r = xShape.length;
  const axis = normAxis(axisAttr, r, 'quantization axis');
  const dim = xShape[axis]!;
  if (block > 0) {
    if (p.shape.length !== r || p.shape[axis] !== Math.ceil(dim / block)) throw new KilnError('type', 'blocked quantization parameter shape does not match the input');
    return flatIndex(ix.map((e, j) => (j === axis ? div(e, idx(block)) : p.shape[j] === 1 ? idx(0) : e)), p.shape);
  }
  if (p.shape.length !== 1 || p.shape[0] !== dim) throw new KilnError('type', `per-axis quantization parameter does not match dim ${dim} on axis ${axis}`);
  return ix[axis]!;
}

function promoteFloat(a: ScalarType, b: ScalarType): ScalarType {
  if (a === b) return a;
  if (a === 'f64' || b === 'f64') return 'f64';
  return 'f32';
}

/** round half to even, NaN → 0, add the zero point, saturate to dt; v and zp are of type ft (f64 unless given). */
function saturateInt(v: Expr, zp: Expr, dt: ScalarType, ft: ScalarType = 'f64'): Expr {
  const [lo, hi] = intRange(dt as DType);
  const r = select(un('isnan', v), lit(ft, 0), un('round', v));
  return max(lit(ft, lo), min(lit(ft, hi), add(r, zp)));
}

/** Integer types whose every value (and zero point) f32 holds exactly: at most 24 bits. */
const f32Int = (t: ScalarType): boolean => {
  const [lo, hi] = intRange(t as DType);
  return lo >= -(2 ** 24) && hi <= 2 ** 24;
};

registerLowering({
  opType: 'QuantizeLinear',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'x');
    const s = req(ctx.input(1), 'y_scale');
    const z = ctx.input(2);
    const y = req(ctx.output(0), 'y');
    const intOut = isIntType(y.dtype);
    if (!intOut && !isMiniFloat(y.dtype as DType)) throw unsupportedLowering(`QuantizeLinear to ${y.dtype}`);
    const saturate = ctx.opset >= 19 ? ctx.attrs.int('saturate', 1) !== 0 : true;
    const axis = ctx.attrs.int('axis', 1);
    const block = ctx.opset >= 21 ? ctx.attrs.int('block_size', 0) : 0;
    const precOnnx = ctx.opset >= 23 ? ctx.attrs.int('precision', 0) : 0;
    const prec = precOnnx ? (dtypeFromOnnx(precOnnx) as ScalarType | null) : null;
    const divType = prec ?? promoteFloat(x.dtype, s.dtype);
    // f32 arithmetic gives the f64 path's result when the quotient is rounded to f32 or narrower:
    // an f32 division is correctly rounded, and rounding f64's quotient to f32 (or f32's to f16/bf16)
    // is an innocuous double rounding (53 ≥ 2·24 + 2, 24 ≥ 2·11 + 2); after that round(q) is exact,
    // adding a zero point of at most 24 bits is exact wherever the result is in range, and
    // saturation is monotone (f32 rounding of an out-of-range sum stays out of range). Only for GPU
    // targets (WGSL has no f64): the kernel interpreter evaluates f32 expressions unrounded, so on
    // CPU targets the f64 path with its explicit rounding to divType stays the reference.
    const ft: ScalarType = ctx.style === 'gpu' && divType !== 'f64' && (!intOut || f32Int(y.dtype)) ? 'f32' : 'f64';
    const fcast = (e: Expr): Expr => cast(e, ft);
    ctx.kernel((kb) => {
      kb.loops(x.shape, (ix) => {
        let xx = load(x, flatIndex(ix, x.shape));
        let ss = load(s, paramIndex(x.shape, s, ix, axis, block));
        if (prec) {
          xx = cast(xx, prec);
          ss = cast(ss, prec);
        }
        const q = fcast(cast(div(fcast(xx), fcast(ss)), divType));
        const zp = z && prod(z.shape) > 0 ? fcast(load(z, paramIndex(x.shape, z, ix, axis, block))) : lit(ft, 0);
        if (intOut) {
          kb.store(y, flatIndex(ix, x.shape), saturateInt(q, zp, y.dtype, ft));
          return;
        }
        // mini floats: the store rounds to the format; saturation clamps to its largest finite value
        const f4 = y.dtype === 'f4e2m1';
        const v = f4 ? add(q, zp) : q;
        const m = maxFinite(y.dtype as DType);
        kb.store(y, flatIndex(ix, x.shape), f4 || saturate ? max(lit(ft, -m), min(lit(ft, m), v)) : v);
      });
    });
  },
});

registerLowering({
  opType: 'DequantizeLinear',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'x');
    const s = req(ctx.input(1), 'x_scale');
    const z = ctx.input(2);
    const y = req(ctx.output(0), 'y');
    const axis = ctx.attrs.int('axis', 1);
    const block = ctx.opset >= 21 ? ctx.attrs.int('block_size', 0) : 0;
    // an integer of at most 16 bits minus its zero point is exact in f32 (at most 17 bits), and so
    // is a narrow float's value minus its zero point where the format spans at most 19 bits
    // (e4m3fn, e4m3fnuz, f4e2m1; e5m2 only without a zero point). The exact product with an
    // f32/f16/bf16 scale then fits f64's 53 bits, so the f64 path rounds it once to y's type; f32
    // rounds it to f32 (the same for an f32 y, an innocuous double rounding for f16/bf16, 24 ≥ 2·11 + 2).
    // So f32 arithmetic gives the f64 path's result (and a Cortex-M4F build, or WGSL, needs no f64).
    const hasZp = z !== null && prod(z.shape) > 0;
    const exactX = ['i8', 'u8', 'i16', 'u16', 'i4', 'u4', 'i2', 'u2', 'f8e4m3fn', 'f8e4m3fnuz', 'f4e2m1'].includes(x.dtype) || (!hasZp && ['f8e5m2', 'f8e5m2fnuz'].includes(x.dtype));
    const narrowFloat = (t: ScalarType): boolean => t === 'f32' || t === 'f16' || t === 'bf16';
    const narrow = exactX && narrowFloat(s.dtype) && narrowFloat(y.dtype);
    const ft: ScalarType = narrow ? 'f32' : 'f64';
    const [xT, sT, zT] = [ctx.constant(0), ctx.constant(1), hasZp ? ctx.constant(2) : null];
    if (!narrow && xT && sT && (!hasZp || zT) && block === 0 && y.dtype !== 'f64' && x.dtype !== 'i64' && x.dtype !== 'u64') {
      // every operand a constant (an int32 bias whose Conv was not folded): the f64 path's
      // arithmetic done now, y a constant table (no f64 at run time)
      const n = prod(x.shape);
      const at = (p: Tensor, i: number): number => {
        if (p.size === 1) return 0;
        const a = normAxis(axis, x.shape.length, 'quantization axis');
        if (p.shape.length !== 1 || p.shape[0] !== x.shape[a]) throw new KilnError('type', `per-axis quantization parameter does not match dim ${x.shape[a]} on axis ${a}`);
        return Math.floor(i / prod(x.shape.slice(a + 1))) % x.shape[a]!;
      };
      const values = Array.from({ length: n }, (_, i) => (xT.num(i) - (zT ? zT.num(at(zT, i)) : 0)) * sT.num(at(sT, i)));
      const table = ctx.constTable(Tensor.from(y.dtype as DType, y.shape, values), 'dq');
      ctx.kernel((kb) => kb.for(0, n, (i) => kb.store(y, i, load(table, i))));
      return;
    }
    const fcast = (e: Expr): Expr => cast(e, ft);
    ctx.kernel((kb) => {
      kb.loops(x.shape, (ix) => {
        const xv = fcast(load(x, flatIndex(ix, x.shape)));
        const zp = z && prod(z.shape) > 0 ? fcast(load(z, paramIndex(x.shape, z, ix, axis, block))) : null;
        const sv = fcast(load(s, paramIndex(x.shape, s, ix, axis, block)));
        kb.store(y, flatIndex(ix, x.shape), mul(zp ? sub(xv, zp) : xv, sv));
      });
    });
  },
});

registerLowering({
  opType: 'DynamicQuantizeLinear',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'x');
    const y = req(ctx.output(0), 'y');
    const ys = req(ctx.output(1), 'y_scale');
    const yz = req(ctx.output(2), 'y_zero_point');
    if (x.dtype !== 'f32') throw unsupportedLowering(`DynamicQuantizeLinear on ${x.dtype}`);
    const n = prod(x.shape);
    const f = (v: number): Expr => lit('f32', v);
    ctx.kernel((kb) => {
      const mn = kb.let('f32', f(0), 'mn');
      const mx = kb.let('f32', f(0), 'mx');
      kb.for(0, n, (i) => {
        const v = kb.let('f32', load(x, i), 'v');
        kb.set(mn, select(lt(v, mn), v, mn));
        kb.set(mx, select(lt(mx, v), v, mx));
      });
      // f32 arithmetic rounded exactly like the reference (each step computed in f64, rounded to
      // f32). GPU targets (no f64) compute the steps in f32: for one subtraction or division that
      // is the same correctly rounded result (53 ≥ 2·24 + 2), and rounding, the u8 zero point and
      // saturation are exact in f32; the kernel interpreter, which evaluates f32 expressions
      // unrounded, keeps the explicit f64 form on CPU targets.
      const ft: ScalarType = ctx.style === 'gpu' ? 'f32' : 'f64';
      const w = (e: Expr): Expr => cast(e, ft);
      const r32 = (e: Expr): Expr => cast(e, 'f32');
      const scale = kb.let('f32', r32(div(w(r32(sub(w(mx), w(mn)))), lit(ft, 255))), 'sc');
      const zpRaw = r32(sub(lit(ft, 0), w(r32(div(w(mn), w(scale))))));
      const zp = kb.let(ft, select(un('not', lt(f(0), scale)), lit(ft, 0), saturateInt(w(zpRaw), lit(ft, 0), 'u8', ft)), 'zp');
      kb.store(ys, idx(0), scale);
      kb.store(yz, idx(0), zp);
      kb.for(0, n, (i) => {
        const q = saturateInt(w(r32(div(w(load(x, i)), w(scale)))), zp, 'u8', ft);
        kb.store(y, i, select(un('not', lt(f(0), scale)), zp, q));
      });
    });
  },
});

// ---------- integer matmuls ----------

/** Output columns per tile of intMatMul (its u32 scratch: 128 bytes). */
export const INT_MATMUL_TILE_COLS = 32;

/**
 * Calls `emit(kb, outFlat, acc, m, n)` once per output element with acc = sum_k (A[..., m, k] -
 * azp[m]) * (B[..., k, n] - bzp[n]) (numpy batch broadcasting). The sums of a tile of `cols`
 * columns of one row live in a small u32 scratch (wrapping, the i32 sums' bits), updated by a loop
 * over contiguous columns of B for each k: the innermost loop runs over contiguous memory, which
 * a C compiler vectorizes (a loop over k strides B by N). The last tile is shifted left to end at
 * column N, recomputing a few columns. No accumulator tensor: on a microcontroller an i32 copy of
 * the output would cost 4x its int8 size.
 */
function intMatMul(ctx: LowerContext, a: KBuffer, azp: KBuffer | null, b: KBuffer, bzp: KBuffer | null, emit: (kb: KernelBuilder, o: Expr, acc: Expr, m: Expr, n: Expr) => void, cols = INT_MATMUL_TILE_COLS): void {
  const { M, K, N, batch, abatch: ab, bbatch: bb } = matmulShapes(a.shape, b.shape, 'type');
  const T: ScalarType = 'u32';
  const zpSize = (z: KBuffer | null): number => (z ? prod(z.shape) : 0);
  const azv = (m: Expr): Expr | null => (azp && zpSize(azp) > 0 ? cast(load(azp, zpSize(azp) === 1 ? idx(0) : m), T) : null);
  const bzv = (n: Expr): Expr | null => (bzp && zpSize(bzp) > 0 ? cast(load(bzp, zpSize(bzp) === 1 ? idx(0) : n), T) : null);
  let W = Math.max(1, Math.min(cols, N));
  // 4-bit B: the widest even tile that divides N and keeps the unpacked panel (below) within 4 KiB
  if ((b.dtype === 'i4' || b.dtype === 'u4') && M * N * K > 0) {
    for (let w = W; w >= 2; w--) {
      if (w % 2 === 0 && N % w === 0 && K * w <= 4096) {
        W = w;
        break;
      }
    }
  }
  const nT = N > 0 ? Math.ceil(N / W) : 0;
  const sums = M * N * K > 0 ? ctx.temp(T, [W], 'mmsum') : null;
  // 4-bit B (stored packed, src/passes/pack-subbyte.ts): with the column tile loop outside the rows
  // of A, each tile's K×W panel of B is unpacked once, in pairs (each pair's loads share one packed
  // byte with statically known nibbles), into K·W bytes that the multiply-add loop reads as 8-bit B.
  // Needs N and W even, tiles at multiples of W, and a panel of at most 4 KiB; otherwise the loads
  // extract each nibble.
  const b4 = (b.dtype === 'i4' || b.dtype === 'u4') && sums !== null && N % 2 === 0 && W % 2 === 0 && (nT === 1 || N % W === 0) && K * W <= 4096;
  const panel = b4 ? ctx.temp(b.dtype === 'i4' ? 'i8' : 'u8', [K * W], 'bpanel') : null;
  ctx.kernel((kb) => {
    if (!sums) {
      // K = 0: every sum is 0
      kb.loops(batch, (bi) => {
        const yo = kb.let('index', mul(flatIndex(bi, batch), idx(M * N)), 'yo');
        kb.for(0, M * N, (o) => emit(kb, add(yo, o), lit('i32', 0), div(o, idx(Math.max(N, 1))), mod(o, idx(Math.max(N, 1)))));
      });
      return;
    }
    kb.loops(batch, (bi) => {
      const ao = kb.let('index', mul(broadcastIndex(bi, ab), idx(M * K)), 'ao');
      // (with a panel, B is read only by the unpacking, at offsets written out in full)
      const bo = panel ? null : kb.let('index', mul(broadcastIndex(bi, bb), idx(K * N)), 'bo');
      const yo = kb.let('index', mul(flatIndex(bi, batch), idx(M * N)), 'yo');
      // one column tile of one row of A
      const tile = (m: Expr, ar: Expr, yr: Expr, az: Expr | null, n0: Expr): void => {
        kb.for(0, W, (j) => kb.store(sums, j, lit(T, 0)));
        kb.for(0, K, (k) => {
          const raw = cast(load(a, add(ar, k)), T);
          const av = kb.let(T, az ? sub(raw, az) : raw, 'a');
          const br = panel ? kb.let('index', mul(k, idx(W)), 'br') : kb.let('index', add(add(bo!, mul(k, idx(N))), n0), 'br');
          kb.for(0, W, (j) => {
            const braw = cast(load(panel ?? b, add(br, j)), T);
            const bz = bzv(add(n0, j));
            kb.store(sums, j, add(load(sums, j), mul(av, bz ? sub(braw, bz) : braw)));
          });
        });
        kb.for(0, W, (j) => emit(kb, add(yr, add(n0, j)), cast(load(sums, j), 'i32'), m, add(n0, j)));
      };
      const row = (m: Expr): { ar: Expr; yr: Expr; az: Expr | null } => ({
        ar: kb.let('index', add(ao, mul(m, idx(K))), 'ar'),
        yr: kb.let('index', add(yo, mul(m, idx(N))), 'yr'),
        az: azv(m),
      });
      if (panel) {
        kb.for(0, nT, (t) => {
          const n0 = nT === 1 ? idx(0) : kb.let('index', mul(t, idx(W)), 'n');
          // B's offset of row k of this tile, in a form that shows it is even
          const from = (k: Expr): Expr => add(add(mul(broadcastIndex(bi, bb), idx(K * N)), mul(k, idx(N))), nT === 1 ? idx(0) : mul(t, idx(W)));
          kb.for(0, K, (k) => {
            const copy = (j: Expr): void => kb.store(panel, add(mul(k, idx(W)), j), cast(load(b, add(from(k), j)), panel.dtype));
            kb.for(0, W / 2, (jj) => {
              copy(mul(jj, idx(2)));
              copy(add(mul(jj, idx(2)), idx(1)));
            });
          });
          kb.for(0, M, (m) => {
            const r = row(m);
            tile(m, r.ar, r.yr, r.az, n0);
          });
        });
        return;
      }
      kb.for(0, M, (m) => {
        const r = row(m);
        kb.for(0, nT, (t) => tile(m, r.ar, r.yr, r.az, nT === 1 ? idx(0) : kb.let('index', min(mul(t, idx(W)), idx(N - W)), 'n')));
      });
    });
  });
}

registerLowering({
  opType: 'MatMulInteger',
  lower: (ctx) => {
    const a = req(ctx.input(0), 'A');
    const b = req(ctx.input(1), 'B');
    const y = req(ctx.output(0), 'Y');
    if (y.dtype !== 'i32') throw unsupportedLowering(`MatMulInteger to ${y.dtype}`);
    intMatMul(ctx, a, ctx.input(2), b, ctx.input(3), (kb, o, acc) => kb.store(y, o, acc));
  },
});

registerLowering({
  opType: 'QLinearMatMul',
  lower: (ctx) => {
    const a = req(ctx.input(0), 'a');
    const asc = req(ctx.input(1), 'a_scale');
    const b = req(ctx.input(3), 'b');
    const bsc = req(ctx.input(4), 'b_scale');
    const ysc = req(ctx.input(6), 'y_scale');
    const yz = ctx.input(7);
    const y = req(ctx.output(0), 'y');
    if (!isIntType(y.dtype)) throw unsupportedLowering(`QLinearMatMul to ${y.dtype}`);
    if (prod(ysc.shape) !== 1 || (yz && prod(yz.shape) !== 1)) throw unsupportedLowering('QLinearMatMul with per-axis output scale');
    const sdt: ScalarType = asc.dtype === 'f64' || asc.dtype === 'f32' || asc.dtype === 'f16' || asc.dtype === 'bf16' ? asc.dtype : 'f32';
    // the same arithmetic as the interpreter: factor = (a_scale * b_scale) / y_scale rounded to the
    // scale type at each step, then acc * factor in f64
    // integer requantization when the scales are constants: the interpreter's factor, an f32
    // number, is exactly a 31-bit multiplier and a shift, so the result is bit for bit the same
    const [asT, bsT, ysT] = [ctx.constant(1), ctx.constant(4), ctx.constant(6)];
    if (asT && bsT && ysT && !floatRequant(ctx) && asT.size === 1 && (sdt === 'f32' || sdt === 'f64')) {
      const r = (v: number): number => (sdt === 'f32' ? Math.fround(v) : v);
      const nB = b.shape[b.shape.length - 1]!;
      const factors = Array.from({ length: bsT.size === 1 ? 1 : nB }, (_, n) => r(r(asT.num(0) * bsT.num(bsT.size === 1 ? 0 : n)) / ysT.num(0)));
      const rq = new RequantTable(ctx, factors, 'rq');
      const [lo, hi] = intRange(y.dtype as DType);
      intMatMul(ctx, a, ctx.input(2), b, ctx.input(5), (kb, o, acc, _m, n) => {
        const zp = yz ? cast(load(yz, idx(0)), 'i32') : lit('i32', 0);
        kb.store(y, o, requantize(acc, rq.m(bsT.size === 1 ? idx(0) : n), rq.s(bsT.size === 1 ? idx(0) : n), zp, lo, hi, kb));
      });
      return;
    }
    intMatMul(ctx, a, ctx.input(2), b, ctx.input(5), (kb, o, acc, m, n) => {
      const av = f64(load(asc, prod(asc.shape) === 1 ? idx(0) : m));
      const bv = f64(load(bsc, prod(bsc.shape) === 1 ? idx(0) : n));
      const factor = f64(cast(div(f64(cast(mul(av, bv), sdt)), f64(load(ysc, idx(0)))), sdt));
      const zp = yz ? f64(load(yz, idx(0))) : lit('f64', 0);
      kb.store(y, o, saturateInt(mul(f64(acc), factor), zp, y.dtype));
    });
  },
});

// ---------- QLinearConv ----------

/**
 * QLinearConv as one loop nest per output element: the i32 sum over input channels and the kernel
 * window lives in a local and is requantized at once, so the only memory is x, w and y (int8)
 * besides the i32 bias; kernel ranges are clipped per output position so padding needs no checks.
 * Requantization is the interpreter's: ((acc · x_scale) · w_scale[oc]) / y_scale in f64, rounded
 * half to even, plus y_zero_point, saturated.
 */
registerLowering({
  opType: 'QLinearConv',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'x');
    const xsc = req(ctx.input(1), 'x_scale');
    const xzp = ctx.input(2);
    const w = req(ctx.input(3), 'w');
    const wsc = req(ctx.input(4), 'w_scale');
    const wzp = ctx.input(5);
    const ysc = req(ctx.input(6), 'y_scale');
    const yzp = ctx.input(7);
    const bias = ctx.input(8);
    const y = req(ctx.output(0), 'y');
    if (!isIntType(y.dtype)) throw unsupportedLowering(`QLinearConv to ${y.dtype}`);
    const xs = x.shape;
    const ws = w.shape;
    if (xs.length < 3 || ws.length !== xs.length) throw new KilnError('type', 'conv input/weight ranks do not match');
    const nd = xs.length - 2;
    const spec = windowSpec(ctx.attrs, nd, ws.slice(2));
    const win = resolveWindow(ctx.attrs, xs.slice(2), spec, false);
    const outSp = win.out.map((d) => {
      if (d === null) throw unsupportedLowering('QLinearConv with unknown output size');
      return d;
    });
    const G = ctx.attrs.int('group', 1);
    const [N, C] = [xs[0]!, xs[1]!];
    const [M, Cg] = [ws[0]!, ws[1]!];
    if (Cg * G !== C || M % G !== 0) throw new KilnError('type', 'conv channels do not match the group count');
    const Mg = M / G;
    const inSp = xs.slice(2);
    const kSp = spec.kernel;
    const nX = prod(inSp);
    const nY = prod(outSp);
    const nK = prod(kSp);
    const T: ScalarType = 'i32';
    const [qlo, qhi] = intRange(y.dtype as DType);
    const one = (b: KBuffer | null): boolean => b !== null && prod(b.shape) === 1;
    const present = (b: KBuffer | null): b is KBuffer => b !== null && prod(b.shape) > 0;
    if (!one(xsc) || !one(ysc) || (present(xzp) && !one(xzp)) || (present(yzp) && !one(yzp))) throw unsupportedLowering('QLinearConv with per-axis input or output quantization');
    // integer requantization when the scales are constants: factor[oc] = x_scale · w_scale[oc] / y_scale
    const [xsT, wsT, ysT] = [ctx.constant(1), ctx.constant(4), ctx.constant(6)];
    const rq = xsT && wsT && ysT && !floatRequant(ctx) ? new RequantTable(ctx, Array.from({ length: one(wsc) ? 1 : M }, (_, oc) => (xsT.num(0) * wsT.num(one(wsc) ? 0 : oc)) / ysT.num(0)), 'rq') : null;
    const fast: QConvSpec = {
      x, w, y, bias, xsc, xzp, wsc, wzp, ysc, yzp, N, G, Cg, Mg, inSp, outSp,
      kernel: kSp, strides: spec.strides, dilations: spec.dilations, padsBegin: win.pb, qlo, qhi, rq,
    };
    // the fast path tiles for C compilers; GPU targets take the per-output nest below
    if (ctx.style === 'cpu' && qconvFastApplies(fast)) {
      emitQConv(ctx, fast);
      return;
    }
    ctx.kernel((kb) => {
      const xz = present(xzp) ? kb.let(T, cast(load(xzp, idx(0)), T), 'xz') : null;
      const xscale = rq ? null : kb.let('f64', f64(load(xsc, idx(0))), 'xs');
      const yscale = rq ? null : kb.let('f64', f64(load(ysc, idx(0))), 'ys');
      const yz = rq ? kb.let('i32', present(yzp) ? cast(load(yzp, idx(0)), 'i32') : lit('i32', 0), 'yz') : kb.let('f64', present(yzp) ? f64(load(yzp, idx(0))) : lit('f64', 0), 'yz');
      kb.for(0, N, (n) => {
        kb.for(0, M, (oc) => {
          const icBase = kb.let('index', mul(div(oc, idx(Mg)), idx(Cg)), 'icb');
          const wz = present(wzp) ? kb.let(T, cast(load(wzp, one(wzp) ? idx(0) : oc), T), 'wz') : null;
          const wscale = rq ? null : kb.let('f64', f64(load(wsc, one(wsc) ? idx(0) : oc)), 'wsc');
          const mult = rq ? rq.locals(kb, one(wsc) ? idx(0) : oc) : null;
          const init = bias ? cast(load(bias, oc), T) : lit(T, 0);
          const yBase = kb.let('index', mul(add(mul(n, idx(M)), oc), idx(nY)), 'yb');
          // output position o (one loop per spatial dim) with its clipped kernel range per dim
          const pos = (d: number, yOff: Expr, ranges: [Expr, Expr, Expr][]): void => {
            if (d === nd) {
              const acc = kb.let(T, init, 'acc');
              kb.for(0, Cg, (c) => {
                const ic = add(icBase, c);
                const xBase = kb.let('index', mul(add(mul(n, idx(C)), ic), idx(nX)), 'xb');
                const wBase = kb.let('index', mul(add(mul(oc, idx(Cg)), c), idx(nK)), 'wb');
                const kloop = (j: number, xOff: Expr, wOff: Expr): void => {
                  const [lo, hi, koff] = ranges[j]!;
                  kb.for(lo, hi, (k) => {
                    const xi = add(mul(xOff, idx(inSp[j]!)), add(koff, mul(k, idx(spec.dilations[j]!))));
                    const wi = add(mul(wOff, idx(kSp[j]!)), k);
                    if (j < nd - 1) {
                      kloop(j + 1, kb.let('index', xi, 'xo'), kb.let('index', wi, 'wo'));
                      return;
                    }
                    const xv = cast(load(x, add(xBase, xi)), T);
                    const wv = cast(load(w, add(wBase, wi)), T);
                    kb.set(acc, add(acc, mul(xz ? sub(xv, xz) : xv, wz ? sub(wv, wz) : wv)));
                  });
                };
                kloop(0, idx(0), idx(0));
              });
              if (mult) {
                kb.store(y, add(yBase, yOff), requantize(acc, mult.m, mult.s, yz, qlo, qhi, kb));
                return;
              }
              const scaled = div(mul(mul(f64(acc), xscale!), wscale!), yscale!);
              kb.store(y, add(yBase, yOff), max(lit('f64', qlo), min(lit('f64', qhi), add(un('round', scaled), yz))));
              return;
            }
            kb.for(0, outSp[d]!, (o) => {
              const koff = kb.let('index', sub(mul(o, idx(spec.strides[d]!)), idx(win.pb[d]!)), 'ko');
              const [lo, hi] = clip(kb, koff, spec.dilations[d]!, inSp[d]!, kSp[d]!);
              pos(d + 1, kb.let('index', add(mul(yOff, idx(outSp[d]!)), o), 'yo'), [...ranges, [lo, hi, koff]]);
            });
          };
          pos(0, idx(0), []);
        });
      });
    });
  },
});
