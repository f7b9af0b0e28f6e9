/**
 * `kiln print`: the text of a model at the graph level (as loaded) or at the kernel level (shapes
 * specialized and lowered as `kiln compile` does), or a kernel-level .kir file printed back.
 */
import { KilnError } from '../ir/errors.js';
import { printModule, type PrintOptions } from '../ir/print.js';
import { printProgram } from '../ir/kernel/print.js';
import { specializeShapes } from '../passes/specialize.js';
import { lowerScheduled } from '../passes/schedule-memory.js';
import { loadIr, refuseElided } from './load.js';

export type IrLevel = 'graph' | 'kernel';
export const IR_LEVELS: readonly IrLevel[] = ['graph', 'kernel'];

export interface PrintIrOptions {
  /** Level to print (default: the file's own level, graph for .onnx). */
  level?: IrLevel;
  /** Static shapes for inputs with dynamic dims (kernel level). */
  inputShapes?: ReadonlyMap<string, readonly number[]>;
  /** How large constants are spelled (default: in full). */
  print?: PrintOptions;
}

export function printIrFile(file: string, opts: PrintIrOptions = {}): string {
  const ir = loadIr(file, { allowElided: true });
  if (ir.level === 'kernel') {
    if (opts.level === 'graph') throw new KilnError('usage', `'${file}' is kernel-level IR (kiln.kernel); it has no graph level to print`);
    return printProgram(ir.program, opts.print);
  }
  const module = ir.module;
  if (opts.level !== 'kernel') return printModule(module, opts.print);
  refuseElided(ir, file); // lowering would compute shapes and layouts from the placeholders
  specializeShapes(module, opts.inputShapes ?? new Map());
  // the node order `kiln compile` lowers in (memory-aware scheduling)
  return printProgram(lowerScheduled(module, 'memory').program, opts.print);
}
