/**
 * Text form of kernel IR (`kiln.kernel`, syntax in docs/kernel-ir.md "Text form"); the parser is
 * src/frontend/text/kernel-parser.ts. Printing is deterministic and exact: parsing the text and
 * printing again gives the same bytes, constants keep their exact value (i64/u64 as integers, floats
 * as the shortest decimal that reads back to the same double) and const buffers reuse the graph
 * printer's bit-exact `dense<…>` literals.
 *
 * Constants are written bare where the parser can tell their type from the context (the other operand
 * of a binary op, a store's buffer, a let's type, a loop bound) or where it is the literal's default
 * (integer → index, float → f32, true/false → bool); elsewhere as `3:i64`. `constantContext` and the
 * `ctx` arguments below are the rules the parser follows too.
 */
import { formatFloat, printGraphName, printTensorLiteral, type PrintOptions, printTypedTensorLiteral, printValueName, quoteString } from '../print.js';
import type { BinOp, Expr, KBuffer, Kernel, Program, ScalarType, Stmt } from './types.js';

/** Binary ops written infix, with their precedence (higher binds tighter). */
export const INFIX: ReadonlyMap<BinOp, { sym: string; prec: number }> = new Map<BinOp, { sym: string; prec: number }>([
  ['lt', { sym: '<', prec: 1 }],
  ['le', { sym: '<=', prec: 1 }],
  ['gt', { sym: '>', prec: 1 }],
  ['ge', { sym: '>=', prec: 1 }],
  ['eq', { sym: '==', prec: 1 }],
  ['ne', { sym: '!=', prec: 1 }],
  ['add', { sym: '+', prec: 2 }],
  ['sub', { sym: '-', prec: 2 }],
  ['mul', { sym: '*', prec: 3 }],
  ['div', { sym: '/', prec: 3 }],
  ['mod', { sym: '%', prec: 3 }],
]);

/** Binary ops whose result is bool whatever the operand type (their operands get no type hint). */
export const BOOL_RESULT_BIN: ReadonlySet<BinOp> = new Set<BinOp>(['lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or', 'xor']);
export const BOOL_RESULT_UN: ReadonlySet<string> = new Set(['not', 'isnan', 'isinf']);

export const FLOAT_TYPES: ReadonlySet<ScalarType> = new Set<ScalarType>(['f16', 'bf16', 'f32', 'f64', 'f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f8e8m0', 'f4e2m1']);

type LiteralKind = 'int' | 'float' | 'bool';

/** The type a bare literal of this kind takes when its context gives none. */
export function defaultLiteralType(kind: LiteralKind): ScalarType {
  return kind === 'int' ? 'index' : kind === 'float' ? 'f32' : 'bool';
}

/** How a constant is spelled (without its type) and what kind of literal that is. */
function constSpelling(e: Expr & { k: 'const' }): { text: string; kind: LiteralKind } {
  const v = e.v;
  if (FLOAT_TYPES.has(e.t)) return { text: formatFloat(Number(v)), kind: 'float' };
  if (e.t === 'bool' && (v === 0 || v === 1)) return { text: v === 1 ? 'true' : 'false', kind: 'bool' };
  if (typeof v === 'bigint') return { text: v.toString(), kind: 'int' };
  if (Number.isInteger(v) && !Object.is(v, -0) && !/e/.test(String(v))) return { text: String(v), kind: 'int' };
  return { text: formatFloat(v), kind: 'float' };
}

function printConst(e: Expr & { k: 'const' }, ctx: ScalarType | null): string {
  const { text, kind } = constSpelling(e);
  return e.t === (ctx ?? defaultLiteralType(kind)) ? text : `${text}:${e.t}`;
}

/**
 * Type hints for the two operands of a binary op or select branch pair, given the hint for the whole
 * (`ctx`): a constant next to a non-constant takes the other side's type; two constants both take
 * the hint (comparisons and logical ops pass none down).
 */
