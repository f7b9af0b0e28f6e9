/**
 * WGSL helper functions a shader pulls in on use (each with the helpers it calls). They give WGSL
 * Kiln's scalar semantics (types.ts): NaN-propagating min/max, C-like pow, integer division by zero
 * giving 0, f16/bf16 rounding half to even done on bit patterns (WGSL's own conversions may round
 * either way and flush subnormals).
 */
import { miniFloatFormat, type MiniFloat } from '../../ir/floatfmt.js';

const HELPERS: ReadonlyMap<string, readonly [string, readonly string[]]> = new Map<string, readonly [string, readonly string[]]>([
  ['kiln_nan', ['var<private> kiln_nan_bits: u32 = 0x7fc00000u;\nfn kiln_nan() -> f32 { return bitcast<f32>(kiln_nan_bits); }', []]],
  ['kiln_inf', ['var<private> kiln_inf_bits: u32 = 0x7f800000u;\nfn kiln_inf() -> f32 { return bitcast<f32>(kiln_inf_bits); }', []]],
  ['kiln_isnan', ['fn kiln_isnan(a: f32) -> bool { return (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u; }', []]],
  ['kiln_isinf', ['fn kiln_isinf(a: f32) -> bool { return (bitcast<u32>(a) & 0x7fffffffu) == 0x7f800000u; }', []]],
  ['kiln_fmin', ['fn kiln_fmin(a: f32, b: f32) -> f32 { if (kiln_isnan(a) || kiln_isnan(b)) { return kiln_nan(); } return select(b, a, a < b); }', ['kiln_isnan', 'kiln_nan']]],
  ['kiln_fmax', ['fn kiln_fmax(a: f32, b: f32) -> f32 { if (kiln_isnan(a) || kiln_isnan(b)) { return kiln_nan(); } return select(b, a, a > b); }', ['kiln_isnan', 'kiln_nan']]],
  ['kiln_fsign', ['fn kiln_fsign(a: f32) -> f32 { if (kiln_isnan(a)) { return a; } return select(select(0.0, -1.0, a < 0.0), 1.0, a > 0.0); }', ['kiln_isnan']]],
  ['kiln_fmod', ['fn kiln_fmod(a: f32, b: f32) -> f32 { if (b == 0.0 || kiln_isinf(a) || kiln_isnan(a) || kiln_isnan(b)) { return kiln_nan(); } if (kiln_isinf(b)) { return a; } let r = a - b * trunc(a / b); return select(r, 0.0 * a, r == 0.0); }', ['kiln_isinf', 'kiln_isnan', 'kiln_nan']]],
  [
    'kiln_fpow',
    [
      `fn kiln_fpow(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (kiln_isnan(a) || kiln_isnan(b)) { return kiln_nan(); }
  if (a == 0.0) { return select(0.0, kiln_inf(), b < 0.0); }
  let m = exp2(b * log2(abs(a)));
  if (a > 0.0) { return m; }
  if (trunc(b) != b) { return kiln_nan(); }
  let odd = abs(b) < 16777216.0 && (i32(abs(b)) & 1) == 1;
  return select(m, -m, odd);
}`,
      ['kiln_isnan', 'kiln_nan', 'kiln_inf'],
    ],
  ],
  [
    'kiln_erf',
    [
      // Abramowitz & Stegun 7.1.26 is 1.5e-7 absolute; this series/continued-fraction pair is ~1e-7 relative in f32
      `fn kiln_erf(x: f32) -> f32 {
  if (kiln_isnan(x)) { return x; }
  let ax = abs(x);
  if (ax > 4.0) { return sign(x); }
  if (ax < 2.0) {
    let x2 = x * x;
    var term = x;
    var sum = x;
    for (var n = 1; n < 40; n++) {
      term = term * (-x2 / f32(n));
      sum = sum + term / f32(2 * n + 1);
    }
    return 1.1283791670955126 * sum;
  }
  var f = ax;
  for (var k = 40; k >= 1; k--) { f = ax + f32(k) * 0.5 / f; }
  let erfc = exp(-ax * ax) * 0.5641895835477563 / f;
  return select(erfc - 1.0, 1.0 - erfc, x > 0.0);
}`,
      ['kiln_isnan'],
    ],
  ],
  [
    'kiln_f16_to_f32',
    [
      `fn kiln_f16_to_f32(h: u32) -> f32 {
  let s = (h >> 15u) & 1u;
  let e = (h >> 10u) & 31u;
  let f = h & 1023u;
  var bits: u32;
  if (e == 31u) {
    bits = 0x7f800000u | (f << 13u);
  } else if (e == 0u) {
    let v = f32(f) * 5.9604644775390625e-8;
    bits = bitcast<u32>(v);
  } else {
    bits = ((e + 112u) << 23u) | (f << 13u);
  }
  return bitcast<f32>(bits | (s << 31u));
}`,
      [],
    ],
  ],
  [
    'kiln_f32_to_f16',
    [
      `fn kiln_f32_to_f16(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let s = (u >> 16u) & 0x8000u;
  let e = (u >> 23u) & 255u;
  var f = u & 0x7fffffu;
  if (e == 255u) { return s | 0x7c00u | select(0u, 0x200u, f != 0u); }
  let ex = i32(e) - 112;
  if (ex >= 31) { return s | 0x7c00u; }
  if (ex <= 0) {
    if (ex < -10) { return s; }
    f = f | 0x800000u;
    let shift = u32(14 - ex);
    let half = 1u << (shift - 1u);
    let rest = f & ((1u << shift) - 1u);
    var q = f >> shift;
    if (rest > half || (rest == half && (q & 1u) == 1u)) { q = q + 1u; }
    return s | q;
  }
  var q = (u32(ex) << 10u) | (f >> 13u);
  let rest = f & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (q & 1u) == 1u)) { q = q + 1u; }
  return s | q;
}`,
      [],
    ],
  ],
  ['kiln_bf16_to_f32', ['fn kiln_bf16_to_f32(h: u32) -> f32 { return bitcast<f32>(h << 16u); }', []]],
  ['kiln_f32_to_bf16', ['fn kiln_f32_to_bf16(x: f32) -> u32 { var u = bitcast<u32>(x); if ((u & 0x7fffffffu) > 0x7f800000u) { return (u >> 16u) | 0x40u; } u = u + 0x7fffu + ((u >> 16u) & 1u); return u >> 16u; }', []]],
  ['kiln_round_f16', ['fn kiln_round_f16(x: f32) -> f32 { return kiln_f16_to_f32(kiln_f32_to_f16(x)); }', ['kiln_f16_to_f32', 'kiln_f32_to_f16']]],
  ['kiln_round_bf16', ['fn kiln_round_bf16(x: f32) -> f32 { return kiln_bf16_to_f32(kiln_f32_to_bf16(x)); }', ['kiln_bf16_to_f32', 'kiln_f32_to_bf16']]],
  // float → integer: truncate, non-finite → 0, out-of-range values wrap as the interpreter's do (mod 2^32)
  [
    'kiln_f2u',
    [
      `fn kiln_f2u(x: f32) -> u32 {
  if (kiln_isnan(x) || kiln_isinf(x)) { return 0u; }
  // on the magnitude (exact in f32, unlike t + 2^32 for a small negative t), negated after
  let a = abs(trunc(x));
  let m = a - 4294967296.0 * floor(a / 4294967296.0);
  var u = u32(m);
  if (m >= 2147483648.0) { u = u32(m - 2147483648.0) + 0x80000000u; }
  return select(u, 0u - u, x < 0.0);
}`,
      ['kiln_isnan', 'kiln_isinf'],
    ],
  ],
  ['kiln_f2i', ['fn kiln_f2i(x: f32) -> i32 { return bitcast<i32>(kiln_f2u(x)); }', ['kiln_f2u']]],
]);

