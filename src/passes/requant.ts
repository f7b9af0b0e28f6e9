/**
 * `requant{mode=float|int}`: chooses how the integer ops (QLinearConv, QLinearMatMul, QLinearAdd, QLinearMul, QLinearAveragePool,
 * QLinearGlobalAveragePool) requantize their accumulators. `int` (the default) is the fixed-point
 * multiplier and shift of src/ir/kernel/lower/requant.ts: no float in the int8 kernels; `float`
 * keeps the f64 sequence of the reference interpreter, for users who need bit-exactness with a
 * float requantization at every scale. Without the option the model's metadata `kiln.requant`
 * (`float` or `int`) decides. The choice is the node attribute `kiln.requant`, read by the lowering.
 */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { allNodes } from '../ir/graph.js';
import { definePass } from './pass.js';

const REQUANT_OPS = new Set(['QLinearConv', 'QLinearMatMul', 'QLinearAdd', 'QLinearMul', 'QLinearAveragePool', 'QLinearGlobalAveragePool']);

export function setRequantMode(module: Module, mode: 'float' | 'int'): number {
  let n = 0;
  for (const node of allNodes(module.graph)) {
    if (!REQUANT_OPS.has(node.opType)) continue;
    const had = node.attrs.get('kiln.requant');
    if (mode === 'float') {
      if (had?.kind === 'string' && had.value === 'float') continue;
      node.attrs.set('kiln.requant', { kind: 'string', value: 'float' });
    } else {
      if (!had) continue;
      node.attrs.delete('kiln.requant');
    }
    n++;
  }
  return n;
}

export const requantPass = definePass({
  name: 'requant',
  description: 'requantization of the integer ops: mode=int (fixed-point multiplier and shift, the default) or mode=float (f64, as the interpreter); without mode, the model metadata kiln.requant decides',
  options: { mode: 'int (default) or float' },
  run: (module, ctx) => {
    const mode = ctx.options.mode ?? module.metadata.get('kiln.requant');
    if (mode === undefined) return false;
    if (mode !== 'int' && mode !== 'float') throw new KilnError('usage', `requant: mode '${mode}' is not int or float`);
    return setRequantMode(module, mode) > 0;
  },
});