export function operandHints(op: BinOp | 'select', ctx: ScalarType | null, a: { isConst: boolean; t: ScalarType | null }, b: { isConst: boolean; t: ScalarType | null }): [ScalarType | null, ScalarType | null] {
  const hint = op !== 'select' && BOOL_RESULT_BIN.has(op) ? null : ctx;
  if (a.isConst && !b.isConst) return [b.t, hint];
  if (b.isConst && !a.isConst) return [hint, a.t];
  return [hint, hint];
}

const PRIMARY = 4;

class Printer {
  /** Types of the variables in scope (loop variables and lets), innermost last. */
  private readonly scopes: Map<string, ScalarType>[] = [];

  expr(e: Expr, ctx: ScalarType | null): string {
    return this.prec(e, ctx).text;
  }

  /** Text and precedence of an expression (PRIMARY for atoms and calls). */
  private prec(e: Expr, ctx: ScalarType | null): { text: string; prec: number } {
    switch (e.k) {
      case 'const':
        return { text: printConst(e, ctx), prec: PRIMARY };
      case 'var':
        return { text: printValueName(e.name), prec: PRIMARY };
      case 'load':
        return { text: `${printValueName(e.buf.name)}[${this.expr(e.idx, 'index')}]`, prec: PRIMARY };
      case 'bin': {
        const [ha, hb] = operandHints(e.op, ctx, { isConst: e.a.k === 'const', t: e.a.t }, { isConst: e.b.k === 'const', t: e.b.t });
        const inf = INFIX.get(e.op);
        if (!inf) return { text: `${e.op}(${this.expr(e.a, ha)}, ${this.expr(e.b, hb)})`, prec: PRIMARY };
        const a = this.prec(e.a, ha);
        const b = this.prec(e.b, hb);
        // left-associative; comparisons do not chain, so both sides of one are parenthesized at level 1
        const la = inf.prec === 1 ? a.prec > 1 : a.prec >= inf.prec;
        const lb = b.prec > inf.prec;
        return { text: `${la ? a.text : `(${a.text})`} ${inf.sym} ${lb ? b.text : `(${b.text})`}`, prec: inf.prec };
      }
      case 'un':
        return { text: `${e.op}(${this.expr(e.a, BOOL_RESULT_UN.has(e.op) ? null : ctx)})`, prec: PRIMARY };
      case 'cast':
        return { text: `cast<${e.t}>(${this.expr(e.a, null)})`, prec: PRIMARY };
      case 'select': {
        const [ha, hb] = operandHints('select', ctx, { isConst: e.a.k === 'const', t: e.a.t }, { isConst: e.b.k === 'const', t: e.b.t });
        return { text: `select(${this.expr(e.c, 'bool')}, ${this.expr(e.a, ha)}, ${this.expr(e.b, hb)})`, prec: PRIMARY };
      }
    }
  }

  private varType(name: string): ScalarType | null {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = this.scopes[i]!.get(name);
      if (t !== undefined) return t;
    }
    return null;
  }

  block(ss: readonly Stmt[], indent: string, out: string[]): void {
    this.scopes.push(new Map());
    for (const s of ss) this.stmt(s, indent, out);
    this.scopes.pop();
  }

  private stmt(s: Stmt, indent: string, out: string[]): void {
    const inner = `${indent}  `;
    switch (s.k) {
      case 'for': {
        const ann: string[] = [];
        if (s.ann.parallel) ann.push(s.ann.threads !== undefined ? ` parallel ${s.ann.threads}` : ' parallel');
        if (s.ann.vectorize !== undefined) ann.push(` vectorize ${s.ann.vectorize}`);
        if (s.ann.unroll !== undefined) ann.push(` unroll ${s.ann.unroll}`);
        if (s.ann.pipeline) ann.push(s.ann.ii !== undefined ? ` pipeline ${s.ann.ii}` : ' pipeline');
        if (s.ann.gpu) ann.push(` gpu ${s.ann.gpu.scope ? `${s.ann.gpu.scope} ` : ''}${s.ann.gpu.dim} ${s.ann.gpu.workgroup}`);
        out.push(`${indent}for ${printValueName(s.v)} in ${this.expr(s.lo, 'index')} to ${this.expr(s.hi, 'index')}${ann.join('')} {`);
        this.scopes.push(new Map([[s.v, 'index']]));
        this.block(s.body, inner, out);
        this.scopes.pop();
        out.push(`${indent}}`);
        return;
      }
      case 'store':
        out.push(`${indent}store ${printValueName(s.buf.name)}[${this.expr(s.idx, 'index')}] = ${this.expr(s.val, s.buf.dtype)}`);
        return;
      case 'let':
        out.push(`${indent}let ${printValueName(s.name)}: ${s.t} = ${this.expr(s.init, s.t)}`);
        this.scopes[this.scopes.length - 1]!.set(s.name, s.t);
        return;
      case 'set':
        out.push(`${indent}set ${printValueName(s.name)} = ${this.expr(s.val, this.varType(s.name))}`);
        return;
      case 'barrier':
        out.push(`${indent}barrier`);
        break;
      case 'if':
        out.push(`${indent}if ${this.expr(s.c, 'bool')} {`);
        this.block(s.then, inner, out);
        if (s.else.length > 0) {
          out.push(`${indent}} else {`);
          this.block(s.else, inner, out);
        }
        out.push(`${indent}}`);
        return;
    }
  }
}

