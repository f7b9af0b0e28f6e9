/**
 * Chevrotain grammar of the kernel-level text (`kiln.kernel`): tokens → syntax tree. Types, names
 * and constants are resolved in kernel-parser.ts. Expressions: comparisons (not chained) < `+ -` <
 * `* / %` < atoms (literals, `%var`, `%buf[index]`, `op(args)`, `cast<type>(x)`, parentheses).
 */
import { EmbeddedActionsParser, type IToken } from 'chevrotain';
import * as G from './lexer.js';
import * as K from './kernel-lexer.js';
import type { DenseAst, LiteralAst } from './ast.js';

export type KExprAst =
  | { k: 'num'; tok: IToken; type?: IToken }
  | { k: 'ref'; tok: IToken; idx?: KExprAst }
  | { k: 'infix'; tok: IToken; a: KExprAst; b: KExprAst }
  | { k: 'call'; tok: IToken; args: KExprAst[] }
  | { k: 'cast'; tok: IToken; type: IToken; a: KExprAst };

export type KStmtAst =
  | { k: 'for'; tok: IToken; v: IToken; lo: KExprAst; hi: KExprAst; ann: { tok: IToken; arg?: IToken; dim?: IToken; scope?: IToken }[]; body: KStmtAst[] }
  | { k: 'barrier'; tok: IToken }
  | { k: 'store'; tok: IToken; buf: IToken; idx: KExprAst; val: KExprAst }
  | { k: 'let'; tok: IToken; name: IToken; type: IToken; init: KExprAst }
  | { k: 'set'; tok: IToken; name: IToken; val: KExprAst }
  | { k: 'if'; tok: IToken; c: KExprAst; then: KStmtAst[]; else: KStmtAst[] };

export interface KBufferAst {
  tok: IToken;
  name: IToken;
  role: IToken;
  dtype: IToken;
  dims: IToken[];
  view?: IToken;
  level?: IToken;
  offset?: IToken;
  id?: IToken;
  dyn?: IToken;
  data?: LiteralAst;
}

export interface KKernelAst {
  tok: IToken;
  name: IToken;
  node: IToken;
  op: IToken;
  body: KStmtAst[];
}

export interface KProgramAst {
  tok: IToken;
  name: IToken;
  param?: { name: IToken; max: IToken };
  buffers: KBufferAst[];
  inputs: IToken[];
  outputs: IToken[];
  kernels: KKernelAst[];
}

export class KernelGrammar extends EmbeddedActionsParser {
  constructor() {
    super(K.kernelTokens, { maxLookahead: 2 });
    this.performSelfAnalysis();
  }

  private elem = this.RULE('elem', (): IToken =>
    this.OR([
      { ALT: () => this.CONSUME(G.Int) },
      { ALT: () => this.CONSUME(G.Float) },
      { ALT: () => this.CONSUME(G.Nan) },
      { ALT: () => this.CONSUME(G.Inf) },
      { ALT: () => this.CONSUME(G.TrueKw) },
      { ALT: () => this.CONSUME(G.FalseKw) },
    ]),
  );

  private denseData: () => DenseAst = this.RULE('denseData', (): DenseAst =>
    this.OR([
      { ALT: () => ({ kind: 'hex' as const, tok: this.CONSUME(G.Hex) }) },
      { ALT: () => ({ kind: 'elided' as const, tok: this.CONSUME(G.Elided) }) },
      {
        ALT: () => {
          const tok = this.CONSUME(G.LBracket);
          const items: DenseAst[] = [];
          this.MANY_SEP({ SEP: G.Comma, DEF: () => items.push(this.SUBRULE(this.denseData)) });
          this.CONSUME(G.RBracket);
          return { kind: 'list' as const, tok, items };
        },
      },
      { ALT: () => ({ kind: 'elem' as const, tok: this.SUBRULE(this.elem) }) },
    ]),
  );

  /** `dense<…>` with an optional `: tensor<…>` (the graph syntax, without quantization or spaces). */
  private literal = this.RULE('literal', (): LiteralAst => {
    const tok = this.CONSUME(G.DenseOpen);
    const data = this.SUBRULE(this.denseData);
    this.CONSUME(G.Gt);
    let head: IToken | undefined;
    this.OPTION(() => {
      this.CONSUME(G.Colon);
      head = this.CONSUME(G.TensorHead);
      this.CONSUME1(G.Gt);
    });
    return head === undefined ? { tok, data } : { tok, data, type: { kind: 'tensor', head } };
  });

