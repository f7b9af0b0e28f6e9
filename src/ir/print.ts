/**
 * Textual IR printer (`.kir`). The syntax is described in docs/ir-text.md; the parser lives in
 * src/frontend/text/parser.ts. Printing is deterministic and exact: parsing the text and printing
 * again yields the same bytes, and tensor contents survive bit for bit (NaN payloads of f32/f64
 * included).
 */
import type { AttrValue, Graph, Module, Node, Value } from './graph.js';
import type { QuantParams, ValueType } from './types.js';
import type { Tensor } from './tensor.js';
import { dtypeInfo, type BigArray, type DType, type NumericArray } from './dtype.js';
import { isMiniFloat, roundToFormat, toBits } from './floatfmt.js';

/** Tensors with more elements than this print as a hex blob of their raw little-endian bytes. */
export const MAX_LIST_ELEMENTS = 64;

/** Words that the lexer reads as keywords: identifiers spelled like them are printed quoted. */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
  'graph', 'const', 'name', 'attributes', 'opsets', 'metadata', 'true', 'false', 'nan', 'inf', '_',
]);

const SIMPLE_NAME = /^[A-Za-z0-9_.\-]+$/;
const SIMPLE_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A double-quoted string literal (JSON escapes; lone surrogates escaped as \uXXXX). */
export function quoteString(s: string): string {
  return JSON.stringify(s);
}

/** `%name`, or `%"quoted"` for names that are not plain [A-Za-z0-9_.-]+. */
export function printValueName(name: string): string {
  return SIMPLE_NAME.test(name) ? `%${name}` : `%${quoteString(name)}`;
}

export function printGraphName(name: string): string {
  return SIMPLE_NAME.test(name) ? `@${name}` : `@${quoteString(name)}`;
}

/** Attribute names and dictionary keys: bare identifiers, quoted otherwise. */
export function printKey(key: string): string {
  return SIMPLE_IDENT.test(key) && !RESERVED_WORDS.has(key) ? key : quoteString(key);
}

/** A double as a float literal that parses back to the same double (always has `.`/`e`, or is nan/inf). */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** A number that is usually an integer (zero points): plain integer spelling, float spelling otherwise. */
export function formatNumber(x: number): string {
  if (Number.isInteger(x) && !Object.is(x, -0)) {
    const s = String(x);
    return /e/.test(s) ? formatFloat(x) : s;
  }
  return formatFloat(x);
}

/** Shortest decimal that reads back (through the storage type's rounding) to exactly x. */
function shortestFloat(dt: DType, x: number): string {
  if (!Number.isFinite(x) || x === 0) return formatFloat(x);
  if (dt === 'f64' || dt === 'c128') return formatFloat(x);
  const back = dt === 'f32' || dt === 'c64' ? (y: number) => Math.fround(y) : (y: number) => roundToFormat(dt, y);
  for (let p = 1; p <= 17; p++) {
    const y = Number(x.toPrecision(p));
    if (back(y) === x) return formatFloat(y);
  }
  return formatFloat(x);
}

function nanSpelling(t: Tensor, i: number): string {
  const d = t.data;
  if (d instanceof Float32Array) {
    const bits = new Uint32Array(d.buffer, d.byteOffset + i * 4, 1)[0]!;
    return bits === 0x7fc00000 ? 'nan' : `nan:0x${bits.toString(16).padStart(8, '0')}`;
  }
  if (d instanceof Float64Array) {
    const bits = new BigUint64Array(d.buffer.slice(d.byteOffset + i * 8, d.byteOffset + i * 8 + 8))[0]!;
    return bits === 0x7ff8000000000000n ? 'nan' : `nan:0x${bits.toString(16).padStart(16, '0')}`;
  }
  return 'nan';
}

/** One element of a tensor as a literal. */
export function formatElement(t: Tensor, i: number): string {
  const dt = t.dtype;
  const v = t.data[i]!;
  if (typeof v === 'string') return quoteString(v);
  if (typeof v === 'bigint') return v.toString();
  if (dt === 'bool') return v === 0 ? 'false' : v === 1 ? 'true' : String(v);
  const kind = dtypeInfo(dt).kind;
  if (kind === 'float' || kind === 'complex') {
    if (Number.isNaN(v) && !isMiniFloat(dt) && dt !== 'f16' && dt !== 'bf16') return nanSpelling(t, i);
    return shortestFloat(dt, v);
  }
  return String(v);
}

function sameElement(t: Tensor, i: number, j: number): boolean {
  const a = t.data[i]!;
  const b = t.data[j]!;
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return false; // payloads may differ: never splat NaN
    return Object.is(a, b);
  }
  return a === b;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Packed little-endian bytes (ONNX raw_data layout) of a non-string tensor, NaN payloads kept. */