/** `f32[1,3,32,32]` (`f32[]` for a scalar). */
export function printBufferType(b: Pick<KBuffer, 'dtype' | 'shape'>): string {
  return `${b.dtype}[${b.shape.join(',')}]`;
}

/** True when a view's data is its root's elements in its own shape (the parser rebuilds it so). */
function sharesRootData(b: KBuffer): boolean {
  const root = b.viewOf;
  if (!root || !b.data || !root.data || b.data.data !== root.data.data) return false;
  return b.data.dtype === b.dtype && b.data.shape.length === b.shape.length && b.data.shape.every((d, i) => d === b.shape[i]);
}

export function printBuffer(b: KBuffer, position: number, opts: PrintOptions = {}): string {
  let s = `buffer ${printValueName(b.name)}: ${b.role} ${printBufferType(b)}`;
  if (b.viewOf) s += ` view ${printValueName(b.viewOf.name)}`;
  if (b.level !== undefined) s += ` level ${quoteString(b.level)}`;
  if (b.offset !== undefined) s += ` offset ${b.offset}`;
  if (b.id !== position) s += ` id ${b.id}`;
  if (b.dynDim !== undefined) s += ` dyn ${b.dynDim}`;
  if (b.data && !sharesRootData(b)) {
    const own = b.data.dtype === b.dtype && b.data.shape.length === b.shape.length && b.data.shape.every((d, i) => d === b.shape[i]);
    s += ` = ${own ? printTensorLiteral(b.data, opts) : printTypedTensorLiteral(b.data, opts)}`;
  }
  return s;
}

export function printKernel(k: Kernel, indent = ''): string {
  const out = [`${indent}kernel ${printGraphName(k.name)} from ${quoteString(k.origin.node)} (${quoteString(k.origin.op)}) {`];
  new Printer().block(k.body, `${indent}  `, out);
  out.push(`${indent}}`);
  return out.join('\n');
}

/** One expression as text (for messages and tests); constants get the default-typing rules. */
export function printExpr(e: Expr): string {
  return new Printer().expr(e, null);
}

export function printProgram(p: Program, opts: PrintOptions = {}): string {
  const lines = [`kiln.kernel ${printGraphName(p.name)} {`];
  if (p.param) lines.push(`  param ${printValueName(p.param.name)} <= ${p.param.max}`);
  p.buffers.forEach((b, i) => lines.push(`  ${printBuffer(b, i, opts)}`));
  lines.push(`  inputs (${p.inputs.map((b) => printValueName(b.name)).join(', ')})`);
  lines.push(`  outputs (${p.outputs.map((b) => printValueName(b.name)).join(', ')})`);
  for (const n of p.notes ?? []) lines.push(`  // ${n}`);
  for (const k of p.kernels) lines.push(printKernel(k, '  '));
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
