/** Tokens of the textual IR (`.kir`), for the chevrotain lexer and parser. */
import { createToken, Lexer, type TokenType } from 'chevrotain';

/** A double-quoted string with JSON escapes (no raw line breaks). */
const STRING = String.raw`"[^"\\\n\r]*(?:\\.[^"\\\n\r]*)*"`;

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /\/\/[^\n\r]*/, group: Lexer.SKIPPED });

export const Ident = createToken({ name: 'Ident', label: 'identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

const keyword = (name: string, word: string): TokenType => createToken({ name, label: `'${word}'`, pattern: new RegExp(word), longer_alt: Ident });

export const ModuleKw = createToken({ name: 'ModuleKw', label: "'kiln.module'", pattern: /kiln\.module/ });
/** `tensor<` + dims (each followed by `x`) + element type: e.g. `tensor<1x"N"x?xf32`, `tensor<*xi64`. */
export const TensorHead = createToken({
  name: 'TensorHead', label: 'tensor type',
  pattern: new RegExp(String.raw`tensor<(?:\*x|(?:(?:-?[0-9]+|\?|${STRING})x)*)[A-Za-z][A-Za-z0-9]*`),
});
export const DenseOpen = createToken({ name: 'DenseOpen', label: "'dense<'", pattern: /dense</ });
export const SeqOpen = createToken({ name: 'SeqOpen', label: "'seq<'", pattern: /seq</ });
export const OptionalOpen = createToken({ name: 'OptionalOpen', label: "'optional<'", pattern: /optional</ });
export const MapOpen = createToken({ name: 'MapOpen', label: "'map<'", pattern: /map</ });
export const QuantOpen = createToken({ name: 'QuantOpen', label: "'quant<'", pattern: /quant</ });
export const SpaceOpen = createToken({ name: 'SpaceOpen', label: "'space<'", pattern: /space</ });
export const IntsOpen = createToken({ name: 'IntsOpen', label: "'ints['", pattern: /ints\[/ });
export const FloatsOpen = createToken({ name: 'FloatsOpen', label: "'floats['", pattern: /floats\[/ });
export const StringsOpen = createToken({ name: 'StringsOpen', label: "'strings['", pattern: /strings\[/ });
export const TensorsOpen = createToken({ name: 'TensorsOpen', label: "'tensors['", pattern: /tensors\[/ });
export const GraphsOpen = createToken({ name: 'GraphsOpen', label: "'graphs['", pattern: /graphs\[/ });
export const TypesOpen = createToken({ name: 'TypesOpen', label: "'types['", pattern: /types\[/ });

/** The data of a constant printed without it (`dense<elided:…>`): a 64-bit FNV-1a digest of its bytes. */
export const Elided = createToken({ name: 'Elided', label: "'elided:<digest>'", pattern: /elided:[0-9a-f]{16}/ });
export const Hex = createToken({ name: 'Hex', label: 'hex blob', pattern: /0x[0-9a-fA-F]*/ });
export const Float = createToken({ name: 'Float', label: 'float', pattern: /-?(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)/ });
export const Int = createToken({ name: 'Int', label: 'integer', pattern: /-?[0-9]+/ });
export const Inf = createToken({ name: 'Inf', label: "'inf'", pattern: /-?inf/, longer_alt: Ident });
/** `nan`, or `nan:0x7fc00001` with an explicit bit pattern (f32/f64 tensor elements). */
export const Nan = createToken({ name: 'Nan', label: "'nan'", pattern: /nan(?::0x[0-9a-fA-F]+)?/, longer_alt: Ident });

export const GraphKw = keyword('GraphKw', 'graph');
export const ConstKw = keyword('ConstKw', 'const');
export const NameKw = keyword('NameKw', 'name');
export const AttributesKw = keyword('AttributesKw', 'attributes');
export const OpsetsKw = keyword('OpsetsKw', 'opsets');
export const MetadataKw = keyword('MetadataKw', 'metadata');
export const TrueKw = keyword('TrueKw', 'true');
export const FalseKw = keyword('FalseKw', 'false');
export const Underscore = createToken({ name: 'Underscore', label: "'_'", pattern: /_/, longer_alt: Ident });

export const ValueRef = createToken({ name: 'ValueRef', label: '%value', pattern: new RegExp(String.raw`%(?:[A-Za-z0-9_.\-]+|${STRING})`) });
export const GraphRef = createToken({ name: 'GraphRef', label: '@graph name', pattern: new RegExp(String.raw`@(?:[A-Za-z0-9_.\-]+|${STRING})`) });
export const StringLit = createToken({ name: 'StringLit', label: 'string', pattern: new RegExp(STRING) });

export const Arrow = createToken({ name: 'Arrow', label: "'->'", pattern: /->/ });
export const DoubleColon = createToken({ name: 'DoubleColon', label: "'::'", pattern: /::/ });
export const Colon = createToken({ name: 'Colon', label: "':'", pattern: /:/ });
export const Comma = createToken({ name: 'Comma', label: "','", pattern: /,/ });
export const Equals = createToken({ name: 'Equals', label: "'='", pattern: /=/ });
export const LParen = createToken({ name: 'LParen', label: "'('", pattern: /\(/ });
export const RParen = createToken({ name: 'RParen', label: "')'", pattern: /\)/ });
export const LBrace = createToken({ name: 'LBrace', label: "'{'", pattern: /\{/ });
export const RBrace = createToken({ name: 'RBrace', label: "'}'", pattern: /\}/ });
export const LBracket = createToken({ name: 'LBracket', label: "'['", pattern: /\[/ });
export const RBracket = createToken({ name: 'RBracket', label: "']'", pattern: /\]/ });
export const Gt = createToken({ name: 'Gt', label: "'>'", pattern: />/ });
export const Question = createToken({ name: 'Question', label: "'?'", pattern: /\?/ });

/** Order matters: the first pattern that matches wins (keywords defer to longer identifiers). */
export const allTokens: TokenType[] = [
  WhiteSpace, Comment,
  ModuleKw, TensorHead, DenseOpen, SeqOpen, OptionalOpen, MapOpen, QuantOpen, SpaceOpen,
  IntsOpen, FloatsOpen, StringsOpen, TensorsOpen, GraphsOpen, TypesOpen,
  Elided, Hex, Float, Int, Inf, Nan,
  GraphKw, ConstKw, NameKw, AttributesKw, OpsetsKw, MetadataKw, TrueKw, FalseKw, Underscore,
  Ident, ValueRef, GraphRef, StringLit,
  Arrow, DoubleColon, Colon, Comma, Equals, LParen, RParen, LBrace, RBrace, LBracket, RBracket, Gt, Question,
];

export const kirLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
