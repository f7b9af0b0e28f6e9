/** Elementwise ops: arithmetic, math functions, comparisons, logic, bitwise, activations. */
import { registerOp } from './registry.js';
import { mapBinary } from './util.js';
import { binaryInferOf, binaryOperands, checkInputTypes, checkSameTypes } from './elementwise-util.js';

registerOp({
  opType: 'Add',
  since: 1,
  infer: (ctx) => {
    checkInputTypes(ctx, ['numeric']);
    checkSameTypes(ctx);
    return binaryInferOf(ctx, null);
  },
  interp: (ctx) => {
    const [a, b] = binaryOperands(ctx);
    return [mapBinary(a, b, (x, y) => x + y, (x, y) => x + y)];
  },
});

import './elementwise-arith.js';
import './elementwise-math.js';
import './elementwise-logic.js';
import './elementwise-act.js';
