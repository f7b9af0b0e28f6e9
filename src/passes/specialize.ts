/**
 * Specializes a module to concrete input shapes (code generation needs static shapes): graph
 * input types take the given shapes, inference re-runs so every shape that follows becomes static,
 * and constant subexpressions are folded.
 */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { inferModule } from '../ir/infer.js';
import { printType } from '../ir/print.js';
import { isStaticShape, tensorType, typeCompatible } from '../ir/types.js';
import type { RtValue } from '../ir/tensor.js';
import { foldConstants } from './fold-constants.js';
import { definePass } from './pass.js';

/** Specializes to the shapes of actual inputs (graph-input order; undefined keeps the default). */
export function specializeInputs(module: Module, inputs: readonly (RtValue | undefined)[]): void {
  const shapes = new Map<string, readonly number[]>();
  module.graph.inputs.forEach((v, i) => {
    const x = inputs[i];
    if (x === undefined) return;
    if (x.kind !== 'tensor') throw new KilnError('unsupported', `input '${v.name}' is a ${x.kind}; code generation takes tensors`, { tensor: v.name });
    if (v.tensorType && v.tensorType.dtype !== x.dtype) throw new KilnError('type', `input '${v.name}' is ${x.dtype}, the model declares ${v.tensorType.dtype}`, { tensor: v.name });
    shapes.set(v.name, x.shape);
    v.init = null; // a value given for an input with a default overrides the default
  });
  specializeShapes(module, shapes);
}

/**
 * Gives graph inputs static shapes: those named in `shapes`, and the rest from their declared types
 * (which must then be static). Inputs with defaults keep them.
 */
export function specializeShapes(module: Module, shapes: ReadonlyMap<string, readonly number[]>): void {
  // a misspelt name first: otherwise the input it meant is reported as dynamic
  for (const name of shapes.keys()) {
    if (!module.graph.inputs.some((v) => v.name === name)) {
      const names = module.graph.inputs.filter((v) => !v.init).map((v) => v.name);
      throw new KilnError('usage', `--input-shape: model has no input '${name}' (inputs: ${names.join(', ') || 'none'})`);
    }
  }
  for (const v of module.graph.inputs) {
    if (v.type !== null && v.type.kind !== 'tensor') throw new KilnError('unsupported', `input '${v.name}' is a ${v.type.kind}; code generation takes tensors`, { tensor: v.name });
    const given = shapes.get(v.name);
    const t = v.tensorType;
    if (given === undefined) {
      if (v.init) continue;
      if (!t || !isStaticShape(t.shape)) {
        const dims = t?.shape ? `[${t.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]` : 'of unknown shape';
        throw new KilnError('usage', `input '${v.name}' has a dynamic shape ${dims}; give its shape (--input-shape ${v.name}=…)`, { tensor: v.name });
      }
      continue;
    }
    if (!t) throw new KilnError('unsupported', `input '${v.name}' has no element type`, { tensor: v.name });
    const nt = tensorType(t.dtype, given);
    if (!typeCompatible(t, nt)) throw new KilnError('type', `input '${v.name}' of shape [${given.join(',')}] does not fit the declared type ${printType(t)}`, { tensor: v.name });
    v.type = nt;
  }
  inferModule(module);
  foldConstants(module, true);
}

/** `specialize{x=1x3x224x224}`: gives inputs static shapes (options: input name = dims). */
export const specializePass = definePass({
  name: 'specialize',
  description: 'give graph inputs static shapes ({name=1x3x224x224} per dynamic input), re-infer and fold every constant subexpression',
  run(module: Module, ctx) {
    const shapes = new Map<string, number[]>();
    for (const [name, dims] of Object.entries(ctx.options)) {
      if (!/^\d+(x\d+)*$|^$/.test(dims)) throw new KilnError('usage', `specialize: '${name}=${dims}' must look like name=1x3x224x224`);
      const ds = dims === '' ? [] : dims.split('x').map(Number);
      if (!ds.every(Number.isSafeInteger)) throw new KilnError('usage', `specialize: a dim of '${name}=${dims}' is not a safe integer`);
      shapes.set(name, ds);
    }
    specializeShapes(module, shapes);
  },
});
