/**
 * Specializes a module to concrete input shapes (code generation needs static shapes): graph
 * input types take the given shapes, inference re-runs so every shape that follows becomes static,
 * and constant subexpressions are folded.
 */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { inferModule } from '../ir/infer.js';
import { tensorType, typeCompatible } from '../ir/types.js';
import type { RtValue } from '../ir/tensor.js';
import { foldConstants } from './fold-constants.js';

export function specializeInputs(module: Module, inputs: readonly (RtValue | undefined)[]): void {
  module.graph.inputs.forEach((v, i) => {
    const x = inputs[i];
    if (x === undefined) return;
    if (v.type !== null && v.type.kind !== 'tensor') throw new KilnError('unsupported', `input '${v.name}' is a ${v.type.kind}; code generation takes tensors`, { tensor: v.name });
    if (x.kind !== 'tensor') throw new KilnError('unsupported', `input '${v.name}' is a ${x.kind}; code generation takes tensors`, { tensor: v.name });
    const t = tensorType(x.dtype, x.shape);
    if (!typeCompatible(v.type, t)) {
      throw new KilnError('type', `input '${v.name}' of shape [${x.shape.join(',')}] ${x.dtype} does not fit the declared type`, { tensor: v.name });
    }
    v.type = t;
    v.init = null; // a value given for an input with a default overrides the default
  });
  inferModule(module);
  foldConstants(module, true);
}