  private buffer = this.RULE('buffer', (): KBufferAst => {
    const tok = this.CONSUME(K.BufferKw);
    const name = this.CONSUME(G.ValueRef);
    this.CONSUME(G.Colon);
    const role = this.CONSUME(G.Ident);
    const dtype = this.CONSUME1(G.Ident);
    const dims: IToken[] = [];
    this.CONSUME(G.LBracket);
    this.MANY_SEP({ SEP: G.Comma, DEF: () => dims.push(this.CONSUME(G.Int)) });
    this.CONSUME(G.RBracket);
    const b: KBufferAst = { tok, name, role, dtype, dims };
    this.OPTION(() => {
      this.CONSUME(K.ViewKw);
      b.view = this.CONSUME1(G.ValueRef);
    });
    this.OPTION1(() => {
      this.CONSUME(K.LevelKw);
      b.level = this.CONSUME(G.StringLit);
    });
    this.OPTION2(() => {
      this.CONSUME(K.OffsetKw);
      b.offset = this.CONSUME1(G.Int);
    });
    this.OPTION3(() => {
      this.CONSUME(K.IdKw);
      b.id = this.CONSUME2(G.Int);
    });
    this.OPTION5(() => {
      this.CONSUME(K.DynKw);
      b.dyn = this.CONSUME3(G.Int);
    });
    this.OPTION4(() => {
      this.CONSUME(G.Equals);
      const data = this.SUBRULE(this.literal);
      this.ACTION(() => (b.data = data));
    });
    return b;
  });

  private refList = this.RULE('refList', (): IToken[] => {
    const refs: IToken[] = [];
    this.CONSUME(G.LParen);
    this.MANY_SEP({ SEP: G.Comma, DEF: () => refs.push(this.CONSUME(G.ValueRef)) });
    this.CONSUME(G.RParen);
    return refs;
  });

  private primary: () => KExprAst = this.RULE('primary', (): KExprAst =>
    this.OR([
      {
        ALT: () => {
          const tok = this.SUBRULE(this.elem);
          let type: IToken | undefined;
          this.OPTION(() => {
            this.CONSUME(G.Colon);
            type = this.CONSUME(G.Ident);
          });
          return type === undefined ? { k: 'num' as const, tok } : { k: 'num' as const, tok, type };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(G.ValueRef);
          let idx: KExprAst | undefined;
          this.OPTION1(() => {
            this.CONSUME(G.LBracket);
            idx = this.SUBRULE(this.expr);
            this.CONSUME(G.RBracket);
          });
          return idx === undefined ? { k: 'ref' as const, tok } : { k: 'ref' as const, tok, idx };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(K.CastKw);
          this.CONSUME(K.Lt);
          const type = this.CONSUME1(G.Ident);
          this.CONSUME(G.Gt);
          this.CONSUME(G.LParen);
          const a = this.SUBRULE1(this.expr);
          this.CONSUME(G.RParen);
          return { k: 'cast' as const, tok, type, a };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME2(G.Ident);
          const args: KExprAst[] = [];
          this.CONSUME1(G.LParen);
          this.AT_LEAST_ONE_SEP({ SEP: G.Comma, DEF: () => args.push(this.SUBRULE2(this.expr)) });
          this.CONSUME1(G.RParen);
          return { k: 'call' as const, tok, args };
        },
      },
      {
        ALT: () => {
          this.CONSUME2(G.LParen);
          const e = this.SUBRULE3(this.expr);
          this.CONSUME2(G.RParen);
          return e;
        },
      },
    ]),
  );

  private term = this.RULE('term', (): KExprAst => {
    let e = this.SUBRULE(this.primary);
    this.MANY(() => {
      const tok = this.OR([{ ALT: () => this.CONSUME(K.Star) }, { ALT: () => this.CONSUME(K.Slash) }, { ALT: () => this.CONSUME(K.Percent) }]);
      const b = this.SUBRULE1(this.primary);
      e = { k: 'infix', tok, a: e, b };
    });
    return e;
  });

  private sum = this.RULE('sum', (): KExprAst => {
    let e = this.SUBRULE(this.term);
    this.MANY(() => {
      const tok = this.OR([{ ALT: () => this.CONSUME(K.Plus) }, { ALT: () => this.CONSUME(K.Minus) }]);
      const b = this.SUBRULE1(this.term);
      e = { k: 'infix', tok, a: e, b };
    });
    return e;
  });

  expr: () => KExprAst = this.RULE('expr', (): KExprAst => {
    const a = this.SUBRULE(this.sum);
    let e = a;
    this.OPTION(() => {
      const tok = this.OR([
        { ALT: () => this.CONSUME(K.Lt) },
        { ALT: () => this.CONSUME(K.Le) },
        { ALT: () => this.CONSUME(G.Gt) },
        { ALT: () => this.CONSUME(K.Ge) },
        { ALT: () => this.CONSUME(K.EqEq) },
        { ALT: () => this.CONSUME(K.Ne) },
      ]);
      const b = this.SUBRULE1(this.sum);
      e = { k: 'infix', tok, a, b };
    });
    return e;
  });

  private block: () => KStmtAst[] = this.RULE('block', (): KStmtAst[] => {
    const body: KStmtAst[] = [];
    this.CONSUME(G.LBrace);
    this.MANY(() => body.push(this.SUBRULE(this.stmt)));
    this.CONSUME(G.RBrace);
    return body;
  });

