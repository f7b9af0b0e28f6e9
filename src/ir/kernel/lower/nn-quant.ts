/**
 * Lowerings of quantization: QuantizeLinear, DequantizeLinear (per-tensor, per-axis, blocked),
 * DynamicQuantizeLinear, MatMulInteger, QLinearMatMul.
 */
import { KilnError } from '../../errors.js';
import { dtypeFromOnnx, dtypeInfo, intRange, type DType } from '../../dtype.js';
import { add, broadcastIndex, mod, cast, div, flatIndex, idx, lit, load, lt, max, min, mul, select, sub, un } from '../builder.js';
import { registerLowering, unsupportedLowering, type LowerContext } from '../lowering.js';
import type { Expr, KBuffer, ScalarType } from '../types.js';
import { req } from './common.js';
import { isMiniFloat, maxFinite } from '../../floatfmt.js';
import { normAxis, broadcastShapes } from '../../ops/util.js';

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

/** round half to even, NaN → 0, add the zero point, saturate to dt; v and zp are f64. */
function saturateInt(v: Expr, zp: Expr, dt: ScalarType): Expr {
  const [lo, hi] = intRange(dt as DType);
  const r = select(un('isnan', v), lit('f64', 0), un('round', v));
  return max(lit('f64', lo), min(lit('f64', hi), add(r, zp)));
}

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
    ctx.kernel((kb) => {
      kb.loops(x.shape, (ix) => {
        let xx = load(x, flatIndex(ix, x.shape));
        let ss = load(s, paramIndex(x.shape, s, ix, axis, block));
        if (prec) {
          xx = cast(xx, prec);
          ss = cast(ss, prec);
        }
        const q = f64(cast(div(f64(xx), f64(ss)), divType));
        const zp = z && prod(z.shape) > 0 ? f64(load(z, paramIndex(x.shape, z, ix, axis, block))) : lit('f64', 0);
        if (intOut) {
          kb.store(y, flatIndex(ix, x.shape), saturateInt(q, zp, y.dtype));
          return;
        }
        // mini floats: the store rounds to the format; saturation clamps to its largest finite value
        const f4 = y.dtype === 'f4e2m1';
        const v = f4 ? add(q, zp) : q;
        const m = maxFinite(y.dtype as DType);
        kb.store(y, flatIndex(ix, x.shape), f4 || saturate ? max(lit('f64', -m), min(lit('f64', m), v)) : v);
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
    ctx.kernel((kb) => {
      kb.loops(x.shape, (ix) => {
        const xv = f64(load(x, flatIndex(ix, x.shape)));
        const zp = z && prod(z.shape) > 0 ? f64(load(z, paramIndex(x.shape, z, ix, axis, block))) : null;
        const sv = f64(load(s, paramIndex(x.shape, s, ix, axis, block)));
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
      // f32 arithmetic rounded exactly like the reference (each step computed in f64, rounded to f32)
      const r32 = (e: Expr): Expr => cast(e, 'f32');
      const scale = kb.let('f32', r32(div(f64(r32(sub(f64(mx), f64(mn)))), lit('f64', 255))), 'sc');
      const zpRaw = r32(sub(lit('f64', 0), f64(r32(div(f64(mn), f64(scale))))));
      const zp = kb.let('f64', select(un('not', lt(f(0), scale)), lit('f64', 0), saturateInt(f64(zpRaw), lit('f64', 0), 'u8')), 'zp');
      kb.store(ys, idx(0), scale);
      kb.store(yz, idx(0), zp);
      kb.for(0, n, (i) => {
        const q = saturateInt(f64(r32(div(f64(load(x, i)), f64(scale)))), zp, 'u8');
        kb.store(y, i, select(un('not', lt(f(0), scale)), zp, q));
      });
    });
  },
});

// ---------- integer matmuls ----------

/**
 * acc[..., m, n] = sum_k (A[..., m, k] - azp[m]) * (B[..., k, n] - bzp[n]) in i32, numpy batch
 * broadcasting; loops i-k-j so the innermost loop runs over contiguous columns.
 */
function intMatMul(ctx: LowerContext, a: KBuffer, azp: KBuffer | null, b: KBuffer, bzp: KBuffer | null, acc: KBuffer): void {
  const as = a.shape.length === 1 ? [1, a.shape[0]!] : [...a.shape];
  const bs = b.shape.length === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const M = as[as.length - 2]!;
  const K = as[as.length - 1]!;
  const N = bs[bs.length - 1]!;
  if (bs[bs.length - 2] !== K) throw new KilnError('type', 'matmul inner dims differ');
  const ab = as.slice(0, -2);
  const bb = bs.slice(0, -2);
  const batch = broadcastShapes(ab, bb);
  const T: ScalarType = 'i32';
  const zpSize = (z: KBuffer | null): number => (z ? prod(z.shape) : 0);
  const azv = (m: Expr): Expr | null => (azp && zpSize(azp) > 0 ? cast(load(azp, zpSize(azp) === 1 ? idx(0) : m), T) : null);
  const bzv = (n: Expr): Expr | null => (bzp && zpSize(bzp) > 0 ? cast(load(bzp, zpSize(bzp) === 1 ? idx(0) : n), T) : null);
  ctx.kernel((kb) => {
    kb.loops(batch, (bi) => {
      const ao = kb.let('index', mul(broadcastIndex(bi, ab), idx(M * K)), 'ao');
      const bo = kb.let('index', mul(broadcastIndex(bi, bb), idx(K * N)), 'bo');
      const yo = kb.let('index', mul(flatIndex(bi, batch), idx(M * N)), 'yo');
      kb.for(0, M, (m) => {
        const yr = kb.let('index', add(yo, mul(m, idx(N))), 'yr');
        kb.for(0, N, (n) => kb.store(acc, add(yr, n), lit(T, 0)));
        const az = azv(m);
        kb.for(0, K, (k) => {
          const raw = cast(load(a, add(ao, add(mul(m, idx(K)), k))), T);
          const av = kb.let(T, az ? sub(raw, az) : raw, 'a');
          const br = kb.let('index', add(bo, mul(k, idx(N))), 'br');
          kb.for(0, N, (n) => {
            const braw = cast(load(b, add(br, n)), T);
            const bz = bzv(n);
            const bv = bz ? sub(braw, bz) : braw;
            kb.store(acc, add(yr, n), add(load(acc, add(yr, n)), mul(av, bv)));
          });
        });
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
    intMatMul(ctx, a, ctx.input(2), b, ctx.input(3), y);
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
    const acc = ctx.temp('i32', y.shape, 'acc');
    intMatMul(ctx, a, ctx.input(2), b, ctx.input(5), acc);
    const sdt: ScalarType = asc.dtype === 'f64' || asc.dtype === 'f32' || asc.dtype === 'f16' || asc.dtype === 'bf16' ? asc.dtype : 'f32';
    const N = b.shape.length >= 2 ? b.shape[b.shape.length - 1]! : 1;
    const M = a.shape.length >= 2 ? a.shape[a.shape.length - 2]! : 1;
    const total = prod(y.shape);
    ctx.kernel((kb) => {
      kb.for(0, total, (i) => {
        const n = N === 1 ? idx(0) : mod(i, idx(N));
        const m = M === 1 ? idx(0) : mod(div(i, idx(N)), idx(M));
        const av = f64(load(asc, prod(asc.shape) === 1 ? idx(0) : m));
        const bv = f64(load(bsc, prod(bsc.shape) === 1 ? idx(0) : n));
        const factor = f64(cast(div(f64(cast(mul(av, bv), sdt)), f64(load(ysc, idx(0)))), sdt));
        const zp = yz ? f64(load(yz, idx(0))) : lit('f64', 0);
        kb.store(y, i, saturateInt(mul(f64(load(acc, i)), factor), zp, y.dtype));
      });
    });
  },
});

