/** Syntax tree of the textual IR, as the chevrotain parser builds it (tokens kept for locations). */
import type { IToken } from 'chevrotain';

export type DenseAst =
  | { kind: 'hex'; tok: IToken }
  | { kind: 'elided'; tok: IToken }
  | { kind: 'elem'; tok: IToken }
  | { kind: 'list'; tok: IToken; items: DenseAst[] };

export interface QuantEntryAst {
  key: IToken;
  /** A list of numbers, one number, or an element type name. */
  list?: IToken[];
  value?: IToken;
}

export type TypeAst =
  | { kind: 'tensor'; head: IToken; quant?: { tok: IToken; entries: QuantEntryAst[] }; space?: IToken }
  | { kind: 'seq' | 'optional'; tok: IToken; elem: TypeAst | null }
  | { kind: 'map'; tok: IToken; key: IToken; value: TypeAst };

export interface LiteralAst {
  tok: IToken;
  data: DenseAst;
  type?: TypeAst;
}

export type AttrAst =
  | { kind: 'scalar'; tok: IToken }
  | { kind: 'tensor'; lit: LiteralAst }
  | { kind: 'graph'; graph: GraphAst }
  | { kind: 'type'; type: TypeAst }
  | { kind: 'list'; open: IToken; items: IToken[] }
  | { kind: 'tensors'; open: IToken; items: LiteralAst[] }
  | { kind: 'graphs'; open: IToken; items: GraphAst[] }
  | { kind: 'types'; open: IToken; items: TypeAst[] };

export interface AttrEntryAst {
  key: IToken;
  value: AttrAst;
}

export interface DefAst {
  /** ValueRef token, or the `_` token of an omitted output. */
  name: IToken;
  type?: TypeAst;
}

export interface InputAst extends DefAst {
  init?: LiteralAst;
}

export type StmtAst =
  | { kind: 'const'; tok: IToken; def: DefAst; init?: LiteralAst }
  | { kind: 'node'; results: DefAst[]; domain?: IToken; op: IToken; args: IToken[]; attrs: AttrEntryAst[]; name?: IToken };

export interface GraphAst {
  tok: IToken;
  name: IToken;
  inputs: InputAst[];
  outputs: IToken[];
  body: StmtAst[];
}

export interface ModuleAst {
  tok: IToken;
  attributes: AttrEntryAst[];
  opsets: { key: IToken; value: IToken }[];
  metadata: { key: IToken; value: IToken }[];
  graph: GraphAst;
}
