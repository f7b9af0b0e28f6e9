/**
 * Textual IR parser (`.kir`, syntax in docs/ir-text.md): chevrotain lexer and grammar, then a
 * builder that resolves names to SSA values (subgraphs see outer scopes, as in the ONNX importer)
 * and decodes tensor literals bit-exactly. Every error is a KilnError('parse', '<file>:<line>:<col>: …').
 */
import type { IToken } from 'chevrotain';
import { parseText, TokenBuilder } from './token-builder.js';
import { KilnError } from '../../ir/errors.js';
import { Graph, Module, Node, Value, type AttrValue } from '../../ir/graph.js';
import { Tensor, shapeSize } from '../../ir/tensor.js';
import { bigintRange, dtypeInfo, intRange, isDType, type BigArray, type DType, type NumericArray } from '../../ir/dtype.js';
import { fromBits, isMiniFloat } from '../../ir/floatfmt.js';
import { tensorType, type Dim, type QuantParams, type TensorType, type ValueType } from '../../ir/types.js';
import { kirLexer } from './lexer.js';
import { KirGrammar } from './grammar.js';
import type { AttrAst, AttrEntryAst, DenseAst, GraphAst, LiteralAst, ModuleAst, TypeAst } from './ast.js';

let grammar: KirGrammar | null = null;

export function parseModuleText(text: string, file = '<input>'): Module {
  const ast = parseSyntax(text, file);
  return new Builder(file).module(ast);
}

/**
 * Decodes a `dense<…>` literal bit-exactly, as in graph text (the kernel-level text reuses it for
 * const buffers); `declared` is the type to use when the literal carries none.
 */
export function decodeTensorLiteral(lit: LiteralAst, declared: ValueType | null, file = '<input>'): Tensor {
  return new Builder(file).literal(lit, declared);
}

function parseSyntax(text: string, file: string): ModuleAst {
  const g = (grammar ??= new KirGrammar());
  return parseText(kirLexer, g, () => g.module(), text, file);
}

/** Name → value bindings; a subgraph's scope sees its parents'. */
class Scope {
  private readonly names = new Map<string, Value>();
  constructor(readonly parent: Scope | null) {}
  lookup(name: string): Value | undefined {
    return this.names.get(name) ?? this.parent?.lookup(name);
  }
  has(name: string): boolean {
    return this.names.has(name);
  }
  define(name: string, v: Value): void {
    this.names.set(name, v);
  }
}