export function tensorRawBytes(t: Tensor): Uint8Array {
  const dt = t.dtype;
  const n = t.size;
  const bits = dtypeInfo(dt).bits;
  const d = t.data as NumericArray | BigArray;
  if (bits < 8) {
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    const out = new Uint8Array(Math.ceil((n * bits) / 8));
    for (let i = 0; i < n; i++) {
      const v = Number(d[i]);
      const u = isMiniFloat(dt) ? toBits(dt, v) : v & mask;
      out[Math.floor(i / perByte)]! |= (u & mask) << ((i % perByte) * bits);
    }
    return out;
  }
  if (isMiniFloat(dt) || dt === 'f16' || dt === 'bf16') {
    const w = bits / 8;
    const out = new Uint8Array(n * w);
    for (let i = 0; i < n; i++) {
      const b = toBits(dt, (d as NumericArray)[i]!);
      out[i * w] = b & 0xff;
      if (w === 2) out[i * w + 1] = (b >> 8) & 0xff;
    }
    return out;
  }
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
  if (!littleEndian) {
    const w = d.BYTES_PER_ELEMENT;
    for (let i = 0; i < bytes.length; i += w) bytes.subarray(i, i + w).reverse();
  }
  return bytes;
}

const HEX_CODES = new TextEncoder().encode('0123456789abcdef');
const ascii = new TextDecoder();

function hexOf(bytes: Uint8Array): string {
  const out = new Uint8Array(2 + bytes.length * 2);
  out[0] = 0x30; // '0'
  out[1] = 0x78; // 'x'
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out[2 + 2 * i] = HEX_CODES[b >> 4]!;
    out[3 + 2 * i] = HEX_CODES[b & 15]!;
  }
  return ascii.decode(out);
}

/** How constants are printed: in full (the default), or elided above a number of elements. */
export interface PrintOptions {
  /** Constants with more elements than this print as `dense<elided:…>` (a digest, not the data); splats never do. */
  elideConstantsOver?: number;
}

/** Elements above which dumps and `kiln print` elide a constant unless told otherwise (a hex blob's size). */
export const DEFAULT_ELIDE_OVER = MAX_LIST_ELEMENTS;

