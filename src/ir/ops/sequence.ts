/** Sequence and optional ops. */
import { KilnError } from '../errors.js';
import { dtypeFromOnnx } from '../dtype.js';
import { NoneValue, SequenceValue, Tensor, type RtValue } from '../tensor.js';
import { optionalType, sequenceType, tensorType, type Dim, type ValueType } from '../types.js';
import { registerOp, type KernelContext } from './registry.js';
import { boolScalar, concatAxis, i64Scalar, joinTypes, looseType, scalarInt, sliceAxis, stackAxis } from './sequence-util.js';
import { normAxis } from './util.js';

function seqInput(ctx: KernelContext, i: number): SequenceValue {
  const v = ctx.inputs[i];
  if (!v || v.kind !== 'sequence') throw new KilnError('runtime', `input ${i} must be a sequence`);
  return v;
}

function seqElemType(t: ValueType | null | undefined, what = 'input 0'): ValueType | null {
  if (t === null || t === undefined) return null;
  if (t.kind !== 'sequence') throw new KilnError('type', `${what} must be a sequence, got ${t.kind}`);
  return t.elem;
}

function normPos(pos: number, n: number, allowEnd: boolean): number {
  const p = pos < 0 ? pos + n : pos;
  if (p < 0 || p > n || (!allowEnd && p === n)) throw new KilnError('runtime', `sequence position ${pos} is out of range for length ${n}`);
  return p;
}

registerOp({
  opType: 'SequenceConstruct',
  since: 11,
  infer: (ctx) => {
    let t: ValueType | null = null;
    ctx.inputs.forEach((x, i) => {
      if (x && x.kind !== 'tensor') throw new KilnError('type', `SequenceConstruct input ${i} must be a tensor`);
      t = i === 0 ? x : joinTypes(t, x);
    });
    return [sequenceType(t)];
  },
  interp: (ctx) => {
    const items = ctx.inputs.map((_, i) => ctx.tensor(i));
    return [new SequenceValue(items[0]?.type ?? null, items)];
  },
});

registerOp({
  opType: 'SequenceEmpty',
  since: 11,
  attrs: { dtype: 'int' },
  infer: (ctx) => {
    const code = ctx.attrs.int('dtype', 1);
    const dt = dtypeFromOnnx(code);
    if (!dt) throw new KilnError('type', `SequenceEmpty dtype ${code} is not a known element type`);
    return [sequenceType(tensorType(dt, null))];
  },
  interp: (ctx) => {
    const dt = dtypeFromOnnx(ctx.attrs.int('dtype', 1)) ?? 'f32';
    return [new SequenceValue(tensorType(dt, null), [])];
  },
});

registerOp({
  opType: 'SequenceInsert',
  since: 11,
  infer: (ctx) => {
    const e = seqElemType(ctx.inputs[0]);
    return [sequenceType(e === null ? ctx.inputs[1] ?? null : joinTypes(e, ctx.inputs[1] ?? null))];
  },
  interp: (ctx) => {
    const s = seqInput(ctx, 0);
    const t = ctx.tensor(1);
    const pT = ctx.optTensor(2);
    const n = s.items.length;
    const p = pT ? normPos(scalarInt(pT, 'position'), n, true) : n;
    const items = [...s.items];
    items.splice(p, 0, t);
    return [new SequenceValue(s.elemType, items)];
  },
});

registerOp({
  opType: 'SequenceAt',
  since: 11,
  infer: (ctx) => [seqElemType(ctx.inputs[0])],
  interp: (ctx) => {
    const s = seqInput(ctx, 0);
    const p = normPos(scalarInt(ctx.tensor(1), 'position'), s.items.length, false);
    return [s.items[p]!];
  },
});

registerOp({
  opType: 'SequenceErase',
  since: 11,
  infer: (ctx) => [ctx.inputs[0] ?? null],
  interp: (ctx) => {
    const s = seqInput(ctx, 0);
    const pT = ctx.optTensor(1);
    const n = s.items.length;
    const p = pT ? normPos(scalarInt(pT, 'position'), n, false) : n - 1;
    if (p < 0) throw new KilnError('runtime', 'cannot erase from an empty sequence');
    const items = [...s.items];
    items.splice(p, 1);
    return [new SequenceValue(s.elemType, items)];
  },
});

registerOp({
  opType: 'SequenceLength',
  since: 11,
  infer: () => [tensorType('i64', [])],
  interp: (ctx) => [i64Scalar(seqInput(ctx, 0).items.length)],
});

