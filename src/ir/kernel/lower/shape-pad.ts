/** Lowering of Pad (constant, edge, reflect, wrap; negative pads crop; pads constant or read at run time). */
import { KilnError } from '../../errors.js';
import { add, and, bin, cast, eq, ge, idx, lit, load, lt, max, min, mul, select, sub } from '../builder.js';
import type { KernelBuilder } from '../builder.js';
import { registerLowering, unsupportedLowering } from '../lowering.js';
import type { Expr } from '../types.js';
import { computeType, req } from './common.js';
import { fill, normAxis, scalarInput, sizeOf, stridedCopy, stridesOf, type SDim } from './shape-util.js';
import { inShape } from './shape-util.js';

type Mode = 'constant' | 'reflect' | 'edge' | 'wrap';

const isC = (e: Expr): e is Expr & { k: 'const' } => e.k === 'const';

/** Maps a coordinate c (relative to the kept region of n elements) into [0, n). */
function mapCoord(mode: Exclude<Mode, 'constant'>, c: Expr, n: Expr): Expr {
  if (mode === 'edge') return min(max(c, idx(0)), sub(n, idx(1)));
  if (mode === 'wrap') {
    const m = bin('mod', c, n);
    return select(lt(m, idx(0)), add(m, n), m);
  }
  if (isC(n) && Number(n.v) === 1) return idx(0);
  const P = isC(n) ? idx(2 * (Number(n.v) - 1)) : max(mul(idx(2), sub(n, idx(1))), idx(1));
  const m0 = bin('mod', c, P);
  const m = select(lt(m0, idx(0)), add(m0, P), m0);
  const r = select(ge(m, n), sub(P, m), m);
  return isC(n) ? r : select(eq(n, idx(1)), idx(0), r);
}

