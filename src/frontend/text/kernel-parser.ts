/**
 * Parser of the kernel-level text (`kiln.kernel`, syntax in docs/kernel-ir.md "Text form"): the
 * chevrotain grammar in kernel-grammar.ts, then a builder that resolves buffer and variable names,
 * gives every constant its type (from its `:type` suffix, its context, or the literal's default: the
 * rules of src/ir/kernel/print.ts) and decodes const data bit-exactly. Every error is a
 * KilnError('parse', '<file>:<line>:<col>: …'). Type consistency is not checked here: that is
 * verifyProgram's job, so a parsed program can be printed back even when it would not verify.
 */
import type { IToken } from 'chevrotain';
import { parseText, TokenBuilder } from './token-builder.js';
import { KilnError } from '../../ir/errors.js';
import { isDType } from '../../ir/dtype.js';
import { tensorType } from '../../ir/types.js';
import { BOOL_RESULT_BIN, BOOL_RESULT_UN, FLOAT_TYPES, defaultLiteralType, operandHints } from '../../ir/kernel/print.js';
import type { BinOp, BufferRole, Expr, KBuffer, Kernel, LoopAnnotations, Program, ScalarType, Stmt, UnOp } from '../../ir/kernel/types.js';
import { kernelLexer } from './kernel-lexer.js';
import { KernelGrammar, type KBufferAst, type KExprAst, type KProgramAst, type KStmtAst } from './kernel-grammar.js';
import { decodeTensorLiteral, parseModuleText } from './parser.js';
import type { Module } from '../../ir/graph.js';

let grammar: KernelGrammar | null = null;

const INFIX_OPS: Readonly<Record<string, BinOp>> = {
  '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '==': 'eq', '!=': 'ne',
  '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod',
};
const BIN_OPS: ReadonlySet<string> = new Set<BinOp>([
  'add', 'sub', 'mul', 'div', 'mod', 'fmod', 'min', 'max', 'pow', 'atan2',
  'lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or', 'xor', 'bitand', 'bitor', 'bitxor', 'shl', 'shr',
]);
const UN_OPS: ReadonlySet<string> = new Set<UnOp>([
  'neg', 'abs', 'sqrt', 'exp', 'log', 'sin', 'cos', 'tan', 'asin', 'acos', 'atan',
  'sinh', 'cosh', 'tanh', 'asinh', 'acosh', 'atanh', 'erf', 'floor', 'ceil', 'round', 'trunc',
  'not', 'bitnot', 'isnan', 'isinf', 'sign', 'recip',
]);
const ROLES: ReadonlySet<string> = new Set<BufferRole>(['input', 'output', 'const', 'temp']);

export type IrText = { level: 'graph'; module: Module } | { level: 'kernel'; program: Program };

/**
 * The level a `.kir` text declares by its header keyword (after blank lines and `//` comments):
 * `kiln.kernel` is kernel IR, anything else is left to the graph parser (which reports what is wrong).
 */
export function irTextLevel(text: string): 'graph' | 'kernel' {
  const head = text.replace(/^(?:\s+|\/\/[^\n\r]*)*/, '');
  return /^kiln\.kernel(?![A-Za-z0-9_])/.test(head) ? 'kernel' : 'graph';
}

/** Parses `.kir` text of either level (`kiln.module …` or `kiln.kernel …`). */
export function parseIrText(text: string, file = '<input>'): IrText {
  return irTextLevel(text) === 'kernel' ? { level: 'kernel', program: parseProgramText(text, file) } : { level: 'graph', module: parseModuleText(text, file) };
}

export function parseProgramText(text: string, file = '<input>'): Program {
  const program = new ProgramBuilder(file).program(parseKernelSyntax(text, file));
  const notes = programNotes(text);
  if (notes.length > 0) program.notes = notes;
  return program;
}

/** Topics of the notes passes leave in a program (Program.notes); other comments are dropped. */
const NOTE_TOPICS = ['fusion'];

/**
 * The `// <topic>: …` lines after the header (Program.notes), in order. Comments are otherwise
 * skipped by the lexer, so these are found on the text's lines.
 */
