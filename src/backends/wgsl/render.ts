/**
 * Renders one kernel as a WGSL compute shader. Storage is the arena (inputs, outputs, temporaries;
 * read_write, binding 0) and the weights (read-only), all arrays of u32 words. The weights are one
 * binding unless they exceed maxStorageBufferBindingSize; then they are split into chunks (binding
 * 1 + chunk), and a shader declares only the chunks it reads.
 * Elements are read and written as bit patterns: 32-bit types are whole words, 16/8-bit types and
 * bool (one byte) and sub-byte types (one per byte, as the storage layout) share words. When a
 * parallel entry point stores a sub-word type, neighbours in one word belong to other invocations,
 * so that shader declares the arena atomic and stores with atomicAnd/atomicOr on the element's bits.
 *
 * Value types: f32/f16/bf16/f8/f4 compute as f32 (narrow floats rounded half to even on casts and stores);
 * signed integers as i32 and unsigned as u32, wrapped to their width after every operation; bool as
 * bool; index as i32; f64 as f32 only when allowed. f8e8m0 is refused (see unsupportedType).
 *
 * Each top-level statement of a kernel whose loops carry `gpu` annotations (map-gpu) becomes its own
 * entry point over the dispatch grid; runs of other statements become single-invocation entries,
 * and so does everything from the first top-level `let`/`set` on (a local lives in one invocation).
 * Entry points run in order, each a dispatch.
 */
import { sharedInfix } from '../infix.js';
import { KilnError } from '../../ir/errors.js';
import { bufferSize, storageOf, type Expr, type GpuDim, type KBuffer, type Kernel, type ScalarType, type Stmt } from '../../ir/kernel/types.js';
import { NARROW_FLOATS, renderWgslHelpers } from './helpers.js';
import { assignedNames, nextInChain, type Interval } from '../../ir/kernel/parallel.js';
import { loopIterations } from './iterations.js';

export interface WgslPlace {
  readonly space: 'arena' | 'weights' | 'workgroup';
  /** Which weights chunk (binding 1 + chunk); 0 for the arena. */
  readonly chunk: number;
  /** Word (4-byte) offset of the buffer's first element. */
  readonly word: number;
}

export interface WgslEntry {
  readonly name: string;
  /** Workgroups to dispatch along x, y, z. */
  readonly groups: readonly [number, number, number];
  /** Whether it runs over a dispatch grid (false: one invocation). */
  readonly parallel: boolean;
  /** Loop iterations one invocation runs at most (null: not bounded from the loop bounds); see iterations.ts. */
  readonly loops: number | null;
}

export interface WgslKernel {
  readonly code: string;
  readonly entries: readonly WgslEntry[];
  /** The weights chunks the shader reads (binding 1 + chunk each), ascending. */
  readonly weights: readonly number[];
}

type VT = 'f32' | 'i32' | 'u32' | 'bool' | 'i64' | 'u64';

/** The WGSL type of a value type (64-bit integers as vec2<u32>: low word, high word). */
export function wgslType(vt: VT): string {
  return vt === 'i64' || vt === 'u64' ? 'vec2<u32>' : vt;
}

const WIDTH: Partial<Record<ScalarType, number>> = { i8: 8, u8: 8, i16: 16, u16: 16, i4: 4, u4: 4, i2: 2, u2: 2 };

/** Rendering choices beyond the program. */
export interface WgslTypeOptions {
  /** Compute (and store) f64 as f32 (`--target-option allow-f64-as-f32=yes`); otherwise f64 is refused. */
  readonly f64AsF32?: boolean;
}

/** Why a type cannot be held by WGSL code here, or null when it can. */
export function unsupportedType(t: ScalarType, opts: WgslTypeOptions = {}): string | null {
  if (t === 'f64' && !opts.f64AsF32) return 'f64 is not available in WGSL (--target-option allow-f64-as-f32=yes computes it in f32)';
  if (t === 'f8e8m0') return 'f8e8m0 is not supported by the WGSL backend';
  return null;
}

const NARROW = new Set<ScalarType>(NARROW_FLOATS);

export function valueType(t: ScalarType): VT {
  switch (t) {
    case 'f32': case 'f64': case 'f16': case 'bf16': case 'f8e4m3fn': case 'f8e4m3fnuz': case 'f8e5m2': case 'f8e5m2fnuz': case 'f4e2m1': return 'f32';
    case 'bool': return 'bool';
    case 'u32': case 'u16': case 'u8': case 'u4': case 'u2': return 'u32';
    case 'i32': case 'index': case 'i16': case 'i8': case 'i4': case 'i2': return 'i32';
    case 'i64': return 'i64';
    case 'u64': return 'u64';
    default: throw new KilnError('unsupported', unsupportedType(t) ?? `type ${t}`);
  }
}