registerLowering({
  opType: 'Pad',
  lower: (ctx) => {
    const x = req(ctx.input(0), 'data');
    const xS = inShape(ctx, 0);
    const out = req(ctx.output(0), 'output');
    const rank = xS.length;
    const mode = ctx.attrs.string('mode', 'constant') as Mode;
    if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') throw unsupportedLowering(`Pad mode ${String(mode)}`);
    if (sizeOf(out.shape) === 0) return;
    const ct = computeType(x.dtype);
    // begin pads per dim: numbers, or positions in the runtime pads input
    let begin: (number | { at: number })[] = new Array<number | { at: number }>(rank).fill(0);
    let value: Expr = lit(ct, 0);
    let rtAxes: number | null = null;
    if (ctx.opset < 11) {
      const pads = ctx.opset < 2 ? ctx.attrs.ints('paddings') : ctx.attrs.ints('pads');
      if (pads.length !== 2 * rank) throw new KilnError('type', `Pad pads has ${pads.length} entries for rank ${rank}`);
      begin = pads.slice(0, rank);
      value = cast(lit('f64', ctx.attrs.float('value', 0)), ct);
    } else {
      const pin = req(ctx.input(1), 'pads');
      const pinS = inShape(ctx, 1);
      const pc = ctx.constant(1)?.toIndexArray() ?? null;
      let axes: number[];
      const ain = ctx.input(3);
      if (ain) {
        const ac = ctx.constant(3);
        if (!ac) {
          rtAxes = sizeOf(ain.shape);
          axes = [];
        } else axes = ac.toIndexArray().map((a) => normAxis(a, rank));
      } else axes = Array.from({ length: rank }, (_, i) => i);
      const na = rtAxes ?? axes.length;
      if (sizeOf(pinS) !== 2 * na) throw new KilnError('type', `Pad pads has ${sizeOf(pinS)} entries for ${na} axes`);
      axes.forEach((a, i) => {
        begin[a] = pc ? pc[i]! : { at: i };
      });
      if (ctx.input(2)) value = scalarInput(ctx, 2, x.dtype);
    }
    const allConst = rtAxes === null && begin.every((b) => typeof b === 'number');
    const inSt = stridesOf(xS);
    const outSt = stridesOf(out.shape);

    if (mode === 'constant' && allConst) {
      const b = begin as number[];
      const dims: SDim[] = [];
      let ob = 0;
      let ib = 0;
      let padded = false;
      for (let d = 0; d < rank; d++) {
        const X = xS[d]!;
        const O = out.shape[d]!;
        const e = O - X - b[d]!;
        if (b[d]! > 0 || e > 0) padded = true;
        ob += Math.max(0, b[d]!) * outSt[d]!;
        ib += Math.max(0, -b[d]!) * inSt[d]!;
        dims.push({ n: Math.max(0, X - Math.max(0, -b[d]!) - Math.max(0, -e)), st: [outSt[d]!, inSt[d]!] });
      }
      ctx.kernel((kb) => {
        if (padded) fill(kb, out, value);
        stridedCopy(kb, out, idx(ob), x, idx(ib), dims);
      });
      return;
    }

    if (mode !== 'constant') {
      for (let d = 0; d < rank; d++) {
        const b = begin[d]!;
        if (typeof b === 'number') {
          const e = out.shape[d]! - xS[d]! - b;
          if (xS[d]! - Math.max(0, -b) - Math.max(0, -e) <= 0) throw new KilnError('runtime', `Pad mode ${mode} cannot pad an empty dimension`);
        }
      }
    }

    ctx.kernel((kb: KernelBuilder) => {
      const lim = sizeOf(out.shape) + sizeOf(xS) + 1;
      const padAt = (i: number): Expr => {
        const pc = ctx.constant(1);
        if (pc) return idx(Math.max(Math.min(pc.toIndexArray()[i]!, lim), -lim));
        const v = cast(load(ctx.input(1)!, idx(i)), 'i64');
        return cast(max(min(v, lit('i64', lim)), lit('i64', -lim)), 'index');
      };
      let B: Expr[];
      if (rtAxes !== null) {
        const na = rtAxes;
        const axesV: Expr[] = [];
        for (let i = 0; i < na; i++) {
          const a = kb.let('index', cast(load(ctx.input(3)!, idx(i)), 'index'), 'ax');
          axesV.push(kb.let('index', select(lt(a, idx(0)), add(a, idx(rank)), a), 'ax'));
        }
        B = Array.from({ length: rank }, (_, d) => {
          let e: Expr = idx(0);
          for (let i = 0; i < na; i++) e = select(eq(axesV[i]!, idx(d)), padAt(i), e);
          return kb.let('index', e, 'pb');
        });
      } else {
        B = begin.map((b) => (typeof b === 'number' ? idx(b) : kb.let('index', padAt(b.at), 'pb')));
      }
      const fillV = mode !== 'constant' || value.k === 'const' || value.k === 'var' ? value : kb.let(ct, value, 'fv');
      const go = (d: number, o: Expr, s: Expr, ok: Expr | null): void => {
        if (d === rank) {
          if (mode === 'constant') kb.store(out, o, ok ? select(ok, load(x, s), fillV) : load(x, s));
          else kb.store(out, o, load(x, s));
          return;
        }
        const X = xS[d]!;
        const O = out.shape[d]!;
        const b = B[d]!;
        const level = (v: Expr): void => {
          const last = d === rank - 1;
          const hoist = (e: Expr, t: 'index' | 'bool'): Expr => (last || e.k === 'const' || e.k === 'var' ? e : kb.let(t, e, t === 'bool' ? 'ok' : 'o'));
          const no = hoist(add(o, mul(v, idx(outSt[d]!))), 'index');
          if (mode === 'constant') {
            const c = sub(v, b);
            const inside = and(ge(c, idx(0)), lt(c, idx(X)));
            const okN = hoist(ok ? and(ok, inside) : inside, 'bool');
            // clamp so the (unselected) address stays meaningful
            const ns = hoist(add(s, mul(min(max(c, idx(0)), idx(X - 1)), idx(inSt[d]!))), 'index');
            go(d + 1, no, ns, okN);
          } else {
            const pb = max(b, idx(0));
            const cb = max(sub(idx(0), b), idx(0));
            const n = max(sub(sub(idx(X), cb), max(sub(add(idx(X), b), idx(O)), idx(0))), idx(1));
            const mapped = mapCoord(mode, sub(v, pb), n);
            const ns = hoist(add(s, mul(add(cb, mapped), idx(inSt[d]!))), 'index');
            go(d + 1, no, ns, null);
          }
        };
        if (O === 1) level(idx(0));
        else kb.for(0, O, level);
      };
      go(0, idx(0), idx(0), null);
    });
  },
});