/**
 * f8 and f4 types as bit patterns (layouts from src/ir/floatfmt.ts): decoding, and encoding with
 * rounding half to even done in integer steps on the scaled magnitude; overflow gives inf where the
 * type has it, NaN for 'fn'/'fnuz', ±max for f4 (whose NaN is +0), as the interpreter's roundToFormat.
 */
function miniFloatHelpers(t: string, f: MiniFloat): [string, readonly [string, readonly string[]]][] {
  const bits = 1 + f.e + f.m;
  const sign = 1 << (bits - 1);
  const expMask = (1 << f.e) - 1;
  const mantMask = (1 << f.m) - 1;
  const minExp = 1 - f.bias;
  const nanBits = f.special === 'fnuz' ? sign : f.special === 'fn' ? sign - 1 : f.special === 'ieee' ? (expMask << f.m) | (1 << (f.m - 1)) : 0;
  const maxBits = f.special === 'fn' ? sign - 2 : f.special === 'ieee' ? ((expMask - 1) << f.m) | mantMask : sign - 1;
  const overflow = f.special === 'ieee' ? `s | ${expMask << f.m}u` : f.special === 'none' ? `s | ${maxBits}u` : `${nanBits}u`;
  const negZero = f.special === 'fnuz' ? '0u' : 's';
  const special: string[] = [];
  if (f.special === 'fnuz') special.push(`  if (h == ${sign}u) { return kiln_nan(); }`);
  if (f.special === 'fn') special.push(`  if (ef == ${expMask}u && mant == ${mantMask}u) { return kiln_nan(); }`);
  if (f.special === 'ieee') special.push(`  if (ef == ${expMask}u) { if (mant != 0u) { return kiln_nan(); } return bitcast<f32>(0x7f800000u | (s << 31u)); }`);
  const dec = `fn kiln_${t}_to_f32(h: u32) -> f32 {
  let s = (h >> ${bits - 1}u) & 1u;
  let ef = (h >> ${f.m}u) & ${expMask}u;
  let mant = h & ${mantMask}u;
${special.join('\n')}
  var v = ldexp(f32(mant), ${minExp - f.m});
  if (ef != 0u) { v = ldexp(f32(mant | ${1 << f.m}u), i32(ef) - ${f.bias + f.m}); }
  return bitcast<f32>(bitcast<u32>(v) | (s << 31u));
}`;
  const enc = `fn kiln_f32_to_${t}(x: f32) -> u32 {
  if (kiln_isnan(x)) { return ${nanBits}u; }
  let s = (bitcast<u32>(x) >> 31u) * ${sign}u;
  let a = abs(x);
  if (kiln_isinf(x)) { return ${overflow}; }
  if (a <= ldexp(1.0, ${minExp - f.m - 1})) { return ${negZero}; }
  let ex = max(i32((bitcast<u32>(a) >> 23u) & 255u) - 127, ${minExp});
  let k = ldexp(a, ${f.m} - ex);
  let fl = floor(k);
  var r = u32(fl);
  let d = k - fl;
  if (d > 0.5 || (d == 0.5 && (r & 1u) == 1u)) { r = r + 1u; }
  var e = ex;
  if (r >= ${2 << f.m}u) { r = r >> 1u; e = e + 1; }
  if (r < ${1 << f.m}u) { return select(s | r, ${negZero}, r == 0u); }
  let q = (u32(e + ${f.bias}) << ${f.m}u) | (r & ${mantMask}u);
  if (e + ${f.bias} > ${expMask} || q > ${maxBits}u) { return ${overflow}; }
  return s | q;
}`;
  return [
    [`kiln_${t}_to_f32`, [dec, ['kiln_nan']]],
    [`kiln_f32_to_${t}`, [enc, ['kiln_isnan', 'kiln_isinf']]],
    [`kiln_round_${t}`, [`fn kiln_round_${t}(x: f32) -> f32 { return kiln_${t}_to_f32(kiln_f32_to_${t}(x)); }`, [`kiln_${t}_to_f32`, `kiln_f32_to_${t}`]]],
  ];
}