  private stmt: () => KStmtAst = this.RULE('stmt', (): KStmtAst =>
    this.OR([
      {
        ALT: () => {
          const tok = this.CONSUME(K.ForKw);
          const v = this.CONSUME(G.ValueRef);
          this.CONSUME(K.InKw);
          const lo = this.SUBRULE(this.expr);
          this.CONSUME(K.ToKw);
          const hi = this.SUBRULE1(this.expr);
          const ann: { tok: IToken; arg?: IToken; dim?: IToken; scope?: IToken }[] = [];
          this.MANY(() =>
            this.OR1([
              {
                ALT: () => {
                  // `parallel` or `parallel <threads>`
                  const tok = this.CONSUME(K.ParallelKw);
                  const arg = this.OPTION3(() => this.CONSUME6(G.Int));
                  ann.push(arg ? { tok, arg } : { tok });
                },
              },
              { ALT: () => ann.push({ tok: this.CONSUME(K.VectorizeKw), arg: this.CONSUME(G.Int) }) },
              { ALT: () => ann.push({ tok: this.CONSUME(K.UnrollKw), arg: this.CONSUME1(G.Int) }) },
              {
                ALT: () => {
                  // `pipeline` or `pipeline <II>`
                  const tok = this.CONSUME(K.PipelineKw);
                  const arg = this.OPTION1(() => this.CONSUME7(G.Int));
                  ann.push(arg ? { tok, arg } : { tok });
                },
              },
              {
                ALT: () => {
                  // gpu [group|local] <dim> <workgroup>
                  const tok = this.CONSUME(K.GpuKw);
                  const first = this.CONSUME8(G.Ident);
                  let dim = first;
                  let scope: IToken | undefined;
                  this.OPTION2(() => {
                    scope = first;
                    dim = this.CONSUME7(G.Ident);
                  });
                  ann.push({ tok, dim, arg: this.CONSUME9(G.Int), ...(scope ? { scope } : {}) });
                },
              },
            ]),
          );
          const body = this.SUBRULE(this.block);
          return { k: 'for' as const, tok, v, lo, hi, ann, body };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(K.StoreKw);
          const buf = this.CONSUME1(G.ValueRef);
          this.CONSUME(G.LBracket);
          const idx = this.SUBRULE2(this.expr);
          this.CONSUME(G.RBracket);
          this.CONSUME(G.Equals);
          const val = this.SUBRULE3(this.expr);
          return { k: 'store' as const, tok, buf, idx, val };
        },
      },
      { ALT: () => ({ k: 'barrier' as const, tok: this.CONSUME(K.BarrierKw) }) },
      {
        ALT: () => {
          const tok = this.CONSUME(K.LetKw);
          const name = this.CONSUME2(G.ValueRef);
          this.CONSUME(G.Colon);
          const type = this.CONSUME(G.Ident);
          this.CONSUME1(G.Equals);
          const init = this.SUBRULE4(this.expr);
          return { k: 'let' as const, tok, name, type, init };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(K.SetKw);
          const name = this.CONSUME3(G.ValueRef);
          this.CONSUME2(G.Equals);
          const val = this.SUBRULE5(this.expr);
          return { k: 'set' as const, tok, name, val };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(K.IfKw);
          const c = this.SUBRULE6(this.expr);
          const then = this.SUBRULE1(this.block);
          let otherwise: KStmtAst[] = [];
          this.OPTION(() => {
            this.CONSUME(K.ElseKw);
            otherwise = this.SUBRULE2(this.block);
          });
          return { k: 'if' as const, tok, c, then, else: otherwise };
        },
      },
    ]),
  );

  private kernel = this.RULE('kernel', (): KKernelAst => {
    const tok = this.CONSUME(K.KernelKw);
    const name = this.CONSUME(G.GraphRef);
    this.CONSUME(K.FromKw);
    const node = this.CONSUME(G.StringLit);
    this.CONSUME(G.LParen);
    const op = this.CONSUME1(G.StringLit);
    this.CONSUME(G.RParen);
    const body = this.SUBRULE(this.block);
    return { tok, name, node, op, body };
  });

  program = this.RULE('program', (): KProgramAst => {
    const tok = this.CONSUME(K.KernelHeadKw);
    const name = this.CONSUME(G.GraphRef);
    this.CONSUME(G.LBrace);
    let param: KProgramAst['param'];
    this.OPTION(() => {
      this.CONSUME(K.ParamKw);
      const pname = this.CONSUME1(G.ValueRef);
      this.CONSUME(K.Le);
      param = { name: pname, max: this.CONSUME(G.Int) };
    });
    const buffers: KBufferAst[] = [];
    this.MANY(() => buffers.push(this.SUBRULE(this.buffer)));
    this.CONSUME(K.InputsKw);
    const inputs = this.SUBRULE(this.refList);
    this.CONSUME(K.OutputsKw);
    const outputs = this.SUBRULE1(this.refList);
    const kernels: KKernelAst[] = [];
    this.MANY1(() => kernels.push(this.SUBRULE(this.kernel)));
    this.CONSUME(G.RBrace);
    return param ? { tok, name, param, buffers, inputs, outputs, kernels } : { tok, name, buffers, inputs, outputs, kernels };
  });
}
