/**
 * Fast narrow-float arithmetic for the PIM lanes: values are held as doubles that are exactly
 * representable in the lane type; each operation rounds its exact double result once, to nearest
 * even. A product or sum of two f16/bf16 values is exact in a double, so one rounding of the double
 * equals the hardware's one rounding of the exact result.
 */
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // little-endian: high word at index 1

export interface LaneFormat {
  readonly mant: number; // stored mantissa bits
  readonly minNormalExp: number;
  readonly maxFinite: number;
  readonly overflow: number; // smallest magnitude that rounds to infinity
  readonly subnormalMagic: number; // 1.5 * 2^(52 + minSubnormalExp)
}

function format(mant: number, bias: number, expBits: number): LaneFormat {
  const maxExp = 2 ** expBits - 2 - bias;
  const minNormalExp = 1 - bias;
  const maxFinite = (2 - 2 ** -mant) * 2 ** maxExp;
  return {
    mant,
    minNormalExp,
    maxFinite,
    overflow: maxFinite + 2 ** (maxExp - mant - 1),
    subnormalMagic: 1.5 * 2 ** (52 + minNormalExp - mant),
  };
}

export const F16: LaneFormat = format(10, 15, 5);
export const BF16: LaneFormat = format(7, 127, 8);

/** 1.5·2^(e+52−mant) for every double exponent e, so rounding needs no Math.pow. */
function magicTable(fmt: LaneFormat): Float64Array {
  const t = new Float64Array(2048);
  for (let e = -1023; e <= 1024; e++) t[e + 1023] = 1.5 * 2 ** (e + 52 - fmt.mant);
  return t;
}

function makeRounder(fmt: LaneFormat): (x: number) => number {
  const magic = magicTable(fmt);
  const overflow = fmt.overflow;
  const minNormal = 2 ** fmt.minNormalExp;
  const sub = fmt.subnormalMagic;
  return (x: number): number => {
    const a = x < 0 ? -x : x;
    if (!(a < overflow)) return x !== x ? NaN : x > 0 ? Infinity : -Infinity;
    if (a < minNormal) {
      // Subnormal range: a fixed quantum, rounded by the double adder itself (ties to even).
      const r = x + sub - sub;
      return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
    }
    f64[0] = a;
    const m = magic[(u32[HI]! >>> 20) & 0x7ff]!;
    const r = a + m - m;
    return x < 0 ? -r : r;
  };
}

const ROUNDERS = new Map<LaneFormat, (x: number) => number>();

/** Rounds x to the nearest value of the format (ties to even); overflow gives ±Infinity. */
export function roundTo(fmt: LaneFormat, x: number): number {
  let r = ROUNDERS.get(fmt);
  if (!r) ROUNDERS.set(fmt, (r = makeRounder(fmt)));
  return r(x);
}

export const roundF16: (x: number) => number = makeRounder(F16);
export const roundBF16: (x: number) => number = makeRounder(BF16);

/** f16 bit pattern → value, by table. */
const F16_TABLE = new Float64Array(65536);
for (let h = 0; h < 65536; h++) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  F16_TABLE[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
}

export function f16FromBits(h: number): number {
  return F16_TABLE[h & 0xffff]!;
}

const f32 = new Float32Array(1);
const f32u = new Uint32Array(f32.buffer);

/** Value (rounded to f16 here) → f16 bits, through the value's f32 bit pattern (exact for f16 values). */
export function f16ToBits(x: number): number {
  const v = roundF16(x);
  if (v !== v) return 0x7e00;
  f32[0] = v;
  const b = f32u[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  if (e === 0xff) return sign | 0x7c00;
  if (e < 113) {
    // zero or f16 subnormal: value = m · 2^-24
    const a = v < 0 ? -v : v;
    return sign | (a * 16777216);
  }
  return sign | ((e - 112) << 10) | ((b >>> 13) & 0x3ff);
}

const BF16_TABLE = new Float64Array(65536);
{
  const u = new Uint32Array(1);
  const f = new Float32Array(u.buffer);
  for (let h = 0; h < 65536; h++) {
    u[0] = h << 16;
    BF16_TABLE[h] = f[0]!;
  }
}

export function bf16FromBits(h: number): number {
  return BF16_TABLE[h & 0xffff]!;
}

export function bf16ToBits(x: number): number {
  const v = roundBF16(x);
  if (Number.isNaN(v)) return 0x7fc0;
  const f = new Float32Array([v]);
  return new Uint32Array(f.buffer)[0]! >>> 16;
}

/** Codec for a lane type: bits ↔ value and per-operation rounding. */
export interface LaneCodec {
  readonly round: (x: number) => number;
  readonly fromBits: (h: number) => number;
  readonly toBits: (x: number) => number;
}

export const F16_CODEC: LaneCodec = { round: roundF16, fromBits: f16FromBits, toBits: f16ToBits };
export const BF16_CODEC: LaneCodec = { round: roundBF16, fromBits: bf16FromBits, toBits: bf16ToBits };

export function laneCodec(t: 'f16' | 'bf16'): LaneCodec {
  return t === 'f16' ? F16_CODEC : BF16_CODEC;
}