/** The narrow float types converted by helpers kiln_<t>_to_f32 / kiln_f32_to_<t> / kiln_round_<t>. */
export const NARROW_FLOATS = ['f16', 'bf16', 'f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f4e2m1'] as const;

/** Integer helpers per WGSL integer type ('i32' or 'u32'). */
function intHelpers(t: 'i32' | 'u32'): [string, readonly [string, readonly string[]]][] {
  const z = t === 'i32' ? '0' : '0u';
  return [
    [`kiln_div_${t}`, [`fn kiln_div_${t}(a: ${t}, b: ${t}) -> ${t} { if (b == ${z}) { return ${z}; } return a / b; }`, []]],
    [`kiln_rem_${t}`, [`fn kiln_rem_${t}(a: ${t}, b: ${t}) -> ${t} { if (b == ${z}) { return ${z}; } return a % b; }`, []]],
    // wrapping repeated squaring (mod 2^32, so a narrower wrap afterwards equals wrapping every step)
    [
      `kiln_pow_${t}`,
      [
        t === 'i32'
          ? 'fn kiln_pow_i32(a: i32, b: i32) -> i32 { if (b < 0) { if (a == 1) { return 1; } if (a == -1) { return select(1, -1, (b & 1) == 1); } return 0; } var r = 1; var x = a; var e = b; while (e > 0) { if ((e & 1) == 1) { r = r * x; } x = x * x; e = e >> 1u; } return r; }'
          : 'fn kiln_pow_u32(a: u32, b: u32) -> u32 { var r = 1u; var x = a; var e = b; while (e > 0u) { if ((e & 1u) == 1u) { r = r * x; } x = x * x; e = e >> 1u; } return r; }',
        [],
      ],
    ],
  ];
}


