/** Activation functions and Clip. */
import { KilnError } from '../errors.js';
import { dtypeInfo, isBig } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import type { AttrKind } from '../graph.js';
import type { KernelContext } from './registry.js';
import { registerOp } from './registry.js';
import { broadcastShapes, mapBinary, mapUnary, sameAsInput, type NumFn1, type BigFn1 } from './util.js';
import { binaryOperands, broadcastInferOf, checkInputTypes, checkSameTypes, erf, legacySlopeShape, type TypeClass } from './elementwise-util.js';

/** A unary activation whose function may depend on the node's attributes. */
function activation(
  opType: string,
  since: number,
  classes: readonly TypeClass[],
  make: (ctx: KernelContext) => NumFn1,
  makeBig?: (ctx: KernelContext) => BigFn1,
  attrs?: Readonly<Record<string, AttrKind>>,
): void {
  registerOp({
    opType,
    since,
    ...(attrs ? { attrs } : {}),
    infer: (ctx) => {
      checkInputTypes(ctx, classes, [0]);
      return sameAsInput(ctx);
    },
    interp: (ctx) => {
      const x = ctx.tensor(0);
      const k = dtypeInfo(x.dtype).kind;
      if (k === 'string' || k === 'complex' || k === 'bool') throw new KilnError('type', `${opType}: element type ${x.dtype} is not supported`);
      return [mapUnary(x, make(ctx), makeBig?.(ctx))];
    },
  });
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

activation('Relu', 1, ['signed'], () => (x) => (x > 0 ? x : Number.isNaN(x) ? x : 0), () => (x) => (x > 0n ? x : 0n));
activation('LeakyRelu', 1, ['float'], (ctx) => {
  const alpha = ctx.attrs.float('alpha', 0.01);
  return (x) => (x >= 0 ? x : alpha * x);
}, undefined, { alpha: 'float' });
activation('Elu', 1, ['float'], (ctx) => {
  const alpha = ctx.attrs.float('alpha', 1.0);
  return (x) => (x >= 0 ? x : alpha * (Math.exp(x) - 1));
}, undefined, { alpha: 'float' });
activation('Selu', 1, ['float'], (ctx) => {
  const alpha = ctx.attrs.float('alpha', 1.67326319217681884765625);
  const gamma = ctx.attrs.float('gamma', 1.05070102214813232421875);
  return (x) => (x > 0 ? gamma * x : gamma * (alpha * Math.exp(x) - alpha));
}, undefined, { alpha: 'float', gamma: 'float' });
activation('Celu', 12, ['float'], (ctx) => {
  const alpha = ctx.attrs.float('alpha', 1.0);
  return (x) => Math.max(0, x) + Math.min(0, alpha * (Math.exp(x / alpha) - 1));
}, undefined, { alpha: 'float' });
activation('Sigmoid', 1, ['float'], () => sigmoid);
activation('HardSigmoid', 1, ['float'], (ctx) => {
  const alpha = ctx.attrs.float('alpha', 0.2);
  const beta = ctx.attrs.float('beta', 0.5);
  return (x) => Math.max(0, Math.min(1, alpha * x + beta));
}, undefined, { alpha: 'float', beta: 'float' });
activation('HardSwish', 14, ['float'], () => (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)));
activation('Softplus', 1, ['float'], () => softplus);
activation('Softsign', 1, ['float'], () => (x) => x / (1 + Math.abs(x)));
activation('Tanh', 1, ['float'], () => Math.tanh);
activation('ThresholdedRelu', 10, ['float'], (ctx) => {
  const alpha = ctx.attrs.float('alpha', 1.0);
  return (x) => (x > alpha ? x : 0);
}, undefined, { alpha: 'float' });
activation(
  'Shrink',
  9,
  ['numeric'],
  (ctx) => {
    const lambd = ctx.attrs.float('lambd', 0.5);
    const bias = ctx.attrs.float('bias', 0);
    return (x) => (x < -lambd ? x + bias : x > lambd ? x - bias : 0);
  },
  (ctx) => {
    const lambd = ctx.attrs.float('lambd', 0.5);
    const bias = ctx.attrs.float('bias', 0);
    return (x) => {
      const v = Number(x);
      if (v < -lambd) return x + BigInt(Math.trunc(bias));
      if (v > lambd) return x - BigInt(Math.trunc(bias));
      return 0n;
    };
  },
  { lambd: 'float', bias: 'float' },
);
activation('Mish', 18, ['float'], () => (x) => x * Math.tanh(softplus(x)));
activation('Gelu', 20, ['float'], (ctx) => {
  const approx = ctx.attrs.string('approximate', 'none');
  if (approx === 'tanh') {
    const c = Math.sqrt(2 / Math.PI);
    return (x) => 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x * x * x)));
  }
  if (approx !== 'none') throw new KilnError('unsupported', `unsupported Gelu approximate='${approx}'`);
  return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
}, undefined, { approximate: 'string' });
activation('Swish', 24, ['float'], (ctx) => {
  const alpha = ctx.attrs.float('alpha', 1.0);
  return (x) => x * sigmoid(alpha * x);
}, undefined, { alpha: 'float' });

