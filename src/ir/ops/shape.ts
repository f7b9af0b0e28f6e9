/** Data-movement ops: constants, identity, reshape/transpose/slice/gather/scatter families, casts. */
import { KilnError } from '../errors.js';
import { registerOp, type Attrs } from './registry.js';
import { Tensor } from '../tensor.js';
import { sameAsInput } from './util.js';
import './shape-cast.js';
import './shape-move.js';
import './shape-index.js';

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

/** The value a Constant node produces, from whichever value attribute it carries. */
function constantValue(attrs: Attrs): Tensor {
  const t = attrs.optTensor('value') ?? attrs.optTensor('sparse_value');
  if (t) return t;
  if (attrs.has('value_float')) return Tensor.scalar('f32', attrs.float('value_float'));
  if (attrs.has('value_floats')) {
    const v = attrs.floats('value_floats');
    return Tensor.from('f32', [v.length], v);
  }
  if (attrs.has('value_int')) return Tensor.scalar('i64', BigInt(attrs.int('value_int')));
  if (attrs.has('value_ints')) {
    const v = attrs.ints('value_ints');
    return Tensor.from('i64', [v.length], v.map((x) => BigInt(x)));
  }
  if (attrs.has('value_string')) return Tensor.scalar('string', attrs.string('value_string'));
  if (attrs.has('value_strings')) {
    const v = attrs.strings('value_strings');
    return Tensor.from('string', [v.length], v);
  }
  if (attrs.has('sparse_value')) throw new KilnError('unsupported', 'unsupported Constant sparse_value form');
  throw new KilnError('invalid-model', 'Constant has no value attribute');
}

registerOp({
  opType: 'Constant',
  since: 1,
  infer: (ctx) => [constantValue(ctx.attrs).type],
  interp: (ctx) => [constantValue(ctx.attrs)],
});