function programNotes(text: string): string[] {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => /^\s*kiln\.kernel\b/.test(l));
  const re = new RegExp(`^\\s*// ((?:${NOTE_TOPICS.join('|')}): .*?)\\s*$`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    const m = re.exec(l);
    if (m) out.push(m[1]!);
  }
  return out;
}

function parseKernelSyntax(text: string, file: string): KProgramAst {
  const g = (grammar ??= new KernelGrammar());
  return parseText(kernelLexer, g, () => g.program(), text, file);
}

const isConstAst = (e: KExprAst): boolean => e.k === 'num';

class ProgramBuilder extends TokenBuilder {
  private readonly buffers = new Map<string, KBuffer>();
  /** Variables in scope (loop variables, lets), innermost last. */
  private scopes: Map<string, ScalarType>[] = [];

  /** Name of a `%name` / `@name` reference. */
  private refName(tok: IToken): string {
    const rest = tok.image.slice(1);
    return rest.startsWith('"') ? this.str(tok, rest) : rest;
  }

  private scalarType(tok: IToken): ScalarType {
    const n = tok.image;
    if (n === 'index') return n;
    if (!isDType(n) || n === 'string' || n === 'c64' || n === 'c128') this.fail(tok, `unknown scalar type '${n}'`);
    return n;
  }

  private nonNegInt(tok: IToken, what: string): number {
    const v = Number(tok.image);
    if (!Number.isSafeInteger(v) || v < 0) this.fail(tok, `${what} must be a non-negative integer, found '${tok.image}'`);
    return v;
  }

  private buffer(tok: IToken): KBuffer {
    const b = this.buffers.get(this.refName(tok));
    if (!b) this.fail(tok, `undefined buffer ${tok.image}`);
    return b;
  }

  program(ast: KProgramAst): Program {
    const param = ast.param ? { name: this.refName(ast.param.name), max: this.nonNegInt(ast.param.max, 'a run-time size bound') } : undefined;
    const buffers = ast.buffers.map((b, i) => this.declare(b, i));
    ast.buffers.forEach((b, i) => this.complete(b, buffers[i]!));
    this.shareViewData(buffers);
    const inputs = ast.inputs.map((t) => this.buffer(t));
    const outputs = ast.outputs.map((t) => this.buffer(t));
    const names = new Set<string>();
    const kernels = ast.kernels.map((k): Kernel => {
      const name = this.refName(k.name);
      if (names.has(name)) this.fail(k.name, `kernel ${k.name.image} is defined twice`);
      names.add(name);
      this.scopes = param ? [new Map([[param.name, 'index' as ScalarType]])] : [];
      return { name, origin: { node: this.str(k.node), op: this.str(k.op) }, body: this.block(k.body) };
    });
    const program: Program = { name: this.refName(ast.name), buffers, inputs, outputs, kernels };
    if (param) program.param = param;
    return program;
  }

  /** First pass over a buffer line: everything but its view target and data (views may refer forward). */
  private declare(ast: KBufferAst, position: number): KBuffer {
    const name = this.refName(ast.name);
    if (this.buffers.has(name)) this.fail(ast.name, `buffer ${ast.name.image} is declared twice`);
    const role = ast.role.image;
    if (!ROLES.has(role)) this.fail(ast.role, `unknown buffer role '${role}' (expected input, output, const or temp)`);
    const b: KBuffer = {
      id: ast.id ? this.nonNegInt(ast.id, 'a buffer id') : position,
      name,
      dtype: this.scalarType(ast.dtype),
      shape: ast.dims.map((d) => this.nonNegInt(d, 'a dimension')),
      role: role as BufferRole,
    };
    if (ast.level) b.level = this.str(ast.level);
    if (ast.offset) b.offset = this.nonNegInt(ast.offset, 'an offset');
    if (ast.dyn) b.dynDim = this.nonNegInt(ast.dyn, 'a dynamic dim');
    this.buffers.set(name, b);
    return b;
  }

  private complete(ast: KBufferAst, b: KBuffer): void {
    if (ast.view) b.viewOf = this.buffer(ast.view);
    if (ast.data) {
      if (b.dtype === 'index') this.fail(ast.data.tok, `buffer ${ast.name.image} of index type cannot hold data`);
      b.data = decodeTensorLiteral(ast.data, tensorType(b.dtype, b.shape), this.file);
    }
  }