/** 64-bit integers as vec2<u32> (x: low word, y: high word), two's complement, wrapping. */
const I64: [string, readonly [string, readonly string[]]][] = [
  ['kiln_add64', ['fn kiln_add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { let lo = a.x + b.x; return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x)); }', []]],
  ['kiln_sub64', ['fn kiln_sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x)); }', []]],
  ['kiln_neg64', ['fn kiln_neg64(a: vec2<u32>) -> vec2<u32> { return kiln_sub64(vec2<u32>(0u, 0u), a); }', ['kiln_sub64']]],
  [
    'kiln_mulwide',
    [
      `fn kiln_mulwide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}`,
      [],
    ],
  ],
  ['kiln_mul64', ['fn kiln_mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { let w = kiln_mulwide(a.x, b.x); return vec2<u32>(w.x, w.y + a.x * b.y + a.y * b.x); }', ['kiln_mulwide']]],
  ['kiln_ult64', ['fn kiln_ult64(a: vec2<u32>, b: vec2<u32>) -> bool { return a.y < b.y || (a.y == b.y && a.x < b.x); }', []]],
  ['kiln_slt64', ['fn kiln_slt64(a: vec2<u32>, b: vec2<u32>) -> bool { return bitcast<i32>(a.y) < bitcast<i32>(b.y) || (a.y == b.y && a.x < b.x); }', []]],
  ['kiln_isneg64', ['fn kiln_isneg64(a: vec2<u32>) -> bool { return (a.y & 0x80000000u) != 0u; }', []]],
  [
    'kiln_shl64',
    [
      `fn kiln_shl64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  if (b.y != 0u || b.x >= 64u) { return vec2<u32>(0u, 0u); }
  let n = b.x;
  if (n == 0u) { return a; }
  if (n < 32u) { return vec2<u32>(a.x << n, (a.y << n) | (a.x >> (32u - n))); }
  return vec2<u32>(0u, a.x << (n - 32u));
}`,
      [],
    ],
  ],
  [
    'kiln_shr64',
    [
      // logical, for signed values too (as the interpreter shifts the unsigned pattern)
      `fn kiln_shr64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  if (b.y != 0u || b.x >= 64u) { return vec2<u32>(0u, 0u); }
  let n = b.x;
  if (n == 0u) { return a; }
  if (n < 32u) { return vec2<u32>((a.x >> n) | (a.y << (32u - n)), a.y >> n); }
  return vec2<u32>(a.y >> (n - 32u), 0u);
}`,
      [],
    ],
  ],
  [
    'kiln_udivmod64',
    [
      // restoring long division; returns quotient (xy) and remainder (zw); by zero gives 0, 0
      `fn kiln_udivmod64(a: vec2<u32>, b: vec2<u32>) -> vec4<u32> {
  if (b.x == 0u && b.y == 0u) { return vec4<u32>(0u, 0u, 0u, 0u); }
  var q = vec2<u32>(0u, 0u);
  var r = vec2<u32>(0u, 0u);
  for (var i = 63i; i >= 0; i--) {
    r = vec2<u32>(r.x << 1u, (r.y << 1u) | (r.x >> 31u));
    let bit = select((a.x >> u32(i)) & 1u, (a.y >> u32(i - 32)) & 1u, i >= 32);
    r.x = r.x | bit;
    if (!kiln_ult64(r, b)) {
      r = kiln_sub64(r, b);
      if (i >= 32) { q.y = q.y | (1u << u32(i - 32)); } else { q.x = q.x | (1u << u32(i)); }
    }
  }
  return vec4<u32>(q, r);
}`,
      ['kiln_ult64', 'kiln_sub64'],
    ],
  ],
  ['kiln_udiv64', ['fn kiln_udiv64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return kiln_udivmod64(a, b).xy; }', ['kiln_udivmod64']]],
  ['kiln_urem64', ['fn kiln_urem64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { return kiln_udivmod64(a, b).zw; }', ['kiln_udivmod64']]],
  ['kiln_abs64', ['fn kiln_abs64(a: vec2<u32>) -> vec2<u32> { return select(a, kiln_neg64(a), kiln_isneg64(a)); }', ['kiln_neg64', 'kiln_isneg64']]],
  [
    'kiln_sdiv64',
    [
      'fn kiln_sdiv64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { let q = kiln_udivmod64(kiln_abs64(a), kiln_abs64(b)).xy; return select(q, kiln_neg64(q), kiln_isneg64(a) != kiln_isneg64(b)); }',
      ['kiln_udivmod64', 'kiln_abs64', 'kiln_neg64', 'kiln_isneg64'],
    ],
  ],
  [
    'kiln_srem64',
    [
      'fn kiln_srem64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> { let r = kiln_udivmod64(kiln_abs64(a), kiln_abs64(b)).zw; return select(r, kiln_neg64(r), kiln_isneg64(a)); }',
      ['kiln_udivmod64', 'kiln_abs64', 'kiln_neg64', 'kiln_isneg64'],
    ],
  ],
  [
    'kiln_pow64',
    [
      `fn kiln_pow64(a: vec2<u32>, b: vec2<u32>, signed: bool) -> vec2<u32> {
  if (signed && kiln_isneg64(b)) {
    if (a.x == 1u && a.y == 0u) { return a; }
    if (a.x == 0xffffffffu && a.y == 0xffffffffu) { return select(vec2<u32>(1u, 0u), a, (b.x & 1u) == 1u); }
    return vec2<u32>(0u, 0u);
  }
  var r = vec2<u32>(1u, 0u);
  var x = a;
  var e = b;
  while (e.x != 0u || e.y != 0u) {
    if ((e.x & 1u) == 1u) { r = kiln_mul64(r, x); }
    x = kiln_mul64(x, x);
    e = vec2<u32>((e.x >> 1u) | (e.y << 31u), e.y >> 1u);
  }
  return r;
}`,
      ['kiln_isneg64', 'kiln_mul64'],
    ],
  ],
  [
    'kiln_f2i64',
    [
      // truncate, non-finite → 0, wrap modulo 2^64
      `fn kiln_f2i64(x: f32) -> vec2<u32> {
  if (kiln_isnan(x) || kiln_isinf(x)) { return vec2<u32>(0u, 0u); }
  let t = abs(trunc(x));
  var hi = floor(t / 4294967296.0);
  let lo = t - hi * 4294967296.0;
  hi = hi - 4294967296.0 * floor(hi / 4294967296.0);
  let m = vec2<u32>(kiln_f2u(lo), kiln_f2u(hi));
  return select(m, kiln_neg64(m), x < 0.0);
}`,
      ['kiln_isnan', 'kiln_isinf', 'kiln_f2u', 'kiln_neg64'],
    ],
  ],
  ['kiln_u64f', ['fn kiln_u64f(a: vec2<u32>) -> f32 { return f32(a.y) * 4294967296.0 + f32(a.x); }', []]],
  ['kiln_i64f', ['fn kiln_i64f(a: vec2<u32>) -> f32 { if (kiln_isneg64(a)) { return -kiln_u64f(kiln_neg64(a)); } return kiln_u64f(a); }', ['kiln_isneg64', 'kiln_u64f', 'kiln_neg64']]],
];

const MINI = NARROW_FLOATS.flatMap((t) => {
  const f = miniFloatFormat(t);
  return t === 'f16' || t === 'bf16' || !f ? [] : miniFloatHelpers(t, f);
});

const ALL = new Map([...HELPERS, ...intHelpers('i32'), ...intHelpers('u32'), ...I64, ...MINI]);

/** The text of the used helpers and their dependencies, dependencies first, in a fixed order. */
export function renderWgslHelpers(used: ReadonlySet<string>): string {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string): void => {
    if (seen.has(n)) return;
    seen.add(n);
    const h = ALL.get(n);
    if (!h) throw new Error(`unknown WGSL helper ${n}`);
    for (const d of h[1]) visit(d);
    order.push(h[0]);
  };
  for (const n of [...used].sort()) visit(n);
  return order.join('\n');
}
