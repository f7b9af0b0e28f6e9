/**
 * Renders a kernel program as C99: each kernel a static function over restrict pointers, one
 * static arena for temporaries (offsets from the memory plan), constants in a binary blob that an
 * assembly file pulls in with .incbin (so the C compiler never parses megabytes of initializers),
 * and `int kiln_<name>_run(inputs…, outputs…)`. Narrow float types are stored as bit patterns and
 * computed as float; integer arithmetic wraps through unsigned types, so the code is free of
 * undefined behaviour.
 */
import { sharedInfix } from '../infix.js';
import { KilnError } from '../../ir/errors.js';
import { bufferSize, storageOf, type IoQuant, type Expr, type KBuffer, type Kernel, type Program, type ScalarType, type Stmt } from '../../ir/kernel/types.js';
import { isFloatC, isNarrowFloat, isSignedInt, storageCType, typeTag, unsignedOf, valueCType } from './ctypes.js';
import { renderHelpers } from './helpers.js';
import { parallelChunk } from '../../ir/kernel/parallel.js';
import { copyOnlyReads } from './copy-reads.js';

export interface CLayout {
  /** Byte offset of each temp buffer in the arena. */
  arenaOffset: Map<KBuffer, number>;
  arenaBytes: number;
  /** Byte offset of each const buffer in the weights blob. */
  blobOffset: Map<KBuffer, number>;
  blobBytes: number;
  /** Buffers that share memory with another buffer (in-place reuse): their pointers are not restrict. */
  shared?: ReadonlySet<KBuffer>;
  /** Arenas of external memory levels (src/passes/place-levels.ts); absent: one arena. */
  levels?: readonly CLevelArena[];
}

/** One external level's static arena: its symbol, size, optional linker section and offsets. */
export interface CLevelArena {
  symbol: string;
  bytes: number;
  section?: string;
  offsets: ReadonlyMap<KBuffer, number>;
}

export interface CSource {
  header: string;
  source: string;
  /** Symbol of the weights blob (defined by the .incbin assembly file). */
  blobSymbol: string;
}

/**
 * Text from the model (node, tensor, model names) placed inside a C comment: it cannot close the
 * comment, start a preprocessor line, or carry control characters.
 */
export function commentText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\*\//g, '* /').replace(/\/\*/g, '/ *').replace(/\?\?/g, '? ?').slice(0, 200);
}

