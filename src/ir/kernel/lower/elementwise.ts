/** Lowerings of elementwise ops: one broadcast loop nest per op. */
import { bin, cast, un } from '../builder.js';
import { registerLowering } from '../lowering.js';
import type { BinOp, UnOp } from '../types.js';
import { computeType, lowerElementwise, req } from './common.js';

function binary(opType: string, op: BinOp): void {
  registerLowering({
    opType,
    lower: (ctx) => {
      const a = req(ctx.input(0), 'A');
      const b = req(ctx.input(1), 'B');
      const out = req(ctx.output(0), 'C');
      const t = computeType(a.dtype);
      lowerElementwise(ctx, [a, b], out, ([x, y]) => bin(op, cast(x!, t), cast(y!, t)));
    },
  });
}

function unary(opType: string, op: UnOp): void {
  registerLowering({
    opType,
    lower: (ctx) => {
      const x = req(ctx.input(0), 'X');
      const out = req(ctx.output(0), 'Y');
      lowerElementwise(ctx, [x], out, ([v]) => un(op, cast(v!, computeType(x.dtype))));
    },
  });
}

binary('Add', 'add');
binary('Sub', 'sub');
binary('Mul', 'mul');
unary('Sqrt', 'sqrt');
unary('Exp', 'exp');
unary('Neg', 'neg');
