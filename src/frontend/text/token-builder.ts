/** What both text parsers' AST builders share: located one-line errors and JSON string tokens. */
import type { IToken } from 'chevrotain';
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