registerOp({
  opType: 'SplitToSequence',
  since: 11,
  attrs: { axis: 'int', keepdims: 'int' },
  infer: (ctx) => {
    const t = ctx.inputs[0];
    if (!t) return [sequenceType(null)];
    if (t.kind !== 'tensor') throw new KilnError('type', 'SplitToSequence input must be a tensor');
    if (t.shape === null) return [sequenceType(tensorType(t.dtype, null))];
    const ax = normAxis(ctx.attrs.int('axis', 0), t.shape.length);
    const shape: Dim[] = [...t.shape];
    if (!ctx.hasInput(1)) {
      if (ctx.attrs.int('keepdims', 1) === 0) shape.splice(ax, 1);
      else shape[ax] = 1;
    } else {
      const sp = ctx.constInput(1);
      const sizes = sp ? sp.toIndexArray() : [];
      shape[ax] = sp && sp.rank === 1 && sizes.every((x) => x === sizes[0]) ? (sizes[0] ?? null) : null;
    }
    return [sequenceType(tensorType(t.dtype, shape))];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const ax = normAxis(ctx.attrs.int('axis', 0), x.rank);
    const n = x.shape[ax]!;
    const sp = ctx.optTensor(1);
    const items: Tensor[] = [];
    if (!sp) {
      const keep = ctx.attrs.int('keepdims', 1) !== 0;
      for (let i = 0; i < n; i++) {
        const s = sliceAxis(x, ax, i, i + 1);
        if (keep) items.push(s);
        else {
          const shape = [...x.shape];
          shape.splice(ax, 1);
          items.push(s.reshape(shape));
        }
      }
    } else if (sp.rank === 0) {
      const k = scalarInt(sp, 'split');
      if (k <= 0) throw new KilnError('runtime', `split size ${k} must be positive`);
      for (let i = 0; i < n; i += k) items.push(sliceAxis(x, ax, i, Math.min(n, i + k)));
    } else {
      const sizes = sp.toIndexArray();
      if (sizes.reduce((a, b) => a + b, 0) !== n || sizes.some((s) => s < 0)) {
        throw new KilnError('runtime', `split sizes [${sizes.join(',')}] do not sum to dimension ${n}`);
      }
      let off = 0;
      for (const s of sizes) {
        items.push(sliceAxis(x, ax, off, off + s));
        off += s;
      }
    }
    return [new SequenceValue(items[0]?.type ?? null, items)];
  },
});

registerOp({
  opType: 'ConcatFromSequence',
  since: 11,
  attrs: { axis: 'int', new_axis: 'int' },
  infer: (ctx) => {
    const e = seqElemType(ctx.inputs[0]);
    if (e === null) return [null];
    if (e.kind !== 'tensor') throw new KilnError('type', 'ConcatFromSequence needs a sequence of tensors');
    if (e.shape === null) return [tensorType(e.dtype, null)];
    const newAxis = ctx.attrs.int('new_axis', 0) === 1;
    const r = e.shape.length;
    const ax = normAxis(ctx.attrs.int('axis'), newAxis ? r + 1 : r);
    const shape: Dim[] = [...e.shape];
    if (newAxis) shape.splice(ax, 0, null);
    else shape[ax] = null;
    return [tensorType(e.dtype, shape)];
  },
  interp: (ctx) => {
    const s = seqInput(ctx, 0);
    const items = s.items.map((v) => {
      if (v.kind !== 'tensor') throw new KilnError('runtime', 'ConcatFromSequence needs a sequence of tensors');
      return v;
    });
    if (items.length === 0) throw new KilnError('runtime', 'ConcatFromSequence of an empty sequence');
    const newAxis = ctx.attrs.int('new_axis', 0) === 1;
    const r = items[0]!.rank;
    const ax = normAxis(ctx.attrs.int('axis'), newAxis ? r + 1 : r);
    return [newAxis ? stackAxis(items, ax) : concatAxis(items, ax)];
  },
});

registerOp({
  opType: 'SequenceMap',
  since: 17,
  attrs: { body: 'graph' },
  infer: (ctx) => {
    const body = ctx.attrs.graph('body');
    const bodyIn = ctx.inputs.map((t) => (t && t.kind === 'sequence' ? t.elem : t));
    const outs = ctx.inferSubgraph(body, bodyIn.map((t) => looseType(t)));
    return outs.map((t) => sequenceType(looseType(t)));
  },
  interp: (ctx) => {
    const body = ctx.attrs.graph('body');
    const s0 = seqInput(ctx, 0);
    const n = s0.items.length;
    const outs: RtValue[][] = body.outputs.map(() => []);
    for (let i = 0; i < n; i++) {
      const args = ctx.inputs.map((v, k) => {
        if (!v) throw new KilnError('runtime', `SequenceMap input ${k} is missing`);
        if (v.kind === 'sequence') {
          if (v.items.length !== n) throw new KilnError('runtime', 'SequenceMap sequences have different lengths');
          return v.items[i]!;
        }
        return v;
      });
      const r = ctx.runSubgraph(body, args);
      r.forEach((v, k) => outs[k]!.push(v));
    }
    return outs.map((items, k) => {
      const declared = ctx.node.outputs[k]?.type;
      const et = declared && declared.kind === 'sequence' ? declared.elem : null;
      return new SequenceValue(et, items);
    });
  },
});

// ---------- optionals ----------

registerOp({
  opType: 'Optional',
  since: 15,
  attrs: { type: 'type' },
  infer: (ctx) => {
    const t = ctx.inputs[0] ?? null;
    if (ctx.hasInput(0)) return [optionalType(t)];
    const at = ctx.attrs.type('type');
    if (!at) throw new KilnError('type', 'Optional without an input needs a type attribute');
    return [optionalType(at)];
  },
  interp: (ctx) => {
    const v = ctx.inputs[0];
    if (v) return [v];
    return [new NoneValue(ctx.attrs.type('type') ?? null)];
  },
});

registerOp({
  opType: 'OptionalHasElement',
  since: 15,
  infer: () => [tensorType('bool', [])],
  interp: (ctx) => {
    const v = ctx.inputs[0];
    return [boolScalar(v !== null && v !== undefined && v.kind !== 'none')];
  },
});

registerOp({
  opType: 'OptionalGetElement',
  since: 15,
  infer: (ctx) => {
    const t = ctx.inputs[0] ?? null;
    if (t === null) return [null];
    if (t.kind === 'optional') return [t.elem];
    if (ctx.opset < 18) throw new KilnError('type', 'OptionalGetElement input must be an optional before opset 18');
    return [t];
  },
  interp: (ctx) => {
    const v = ctx.inputs[0];
    if (!v || v.kind === 'none') throw new KilnError('runtime', 'OptionalGetElement of an empty optional');
    return [v];
  },
});