/** 64 bits of digest over a constant's bytes (two FNV-1a lanes), so dumps still change when weights do. */
export function constantDigest(t: Tensor): string {
  if (t.elidedDigest !== undefined) return t.elidedDigest;
  const bytes = tensorRawBytes(t);
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193);
    b = Math.imul(b ^ bytes[i]!, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** The data part of a dense literal: nested lists, a splat, a hex blob, or an elided placeholder. */
function tensorData(t: Tensor, opts: PrintOptions): string {
  if (t.elidedDigest !== undefined) return `elided:${t.elidedDigest}`;
  const n = t.size;
  if (t.shape.length === 0) return formatElement(t, 0);
  if (n > 1) {
    let splat = true;
    for (let i = 1; i < n && splat; i++) splat = sameElement(t, 0, i);
    if (splat) return formatElement(t, 0);
  }
  if (opts.elideConstantsOver !== undefined && n > opts.elideConstantsOver && t.dtype !== 'string') return `elided:${constantDigest(t)}`;
  if (n > MAX_LIST_ELEMENTS && t.dtype !== 'string') return hexOf(tensorRawBytes(t));
  let k = 0;
  const rec = (axis: number): string => {
    const dim = t.shape[axis]!;
    const parts: string[] = [];
    for (let j = 0; j < dim; j++) parts.push(axis === t.shape.length - 1 ? formatElement(t, k++) : rec(axis + 1));
    return `[${parts.join(', ')}]`;
  };
  return rec(0);
}

/** `dense<…>` (the element type and shape are given separately, by a type). */
export function printTensorLiteral(t: Tensor, opts: PrintOptions = {}): string {
  return `dense<${tensorData(t, opts)}>`;
}

/** `dense<…> : tensor<…>`, self-describing. */
export function printTypedTensorLiteral(t: Tensor, opts: PrintOptions = {}): string {
  return `${printTensorLiteral(t, opts)} : ${printType({ kind: 'tensor', dtype: t.dtype, shape: t.shape })}`;
}

function printQuant(q: QuantParams): string {
  const parts = [`scale = [${q.scale.map(formatFloat).join(', ')}]`, `zero_point = [${q.zeroPoint.map(formatNumber).join(', ')}]`];
  if (q.axis !== undefined) parts.push(`axis = ${q.axis}`);
  if (q.storage !== undefined) parts.push(`storage = ${q.storage}`);
  return `quant<${parts.join(', ')}>`;
}

/** A value type; `?` for an unknown one. */
export function printType(t: ValueType | null): string {
  if (t === null) return '?';
  switch (t.kind) {
    case 'tensor': {
      const dims = t.shape === null ? '*x' : t.shape.map((d) => `${d === null ? '?' : typeof d === 'number' ? String(d) : quoteString(d)}x`).join('');
      let s = `tensor<${dims}${t.dtype}`;
      if (t.quant) s += `, ${printQuant(t.quant)}`;
      if (t.space !== undefined) s += `, space<${quoteString(t.space)}>`;
      return `${s}>`;
    }
    case 'sequence':
      return `seq<${printType(t.elem)}>`;
    case 'optional':
      return `optional<${printType(t.elem)}>`;
    case 'map':
      return `map<${t.key}, ${printType(t.value)}>`;
  }
}

export function printAttr(a: AttrValue, indent: string, opts: PrintOptions = {}): string {
  switch (a.kind) {
    case 'int':
      return formatNumber(a.value);
    case 'float':
      return formatFloat(a.value);
    case 'string':
      return quoteString(a.value);
    case 'tensor':
      return printTypedTensorLiteral(a.value, opts);
    case 'graph':
      return printGraph(a.value, indent, opts);
    case 'type':
      return printType(a.value);
    case 'ints':
      return `ints[${a.value.map(formatNumber).join(', ')}]`;
    case 'floats':
      return `floats[${a.value.map(formatFloat).join(', ')}]`;
    case 'strings':
      return `strings[${a.value.map(quoteString).join(', ')}]`;
    case 'tensors':
      return `tensors[${a.value.map((t) => printTypedTensorLiteral(t, opts)).join(', ')}]`;
    case 'graphs':
      return `graphs[${a.value.map((g) => printGraph(g, indent, opts)).join(', ')}]`;
    case 'types':
      return `types[${a.value.map(printType).join(', ')}]`;
  }
}

/** `%x: type` (type omitted when unknown). */
function printDef(v: Value): string {
  return v.type === null ? printValueName(v.name) : `${printValueName(v.name)}: ${printType(v.type)}`;
}

/** ` = dense<…>` plus ` : tensor<…>` unless the value's declared type already says it. */
function printInit(v: Value, init: Tensor, opts: PrintOptions): string {
  const own = printType({ kind: 'tensor', dtype: init.dtype, shape: init.shape });
  const declared = v.type === null ? null : printType(v.type);
  return declared === own ? ` = ${printTensorLiteral(init, opts)}` : ` = ${printTypedTensorLiteral(init, opts)}`;
}

function printNode(n: Node, indent: string, opts: PrintOptions): string {
  let s = indent;
  if (n.outputs.length > 0) s += `${n.outputs.map((v) => (v === null ? '_' : printDef(v))).join(', ')} = `;
  s += n.domain === '' ? quoteString(n.opType) : `${quoteString(n.domain)}::${quoteString(n.opType)}`;
  s += `(${n.inputs.map((v) => (v === null ? '_' : printValueName(v.name))).join(', ')})`;
  if (n.attrs.size > 0) {
    const parts: string[] = [];
    for (const [k, a] of n.attrs) parts.push(`${printKey(k)} = ${printAttr(a, indent, opts)}`);
    s += ` {${parts.join(', ')}}`;
  }
  if (n.name !== '') s += ` name ${quoteString(n.name)}`;
  return s;
}

/**
 * `graph @name(inputs) -> (outputs) { body }`. The first line carries no indentation (it follows
 * whatever precedes it); body lines are indented by `indent` plus two spaces, the closing brace by `indent`.
 */
export function printGraph(g: Graph, indent = '', opts: PrintOptions = {}): string {
  const inner = `${indent}  `;
  const ins = g.inputs.map((v) => printDef(v) + (v.init ? printInit(v, v.init, opts) : ''));
  const lines = [`graph ${printGraphName(g.name)}(${ins.join(', ')}) -> (${g.outputs.map((v) => printValueName(v.name)).join(', ')}) {`];
  for (const c of g.initializers) {
    if (c.init === null) {
      lines.push(`${inner}const ${printDef(c)}`);
    } else {
      lines.push(`${inner}const ${printDef(c)}${printInit(c, c.init, opts)}`);
    }
  }
  for (const n of g.nodes) lines.push(printNode(n, inner, opts));
  lines.push(`${indent}}`);
  return lines.join('\n');
}

export function printModule(module: Module, opts: PrintOptions = {}): string {
  const head = [`kiln.module attributes {ir_version = ${formatNumber(module.irVersion)}, producer = ${quoteString(module.producer)}}`];
  head.push(`opsets {${[...module.opsets].map(([d, v]) => `${quoteString(d)} = ${formatNumber(v)}`).join(', ')}}`);
  if (module.metadata.size > 0) head.push(`metadata {${[...module.metadata].map(([k, v]) => `${quoteString(k)} = ${quoteString(v)}`).join(', ')}}`);
  return `${head.join(' ')} {\n  ${printGraph(module.graph, '  ', opts)}\n}\n`;
}