export function cIdent(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

export function floatLiteral(v: number, t: 'float' | 'double'): string {
  if (Number.isNaN(v)) return t === 'float' ? 'NAN' : '((double)NAN)';
  if (v === Infinity) return t === 'float' ? 'INFINITY' : '((double)INFINITY)';
  if (v === -Infinity) return t === 'float' ? '(-INFINITY)' : '(-(double)INFINITY)';
  if (Object.is(v, -0)) return t === 'float' ? '(-0.0f)' : '(-0.0)';
  if (v === 0) return t === 'float' ? '0.0f' : '0.0';
  // hexadecimal floating literals are exact
  const neg = v < 0;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  if (e < -1022) e = -1022;
  const m = a / 2 ** e; // in [1,2) (or below for subnormals)
  const lead = Math.floor(m);
  let frac = m - lead;
  let hex = '';
  for (let i = 0; i < 13 && frac > 0; i++) {
    frac *= 16;
    const d = Math.floor(frac);
    hex += d.toString(16);
    frac -= d;
  }
  const lit = `0x${lead}${hex ? `.${hex}` : ''}p${e >= 0 ? '+' : ''}${e}${t === 'float' ? 'f' : ''}`;
  return neg ? `(-${lit})` : lit;
}

export function intLiteral(v: number | bigint, t: ScalarType): string {
  const c = valueCType(t);
  if (c === 'int64_t') {
    const b = BigInt(v);
    if (b === -(2n ** 63n)) return '(-INT64_C(9223372036854775807) - 1)';
    return b < 0n ? `(-INT64_C(${-b}))` : `INT64_C(${b})`;
  }
  if (c === 'uint64_t') return `UINT64_C(${BigInt.asUintN(64, BigInt(v))})`;
  const n = Number(v);
  if (c === 'int32_t' && n === -2147483648) return '(-2147483647 - 1)';
  if (c === 'uint32_t') return `${n >>> 0}u`;
  return n < 0 ? `(${n})` : `${n}`;
}

/** Hooks of C-like renderers built on this one (HLS-C: pragmas inside loops). */
export interface RenderHooks {
  /** Lines placed first in a loop's body (e.g. `#pragma HLS PIPELINE`). */
  loopPrologue?(loop: Stmt & { k: 'for' }, indent: string): string[];
  /** Render `parallel <n>` loops (n > 1) as OpenMP parallel for (host C built with -fopenmp). */
  openmp?: boolean;
}

/** Whether any loop of the program is marked to run on more than one thread (`parallel <n>`, n > 1). */
export function usesThreads(program: Program): boolean {
  const any = (ss: readonly Stmt[]): boolean => ss.some((s) => (s.k === 'for' && (((s.ann.threads ?? 1) > 1 && s.ann.parallel === true) || any(s.body))) || (s.k === 'if' && (any(s.then) || any(s.else))));
  return program.kernels.some((k) => any(k.body));
}

/**
 * The OpenMP line of a `parallel <n>` loop: n threads, iterations in static chunks of
 * ceil(extent / n) (src/ir/kernel/parallel.ts parallelChunk), so chunk k runs on one thread and
 * per-thread scratch indexed by (v - lo) / chunk is never shared.
 */
function ompPragma(s: Stmt & { k: 'for' }, ind: string): string[] {
  const threads = s.ann.threads ?? 1;
  if (!s.ann.parallel || threads < 2) return [];
  const lo = s.lo.k === 'const' ? Number(s.lo.v) : null;
  const hi = s.hi.k === 'const' ? Number(s.hi.v) : null;
  const chunk = lo !== null && hi !== null ? `, ${parallelChunk(hi - lo, threads)}` : '';
  return [`${ind}#pragma omp parallel for num_threads(${threads}) schedule(static${chunk})`];
}

/** Renders kernel statements and expressions as C over named buffers (pointers or arrays). */
export class Renderer {
  readonly helpers = new Set<string>();
  private readonly ptr: Map<KBuffer, string>;
  private readonly hooks: RenderHooks;

  constructor(ptrNames: Map<KBuffer, string>, hooks: RenderHooks = {}) {
    this.ptr = ptrNames;
    this.hooks = hooks;
  }

  private helper(name: string): string {
    this.helpers.add(name);
    return name;
  }

  private name(b: KBuffer): string {
    const n = this.ptr.get(storageOf(b));
    if (!n) throw new KilnError('invalid-model', `buffer ${b.name} is not a parameter of this kernel`);
    return n;
  }

  /** Loads produce C values: narrow floats are decoded to float. */
  private load(b: KBuffer, i: string): string {
    const raw = `${this.name(b)}[${i}]`;
    return isNarrowFloat(b.dtype) ? `${this.helper(`kiln_${b.dtype}_to_f32`)}(${raw})` : raw;
  }

  private storeValue(b: KBuffer, v: string): string {
    if (isNarrowFloat(b.dtype)) return `${this.helper(`kiln_f32_to_${b.dtype}`)}(${v})`;
    if (b.dtype === 'bool') return `(uint8_t)((${v}) != 0)`;
    if (b.dtype === 'i4' || b.dtype === 'i2') {
      // sign-extend the low bits, as the interpreter's wrap does
      const bits = b.dtype === 'i4' ? 4 : 2;
      return `(int8_t)((int)((unsigned)((uint8_t)(${v}) & ${(1 << bits) - 1}u) ^ ${1 << (bits - 1)}u) - ${1 << (bits - 1)})`;
    }
    if (b.dtype === 'u4' || b.dtype === 'u2') return `(uint8_t)((uint8_t)(${v}) & ${b.dtype === 'u4' ? 15 : 3}u)`;
    return `(${storageCType(b.dtype)})(${v})`;
  }

  expr(e: Expr): string {
    switch (e.k) {
      case 'const': {
        if (isFloatC(e.t)) return floatLiteral(Number(e.v), e.t === 'f64' ? 'double' : 'float');
        return intLiteral(e.v, e.t);
      }
      case 'var':
        return e.name;
      case 'load':
        return this.load(e.buf, this.expr(e.idx));
      case 'cast':
        return this.cast(e.a, e.t);
      case 'select':
        return `(${this.expr(e.c)} ? ${this.expr(e.a)} : ${this.expr(e.b)})`;
      case 'un':
        return this.unary(e);
      case 'bin':
        return this.binary(e);
    }
  }

  private cast(a: Expr, t: ScalarType): string {
    const v = this.expr(a);
    const from = a.t;
    if (t === 'bool') return isFloatC(from) ? `(uint8_t)((${v}) != 0 && (${v}) == (${v}))` : `(uint8_t)((${v}) != 0)`;
    if (isFloatC(t)) {
      const base = `(${valueCType(t)})(${v})`;
      return isNarrowFloat(t) ? `${this.helper(`kiln_round_${t}`)}(${base})` : base;
    }
    if (isFloatC(from)) return `${this.helper(`kiln_f2${typeTag(t === 'index' ? 'i32' : t)}`)}((double)(${v}))`;
    return `(${valueCType(t)})(${v})`;
  }

  private unary(e: Extract<Expr, { k: 'un' }>): string {
    const a = this.expr(e.a);
    const t = e.a.t;
    const f = isFloatC(t);
    const fs = f && t !== 'f64' ? 'f' : '';
    switch (e.op) {
      case 'neg': return f ? `(-${a})` : isSignedInt(t) ? `(${valueCType(t)})(0u - (${unsignedOf(t)})(${a}))` : `(${valueCType(t)})(0u - (${a}))`;
      case 'abs': return f ? `fabs${fs}(${a})` : isSignedInt(t) ? `(${valueCType(t)})((${a}) < 0 ? 0u - (${unsignedOf(t)})(${a}) : (${unsignedOf(t)})(${a}))` : a;
      case 'not': return `(!(${a}))`;
      case 'bitnot': return `(${valueCType(t)})(~(${unsignedOf(t)})(${a}))`;
      case 'isnan': return f ? `(${a} != ${a})` : '0';
      case 'isinf': return f ? `(isinf(${a}) != 0)` : '0';
      case 'sign': return f ? `${this.helper(fs ? 'kiln_signf' : 'kiln_sign')}(${a})` : `(${valueCType(t)})((${a} > 0) - (${a} < 0))`;
      case 'recip': return f ? `(1.0${fs} / ${a})` : `${this.helper(`kiln_div_${typeTag(t)}`)}(1, ${a})`;
      case 'round': return `rint${fs}(${a})`;
      default: {
        if (!f) throw new KilnError('type', `${e.op} on integer type ${t}`);
        const fn = e.op === 'erf' ? 'erf' : e.op;
        return `${fn}${fs}(${a})`;
      }
    }
  }

  private binary(e: Extract<Expr, { k: 'bin' }>): string {
    const a = this.expr(e.a);
    const b = this.expr(e.b);
    const t = e.a.t;
    const f = isFloatC(t);
    const fs = f && t !== 'f64' ? 'f' : '';
    const ct = valueCType(t);
    const wrapOp = (op: string): string => (t === 'index' ? `(${a} ${op} ${b})` : `(${ct})((${unsignedOf(t)})(${a}) ${op} (${unsignedOf(t)})(${b}))`);
    switch (e.op) {
      case 'add': return f ? `(${a} + ${b})` : wrapOp('+');
      case 'sub': return f ? `(${a} - ${b})` : wrapOp('-');
      case 'mul': return f ? `(${a} * ${b})` : wrapOp('*');
      case 'div': return f ? `(${a} / ${b})` : t === 'index' ? `(${a} / ${b})` : `${this.helper(`kiln_div_${typeTag(t)}`)}(${a}, ${b})`;
      case 'mod': case 'fmod': return f ? `fmod${fs}(${a}, ${b})` : t === 'index' ? `(${a} % ${b})` : `${this.helper(`kiln_rem_${typeTag(t)}`)}(${a}, ${b})`;
      case 'min': return f ? `${this.helper(fs ? 'kiln_fminf' : 'kiln_fmin')}(${a}, ${b})` : `(${a} < ${b} ? ${a} : ${b})`;
      case 'max': return f ? `${this.helper(fs ? 'kiln_fmaxf' : 'kiln_fmax')}(${a}, ${b})` : `(${a} > ${b} ? ${a} : ${b})`;
      case 'pow': return f ? `pow${fs}(${a}, ${b})` : `${this.helper(`kiln_pow_${typeTag(t)}`)}(${a}, ${b})`;
      case 'atan2': return `atan2${fs}(${a}, ${b})`;
      case 'lt': case 'le': case 'gt': case 'ge': case 'eq': case 'ne': case 'and': case 'or': return sharedInfix(e.op, a, b);
      case 'xor': return `(!(${a}) != !(${b}))`;
      case 'bitand': return wrapOp('&');
      case 'bitor': return wrapOp('|');
      case 'bitxor': return wrapOp('^');
      case 'shl': return `${this.helper(`kiln_shl_${typeTag(t)}`)}(${a}, ${b})`;
      case 'shr': return `${this.helper(`kiln_shr_${typeTag(t)}`)}(${a}, ${b})`;
    }
  }

  stmts(ss: readonly Stmt[], ind: string): string[] {
    return ss.flatMap((s) => this.stmt(s, ind));
  }

  stmt(s: Stmt, ind: string): string[] {
    switch (s.k) {
      case 'for': {
        const head = `${ind}for (int32_t ${s.v} = ${this.expr(s.lo)}; ${s.v} < ${this.expr(s.hi)}; ${s.v}++) {`;
        return [...(this.hooks.openmp ? ompPragma(s, ind) : []), head, ...(this.hooks.loopPrologue?.(s, `${ind}  `) ?? []), ...this.stmts(s.body, `${ind}  `), `${ind}}`];
      }
      case 'store':
        return [`${ind}${this.name(s.buf)}[${this.expr(s.idx)}] = ${this.storeValue(s.buf, this.expr(s.val))};`];
      case 'let':
        return [`${ind}${valueCType(s.t)} ${s.name} = ${this.expr(s.init)};`];
      case 'set':
        return [`${ind}${s.name} = ${this.expr(s.val)};`];
      case 'if': {
        const out = [`${ind}if (${this.expr(s.c)}) {`, ...this.stmts(s.then, `${ind}  `)];
        if (s.else.length) out.push(`${ind}} else {`, ...this.stmts(s.else, `${ind}  `));
        out.push(`${ind}}`);
        return out;
      }
      // one thread runs the local loops in order: nothing to wait for
      case 'barrier': return [];
    }
  }
}

/** Buffers a kernel reads and writes, in first-use order. */
export function kernelBuffers(k: Kernel): { reads: KBuffer[]; writes: KBuffer[] } {
  const reads: KBuffer[] = [];
  const writes: KBuffer[] = [];
  const seen = new Set<KBuffer>();
  const visitE = (e: Expr): void => {
    switch (e.k) {
      case 'load': {
        const root = storageOf(e.buf);
        if (!seen.has(root)) {
          seen.add(root);
          reads.push(root);
        }
        visitE(e.idx);
        break;
      }
      case 'bin': visitE(e.a); visitE(e.b); break;
      case 'un': case 'cast': visitE(e.a); break;
      case 'select': visitE(e.c); visitE(e.a); visitE(e.b); break;
      default: break;
    }
  };
  const written = new Set<KBuffer>();
  const visitS = (s: Stmt): void => {
    switch (s.k) {
      case 'for': visitE(s.lo); visitE(s.hi); s.body.forEach(visitS); break;
      case 'store':
        visitE(s.idx);
        visitE(s.val);
        if (!written.has(storageOf(s.buf))) {
          written.add(storageOf(s.buf));
          writes.push(storageOf(s.buf));
        }
        break;
      case 'let': visitE(s.init); break;
      case 'set': visitE(s.val); break;
      case 'if': visitE(s.c); s.then.forEach(visitS); s.else.forEach(visitS); break;
    }
  };
  k.body.forEach(visitS);
  return { reads: reads.filter((b) => !written.has(b)), writes };
}

export function renderC(program: Program, layout: CLayout, name: string, opts: { openmp?: boolean } = {}): CSource {
  const id = cIdent(name);
  const blobSymbol = `kiln_${id}_weights`;
  const fnName = `kiln_${id}_run`;
  const guard = `KILN_${id.toUpperCase()}_H`;
  const ioParam = (b: KBuffer, i: number, out: boolean): string => `${out ? '' : 'const '}${storageCType(b.dtype)} *${out ? 'out' : 'in'}${i}`;
  const ioName = new Map<KBuffer, string>();
  program.inputs.forEach((b, i) => ioName.set(b, `in${i}`));
  program.outputs.forEach((b, i) => ioName.set(b, `out${i}`));

  // header
  const h: string[] = [`/* Generated by Kiln from model '${commentText(name)}'. Do not edit. */`, KILN_ABI_COMMENT, `#ifndef ${guard}`, `#define ${guard}`, '#include <stdint.h>', '', '#ifdef __cplusplus', 'extern "C" {', '#endif', ''];
  h.push(`#define KILN_${id.toUpperCase()}_ARENA_BYTES ${layout.arenaBytes}`, `#define KILN_${id.toUpperCase()}_WEIGHT_BYTES ${layout.blobBytes}`);
  h.push(`#define KILN_${id.toUpperCase()}_NUM_INPUTS ${program.inputs.length}`, `#define KILN_${id.toUpperCase()}_NUM_OUTPUTS ${program.outputs.length}`);
  const describe = (b: KBuffer, kind: string, i: number): void => {
    const up = `KILN_${id.toUpperCase()}_${kind}${i}`;
    h.push(`/* ${kind.toLowerCase()} ${i}: '${commentText(b.name)}' ${b.dtype}[${b.shape.join('][')}] */`);
    h.push(`#define ${up}_SIZE ${bufferSize(b)}`, `#define ${up}_BYTES ${bufferSize(b) * storageBytes(b.dtype)}`, `#define ${up}_RANK ${b.shape.length}`);
    h.push(...dimMacros(up, b), ...quantMacros(up, (kind === 'INPUT' ? program.ioQuant?.inputs : program.ioQuant?.outputs)?.[i] ?? null));
  };
  program.inputs.forEach((b, i) => describe(b, 'INPUT', i));
  program.outputs.forEach((b, i) => describe(b, 'OUTPUT', i));
  const param = program.param;
  // a run-time size comes first: kiln_<name>_run(int32_t batch, inputs…, outputs…)
  const params = [...(param ? [`int32_t ${param.name}`] : []), ...program.inputs.map((b, i) => ioParam(b, i, false)), ...program.outputs.map((b, i) => ioParam(b, i, true))];
  if (param) h.push(...dynamicMacros(id, program));
  const levels = layout.levels ?? [];
  h.push(...arenaMacros(id, levels));
  const arenaParams = ['void *arena', ...levels.map((l) => `void *${levelParam(l)}`)];
  h.push('', '/* Runs the model once with temporaries in the static arena(s) of model.c. Returns 0. Not reentrant. */');
  h.push(`int ${fnName}(${params.length ? params.join(', ') : 'void'});`);
  h.push('', `/*`, ` * Runs the model once with temporaries in caller-supplied memory: arena holds`, ` * KILN_${id.toUpperCase()}_ARENA_BYTES bytes aligned to KILN_${id.toUpperCase()}_ARENA_ALIGN${levels.length ? ' (and each arena_<level> KILN_..._ARENA_<LEVEL>_BYTES with the same alignment)' : ''}. Returns 0.`, ` * Reentrant: the model keeps no other mutable state, so calls with distinct arenas may overlap.`, ' */');
  h.push(`int ${fnName}_with_arena(${[...params, ...arenaParams].join(', ')});`);
  h.push('', '#ifdef __cplusplus', '}', '#endif', '', `#endif /* ${guard} */`, '');

  // kernels
  const usedHelpers = new Set<string>();
  const usedBuffers = new Set<KBuffer>();
  const bodies: string[] = [];
  const calls: string[] = [];
  for (const k of program.kernels) {
    const { reads, writes } = kernelBuffers(k);
    for (const b of [...reads, ...writes]) usedBuffers.add(b);
    // restrict on a pointer only copied from makes GCC inline short copies slowly (copy-reads.ts)
    const plain = copyOnlyReads(k, reads);
    const names = new Map<KBuffer, string>();
    const kparams: string[] = param ? [`int32_t ${param.name}`] : [];
    const args: string[] = param ? [param.name] : [];
    for (const [b, ro] of [...reads.map((b) => [b, true] as const), ...writes.map((b) => [b, false] as const)]) {
      const pn = `p_${cIdent(b.name)}`;
      names.set(b, pn);
      kparams.push(`${ro ? 'const ' : ''}${storageCType(b.dtype)} *${layout.shared?.has(b) || plain.has(b) ? '' : 'restrict '}${pn}`);
      args.push(bufferRef(b, ioName, layout, blobSymbol, ro));
    }
    const r = new Renderer(names, opts.openmp ? { openmp: true } : {});
    const lines = r.stmts(k.body, '  ');
    r.helpers.forEach((x) => usedHelpers.add(x));
    const kname = `k_${cIdent(k.name)}`;
    bodies.push(`/* ${commentText(k.origin.op)} '${commentText(k.origin.node)}' */`, `static void ${kname}(${kparams.length ? kparams.join(', ') : 'void'}) {`);
    if (param) bodies.push(`  (void)${param.name};`);
    for (const line of lines) bodies.push(line);
    bodies.push('}', '');
    calls.push(`  ${kname}(${args.join(', ')});`);
  }

  const c: string[] = [`/* Generated by Kiln from model '${commentText(name)}'. Do not edit. */`, '#include <math.h>', '#include <stdint.h>', '#include <string.h>', `#include "model.h"`, ''];
  c.push(`extern const unsigned char ${blobSymbol}[];`);
  if (layout.arenaBytes > 0) c.push(`static unsigned char kiln_arena[${layout.arenaBytes}] __attribute__((aligned(${ARENA_ALIGN})));`);
  for (const l of layout.levels ?? []) {
    if (l.bytes > 0) c.push(`static unsigned char ${l.symbol}[${l.bytes}] __attribute__((aligned(16)${l.section ? `, section("${l.section}")` : ''}));`);
  }
  c.push('');
  const helperText = renderHelpers(usedHelpers);
  if (helperText) c.push(helperText, '');
  // large models have 100k+ lines: append without spreading them onto the call stack
  for (const line of bodies) c.push(line);
  // inputs no kernel reads (e.g. shape-only inputs folded away) are still part of the API
  const unused = [...program.inputs, ...program.outputs].filter((b) => !usedBuffers.has(b)).map((b) => `  (void)${ioName.get(b)};`);
  const check = param ? [`  if (${param.name} < 1 || ${param.name} > ${param.max}) return 1;`] : [];
  c.push(...runFunctions(fnName, params, [...(param ? [param.name] : []), ...[...program.inputs, ...program.outputs].map((b) => ioName.get(b)!)], [...check, ...unused], calls, layout));
  return { header: h.join('\n'), source: c.join('\n'), blobSymbol };
}

/** Header macros of a run-time size: its bound and, per input/output, the dim that scales with it. */
function dynamicMacros(id: string, program: Program): string[] {
  const param = program.param!;
  const up = `KILN_${id.toUpperCase()}`;
  const out = [
    `/* run-time size '${commentText(param.name)}' (first argument), 1..${param.max}; returns 1 outside that range. SIZE/BYTES below are for ${param.max};`,
    ` * at size n an input/output with a _DYN_DIM holds SIZE / ${param.max} * n elements, row-major in its shape with that dim scaled. */`,
    `#define ${up}_DYNAMIC_MAX ${param.max}`,
  ];
  const dims = (list: readonly KBuffer[], kind: string): void => list.forEach((b, i) => {
    if (b.dynDim !== undefined) out.push(`#define ${up}_${kind}${i}_DYN_DIM ${b.dynDim}`);
  });
  dims(program.inputs, 'INPUT');
  dims(program.outputs, 'OUTPUT');
  return out;
}

export function storageBytes(t: ScalarType): number {
  const c = storageCType(t);
  return c === 'float' || c.endsWith('32_t') ? 4 : c === 'double' || c.endsWith('64_t') ? 8 : c.endsWith('16_t') ? 2 : 1;
}

function bufferRef(b: KBuffer, io: Map<KBuffer, string>, layout: CLayout, blob: string, readOnly: boolean): string {
  const ct = storageCType(b.dtype);
  const ioN = io.get(b);
  if (ioN) return ioN;
  // an empty buffer has no storage; its kernels never dereference it
  if (bufferSize(b) === 0) return `(${readOnly ? 'const ' : ''}${ct} *)0`;
  if (b.role === 'const') {
    const off = layout.blobOffset.get(b);
    if (off === undefined) throw new KilnError('invalid-model', `constant ${b.name} has no place in the weights blob`);
    return `(const ${ct} *)(const void *)(${blob} + ${off})`;
  }
  const off = layout.arenaOffset.get(b);
  if (off === undefined) {
    const l = layout.levels?.find((x) => x.offsets.has(b));
    if (l) return `(${readOnly ? 'const ' : ''}${ct} *)(void *)(kiln_a${layout.levels!.indexOf(l) + 1} + ${l.offsets.get(b)!})`;
  }
  if (off === undefined) throw new KilnError('invalid-model', `buffer ${b.name} has no place in the arena`);
  return `(${readOnly ? 'const ' : ''}${ct} *)(void *)(kiln_a0 + ${off})`;
}

/** Version of the generated API: bumped when model.h's declarations change incompatibly. */
export const KILN_C_ABI = 1;
const KILN_ABI_COMMENT = `/* Kiln C API version ${KILN_C_ABI}: kiln_<name>_run, kiln_<name>_run_with_arena, KILN_<NAME>_* macros. */`;
/** Alignment of every arena (static or caller-supplied): the plan's offsets are multiples of it. */
export const ARENA_ALIGN = 16;

/** Parameter of run_with_arena for a memory level's arena: arena_<level>. */
function levelParam(l: CLevelArena): string {
  return `arena_${cIdent(l.symbol.replace(/^kiln_arena_/, ''))}`;
}

function dimMacros(up: string, b: KBuffer): string[] {
  return b.shape.map((d, i) => `#define ${up}_DIM${i} ${d}`);
}

/** real = scale * (q - zero_point), for inputs/outputs quantized per tensor. */
function quantMacros(up: string, q: IoQuant | null): string[] {
  if (!q) return [];
  return [`#define ${up}_SCALE ${floatLiteral(q.scale, 'float')}`, `#define ${up}_ZERO_POINT ${Math.round(q.zeroPoint) < 0 ? `(${Math.round(q.zeroPoint)})` : Math.round(q.zeroPoint)}`];
}

function arenaMacros(id: string, levels: readonly CLevelArena[]): string[] {
  const up = id.toUpperCase();
  const out = [`#define KILN_${up}_ARENA_ALIGN ${ARENA_ALIGN}`];
  for (const l of levels) out.push(`/* arena of memory level ${commentText(l.symbol)}${l.section ? ` (section ${commentText(l.section)})` : ''} */`, `#define KILN_${up}_${levelParam(l).toUpperCase()}_BYTES ${l.bytes}`);
  return out;
}

/**
 * kiln_<name>_run_with_arena (kernels on caller memory: arena, then one buffer per memory level)
 * and kiln_<name>_run, which passes the static arenas.
 */
function runFunctions(fnName: string, params: string[], ioArgs: string[], unused: string[], calls: string[], layout: CLayout): string[] {
  const levels = layout.levels ?? [];
  const arenaParams = ['void *arena', ...levels.map((l) => `void *${levelParam(l)}`)];
  const locals = [
    '  unsigned char *const kiln_a0 = (unsigned char *)arena;',
    ...levels.map((l, i) => `  unsigned char *const kiln_a${i + 1} = (unsigned char *)${levelParam(l)};`),
    ...levels.map((_, i) => `  (void)kiln_a${i + 1};`),
    '  (void)kiln_a0;',
  ];
  const statics = [layout.arenaBytes > 0 ? 'kiln_arena' : '(void *)0', ...levels.map((l) => (l.bytes > 0 ? l.symbol : '(void *)0'))];
  return [
    `int ${fnName}_with_arena(${[...params, ...arenaParams].join(', ')}) {`, ...locals, ...unused, ...calls, '  return 0;', '}', '',
    `int ${fnName}(${params.length ? params.join(', ') : 'void'}) {`, `  return ${fnName}_with_arena(${[...ioArgs, ...statics].join(', ')});`, '}', '',
  ];
}