/** Bytes one element takes in storage (sub-byte types one per byte, bool one byte, f64 as f32). */
export function elementBytes(t: ScalarType): number {
  switch (t) {
    case 'f32': case 'i32': case 'u32': case 'index': case 'f64': return 4;
    case 'f16': case 'bf16': case 'i16': case 'u16': return 2;
    case 'i64': case 'u64': return 8;
    default: return 1;
  }
}

function floatLit(v: number, r: Renderer): string {
  if (Number.isNaN(v)) return r.helper('kiln_nan') + '()';
  if (v === Infinity) return `${r.helper('kiln_inf')}()`;
  if (v === -Infinity) return `(-${r.helper('kiln_inf')}())`;
  if (Object.is(v, -0)) return '(-0.0)';
  const f = Math.fround(v);
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38) return `bitcast<f32>(${bitsOf(f)}u)`;
  if (!Number.isFinite(f)) return f > 0 ? `${r.helper('kiln_inf')}()` : `(-${r.helper('kiln_inf')}())`;
  // shortest text that reads back as the same f32, always with a decimal point or exponent
  let s = String(f);
  for (let p = 1; p <= 17; p++) {
    const t = f.toPrecision(p);
    if (Math.fround(Number(t)) === f) {
      s = t;
      break;
    }
  }
  if (!/[.e]/.test(s)) s += '.0';
  if (/e/.test(s) && !/\./.test(s.split('e')[0]!)) s = s.replace('e', '.0e');
  return f < 0 ? `(${s})` : s;
}

function bitsOf(f: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, f, true);
  return b.getUint32(0, true);
}

function wgslIdent(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^_*/, '').slice(0, 40) || 'v';
}

class Renderer {
  readonly helpers = new Set<string>();
  readonly chunks = new Set<number>();
  /** Workgroup-level buffers used, with their WGSL names. */
  readonly shared = new Map<KBuffer, string>();
  private readonly scopes: Map<string, string>[] = [];
  private counter = 0;
  /** Whether stores to sub-word elements must be atomic (parallel entry points). */
  atomic = false;

  constructor(private readonly places: ReadonlyMap<KBuffer, WgslPlace>, private readonly what: string) {}

  helper(n: string): string {
    this.helpers.add(n);
    return n;
  }

  private place(b: KBuffer): WgslPlace {
    const p = this.places.get(storageOf(b));
    if (!p) throw new KilnError('invalid-model', `${this.what}: buffer ${b.name} has no place in the arena or the weights`);
    return p;
  }

  bind(name: string): string {
    const w = `v${this.counter++}_${wgslIdent(name)}`;
    this.scopes[this.scopes.length - 1]!.set(name, w);
    return w;
  }

