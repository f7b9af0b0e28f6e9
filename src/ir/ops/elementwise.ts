/** Elementwise ops: arithmetic, math functions, comparisons, logic, bitwise, activations. */
import { registerOp } from './registry.js';
import { broadcastInfer, mapBinary } from './util.js';

registerOp({
  opType: 'Add',
  since: 1,
  infer: (ctx) => broadcastInfer(ctx),
  interp: (ctx) => [mapBinary(ctx.tensor(0), ctx.tensor(1), (a, b) => a + b, (a, b) => a + b)],
});
