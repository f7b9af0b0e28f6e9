/**
 * Sub-byte constants stored packed: a constant buffer of int4/uint4 (or int2/uint2) elements, e.g.
 * the 4-bit weights of a mixed-precision model, becomes a uint8 buffer holding 8/bits values per
 * byte in ONNX's packing (element i in byte i / per at bit (i mod per)·bits, the low bits first), and
 * every load of it becomes the extraction of its bits:
 *   v = (i32) packed[i / per];  x = (v >> (i mod per)·bits) & mask;  signed: x = (x ^ half) - half
 * cast back to the element type. So the compiled constant data of a 4-bit weight takes half a byte
 * per value, and every backend renders the unpacking from ordinary kernel IR (integer division,
 * shift, mask); no backend needs a packed buffer type. Inputs, outputs and temporaries keep one
 * element per byte (the program's calling convention); only 'const' buffers with data are packed.
 * Views of a packed buffer read it through the same extraction (a view keeps the element order).
 */
import { add, bin, cast, div, idx, lit, load, mod, mul, sub } from '../ir/kernel/builder.js';
import { storageOf, type Expr, type KBuffer, type Kernel, type Program, type ScalarType, type Stmt } from '../ir/kernel/types.js';
import { Tensor } from '../ir/tensor.js';
import { tensorToBytes } from '../ir/rawdata.js';
import type { KernelPass } from './pass.js';

const SUB_BYTE_BITS: Partial<Record<ScalarType, number>> = { i4: 4, u4: 4, i2: 2, u2: 2 };

/** Bits of a sub-byte element type, else null. */
export function subByteBits(t: ScalarType): number | null {
  return SUB_BYTE_BITS[t] ?? null;
}

/**
 * An index e split as per·q + r with r a constant in [0, per), where its form shows it (constants,
 * multiples of a constant that per divides, sums of those): then a load knows its byte and nibble at
 * compile time. Null when the remainder depends on run-time values.
 */
export function splitIndex(e: Expr, per: number): { q: Expr; r: number } | null {
  switch (e.k) {
    case 'const': {
      const v = Number(e.v);
      const r = ((v % per) + per) % per;
      return { q: idx((v - r) / per), r };
    }
    case 'bin': {
      if (e.op === 'mul') {
        for (const [a, b] of [[e.a, e.b], [e.b, e.a]] as const) {
          if (b.k === 'const' && Number(b.v) % per === 0) return { q: mul(a, idx(Number(b.v) / per)), r: 0 };
        }
        return null;
      }
      if (e.op === 'add') {
        const a = splitIndex(e.a, per);
        const b = a && splitIndex(e.b, per);
        if (!a || !b) return null;
        const carry = Math.floor((a.r + b.r) / per);
        return { q: add(add(a.q, b.q), idx(carry)), r: (a.r + b.r) % per };
      }
      return null;
    }
    default: return null;
  }
}

/**
 * The load of element `i` of `orig` (element type kept) from its packed bytes `packed`: the byte
 * and the shift are constants where the index's form shows its remainder (splitIndex), else
 * computed (i / per, (i mod per)·bits).
 */
export function unpackLoad(packed: KBuffer, i: Expr, orig: ScalarType, bits: number): Expr {
  const per = 8 / bits;
  const split = splitIndex(i, per);
  const byte = cast(load(packed, split ? split.q : div(i, idx(per))), 'i32');
  const shift = split ? lit('i32', split.r * bits) : cast(mul(mod(i, idx(per)), idx(bits)), 'i32');
  const shifted = split && split.r === 0 ? byte : bin('shr', byte, shift);
  let v = split && split.r === per - 1 ? shifted : bin('bitand', shifted, lit('i32', (1 << bits) - 1));
  if (orig === 'i4' || orig === 'i2') {
    const half = lit('i32', 1 << (bits - 1));
    v = sub(bin('bitxor', v, half), half);
  }
  return cast(v, orig);
}

function mapExpr(e: Expr, f: (l: Extract<Expr, { k: 'load' }>) => Expr | null): Expr {
  switch (e.k) {
    case 'load': {
      const l = { ...e, idx: mapExpr(e.idx, f) };
      return f(l) ?? l;
    }
    case 'bin': return { ...e, a: mapExpr(e.a, f), b: mapExpr(e.b, f) };
    case 'un': case 'cast': return { ...e, a: mapExpr(e.a, f) };
    case 'select': return { ...e, c: mapExpr(e.c, f), a: mapExpr(e.a, f), b: mapExpr(e.b, f) };
    default: return e;
  }
}

function mapStmts(ss: readonly Stmt[], f: (l: Extract<Expr, { k: 'load' }>) => Expr | null): Stmt[] {
  return ss.map((s): Stmt => {
    switch (s.k) {
      case 'for': return { ...s, lo: mapExpr(s.lo, f), hi: mapExpr(s.hi, f), body: mapStmts(s.body, f) };
      case 'store': return { ...s, idx: mapExpr(s.idx, f), val: mapExpr(s.val, f) };
      case 'let': return { ...s, init: mapExpr(s.init, f) };
      case 'set': return { ...s, val: mapExpr(s.val, f) };
      case 'if': return { ...s, c: mapExpr(s.c, f), then: mapStmts(s.then, f), else: mapStmts(s.else, f) };
      case 'barrier': return s;
    }
  });
}

/** Packs the program's sub-byte constants in place; returns the packed buffers (original → packed). */
export function packSubByteConstants(program: Program): Map<KBuffer, KBuffer> {
  const packed = new Map<KBuffer, KBuffer>();
  for (const b of program.buffers) {
    const bits = subByteBits(b.dtype);
    if (bits === null || b.role !== 'const' || !b.data || b.viewOf || b.data.size === 0) continue;
    // ONNX's raw_data layout of the tensor (src/ir/rawdata.ts)
    const bytes = tensorToBytes(b.data, true);
    const p: KBuffer = { id: b.id, name: b.name, dtype: 'u8', shape: [bytes.length], role: 'const', data: Tensor.from('u8', [bytes.length], Array.from(bytes)), ...(b.level !== undefined ? { level: b.level } : {}) };
    packed.set(b, p);
  }
  if (packed.size === 0) return packed;
  const rewrite = (l: Extract<Expr, { k: 'load' }>): Expr | null => {
    const p = packed.get(storageOf(l.buf));
    return p ? unpackLoad(p, l.idx, l.t, subByteBits(l.t)!) : null;
  };
  program.kernels = program.kernels.map((k): Kernel => ({ ...k, body: mapStmts(k.body, rewrite) }));
  // the originals and their views are read by nothing now
  program.buffers = program.buffers.flatMap((b) => {
    const p = packed.get(b);
    if (p) return [p];
    return b.viewOf && packed.has(storageOf(b)) ? [] : [b];
  });
  return packed;
}

export const packSubBytePass: KernelPass = {
  name: 'pack-subbyte',
  level: 'kernel',
  description: 'stores int4/uint4 (int2/uint2) constants packed 2 (4) per byte, as ONNX packs them, and unpacks them in the loads that read them',
  run(program, ctx) {
    const packed = packSubByteConstants(program);
    for (const [b, p] of packed) ctx.log(`pack-subbyte: ${b.name} (${b.dtype}, ${b.data!.size} values) stored in ${p.shape[0]} bytes`);
    return packed.size > 0;
  },
};
