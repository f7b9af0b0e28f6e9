/**
 * Small C helper functions the renderer calls for semantics C leaves undefined or lacks (integer
 * division by zero, float→int conversion of NaN, NaN-propagating min/max, narrow float formats).
 * Only the helpers a program uses are emitted.
 */
import type { ScalarType } from '../../ir/kernel/types.js';
import { storageCType, typeTag, unsignedOf } from './ctypes.js';

const INT_TYPES: ScalarType[] = ['i8', 'u8', 'i16', 'u16', 'i32', 'u32', 'i64', 'u64'];

function intLimits(t: ScalarType): { min: string; isSigned: boolean } {
  const c = storageCType(t);
  const bits = c.match(/\d+/)![0];
  return { min: `INT${bits}_MIN`, isSigned: !c.startsWith('u') };
}

/** name → [C definition, names of helpers it calls] */
function helperTable(): Map<string, [string, string[]]> {
  const m = new Map<string, [string, string[]]>();
  for (const t of INT_TYPES) {
    const c = storageCType(t);
    const tag = typeTag(t);
    const { min, isSigned } = intLimits(t);
    const overflow = isSigned ? ` if (a == ${min} && b == -1) return a;` : '';
    m.set(`kiln_div_${tag}`, [`static inline ${c} kiln_div_${tag}(${c} a, ${c} b) { if (b == 0) return 0;${overflow} return (${c})(a / b); }`, []]);
    m.set(`kiln_rem_${tag}`, [`static inline ${c} kiln_rem_${tag}(${c} a, ${c} b) { if (b == 0) return 0;${isSigned ? ' if (b == -1) return 0;' : ''} return (${c})(a % b); }`, []]);
    const u = unsignedOf(t);
    const bits = Number(c.match(/\d+/)![0]);
    // unsigned operands cannot be negative (and -Wtype-limits rejects testing that)
    const outOfRange = isSigned ? `(b < 0 || b >= ${bits})` : `(b >= ${bits})`;
    m.set(`kiln_shl_${tag}`, [`static inline ${c} kiln_shl_${tag}(${c} a, ${c} b) { return ${outOfRange} ? 0 : (${c})((${u})a << b); }`, []]);
    m.set(`kiln_shr_${tag}`, [`static inline ${c} kiln_shr_${tag}(${c} a, ${c} b) { return ${outOfRange} ? 0 : (${c})((${u})a >> b); }`, []]);
    m.set(`kiln_pow_${tag}`, [
      `static inline ${c} kiln_pow_${tag}(${c} a, ${c} b) { ${u} r = 1, x = (${u})a;${isSigned ? ' if (b < 0) return (a == 1) ? 1 : (a == -1) ? ((b & 1) ? -1 : 1) : 0;' : ''} while (b) { if (b & 1) r *= x; x *= x; b >>= 1; } return (${c})r; }`,
      [],
    ]);
    // float → integer: NaN/inf give 0, finite values truncate and wrap to the width
    m.set(`kiln_f2${tag}`, [
      `static inline ${c} kiln_f2${tag}(double x) { if (!(x == x) || x >= 18446744073709551616.0 || x <= -9223372036854775808.0) return 0; x = trunc(x); if (x >= 9223372036854775808.0) return (${c})(uint64_t)x; return (${c})(uint64_t)(int64_t)x; }`,
      [],
    ]);
  }
  m.set('kiln_fminf', ['static inline float kiln_fminf(float a, float b) { return (a != a || b != b) ? NAN : (a < b ? a : b); }', []]);
  m.set('kiln_fmaxf', ['static inline float kiln_fmaxf(float a, float b) { return (a != a || b != b) ? NAN : (a > b ? a : b); }', []]);
  m.set('kiln_fmin', ['static inline double kiln_fmin(double a, double b) { return (a != a || b != b) ? NAN : (a < b ? a : b); }', []]);
  m.set('kiln_fmax', ['static inline double kiln_fmax(double a, double b) { return (a != a || b != b) ? NAN : (a > b ? a : b); }', []]);
  m.set('kiln_signf', ['static inline float kiln_signf(float a) { return a != a ? a : (float)((a > 0) - (a < 0)); }', []]);
  m.set('kiln_sign', ['static inline double kiln_sign(double a) { return a != a ? a : (double)((a > 0) - (a < 0)); }', []]);
  // IEEE half precision and bfloat16 (round half to even)
  m.set('kiln_f16_to_f32', [
    `static inline float kiln_f16_to_f32(uint16_t h) {
  uint32_t s = (uint32_t)(h >> 15), e = (uint32_t)((h >> 10) & 31), f = (uint32_t)(h & 1023);
  float v;
  if (e == 0) v = ldexpf((float)f, -24);
  else if (e == 31) v = f ? NAN : INFINITY;
  else v = ldexpf((float)(f | 1024), (int)e - 25);
  return s ? -v : v;
}`,
    [],
  ]);
  m.set('kiln_f32_to_f16', [
    `static inline uint16_t kiln_f32_to_f16(float x) {
  uint32_t u; memcpy(&u, &x, 4);
  uint32_t s = (u >> 16) & 0x8000u, e = (u >> 23) & 255u, f = u & 0x7fffffu;
  if (e == 255) return (uint16_t)(s | 0x7c00u | (f ? 0x200u : 0));
  int ex = (int)e - 127 + 15;
  if (ex >= 31) return (uint16_t)(s | 0x7c00u);
  if (ex <= 0) {
    if (ex < -10) return (uint16_t)s;
    f |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - ex), half = 1u << (shift - 1), rest = f & ((1u << shift) - 1), q = f >> shift;
    if (rest > half || (rest == half && (q & 1u))) q++;
    return (uint16_t)(s | q);
  }
  uint32_t q = (uint32_t)ex << 10 | (f >> 13), rest = f & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (q & 1u))) q++;
  return (uint16_t)(s | q);
}`,
    [],
  ]);
  m.set('kiln_bf16_to_f32', ['static inline float kiln_bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float x; memcpy(&x, &u, 4); return x; }', []]);
  m.set('kiln_f32_to_bf16', [
    'static inline uint16_t kiln_f32_to_bf16(float x) { uint32_t u; memcpy(&u, &x, 4); if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); u += 0x7fffu + ((u >> 16) & 1u); return (uint16_t)(u >> 16); }',
    [],
  ]);
  m.set('kiln_round_f16', ['static inline float kiln_round_f16(float x) { return kiln_f16_to_f32(kiln_f32_to_f16(x)); }', ['kiln_f16_to_f32', 'kiln_f32_to_f16']]);
  m.set('kiln_round_bf16', ['static inline float kiln_round_bf16(float x) { return kiln_bf16_to_f32(kiln_f32_to_bf16(x)); }', ['kiln_bf16_to_f32', 'kiln_f32_to_bf16']]);
  // float8 / float4 formats: generic round-half-to-even to a (mantissa bits, min exponent, max)
  // format, then bit encoding; decoding by formula. Mirrors src/ir/floatfmt.ts.
  m.set('kiln_mini_round', [
    `static inline float kiln_mini_round(float x, int mbits, int minexp, float maxv, int ovf, int fnuz) {
  /* ovf: 0 = NaN, 1 = infinity, 2 = largest value (formats without NaN/inf) */
  float a, scale, v;
  int e, neg = signbit(x) != 0;
  if (x != x) return ovf == 2 ? 0.0f : x;
  a = fabsf(x);
  if (a == 0.0f) return (neg && !fnuz) ? -0.0f : 0.0f;
  if (isinf(a)) return ovf == 0 ? NAN : ovf == 1 ? x : (neg ? -maxv : maxv);
  (void)frexpf(a, &e);
  e -= 1;
  if (e < minexp) e = minexp;
  scale = ldexpf(1.0f, e - mbits);
  v = rintf(a / scale) * scale;
  if (v > maxv) return ovf == 0 ? NAN : ovf == 1 ? (neg ? -INFINITY : INFINITY) : (neg ? -maxv : maxv);
  if (v == 0.0f) return (neg && !fnuz) ? -0.0f : 0.0f;
  return neg ? -v : v;
}`,
    [],
  ]);
  m.set('kiln_mini_bits', [
    `static inline uint8_t kiln_mini_bits(float v, int ebits, int mbits, int bias, int nancode, int fnuz) {
  /* v is already representable (see kiln_mini_round) */
  int e, neg = signbit(v) != 0;
  unsigned sign = 1u << (ebits + mbits), code;
  float a;
  if (v != v) return (uint8_t)nancode;
  a = fabsf(v);
  if (a == 0.0f) return (uint8_t)((neg && !fnuz) ? sign : 0u);
  if (isinf(a)) return (uint8_t)((neg ? sign : 0u) | (((1u << ebits) - 1u) << mbits));
  (void)frexpf(a, &e);
  e -= 1;
  if (e < 1 - bias) code = (unsigned)lrintf(a / ldexpf(1.0f, 1 - bias - mbits));
  else code = ((unsigned)(e + bias) << mbits) | ((unsigned)lrintf(a / ldexpf(1.0f, e - mbits)) - (1u << mbits));
  return (uint8_t)((neg ? sign : 0u) | code);
}`,
    [],
  ]);
  m.set('kiln_mini_value', [
    `static inline float kiln_mini_value(unsigned b, int ebits, int mbits, int bias, int special) {
  /* special: 0 ieee (inf/NaN at all-ones exponent), 1 fn (NaN = all ones), 2 fnuz (NaN = sign only), 3 none */
  unsigned sign = 1u << (ebits + mbits), rest = b & (sign - 1u), ef = rest >> mbits, mf = rest & ((1u << mbits) - 1u);
  float v;
  if (special == 2 && b == sign) return NAN;
  if (special == 1 && ef == (1u << ebits) - 1u && mf == (1u << mbits) - 1u) return NAN;
  if (special == 0 && ef == (1u << ebits) - 1u) return mf ? NAN : ((b & sign) ? -INFINITY : INFINITY);
  v = ef == 0 ? ldexpf((float)mf, 1 - bias - mbits) : ldexpf((float)(mf | (1u << mbits)), (int)ef - bias - mbits);
  return (b & sign) ? -v : v;
}`,
    [],
  ]);
  const minis: [string, number, number, number, number, string, number][] = [
    // name, ebits, mbits, bias, special, max, overflow mode
    ['f8e4m3fn', 4, 3, 7, 1, '448.0f', 0],
    ['f8e4m3fnuz', 4, 3, 8, 2, '240.0f', 0],
    ['f8e5m2', 5, 2, 15, 0, '57344.0f', 1],
    ['f8e5m2fnuz', 5, 2, 16, 2, '57344.0f', 0],
    ['f4e2m1', 2, 1, 1, 3, '6.0f', 2],
  ];
  for (const [n, e, mb, bias, special, max, ovf] of minis) {
    const fnuz = special === 2 ? 1 : 0;
    const nan = special === 2 ? 0x80 : special === 1 ? 0x7f : special === 0 ? ((1 << (e + mb)) - 1) ^ ((1 << (mb - 1)) - 1) : 0;
    m.set(`kiln_round_${n}`, [`static inline float kiln_round_${n}(float x) { return kiln_mini_round(x, ${mb}, ${1 - bias}, ${max}, ${ovf}, ${fnuz}); }`, ['kiln_mini_round']]);
    m.set(`kiln_f32_to_${n}`, [`static inline uint8_t kiln_f32_to_${n}(float x) { return kiln_mini_bits(kiln_round_${n}(x), ${e}, ${mb}, ${bias}, ${nan}, ${fnuz}); }`, [`kiln_round_${n}`, 'kiln_mini_bits']]);
    m.set(`kiln_${n}_to_f32`, [`static inline float kiln_${n}_to_f32(uint8_t b) { return kiln_mini_value(b, ${e}, ${mb}, ${bias}, ${special}); }`, ['kiln_mini_value']]);
  }
  m.set('kiln_f8e8m0_to_f32', ['static inline float kiln_f8e8m0_to_f32(uint8_t b) { return b == 255 ? NAN : ldexpf(1.0f, (int)b - 127); }', []]);
  m.set('kiln_round_f8e8m0', [
    `static inline float kiln_round_f8e8m0(float x) {
  int e;
  float f;
  if (x != x || x < 0.0f || isinf(x)) return NAN;
  if (x == 0.0f) return ldexpf(1.0f, -127);
  f = frexpf(x, &e); /* x = f * 2^e, f in [0.5, 1) */
  e -= 1;
  if (f * 2.0f >= 1.5f) e++;
  if (e < -127) e = -127;
  if (e > 127) return NAN;
  return ldexpf(1.0f, e);
}`,
    [],
  ]);
  m.set('kiln_f32_to_f8e8m0', [
    'static inline uint8_t kiln_f32_to_f8e8m0(float x) { int e; float v = kiln_round_f8e8m0(x); if (v != v) return 255; (void)frexpf(v, &e); return (uint8_t)(e - 1 + 127); }',
    ['kiln_round_f8e8m0'],
  ]);
  return m;
}

const TABLE = helperTable();

export function isKnownHelper(name: string): boolean {
  return TABLE.has(name);
}

/** Definitions of the used helpers (and what they call), in a stable order. */
export function renderHelpers(used: ReadonlySet<string>): string {
  const all = new Set<string>();
  const visit = (n: string): void => {
    if (all.has(n)) return;
    const h = TABLE.get(n);
    if (!h) throw new Error(`unknown C helper ${n}`);
    for (const d of h[1]) visit(d);
    all.add(n);
  };
  [...used].sort().forEach(visit);
  return [...all].map((n) => TABLE.get(n)![0]).join('\n');
}