  private lookup(name: string): string {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const w = this.scopes[i]!.get(name);
      if (w !== undefined) return w;
    }
    throw new KilnError('invalid-model', `${this.what}: undefined variable %${name}`);
  }

  push(): void {
    this.scopes.push(new Map());
  }

  pop(): void {
    this.scopes.pop();
  }

  /** The word reading expression for word index `w` of a placed buffer. */
  private word(p: WgslPlace, w: string): string {
    if (p.space === 'weights') {
      this.chunks.add(p.chunk);
      return `weights${p.chunk}[${w}]`;
    }
    return this.atomic ? `atomicLoad(&arena[${w}])` : `arena[${w}]`;
  }

  /** Word index and bit shift of element `i` (i32 expression) of buffer b. */
  private addr(b: KBuffer, i: string): { w: string; sh: string | null; eb: number } {
    const p = this.place(b);
    const eb = elementBytes(b.dtype);
    const idx = `u32(${i})`;
    if (eb === 4) return { w: `${p.word}u + ${idx}`, sh: null, eb };
    const per = 4 / eb;
    const log = per === 2 ? 1 : 2;
    return { w: `${p.word}u + (${idx} >> ${log}u)`, sh: `((${idx} & ${per - 1}u) * ${eb * 8}u)`, eb };
  }

  /** The var<workgroup> array of a workgroup-level buffer (32-bit element types, held as values). */
  private sharedName(b: KBuffer): string {
    const root = storageOf(b);
    let n = this.shared.get(root);
    if (!n) {
      if (elementBytes(root.dtype) !== 4 || root.dtype === 'f64') throw new KilnError('unsupported', `${this.what}: workgroup buffer ${root.name} of ${root.dtype} (32-bit types only)`);
      n = `wg${this.shared.size}_${wgslIdent(root.name)}`;
      this.shared.set(root, n);
    }
    return n;
  }

  private load(b: KBuffer, i: string): string {
    const p = this.place(b);
    if (p.space === 'workgroup') return `${this.sharedName(b)}[u32(${i})]`;
    if (b.dtype === 'i64' || b.dtype === 'u64') {
      const w = `${p.word}u + 2u * u32(${i})`;
      return `vec2<u32>(${this.word(p, w)}, ${this.word(p, `${w} + 1u`)})`;
    }
    const a = this.addr(b, i);
    const raw = this.word(p, a.w);
    const bits = a.sh === null ? raw : `((${raw} >> ${a.sh}) & ${a.eb === 2 ? '0xffffu' : '0xffu'})`;
    const t = b.dtype;
    switch (t) {
      case 'f32': case 'f64': return `bitcast<f32>(${raw})`;
      case 'i32': case 'index': return `bitcast<i32>(${raw})`;
      case 'u32': return raw;
      case 'f4e2m1': return `${this.helper('kiln_f4e2m1_to_f32')}(${bits} & 15u)`;
      case 'bool': return `(${bits} != 0u)`;
      case 'i16': case 'i8': case 'i4': case 'i2': {
        const sh = 32 - WIDTH[t]!;
        return `(bitcast<i32>(${bits} << ${sh}u) >> ${sh}u)`;
      }
      case 'u16': case 'u8': return bits;
      case 'u4': return `(${bits} & 15u)`;
      case 'u2': return `(${bits} & 3u)`;
      default:
        if (NARROW.has(t)) return `${this.helper(`kiln_${t}_to_f32`)}(${bits})`;
        throw new KilnError('unsupported', `${this.what}: ${unsupportedType(t) ?? t}`);
    }
  }

  /** The statement storing value `v` (of the buffer's value type) into element `i` of b. */
  store(b: KBuffer, i: string, v: string, ind: string): string[] {
    const p = this.place(b);
    if (p.space === 'weights') throw new KilnError('invalid-model', `${this.what}: store into constant ${b.name}`);
    if (p.space === 'workgroup') return [`${ind}${this.sharedName(b)}[u32(${i})] = ${v};`];
    const t = b.dtype;
    if (t === 'i64' || t === 'u64') {
      const out = [`${ind}{`, `${ind}  let kw = ${p.word}u + 2u * u32(${i});`, `${ind}  let kv = ${v};`];
      if (this.atomic) out.push(`${ind}  atomicStore(&arena[kw], kv.x);`, `${ind}  atomicStore(&arena[kw + 1u], kv.y);`);
      else out.push(`${ind}  arena[kw] = kv.x;`, `${ind}  arena[kw + 1u] = kv.y;`);
      out.push(`${ind}}`);
      return out;
    }
    const a = this.addr(b, i);
    let bits: string;
    switch (t) {
      case 'f32': case 'f64': case 'i32': case 'index': bits = `bitcast<u32>(${v})`; break;
      case 'u32': bits = v; break;
      case 'bool': bits = `select(0u, 1u, ${v})`; break;
      case 'i16': case 'i8': case 'i4': case 'i2': bits = `(bitcast<u32>(${v}) & ${(2 ** WIDTH[t]!) - 1}u)`; break;
      case 'u16': case 'u8': case 'u4': case 'u2': bits = `(${v} & ${(2 ** WIDTH[t]!) - 1}u)`; break;
      default:
        if (!NARROW.has(t)) throw new KilnError('unsupported', `${this.what}: ${unsupportedType(t) ?? t}`);
        bits = `${this.helper(`kiln_f32_to_${t}`)}(${v})`;
    }
    if (a.sh === null) return [this.atomic ? `${ind}atomicStore(&arena[${a.w}], ${bits});` : `${ind}arena[${a.w}] = ${bits};`];
    const mask = a.eb === 2 ? '0xffffu' : '0xffu';
    // one element's bits of a shared word: clear them, then set them
    const out = [`${ind}{`, `${ind}  let kw = ${a.w};`, `${ind}  let ks = ${a.sh};`, `${ind}  let kb = ${bits};`];
    if (this.atomic) out.push(`${ind}  atomicAnd(&arena[kw], ~(${mask} << ks));`, `${ind}  atomicOr(&arena[kw], kb << ks);`);
    else out.push(`${ind}  arena[kw] = (arena[kw] & ~(${mask} << ks)) | (kb << ks);`);
    out.push(`${ind}}`);
    return out;
  }

  /** Wraps an i32/u32 value to a narrow integer type's width (no-op for 32-bit types). */
  private wrap(t: ScalarType, v: string): string {
    const w = WIDTH[t];
    if (w === undefined) return v;
    if (valueType(t) === 'u32') return `(${v} & ${(2 ** w) - 1}u)`;
    return `((${v} << ${32 - w}u) >> ${32 - w}u)`;
  }

  expr(e: Expr): string {
    switch (e.k) {
      case 'const': return this.constant(e.v, e.t);
      case 'var': return this.lookup(e.name);
      case 'load': return this.load(e.buf, this.expr(e.idx));
      case 'cast': return this.cast(e.a, e.t);
      case 'select': return `select(${this.expr(e.b)}, ${this.expr(e.a)}, ${this.expr(e.c)})`;
      case 'un': return this.unary(e);
      case 'bin': return this.binary(e);
    }
  }

  constant(v: number | bigint, t: ScalarType): string {
    const vt = valueType(t);
    const n = Number(v);
    switch (vt) {
      case 'f32': {
        const x = t === 'f32' ? n : Number(v);
        return floatLit(x, this);
      }
      case 'bool': return n !== 0 ? 'true' : 'false';
      case 'i64': case 'u64': {
        const u = BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(Math.trunc(n)));
        return `vec2<u32>(${u & 0xffffffffn}u, ${u >> 32n}u)`;
      }
      case 'u32': return `${n >>> 0}u`;
      case 'i32': {
        const x = n | 0;
        return x === -2147483648 ? 'i32(-2147483647 - 1)' : x < 0 ? `(${x})` : `${x}`;
      }
    }
  }

  private cast(a: Expr, t: ScalarType): string {
    const v = this.expr(a);
    const from = valueType(a.t);
    const to = valueType(t);
    const wide = (x: VT): boolean => x === 'i64' || x === 'u64';
    if (wide(from) || wide(to)) return this.cast64(v, from, to, t);
    if (to === 'bool') return from === 'f32' ? `(${v} != 0.0)` : from === 'bool' ? v : from === 'u32' ? `(${v} != 0u)` : `(${v} != 0)`;
    if (to === 'f32') {
      const base = from === 'bool' ? `select(0.0, 1.0, ${v})` : from === 'f32' ? v : `f32(${v})`;
      return NARROW.has(t) ? `${this.helper(`kiln_round_${t}`)}(${base})` : base;
    }
    let x: string;
    if (from === 'bool') x = to === 'u32' ? `select(0u, 1u, ${v})` : `select(0, 1, ${v})`;
    else if (from === 'f32') x = to === 'u32' ? `${this.helper('kiln_f2u')}(${v})` : `${this.helper('kiln_f2i')}(${v})`;
    else if (from === to) x = v;
    else x = `bitcast<${to}>(${v})`;
    return this.wrap(t, x);
  }

  /** Casts where either side is a 64-bit integer. */
  private cast64(v: string, from: VT, to: VT, t: ScalarType): string {
    if (to === 'i64' || to === 'u64') {
      switch (from) {
        case 'i64': case 'u64': return v;
        case 'bool': return `vec2<u32>(select(0u, 1u, ${v}), 0u)`;
        case 'u32': return `vec2<u32>(${v}, 0u)`;
        case 'i32': return `vec2<u32>(bitcast<u32>(${v}), select(0u, 0xffffffffu, ${v} < 0))`;
        case 'f32': return `${this.helper('kiln_f2i64')}(${v})`;
      }
    }
    switch (to) {
      case 'bool': return `any(${v} != vec2<u32>(0u, 0u))`;
      case 'u32': return this.wrap(t, `${v}.x`);
      case 'i32': return this.wrap(t, `bitcast<i32>(${v}.x)`);
      case 'f32': {
        const base = `${this.helper(from === 'i64' ? 'kiln_i64f' : 'kiln_u64f')}(${v})`;
        return NARROW.has(t) ? `${this.helper(`kiln_round_${t}`)}(${base})` : base;
      }
      default: return v;
    }
  }

  private unary64(op: string, a: string, signed: boolean): string {
    const h = (n: string): string => this.helper(n);
    switch (op) {
      case 'neg': return `${h('kiln_neg64')}(${a})`;
      case 'abs': return signed ? `${h('kiln_abs64')}(${a})` : a;
      case 'not': return `(!${a})`;
      case 'bitnot': return `(~${a})`;
      case 'isnan': case 'isinf': return 'false';
      case 'sign': return signed ? `select(select(vec2<u32>(0u, 0u), vec2<u32>(1u, 0u), any(${a} != vec2<u32>(0u, 0u))), vec2<u32>(0xffffffffu, 0xffffffffu), ${h('kiln_isneg64')}(${a}))` : `select(vec2<u32>(0u, 0u), vec2<u32>(1u, 0u), any(${a} != vec2<u32>(0u, 0u)))`;
      case 'recip': return `${h(signed ? 'kiln_sdiv64' : 'kiln_udiv64')}(vec2<u32>(1u, 0u), ${a})`;
      default: throw new KilnError('unsupported', `${this.what}: ${op} on 64-bit integers`);
    }
  }

  private binary64(op: string, a: string, b: string, signed: boolean): string {
    const h = (n: string): string => this.helper(n);
    const lt = (x: string, y: string): string => `${h(signed ? 'kiln_slt64' : 'kiln_ult64')}(${x}, ${y})`;
    switch (op) {
      case 'add': return `${h('kiln_add64')}(${a}, ${b})`;
      case 'sub': return `${h('kiln_sub64')}(${a}, ${b})`;
      case 'mul': return `${h('kiln_mul64')}(${a}, ${b})`;
      case 'div': return `${h(signed ? 'kiln_sdiv64' : 'kiln_udiv64')}(${a}, ${b})`;
      case 'mod': case 'fmod': return `${h(signed ? 'kiln_srem64' : 'kiln_urem64')}(${a}, ${b})`;
      case 'min': return `select(${b}, ${a}, ${lt(a, b)})`;
      case 'max': return `select(${b}, ${a}, ${lt(b, a)})`;
      case 'pow': return `${h('kiln_pow64')}(${a}, ${b}, ${signed})`;
      case 'lt': return lt(a, b);
      case 'le': return `(!${lt(b, a)})`;
      case 'gt': return lt(b, a);
      case 'ge': return `(!${lt(a, b)})`;
      case 'eq': return `all(${a} == ${b})`;
      case 'ne': return `any(${a} != ${b})`;
      case 'bitand': return `(${a} & ${b})`;
      case 'bitor': return `(${a} | ${b})`;
      case 'bitxor': return `(${a} ^ ${b})`;
      case 'shl': return `${h('kiln_shl64')}(${a}, ${b})`;
      case 'shr': return `${h('kiln_shr64')}(${a}, ${b})`;
      default: throw new KilnError('unsupported', `${this.what}: ${op} on 64-bit integers`);
    }
  }

  private unary(e: Extract<Expr, { k: 'un' }>): string {
    const a = this.expr(e.a);
    const t = e.a.t;
    const vt = valueType(t);
    if (vt === 'i64' || vt === 'u64') return this.unary64(e.op, a, vt === 'i64');
    const f = vt === 'f32';
    switch (e.op) {
      case 'neg': return f ? `(-${a})` : vt === 'u32' ? this.wrap(t, `(0u - ${a})`) : this.wrap(t, `(0 - ${a})`);
      case 'abs': return f ? `abs(${a})` : vt === 'u32' ? a : this.wrap(t, `abs(${a})`);
      case 'not': return `(!${a})`;
      case 'bitnot': return this.wrap(t, `(~${a})`);
      case 'isnan': return f ? `${this.helper('kiln_isnan')}(${a})` : 'false';
      case 'isinf': return f ? `${this.helper('kiln_isinf')}(${a})` : 'false';
      case 'sign': return f ? `${this.helper('kiln_fsign')}(${a})` : vt === 'u32' ? `select(0u, 1u, ${a} > 0u)` : `sign(${a})`;
      case 'recip': return f ? `(1.0 / ${a})` : this.wrap(t, `${this.helper(`kiln_div_${vt}`)}(${vt === 'u32' ? '1u' : '1'}, ${a})`);
      case 'round': return `round(${a})`;
      case 'erf': return `${this.helper('kiln_erf')}(${a})`;
      default:
        if (!f) throw new KilnError('type', `${this.what}: ${e.op} on integer type ${t}`);
        return `${e.op}(${a})`;
    }
  }

  private binary(e: Extract<Expr, { k: 'bin' }>): string {
    const a = this.expr(e.a);
    const b = this.expr(e.b);
    const t = e.a.t;
    const vt = valueType(t);
    if (vt === 'i64' || vt === 'u64') return this.binary64(e.op, a, b, vt === 'i64');
    const f = vt === 'f32';
    const w = (x: string): string => this.wrap(t, x);
    switch (e.op) {
      case 'add': return f ? `(${a} + ${b})` : w(`(${a} + ${b})`);
      case 'sub': return f ? `(${a} - ${b})` : w(`(${a} - ${b})`);
      case 'mul': return f ? `(${a} * ${b})` : w(`(${a} * ${b})`);
      case 'div': return f ? `(${a} / ${b})` : w(`${this.helper(`kiln_div_${vt}`)}(${a}, ${b})`);
      case 'mod': case 'fmod': return f ? `${this.helper('kiln_fmod')}(${a}, ${b})` : w(`${this.helper(`kiln_rem_${vt}`)}(${a}, ${b})`);
      case 'min': return f ? `${this.helper('kiln_fmin')}(${a}, ${b})` : vt === 'bool' ? `(${a} && ${b})` : `min(${a}, ${b})`;
      case 'max': return f ? `${this.helper('kiln_fmax')}(${a}, ${b})` : vt === 'bool' ? `(${a} || ${b})` : `max(${a}, ${b})`;
      case 'pow': return f ? `${this.helper('kiln_fpow')}(${a}, ${b})` : w(`${this.helper(`kiln_pow_${vt}`)}(${a}, ${b})`);
      case 'atan2': return `atan2(${a}, ${b})`;
      case 'lt': case 'le': case 'gt': case 'ge': case 'eq': case 'ne': case 'and': case 'or': return sharedInfix(e.op, a, b);
      case 'xor': return `(${a} != ${b})`;
      case 'bitand': return vt === 'bool' ? `(${a} && ${b})` : w(`(${a} & ${b})`);
      case 'bitor': return vt === 'bool' ? `(${a} || ${b})` : w(`(${a} | ${b})`);
      case 'bitxor': return vt === 'bool' ? `(${a} != ${b})` : w(`(${a} ^ ${b})`);
      case 'shl': case 'shr': {
        const bits = WIDTH[t] ?? 32;
        const zero = vt === 'u32' ? '0u' : '0';
        const amt = vt === 'u32' ? b : `u32(${b})`;
        const op = e.op === 'shl' ? '<<' : '>>';
        return `select(${w(`(${a} ${op} (${amt} & 31u))`)}, ${zero}, ${amt} >= ${bits}u)`;
      }
    }
  }

  /** `let`s rendered into the current scope. */
  lets(ss: readonly Stmt[], ind: string): string[] {
    return ss.flatMap((s) => this.stmt(s, ind));
  }

  stmts(ss: readonly Stmt[], ind: string): string[] {
    this.push();
    const out = ss.flatMap((s) => this.stmt(s, ind));
    this.pop();
    return out;
  }

  private stmt(s: Stmt, ind: string): string[] {
    switch (s.k) {
      case 'for': {
        const lo = this.expr(s.lo);
        const hi = this.expr(s.hi);
        this.push();
        const v = this.bind(s.v);
        const body = this.stmts(s.body, `${ind}  `);
        this.pop();
        return [`${ind}for (var ${v}: i32 = ${lo}; ${v} < ${hi}; ${v} = ${v} + 1) {`, ...body, `${ind}}`];
      }
      case 'store': return this.store(s.buf, this.expr(s.idx), this.expr(s.val), ind);
      case 'let': {
        const init = this.expr(s.init);
        return [`${ind}var ${this.bind(s.name)}: ${wgslType(valueType(s.t))} = ${init};`];
      }
      case 'set': return [`${ind}${this.lookup(s.name)} = ${this.expr(s.val)};`];
      case 'if': {
        const out = [`${ind}if (${this.expr(s.c)}) {`, ...this.stmts(s.then, `${ind}  `)];
        if (s.else.length) out.push(`${ind}} else {`, ...this.stmts(s.else, `${ind}  `));
        out.push(`${ind}}`);
        return out;
      }
      case 'barrier': throw new KilnError('invalid-model', `${this.what}: a barrier outside a gpu group loop`);
    }
  }
}

