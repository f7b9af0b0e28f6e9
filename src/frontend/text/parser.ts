/** Textual IR parser (chevrotain). Placeholder until the text form lands: refuses with a typed error. */
import { KilnError } from '../../ir/errors.js';
import type { Module } from '../../ir/graph.js';

export function parseModuleText(_text: string, file = '<input>'): Module {
  throw new KilnError('unsupported', `textual IR parsing is not available yet (${file})`);
}