const STRING_PREFIX = /^"[^"\\\n\r]*(?:\\.[^"\\\n\r]*)*"/;

class Builder extends TokenBuilder {
  private key(tok: IToken): string {
    return tok.image.startsWith('"') ? this.str(tok) : tok.image;
  }

  /** Name of a `%value` / `@graph` reference. */
  private refName(tok: IToken): string {
    const rest = tok.image.slice(1);
    return rest.startsWith('"') ? this.str(tok, rest) : rest;
  }

  private int(tok: IToken, what: string): number {
    if (tok.tokenType.name !== 'Int') this.fail(tok, `expected an integer for ${what}, found '${tok.image}'`);
    return Number(tok.image);
  }

  private number(tok: IToken): number {
    switch (tok.tokenType.name) {
      case 'Int':
      case 'Float':
        return Number(tok.image);
      case 'Nan':
        return NaN;
      case 'Inf':
        return tok.image.startsWith('-') ? -Infinity : Infinity;
      default:
        return this.fail(tok, `expected a number, found '${tok.image}'`);
    }
  }

  private dtype(tok: IToken, name: string): DType {
    if (!isDType(name)) this.fail(tok, `unknown element type '${name}'`);
    return name;
  }

  module(ast: ModuleAst): Module {
    let irVersion = 10;
    let producer = '';
    for (const e of ast.attributes) {
      const k = this.key(e.key);
      const a = this.attr(e, new Scope(null));
      if (k === 'ir_version' && a.kind === 'int') irVersion = a.value;
      else if (k === 'producer' && a.kind === 'string') producer = a.value;
      else this.fail(e.key, `unknown module attribute '${k}' (expected ir_version = <int> or producer = <string>)`);
    }
    const opsets = new Map<string, number>();
    for (const o of ast.opsets) {
      const d = this.key(o.key);
      if (opsets.has(d)) this.fail(o.key, `opset domain ${JSON.stringify(d)} listed twice`);
      opsets.set(d, this.int(o.value, 'an opset version'));
    }
    const metadata = new Map<string, string>();
    for (const m of ast.metadata) {
      const k = this.key(m.key);
      if (metadata.has(k)) this.fail(m.key, `metadata key ${JSON.stringify(k)} listed twice`);
      metadata.set(k, this.str(m.value));
    }
    const graph = this.graph(ast.graph, null);
    return new Module(graph, opsets, irVersion, producer, metadata);
  }

  graph(ast: GraphAst, outer: Scope | null): Graph {
    const scope = new Scope(outer);
    const g = new Graph(this.refName(ast.name));
    const define = (tok: IToken, v: Value): void => {
      if (scope.has(v.name)) this.fail(tok, `value %${v.name} is defined twice`);
      scope.define(v.name, v);
    };
    const use = (tok: IToken): Value => {
      const name = this.refName(tok);
      const v = scope.lookup(name);
      if (!v) this.fail(tok, `undefined value ${tok.image}`);
      return v;
    };
    for (const inp of ast.inputs) {
      const v = new Value(this.refName(inp.name), inp.type ? this.type(inp.type) : null);
      if (inp.init) v.init = this.literal(inp.init, v.type);
      define(inp.name, v);
      g.inputs.push(v);
    }
    for (const st of ast.body) {
      if (st.kind === 'const') {
        const v = new Value(this.refName(st.def.name), st.def.type ? this.type(st.def.type) : null);
        if (st.init) v.init = this.literal(st.init, v.type);
        define(st.def.name, v);
        g.initializers.push(v);
        continue;
      }
      const inputs = st.args.map((t) => (t.tokenType.name === 'Underscore' ? null : use(t)));
      const attrs = new Map<string, AttrValue>();
      for (const e of st.attrs) {
        const k = this.key(e.key);
        if (attrs.has(k)) this.fail(e.key, `attribute '${k}' given twice`);
        attrs.set(k, this.attr(e, scope));
      }
      const domain = st.domain ? this.str(st.domain) : '';
      const name = st.name ? this.str(st.name) : '';
      const outputs = st.results.map((r) => (r.name.tokenType.name === 'Underscore' ? null : new Value(this.refName(r.name), r.type ? this.type(r.type) : null)));
      const node = new Node(this.str(st.op), domain, name, inputs, outputs, attrs);
      st.results.forEach((r, i) => {
        const v = outputs[i];
        if (v) {
          v.producer = node;
          define(r.name, v);
        }
      });
      g.nodes.push(node);
    }
    for (const tok of ast.outputs) g.outputs.push(use(tok));
    return g;
  }

  private attr(e: AttrEntryAst, scope: Scope): AttrValue {
    const a: AttrAst = e.value;
    switch (a.kind) {
      case 'scalar': {
        const k = a.tok.tokenType.name;
        if (k === 'StringLit') return { kind: 'string', value: this.str(a.tok) };
        if (k === 'Int') return { kind: 'int', value: Number(a.tok.image) };
        return { kind: 'float', value: this.number(a.tok) };
      }
      case 'tensor':
        if (!a.lit.type) this.fail(a.lit.tok, 'a tensor attribute needs its type: dense<…> : tensor<…>');
        return { kind: 'tensor', value: this.literal(a.lit, null) };
      case 'graph':
        return { kind: 'graph', value: this.graph(a.graph, scope) };
      case 'type':
        return { kind: 'type', value: this.type(a.type) };
      case 'list': {
        const k = a.open.tokenType.name;
        if (k === 'IntsOpen') return { kind: 'ints', value: a.items.map((t) => this.int(t, 'an ints attribute')) };
        if (k === 'FloatsOpen') return { kind: 'floats', value: a.items.map((t) => this.number(t)) };
        return {
          kind: 'strings',
          value: a.items.map((t) => (t.tokenType.name === 'StringLit' ? this.str(t) : this.fail(t, `expected a string, found '${t.image}'`))),
        };
      }
      case 'tensors':
        return {
          kind: 'tensors',
          value: a.items.map((l) => {
            if (!l.type) this.fail(l.tok, 'a tensor attribute needs its type: dense<…> : tensor<…>');
            return this.literal(l, null);
          }),
        };
      case 'graphs':
        return { kind: 'graphs', value: a.items.map((g) => this.graph(g, scope)) };
      case 'types':
        return { kind: 'types', value: a.items.map((t) => this.type(t)) };
    }
  }

  type(ast: TypeAst): ValueType {
    switch (ast.kind) {
      case 'seq':
        return { kind: 'sequence', elem: ast.elem === null ? null : this.type(ast.elem) };
      case 'optional':
        return { kind: 'optional', elem: ast.elem === null ? null : this.type(ast.elem) };
      case 'map':
        return { kind: 'map', key: this.dtype(ast.key, ast.key.image), value: this.type(ast.value) };
      case 'tensor':
        return this.tensorType(ast);
    }
  }

  private tensorType(ast: TypeAst & { kind: 'tensor' }): TensorType {
    const tok = ast.head;
    let rest = tok.image.slice('tensor<'.length);
    let shape: Dim[] | null = [];
    if (rest.startsWith('*x')) {
      shape = null;
      rest = rest.slice(2);
    } else {
      for (;;) {
        let m = /^(-?[0-9]+|\?)x/.exec(rest);
        if (m) {
          shape.push(m[1] === '?' ? null : Number(m[1]));
          rest = rest.slice(m[0].length);
          continue;
        }
        m = STRING_PREFIX.exec(rest);
        if (m && rest[m[0].length] === 'x') {
          shape.push(this.str(tok, m[0]));
          rest = rest.slice(m[0].length + 1);
          continue;
        }
        break;
      }
    }
    const dt = this.dtype(tok, rest);
    const extra: { quant?: QuantParams; space?: string } = {};
    if (ast.quant) extra.quant = this.quant(ast.quant.tok, ast.quant.entries);
    if (ast.space) extra.space = this.str(ast.space);
    return tensorType(dt, shape, extra);
  }

  private quant(tok: IToken, entries: { key: IToken; list?: IToken[]; value?: IToken }[]): QuantParams {
    let scale: number[] | undefined;
    let zeroPoint: number[] | undefined;
    let axis: number | undefined;
    let storage: DType | undefined;
    for (const e of entries) {
      const k = e.key.image;
      if (k === 'scale' && e.list) scale = e.list.map((t) => this.number(t));
      else if (k === 'zero_point' && e.list) zeroPoint = e.list.map((t) => this.number(t));
      else if (k === 'axis' && e.value) axis = this.int(e.value, 'axis');
      else if (k === 'storage' && e.value?.tokenType.name === 'Ident') storage = this.dtype(e.value, e.value.image);
      else this.fail(e.key, `unexpected quantization parameter '${k}'`);
    }
    if (!scale || !zeroPoint) this.fail(tok, 'quant<…> needs scale = […] and zero_point = […]');
    const q: { scale: number[]; zeroPoint: number[]; axis?: number; storage?: DType } = { scale, zeroPoint };
    if (axis !== undefined) q.axis = axis;
    if (storage !== undefined) q.storage = storage;
    return q;
  }

  /** A dense literal; its element type and shape come from its own type, else from the declared value type. */
  literal(lit: LiteralAst, declared: ValueType | null): Tensor {
    let t: ValueType | null = lit.type ? this.type(lit.type) : declared;
    const where = lit.type ? (lit.type.kind === 'tensor' ? lit.type.head : lit.type.tok) : lit.tok;
    if (t === null) this.fail(lit.tok, 'the literal needs a type: dense<…> : tensor<…>');
    if (t.kind !== 'tensor' || t.shape === null || !t.shape.every((d) => typeof d === 'number' && d >= 0)) {
      this.fail(where, 'a tensor literal needs a tensor type with a static shape');
    }
    if (lit.type && (t.quant || t.space !== undefined)) this.fail(where, 'a tensor literal type carries no quantization or memory space');
    const shape = t.shape as number[];
    const dt = t.dtype;
    const size = shapeSize(shape);
    const data = lit.data;
    if (data.kind === 'elided') {
      if (dt === 'string') this.fail(data.tok, 'string tensors are never elided');
      return Tensor.elided(dt, shape, data.tok.image.slice('elided:'.length));
    }
    const tensor = Tensor.zeros(dt, shape);
    if (data.kind === 'hex') {
      if (dt === 'string') this.fail(data.tok, 'string tensors cannot be given as hex');
      this.fillRaw(tensor, data.tok);
      return tensor;
    }
    if (data.kind === 'elem') {
      for (let i = 0; i < size; i++) this.setElement(tensor, i, data.tok);
      return tensor;
    }
    const leaves: IToken[] = [];
    const flatten = (d: DenseAst): void => {
      if (d.kind === 'list') d.items.forEach(flatten);
      else if (d.kind === 'elem') leaves.push(d.tok);
      else this.fail(d.tok, `${d.kind === 'hex' ? 'a hex blob' : 'elided data'} cannot appear inside a list`);
    };
    flatten(data);
    if (leaves.length !== size) this.fail(data.tok, `the literal has ${leaves.length} elements, shape [${shape.join(',')}] needs ${size}`);
    leaves.forEach((tok, i) => this.setElement(tensor, i, tok));
    return tensor;
  }

  private setElement(t: Tensor, i: number, tok: IToken): void {
    const dt = t.dtype;
    const kind = tok.tokenType.name;
    if (dt === 'string') {
      if (kind !== 'StringLit') this.fail(tok, `expected a string element, found '${tok.image}'`);
      (t.data as string[])[i] = this.str(tok);
      return;
    }
    if (kind === 'StringLit') this.fail(tok, `a ${dt} tensor cannot hold a string`);
    const info = dtypeInfo(dt);
    if (kind === 'TrueKw' || kind === 'FalseKw') {
      if (dt !== 'bool') this.fail(tok, `'${tok.image}' is not a ${dt} value`);
      (t.data as NumericArray)[i] = kind === 'TrueKw' ? 1 : 0;
      return;
    }
    if (info.kind === 'float' || info.kind === 'complex') {
      if (kind === 'Nan' && tok.image.includes(':')) {
        const bits = BigInt(tok.image.slice(4));
        if (t.data instanceof Float32Array && bits <= 0xffffffffn) new Uint32Array(t.data.buffer, t.data.byteOffset + i * 4, 1)[0] = Number(bits);
        else if (t.data instanceof Float64Array) new BigUint64Array(t.data.buffer, t.data.byteOffset + i * 8, 1)[0] = BigInt.asUintN(64, bits);
        else this.fail(tok, `a NaN bit pattern does not fit ${dt}`);
        return;
      }
      t.setScalar(i, this.number(tok));
      return;
    }
    if (kind !== 'Int') this.fail(tok, `expected an integer ${dt} element, found '${tok.image}'`);
    if (info.name === 'i64' || info.name === 'u64') {
      const v = BigInt(tok.image);
      const [lo, hi] = bigintRange(dt);
      if (v < lo || v > hi) this.fail(tok, `${tok.image} is out of range for ${dt}`);
      (t.data as BigArray)[i] = v;
      return;
    }
    const v = Number(tok.image);
    const [lo, hi] = intRange(dt);
    if (!(v >= lo && v <= hi) && !(dt === 'bool' && v >= 0 && v <= 255)) this.fail(tok, `${tok.image} is out of range for ${dt}`);
    (t.data as NumericArray)[i] = v;
  }

  /** Decodes the hex form: packed little-endian bytes, the ONNX raw_data layout. */
  private fillRaw(t: Tensor, tok: IToken): void {
    const hex = tok.image.slice(2);
    if (hex.length % 2 !== 0) this.fail(tok, 'a hex blob needs an even number of digits');
    const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
    const dt = t.dtype;
    const n = t.size;
    const bits = dtypeInfo(dt).bits;
    const d = t.data as NumericArray | BigArray;
    const native = bits >= 8 && !isMiniFloat(dt) && dt !== 'f16' && dt !== 'bf16';
    const need = native ? d.byteLength : Math.ceil((n * bits) / 8);
    if (bytes.length !== need) this.fail(tok, `the hex blob has ${bytes.length} bytes, ${dt} shape [${t.shape.join(',')}] needs ${need}`);
    if (bits < 8) {
      const perByte = 8 / bits;
      const mask = (1 << bits) - 1;
      const signed = dtypeInfo(dt).kind === 'int';
      for (let i = 0; i < n; i++) {
        const u = (bytes[Math.floor(i / perByte)]! >> ((i % perByte) * bits)) & mask;
        (d as NumericArray)[i] = isMiniFloat(dt) ? fromBits(dt, u) : signed && u >= 1 << (bits - 1) ? u - (1 << bits) : u;
      }
      return;
    }
    if (isMiniFloat(dt) || dt === 'f16' || dt === 'bf16') {
      const w = bits / 8;
      for (let i = 0; i < n; i++) (d as NumericArray)[i] = fromBits(dt, w === 2 ? bytes[2 * i]! | (bytes[2 * i + 1]! << 8) : bytes[i]!);
      return;
    }
    const target = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    target.set(bytes);
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
      const w = d.BYTES_PER_ELEMENT;
      for (let i = 0; i < target.length; i += w) target.subarray(i, i + w).reverse();
    }
  }
}
