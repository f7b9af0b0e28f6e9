/**
 * Tokens of the kernel-level text (`kiln.kernel`). Literals, names and punctuation are the graph
 * lexer's tokens; the keywords and arithmetic operators live here only, so graph-level text (where
 * `to`, `for` or `in` are ordinary attribute names) lexes exactly as before.
 */
import { createToken, Lexer, type TokenType } from 'chevrotain';
import * as G from './lexer.js';

const keyword = (name: string, word: string): TokenType => createToken({ name, label: `'${word}'`, pattern: new RegExp(word), longer_alt: G.Ident });

export const KernelHeadKw = createToken({ name: 'KernelHeadKw', label: "'kiln.kernel'", pattern: /kiln\.kernel/ });
export const BufferKw = keyword('BufferKw', 'buffer');
export const InputsKw = keyword('InputsKw', 'inputs');
export const OutputsKw = keyword('OutputsKw', 'outputs');
export const KernelKw = keyword('KernelKw', 'kernel');
export const FromKw = keyword('FromKw', 'from');
export const ViewKw = keyword('ViewKw', 'view');
export const LevelKw = keyword('LevelKw', 'level');
export const OffsetKw = keyword('OffsetKw', 'offset');
export const IdKw = keyword('IdKw', 'id');
export const DynKw = keyword('DynKw', 'dyn');
export const ParamKw = keyword('ParamKw', 'param');
export const ForKw = keyword('ForKw', 'for');
export const InKw = keyword('InKw', 'in');
export const ToKw = keyword('ToKw', 'to');
export const ParallelKw = keyword('ParallelKw', 'parallel');
export const VectorizeKw = keyword('VectorizeKw', 'vectorize');
export const UnrollKw = keyword('UnrollKw', 'unroll');
export const PipelineKw = keyword('PipelineKw', 'pipeline');
export const GpuKw = keyword('GpuKw', 'gpu');
export const StoreKw = keyword('StoreKw', 'store');
export const BarrierKw = keyword('BarrierKw', 'barrier');
export const LetKw = keyword('LetKw', 'let');
export const SetKw = keyword('SetKw', 'set');
export const IfKw = keyword('IfKw', 'if');
export const ElseKw = keyword('ElseKw', 'else');
export const CastKw = keyword('CastKw', 'cast');

export const Le = createToken({ name: 'Le', label: "'<='", pattern: /<=/ });
export const Ge = createToken({ name: 'Ge', label: "'>='", pattern: />=/ });
export const EqEq = createToken({ name: 'EqEq', label: "'=='", pattern: /==/ });
export const Ne = createToken({ name: 'Ne', label: "'!='", pattern: /!=/ });
export const Lt = createToken({ name: 'Lt', label: "'<'", pattern: /</ });
export const Plus = createToken({ name: 'Plus', label: "'+'", pattern: /\+/ });
/** After the number tokens: `-5` is a literal, `- 5` a subtraction (the printer spaces operators). */
export const Minus = createToken({ name: 'Minus', label: "'-'", pattern: /-/ });
export const Star = createToken({ name: 'Star', label: "'*'", pattern: /\*/ });
export const Slash = createToken({ name: 'Slash', label: "'/'", pattern: /\// });
/** After ValueRef: `%x` is a name, `% 4` the remainder operator. */
export const Percent = createToken({ name: 'Percent', label: "'%'", pattern: /%/ });

/** Order matters: the first pattern that matches wins (keywords defer to longer identifiers). */
export const kernelTokens: TokenType[] = [
  G.WhiteSpace, G.Comment,
  KernelHeadKw, G.TensorHead, G.DenseOpen,
  G.Elided, G.Hex, G.Float, G.Int, G.Inf, G.Nan,
  BufferKw, InputsKw, OutputsKw, KernelKw, FromKw, ViewKw, LevelKw, OffsetKw, IdKw, DynKw, ParamKw,
  ForKw, InKw, ToKw, ParallelKw, VectorizeKw, UnrollKw, PipelineKw, GpuKw, StoreKw, BarrierKw, LetKw, SetKw, IfKw, ElseKw, CastKw,
  G.TrueKw, G.FalseKw,
  G.Ident, G.ValueRef, G.GraphRef, G.StringLit,
  Le, Ge, EqEq, Ne, Lt, G.Gt, G.Equals, Plus, Minus, Star, Slash, Percent,
  G.Colon, G.Comma, G.LParen, G.RParen, G.LBrace, G.RBrace, G.LBracket, G.RBracket,
];

export const kernelLexer = new Lexer(kernelTokens, { positionTracking: 'full', ensureOptimizations: false });