type For = Stmt & { k: 'for' };

/**
 * The entry point of a chain of `gpu group` loops: one workgroup per iteration (workgroup_id), the
 * innermost loop's body run by the workgroup's invocations: `gpu local` loops as invocations
 * (local_invocation_id, past the extent idle), `barrier` as workgroupBarrier(), index `let`s by
 * every invocation, and anything else by invocation 0 only (it runs once per workgroup).
 */
function renderGroup(r: Renderer, name: string, chain: { loop: For; lets: Stmt[] }[], ext: { lo: number; n: number }[], dims: Record<GpuDim, { n: number; wg: number }>, what: string): string[] {
  const head: string[] = [];
  r.push();
  chain.forEach(({ loop, lets }, j) => {
    const dim = loop.ann.gpu!.dim;
    const { lo, n } = ext[j]!;
    const inner = chain.slice(j + 1).reduce((a, c, i) => (c.loop.ann.gpu!.dim === dim ? a * ext[j + 1 + i]!.n : a), 1);
    const first = chain.findIndex((c) => c.loop.ann.gpu!.dim === dim) === j;
    let at = inner === 1 ? `wid.${dim}` : `(wid.${dim} / ${inner}u)`;
    if (!first) at = `(${at} % ${n}u)`;
    head.push(`  let ${r.bind(loop.v)}: i32 = ${lo === 0 ? '' : `${lo} + `}i32(${at});`);
    head.push(...r.lets(lets, '  '));
  });
  const body: string[] = [];
  const lead = '(lid.x | lid.y | lid.z) == 0u';
  r.push();
  for (const s of chain[chain.length - 1]!.loop.body) {
    if (s.k === 'barrier') body.push('  workgroupBarrier();');
    else if (s.k === 'let') body.push(...r.lets([s], '  '));
    else if (s.k === 'for' && s.ann.gpu?.scope === 'local') {
      const d = s.ann.gpu.dim;
      const lo = constInt(s.lo, what);
      const n = Math.max(0, constInt(s.hi, what) - lo);
      r.push();
      const v = r.bind(s.v);
      const inner = r.stmts(s.body, '    ');
      r.pop();
      body.push(`  if (lid.${d} < ${n}u) {`, `    let ${v}: i32 = ${lo === 0 ? '' : `${lo} + `}i32(lid.${d});`, ...inner, '  }');
    } else {
      if (s.k === 'set') throw new KilnError('unsupported', `${what}: a set of a workgroup-level local`);
      body.push(`  if (${lead}) {`, ...r.stmts([s], '    '), '  }');
    }
  }
  r.pop();
  r.pop();
  return [
    `@compute @workgroup_size(${dims.x.wg}, ${dims.y.wg}, ${dims.z.wg})`,
    `fn ${name}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {`,
    ...head,
    ...body,
    '}',
  ];
}

