/** What both text parsers' AST builders share: located one-line errors and JSON string tokens. */
import type { IRecognitionException, IToken, Lexer } from 'chevrotain';
import { KilnError } from '../../ir/errors.js';

export abstract class TokenBuilder {
  constructor(protected readonly file: string) {}

  /** Throws a parse error located at the token (`file:line:col: message`). */
  protected fail(tok: IToken | undefined, message: string): never {
    const line = tok && Number.isFinite(tok.startLine) ? tok.startLine : 1;
    const col = tok && Number.isFinite(tok.startColumn) ? tok.startColumn : 1;
    throw new KilnError('parse', `${this.file}:${line}:${col}: ${message}`);
  }

  /** The value of a double-quoted (JSON-escaped) string token. */
  protected str(tok: IToken, image = tok.image): string {
    try {
      return JSON.parse(image) as string;
    } catch {
      return this.fail(tok, `malformed string literal ${image}`);
    }
  }
}

/**
 * Lexes `text` and runs one grammar rule over the tokens; the first lexing or parsing error is
 * thrown as a one-line parse error at `file:line:col` (end of input: just past the last token).
 */
export function parseText<T>(lexer: Lexer, parser: { input: IToken[]; errors: IRecognitionException[] }, rule: () => T, text: string, file: string): T {
  const lexed = lexer.tokenize(text);
  if (lexed.errors.length > 0) {
    const e = lexed.errors[0]!;
    throw new KilnError('parse', `${file}:${e.line ?? '?'}:${e.column ?? '?'}: unexpected character ${JSON.stringify(text.slice(e.offset, e.offset + 1))}`);
  }
  parser.input = lexed.tokens;
  const ast = rule();
  if (parser.errors.length > 0) {
    const e = parser.errors[0]!;
    const message = e.message.replace(/\s*\n\s*/g, ' ');
    const tok: IToken = e.token;
    if (Number.isFinite(tok.startLine)) throw new KilnError('parse', `${file}:${tok.startLine}:${tok.startColumn}: ${message}`);
    const last = lexed.tokens[lexed.tokens.length - 1];
    const line = last?.endLine ?? 1;
    const col = last?.endColumn !== undefined ? last.endColumn + 1 : 1;
    throw new KilnError('parse', `${file}:${line}:${col}: unexpected end of input: ${message.replace(/ but found:? ?(--> )?'' ?(<--)?$/, '')}`);
  }
  return ast;
}
