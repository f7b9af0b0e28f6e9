/** Data-movement ops: constants, identity, reshape/transpose/slice/gather/scatter families, casts. */
import { KilnError } from '../errors.js';
import { registerOp } from './registry.js';
import { sameAsInput } from './util.js';

registerOp({
  opType: 'Identity',
  since: 1,
  infer: (ctx) => sameAsInput(ctx),
  interp: (ctx) => {
    const x = ctx.inputs[0];
    if (x === undefined || x === null) throw new KilnError('runtime', 'Identity needs an input');
    return [x];
  },
});

registerOp({
  opType: 'Constant',
  since: 1,
  infer: (ctx) => {
    const t = ctx.attrs.optTensor('value');
    if (!t) throw new KilnError('unsupported', 'Constant without a tensor value is not supported yet');
    return [t.type];
  },
  interp: (ctx) => [ctx.attrs.tensor('value')],
});