/**
 * The gpu-mapped chain starting at a top-level loop (outermost first), each loop with the `let`s
 * between it and the next (as map-gpu allows), or [] when unmapped.
 */
function mappedChain(s: Stmt, assigned: ReadonlySet<string>): { loop: For; lets: Stmt[] }[] {
  const chain: { loop: For; lets: Stmt[] }[] = [];
  let cur: For | undefined = s.k === 'for' ? s : undefined;
  // a chain is all grid loops or all group loops (a group loop's body renders as the workgroup's)
  const scope = cur?.ann.gpu?.scope;
  if (scope === 'local') return [];
  const same = (l: For | undefined): l is For => l?.ann.gpu !== undefined && l.ann.gpu.scope === scope;
  while (same(cur)) {
    const next: For | undefined = nextInChain(cur.body, assigned);
    chain.push({ loop: cur, lets: same(next) ? cur.body.slice(0, -1) : [] });
    cur = same(next) ? next : undefined;
  }
  return chain;
}

function constInt(e: Expr, what: string): number {
  if (e.k !== 'const' || typeof e.v !== 'number') throw new KilnError('invalid-model', `${what}: a gpu-mapped loop needs constant bounds`);
  return e.v;
}

function storesSubWord(ss: readonly Stmt[]): boolean {
  return ss.some((s) => {
    switch (s.k) {
      case 'for': return storesSubWord(s.body);
      case 'if': return storesSubWord(s.then) || storesSubWord(s.else);
      case 'store': return elementBytes(s.buf.dtype) < 4;
      default: return false;
    }
  });
}