  /** Views of a const buffer written without data share their root's elements (the printer omits them). */
  private shareViewData(all: readonly KBuffer[]): void {
    for (const b of all) {
      if (b.data || !b.viewOf) continue;
      const root = b.viewOf;
      if (root.data && b.dtype === root.dtype) b.data = root.data.reshape(b.shape);
    }
  }

  private block(ss: readonly KStmtAst[]): Stmt[] {
    this.scopes.push(new Map());
    const out = ss.map((s) => this.stmt(s));
    this.scopes.pop();
    return out;
  }

  private varType(tok: IToken): ScalarType {
    const name = this.refName(tok);
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = this.scopes[i]!.get(name);
      if (t !== undefined) return t;
    }
    if (this.buffers.has(name)) this.fail(tok, `${tok.image} is a buffer: load it with ${tok.image}[index]`);
    return this.fail(tok, `undefined variable ${tok.image}`);
  }

  private stmt(s: KStmtAst): Stmt {
    switch (s.k) {
      case 'for': {
        const lo = this.expr(s.lo, 'index');
        const hi = this.expr(s.hi, 'index');
        const ann: LoopAnnotations = {};
        for (const a of s.ann) {
          const kw = a.tok.image;
          if ((kw === 'parallel' && ann.parallel) || (kw === 'pipeline' && ann.pipeline) || (kw === 'vectorize' && ann.vectorize !== undefined) || (kw === 'unroll' && ann.unroll !== undefined) || (kw === 'gpu' && ann.gpu !== undefined)) {
            this.fail(a.tok, `loop annotation '${kw}' given twice`);
          }
          if (kw === 'parallel') {
            ann.parallel = true;
            if (a.arg) {
              ann.threads = this.nonNegInt(a.arg, 'a thread count');
              if (ann.threads < 1) this.fail(a.arg, 'a parallel loop needs at least 1 thread');
            }
          }
          else if (kw === 'pipeline') {
            ann.pipeline = true;
            if (a.arg) ann.ii = this.nonNegInt(a.arg, 'an initiation interval');
          } else if (kw === 'gpu') {
            const dim = a.dim!.image;
            if (dim !== 'x' && dim !== 'y' && dim !== 'z') this.fail(a.dim!, `gpu dimension '${dim}' is not x, y or z`);
            const scope = a.scope?.image;
            if (scope !== undefined && scope !== 'group' && scope !== 'local') this.fail(a.scope!, `gpu scope '${scope}' is not group or local`);
            ann.gpu = { dim, workgroup: this.nonNegInt(a.arg!, 'a workgroup size'), ...(scope ? { scope } : {}) };
          } else if (kw === 'vectorize') ann.vectorize = this.nonNegInt(a.arg!, 'a vector width');
          else ann.unroll = this.nonNegInt(a.arg!, 'an unroll factor');
        }
        const v = this.refName(s.v);
        this.scopes.push(new Map([[v, 'index']]));
        const body = this.block(s.body);
        this.scopes.pop();
        return { k: 'for', v, lo, hi, body, ann };
      }
      case 'barrier': return { k: 'barrier' };
      case 'store': {
        const buf = this.buffer(s.buf);
        return { k: 'store', buf, idx: this.expr(s.idx, 'index'), val: this.expr(s.val, buf.dtype) };
      }
      case 'let': {
        const t = this.scalarType(s.type);
        const init = this.expr(s.init, t);
        this.scopes[this.scopes.length - 1]!.set(this.refName(s.name), t);
        return { k: 'let', name: this.refName(s.name), t, init };
      }
      case 'set':
        return { k: 'set', name: this.refName(s.name), val: this.expr(s.val, this.varType(s.name)) };
      case 'if':
        return { k: 'if', c: this.expr(s.c, 'bool'), then: this.block(s.then), else: this.block(s.else) };
    }
  }

  /** A constant; `hint` is its type when the text gives none (null: the literal's default). */
  private constant(e: KExprAst & { k: 'num' }, hint: ScalarType | null): Expr {
    const tok = e.tok;
    const kind = tok.tokenType.name;
    const lit = kind === 'Int' ? 'int' : kind === 'TrueKw' || kind === 'FalseKw' ? 'bool' : 'float';
    const t = e.type ? this.scalarType(e.type) : (hint ?? defaultLiteralType(lit));
    if (lit === 'bool') {
      if (t !== 'bool') this.fail(tok, `'${tok.image}' is not a ${t} value (write ${tok.image}:bool)`);
      return { k: 'const', t, v: kind === 'TrueKw' ? 1 : 0 };
    }
    if (FLOAT_TYPES.has(t)) {
      if (kind === 'Nan' && tok.image.includes(':')) this.fail(tok, 'a scalar constant carries no NaN bit pattern');
      const v = kind === 'Nan' ? NaN : kind === 'Inf' ? (tok.image.startsWith('-') ? -Infinity : Infinity) : Number(tok.image);
      return { k: 'const', t, v };
    }
    if (lit !== 'int') this.fail(tok, `'${tok.image}' is not a ${t} value (an integer is expected)`);
    if (t === 'i64' || t === 'u64') return { k: 'const', t, v: BigInt(tok.image) };
    const v = Number(tok.image);
    if (!Number.isSafeInteger(v)) this.fail(tok, `${tok.image} does not fit ${t}`);
    return { k: 'const', t, v };
  }

  /** Two operands typed by the shared rules (a constant next to a non-constant takes its type). */
  private operands(op: BinOp | 'select', hint: ScalarType | null, a: KExprAst, b: KExprAst): [Expr, Expr] {
    const ca = isConstAst(a);
    const cb = isConstAst(b);
    if (ca && !cb) {
      const eb = this.expr(b, operandHints(op, hint, { isConst: true, t: null }, { isConst: false, t: null })[1]);
      return [this.expr(a, eb.t), eb];
    }
    if (cb && !ca) {
      const ea = this.expr(a, operandHints(op, hint, { isConst: false, t: null }, { isConst: true, t: null })[0]);
      return [ea, this.expr(b, ea.t)];
    }
    const [ha, hb] = operandHints(op, hint, { isConst: ca, t: null }, { isConst: cb, t: null });
    return [this.expr(a, ha), this.expr(b, hb)];
  }

  private bin(op: BinOp, hint: ScalarType | null, a: KExprAst, b: KExprAst): Expr {
    const [ea, eb] = this.operands(op, hint, a, b);
    return { k: 'bin', t: BOOL_RESULT_BIN.has(op) ? 'bool' : ea.t, op, a: ea, b: eb };
  }

  expr(e: KExprAst, hint: ScalarType | null): Expr {
    switch (e.k) {
      case 'num':
        return this.constant(e, hint);
      case 'ref':
        if (e.idx) {
          const buf = this.buffer(e.tok);
          return { k: 'load', t: buf.dtype, buf, idx: this.expr(e.idx, 'index') };
        }
        return { k: 'var', t: this.varType(e.tok), name: this.refName(e.tok) };
      case 'infix':
        return this.bin(INFIX_OPS[e.tok.image]!, hint, e.a, e.b);
      case 'cast':
        return { k: 'cast', t: this.scalarType(e.type), a: this.expr(e.a, null) };
      case 'call': {
        const name = e.tok.image;
        const arity = (n: number): void => {
          if (e.args.length !== n) this.fail(e.tok, `${name} takes ${n} operand${n === 1 ? '' : 's'}, ${e.args.length} given`);
        };
        if (name === 'select') {
          arity(3);
          const c = this.expr(e.args[0]!, 'bool');
          const [a, b] = this.operands('select', hint, e.args[1]!, e.args[2]!);
          return { k: 'select', t: a.t, c, a, b };
        }
        if (BIN_OPS.has(name)) {
          arity(2);
          return this.bin(name as BinOp, hint, e.args[0]!, e.args[1]!);
        }
        if (UN_OPS.has(name)) {
          arity(1);
          const boolResult = BOOL_RESULT_UN.has(name);
          const a = this.expr(e.args[0]!, boolResult ? null : hint);
          return { k: 'un', t: boolResult ? 'bool' : a.t, op: name as UnOp, a };
        }
        return this.fail(e.tok, `unknown operation '${name}'`);
      }
    }
  }
}
