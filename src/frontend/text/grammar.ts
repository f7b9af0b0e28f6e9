/** Chevrotain grammar of the textual IR: tokens → syntax tree (ast.ts). Semantics live in parser.ts. */
import { EmbeddedActionsParser, type IToken } from 'chevrotain';
import * as T from './lexer.js';
import type { AttrAst, AttrEntryAst, DefAst, DenseAst, GraphAst, InputAst, LiteralAst, ModuleAst, QuantEntryAst, StmtAst, TypeAst } from './ast.js';

export class KirGrammar extends EmbeddedActionsParser {
  constructor() {
    super(T.allTokens, { maxLookahead: 3 });
    this.performSelfAnalysis();
  }

  /** An identifier or a quoted string (attribute names, dictionary keys). */
  private key = this.RULE('key', (): IToken => this.OR([{ ALT: () => this.CONSUME(T.Ident) }, { ALT: () => this.CONSUME(T.StringLit) }]));

  private num = this.RULE('num', (): IToken =>
    this.OR([
      { ALT: () => this.CONSUME(T.Int) },
      { ALT: () => this.CONSUME(T.Float) },
      { ALT: () => this.CONSUME(T.Nan) },
      { ALT: () => this.CONSUME(T.Inf) },
    ]),
  );

  private elem = this.RULE('elem', (): IToken =>
    this.OR([
      { ALT: () => this.SUBRULE(this.num) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.TrueKw) },
      { ALT: () => this.CONSUME(T.FalseKw) },
    ]),
  );

  private denseData: () => DenseAst = this.RULE('denseData', (): DenseAst =>
    this.OR([
      { ALT: () => ({ kind: 'hex' as const, tok: this.CONSUME(T.Hex) }) },
      { ALT: () => ({ kind: 'elided' as const, tok: this.CONSUME(T.Elided) }) },
      {
        ALT: () => {
          const tok = this.CONSUME(T.LBracket);
          const items: DenseAst[] = [];
          this.MANY_SEP({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE(this.denseData)) });
          this.CONSUME(T.RBracket);
          return { kind: 'list' as const, tok, items };
        },
      },
      { ALT: () => ({ kind: 'elem' as const, tok: this.SUBRULE(this.elem) }) },
    ]),
  );

  private literal = this.RULE('literal', (): LiteralAst => {
    const tok = this.CONSUME(T.DenseOpen);
    const data = this.SUBRULE(this.denseData);
    this.CONSUME(T.Gt);
    let type: TypeAst | undefined;
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      type = this.SUBRULE(this.type);
    });
    return type === undefined ? { tok, data } : { tok, data, type };
  });

  private quant = this.RULE('quant', (): { tok: IToken; entries: QuantEntryAst[] } => {
    const tok = this.CONSUME(T.QuantOpen);
    const entries: QuantEntryAst[] = [];
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        const key = this.CONSUME(T.Ident);
        this.CONSUME(T.Equals);
        this.OR([
          {
            ALT: () => {
              const list: IToken[] = [];
              this.CONSUME(T.LBracket);
              this.MANY_SEP1({ SEP: T.Comma, DEF: () => list.push(this.SUBRULE(this.num)) });
              this.CONSUME(T.RBracket);
              entries.push({ key, list });
            },
          },
          { ALT: () => entries.push({ key, value: this.SUBRULE1(this.num) }) },
          { ALT: () => entries.push({ key, value: this.CONSUME1(T.Ident) }) },
        ]);
      },
    });
    this.CONSUME(T.Gt);
    return { tok, entries };
  });

  private tensorType = this.RULE('tensorType', (): TypeAst => {
    const head = this.CONSUME(T.TensorHead);
    const t: TypeAst & { kind: 'tensor' } = { kind: 'tensor', head };
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.OR([
        { ALT: () => (t.quant = this.SUBRULE(this.quant)) },
        {
          ALT: () => {
            this.CONSUME(T.SpaceOpen);
            t.space = this.CONSUME(T.StringLit);
            this.CONSUME(T.Gt);
          },
        },
      ]);
    });
    this.CONSUME1(T.Gt);
    return t;
  });

  private typeOrUnknown = this.RULE('typeOrUnknown', (): TypeAst | null =>
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Question);
          return null;
        },
      },
      { ALT: () => this.SUBRULE(this.type) },
    ]),
  );

  private type: () => TypeAst = this.RULE('type', (): TypeAst =>
    this.OR([
      { ALT: () => this.SUBRULE(this.tensorType) },
      {
        ALT: () => {
          const tok = this.CONSUME(T.SeqOpen);
          const elem = this.SUBRULE(this.typeOrUnknown);
          this.CONSUME(T.Gt);
          return { kind: 'seq' as const, tok, elem };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(T.OptionalOpen);
          const elem = this.SUBRULE1(this.typeOrUnknown);
          this.CONSUME1(T.Gt);
          return { kind: 'optional' as const, tok, elem };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(T.MapOpen);
          const key = this.CONSUME(T.Ident);
          this.CONSUME(T.Comma);
          const value = this.SUBRULE(this.type);
          this.CONSUME2(T.Gt);
          return { kind: 'map' as const, tok, key, value };
        },
      },
    ]),
  );

  private attrValue = this.RULE('attrValue', (): AttrAst =>
    this.OR([
      { ALT: () => ({ kind: 'scalar' as const, tok: this.SUBRULE(this.num) }) },
      { ALT: () => ({ kind: 'scalar' as const, tok: this.CONSUME(T.StringLit) }) },
      { ALT: () => ({ kind: 'tensor' as const, lit: this.SUBRULE(this.literal) }) },
      { ALT: () => ({ kind: 'graph' as const, graph: this.SUBRULE(this.graph) }) },
      { ALT: () => ({ kind: 'type' as const, type: this.SUBRULE(this.type) }) },
      {
        ALT: () => {
          const open = this.OR1([
            { ALT: () => this.CONSUME(T.IntsOpen) },
            { ALT: () => this.CONSUME(T.FloatsOpen) },
            { ALT: () => this.CONSUME(T.StringsOpen) },
          ]);
          const items: IToken[] = [];
          this.MANY_SEP({ SEP: T.Comma, DEF: () => items.push(this.OR2([{ ALT: () => this.SUBRULE1(this.num) }, { ALT: () => this.CONSUME1(T.StringLit) }])) });
          this.CONSUME(T.RBracket);
          return { kind: 'list' as const, open, items };
        },
      },
      {
        ALT: () => {
          const open = this.CONSUME(T.TensorsOpen);
          const items: LiteralAst[] = [];
          this.MANY_SEP1({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE1(this.literal)) });
          this.CONSUME1(T.RBracket);
          return { kind: 'tensors' as const, open, items };
        },
      },
      {
        ALT: () => {
          const open = this.CONSUME(T.GraphsOpen);
          const items: GraphAst[] = [];
          this.MANY_SEP2({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE1(this.graph)) });
          this.CONSUME2(T.RBracket);
          return { kind: 'graphs' as const, open, items };
        },
      },
      {
        ALT: () => {
          const open = this.CONSUME(T.TypesOpen);
          const items: TypeAst[] = [];
          this.MANY_SEP3({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE1(this.type)) });
          this.CONSUME3(T.RBracket);
          return { kind: 'types' as const, open, items };
        },
      },
    ]),
  );

  private attrDict = this.RULE('attrDict', (): AttrEntryAst[] => {
    const entries: AttrEntryAst[] = [];
    this.CONSUME(T.LBrace);
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        const key = this.SUBRULE(this.key);
        this.CONSUME(T.Equals);
        entries.push({ key, value: this.SUBRULE(this.attrValue) });
      },
    });
    this.CONSUME(T.RBrace);
    return entries;
  });

  private def = this.RULE('def', (): DefAst => {
    const name = this.CONSUME(T.ValueRef);
    let type: TypeAst | undefined;
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      type = this.SUBRULE(this.type);
    });
    return type === undefined ? { name } : { name, type };
  });

  private graphInput = this.RULE('graphInput', (): InputAst => {
    const d: InputAst = this.SUBRULE(this.def);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      const init = this.SUBRULE(this.literal);
      this.ACTION(() => (d.init = init));
    });
    return d;
  });

  private result = this.RULE('result', (): DefAst =>
    this.OR([{ ALT: () => this.SUBRULE(this.def) }, { ALT: () => ({ name: this.CONSUME(T.Underscore) }) }]),
  );

  private stmt = this.RULE('stmt', (): StmtAst =>
    this.OR([
      {
        ALT: () => {
          const tok = this.CONSUME(T.ConstKw);
          const def = this.SUBRULE(this.def);
          let init: LiteralAst | undefined;
          this.OPTION(() => {
            this.CONSUME(T.Equals);
            init = this.SUBRULE(this.literal);
          });
          return init === undefined ? { kind: 'const' as const, tok, def } : { kind: 'const' as const, tok, def, init };
        },
      },
      { ALT: () => this.SUBRULE(this.node) },
    ]),
  );

  private node = this.RULE('node', (): StmtAst => {
    const results: DefAst[] = [];
    this.OPTION(() => {
      this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => results.push(this.SUBRULE(this.result)) });
      this.CONSUME(T.Equals);
    });
    const first = this.CONSUME(T.StringLit);
    let second: IToken | undefined;
    this.OPTION1(() => {
      this.CONSUME(T.DoubleColon);
      second = this.CONSUME1(T.StringLit);
    });
    const args: IToken[] = [];
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => args.push(this.OR([{ ALT: () => this.CONSUME(T.ValueRef) }, { ALT: () => this.CONSUME(T.Underscore) }])) });
    this.CONSUME(T.RParen);
    let attrs: AttrEntryAst[] = [];
    this.OPTION2(() => (attrs = this.SUBRULE(this.attrDict)));
    let name: IToken | undefined;
    this.OPTION3(() => {
      this.CONSUME(T.NameKw);
      name = this.CONSUME2(T.StringLit);
    });
    const st: StmtAst = second === undefined ? { kind: 'node', results, op: first, args, attrs } : { kind: 'node', results, domain: first, op: second, args, attrs };
    if (name !== undefined) st.name = name;
    return st;
  });

  graph: () => GraphAst = this.RULE('graph', (): GraphAst => {
    const tok = this.CONSUME(T.GraphKw);
    const name = this.CONSUME(T.GraphRef);
    const inputs: InputAst[] = [];
    const outputs: IToken[] = [];
    const body: StmtAst[] = [];
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => inputs.push(this.SUBRULE(this.graphInput)) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.Arrow);
    this.CONSUME1(T.LParen);
    this.MANY_SEP1({ SEP: T.Comma, DEF: () => outputs.push(this.CONSUME(T.ValueRef)) });
    this.CONSUME1(T.RParen);
    this.CONSUME(T.LBrace);
    this.MANY(() => body.push(this.SUBRULE(this.stmt)));
    this.CONSUME(T.RBrace);
    return { tok, name, inputs, outputs, body };
  });

  module = this.RULE('module', (): ModuleAst => {
    const tok = this.CONSUME(T.ModuleKw);
    let attributes: AttrEntryAst[] = [];
    const opsets: { key: IToken; value: IToken }[] = [];
    const metadata: { key: IToken; value: IToken }[] = [];
    this.OPTION(() => {
      this.CONSUME(T.AttributesKw);
      attributes = this.SUBRULE(this.attrDict);
    });
    this.OPTION1(() => {
      this.CONSUME(T.OpsetsKw);
      this.CONSUME(T.LBrace);
      this.MANY_SEP({
        SEP: T.Comma,
        DEF: () => {
          const key = this.SUBRULE(this.key);
          this.CONSUME(T.Equals);
          opsets.push({ key, value: this.CONSUME(T.Int) });
        },
      });
      this.CONSUME(T.RBrace);
    });
    this.OPTION2(() => {
      this.CONSUME(T.MetadataKw);
      this.CONSUME1(T.LBrace);
      this.MANY_SEP1({
        SEP: T.Comma,
        DEF: () => {
          const key = this.SUBRULE1(this.key);
          this.CONSUME1(T.Equals);
          metadata.push({ key, value: this.CONSUME(T.StringLit) });
        },
      });
      this.CONSUME1(T.RBrace);
    });
    this.CONSUME2(T.LBrace);
    const graph = this.SUBRULE(this.graph);
    this.CONSUME2(T.RBrace);
    return { tok, attributes, opsets, metadata, graph };
  });
}