/** Renders a kernel's shader and its entry points in dispatch order. */
export function renderKernel(k: Kernel, places: ReadonlyMap<KBuffer, WgslPlace>): WgslKernel {
  const what = `kernel ${k.name} (node '${k.origin.node}', ${k.origin.op})`;
  const segments: { stmts: Stmt[]; chain: { loop: For; lets: Stmt[] }[] }[] = [];
  // from the first top-level local on, statements share one invocation (locals live in it)
  const firstLocal = k.body.findIndex((s) => s.k === 'let' || s.k === 'set');
  const assigned = assignedNames(k.body);
  for (const [i, s] of k.body.entries()) {
    const chain = firstLocal >= 0 && i >= firstLocal ? [] : mappedChain(s, assigned);
    const last = segments[segments.length - 1];
    if (chain.length === 0 && last && last.chain.length === 0) last.stmts.push(s);
    else segments.push({ stmts: [s], chain });
  }
  const r = new Renderer(places, what);
  r.atomic = segments.some((g) => g.chain.length > 0 && storesSubWord(g.stmts));
  const fns: string[] = [];
  const entries: WgslEntry[] = [];
  segments.forEach((g, i) => {
    const name = `k${i}`;
    if (g.chain.length === 0) {
      fns.push('@compute @workgroup_size(1)', `fn ${name}() {`, ...r.stmts(g.stmts, '  '), '}');
      entries.push({ name, groups: [1, 1, 1], parallel: false, loops: loopIterations(g.stmts) });
      return;
    }
    // loops sharing a dimension split its index, the outermost varying slowest
    const dims = { x: { n: 1, wg: 1 }, y: { n: 1, wg: 1 }, z: { n: 1, wg: 1 } };
    const ext = g.chain.map(({ loop }) => ({ lo: constInt(loop.lo, what), n: Math.max(0, constInt(loop.hi, what) - constInt(loop.lo, what)) }));
    const innermost = g.chain[g.chain.length - 1]!.loop;
    const group = innermost.ann.gpu!.scope === 'group';
    // one invocation's loops: the innermost body with the mapped loop variables over their ranges
    const env = new Map<string, Interval>();
    g.chain.forEach(({ loop, lets }, j) => {
      env.set(loop.v, { lo: ext[j]!.lo, hi: ext[j]!.lo + ext[j]!.n - 1 });
      loopIterations(lets, env);
    });
    const loops = loopIterations(innermost.body, env);
    g.chain.forEach(({ loop }, j) => {
      const d = dims[loop.ann.gpu!.dim];
      d.n *= ext[j]!.n;
      // group loops: one workgroup per iteration, of the innermost loop's size along its dimension
      if (!group || loop === innermost) d.wg = loop.ann.gpu!.workgroup;
    });
    if (group) {
      fns.push(...renderGroup(r, name, g.chain, ext, dims, what));
      entries.push({ name, groups: [dims.x.n, dims.y.n, dims.z.n], parallel: true, loops });
      return;
    }
    r.push();
    const head: string[] = [];
    const used = (['x', 'y', 'z'] as const).filter((d) => g.chain.some(({ loop }) => loop.ann.gpu!.dim === d));
    const guards = used.map((d) => `gid.${d} >= ${dims[d].n}u`);
    g.chain.forEach(({ loop, lets }, j) => {
      const dim = loop.ann.gpu!.dim;
      const { lo, n } = ext[j]!;
      const inner = g.chain.slice(j + 1).reduce((a, c, i) => (c.loop.ann.gpu!.dim === dim ? a * ext[j + 1 + i]!.n : a), 1);
      const first = g.chain.findIndex((c) => c.loop.ann.gpu!.dim === dim) === j;
      let at = inner === 1 ? `gid.${dim}` : `(gid.${dim} / ${inner}u)`;
      if (!first) at = `(${at} % ${n}u)`;
      head.push(`  let ${r.bind(loop.v)}: i32 = ${lo === 0 ? '' : `${lo} + `}i32(${at});`);
      head.push(...r.lets(lets, '  '));
    });
    const body = r.stmts(g.chain[g.chain.length - 1]!.loop.body, '  ');
    r.pop();
    fns.push(`@compute @workgroup_size(${dims.x.wg}, ${dims.y.wg}, ${dims.z.wg})`, `fn ${name}(@builtin(global_invocation_id) gid: vec3<u32>) {`);
    fns.push(`  if (${guards.join(' || ')}) {`, '    return;', '  }', ...head, ...body, '}');
    const groups = (d: { n: number; wg: number }): number => Math.max(1, Math.ceil(d.n / d.wg));
    entries.push({ name, groups: [groups(dims.x), groups(dims.y), groups(dims.z)], parallel: true, loops });
  });
  const header = [
    `// Kiln: ${k.origin.op.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)} '${k.origin.node.replace(/[^\x20-\x7e]/g, '?').slice(0, 120)}' (kernel ${k.name.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)})`,
    `@group(0) @binding(0) var<storage, read_write> arena: array<${r.atomic ? 'atomic<u32>' : 'u32'}>;`,
  ];
  for (const [b, decl] of r.shared) header.push(`var<workgroup> ${decl}: array<${wgslType(valueType(b.dtype))}, ${Math.max(1, bufferSize(b))}>;`);
  const weights = [...r.chunks].sort((a, b) => a - b);
  for (const c of weights) header.push(`@group(0) @binding(${1 + c}) var<storage, read> weights${c}: array<u32>;`);
  const helpers = renderWgslHelpers(r.helpers);
  return { code: [...header, ...(helpers ? [helpers] : []), ...fns, ''].join('\n'), entries, weights };
}