// ---------- PRelu: slope broadcasts unidirectionally to X ----------

registerOp({
  opType: 'PRelu',
  since: 1,
  infer: (ctx) => {
    checkInputTypes(ctx, ['numeric']);
    checkSameTypes(ctx);
    return sameAsInput(ctx);
  },
  interp: (ctx) => {
    const [x, s0] = binaryOperands(ctx);
    const ss = legacySlopeShape(ctx.opset, x.shape, s0.shape, 1);
    const slope = ss === s0.shape ? s0 : s0.reshape(ss);
    const shape = broadcastShapes(x.shape, slope.shape);
    if (shape.length !== x.rank || shape.some((d, i) => d !== x.shape[i])) {
      throw new KilnError('type', `PRelu: slope shape [${slope.shape.join(',')}] does not broadcast to X shape [${x.shape.join(',')}]`);
    }
    return [mapBinary(x, slope, (a, s) => (a < 0 ? a * s : a), (a, s) => (a < 0n ? a * s : a))];
  },
});

// ---------- SwiGLU: Swish(a, alpha) * b ----------

registerOp({
  opType: 'SwiGLU',
  since: 1,
  attrs: { alpha: 'float' },
  infer: (ctx) => {
    checkInputTypes(ctx, ['float']);
    checkSameTypes(ctx);
    return broadcastInferOf(ctx, [0, 1], null);
  },
  interp: (ctx) => {
    const [a, b] = binaryOperands(ctx);
    const alpha = ctx.attrs.float('alpha', 1.0);
    return [mapBinary(a, b, (x, y) => x * sigmoid(alpha * x) * y)];
  },
});

// ---------- Clip ----------

function clipBounds(ctx: KernelContext, x: Tensor): { lo: number | bigint | null; hi: number | bigint | null } {
  if (ctx.opset < 11) {
    const lo = ctx.attrs.optFloat('min');
    const hi = ctx.attrs.optFloat('max');
    return { lo: lo ?? null, hi: hi ?? null };
  }
  const read = (i: number): number | bigint | null => {
    const t = ctx.optTensor(i);
    if (t === null) return null;
    if (t.size !== 1) throw new KilnError('type', `Clip: input ${i} must be a scalar, got shape [${t.shape.join(',')}]`);
    if (t.dtype !== x.dtype) throw new KilnError('type', `Clip: bound element type ${t.dtype} differs from input ${x.dtype}`);
    return isBig(t.dtype) ? t.big(0) : t.num(0);
  };
  return { lo: read(1), hi: read(2) };
}

registerOp({
  opType: 'Clip',
  since: 1,
  attrs: { min: 'float', max: 'float' },
  infer: (ctx) => {
    checkInputTypes(ctx, ctx.opset < 12 ? ['float'] : ['numeric']);
    if (ctx.opset >= 11) checkSameTypes(ctx);
    for (const i of [1, 2]) {
      const t = ctx.inputs[i];
      if (ctx.opset >= 11 && t && t.kind === 'tensor' && t.shape !== null && t.shape.length > 1 && t.shape.some((d) => d !== 1)) {
        throw new KilnError('type', `Clip: input ${i} must be a scalar`);
      }
    }
    return sameAsInput(ctx);
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const { lo, hi } = clipBounds(ctx, x);
    if (isBig(x.dtype)) {
      const l = lo === null ? null : BigInt(lo);
      const h = hi === null ? null : BigInt(hi);
      return [
        mapUnary(x, (v) => v, (v) => {
          let r = v;
          if (l !== null && r < l) r = l;
          if (h !== null && r > h) r = h;
          return r;
        }),
      ];
    }
    const l = lo === null ? -Infinity : Number(lo);
    const h = hi === null ? Infinity : Number(hi);
    return [
      mapUnary(x, (v) => {
        let r = v;
        if (r < l) r = l;
        if (r > h) r = h;
        return r;
      }),
    ];
  },
});
