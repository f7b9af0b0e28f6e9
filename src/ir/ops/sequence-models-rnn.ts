/** ONNX recurrent layers: RNN, GRU and LSTM (all opsets, layouts 0/1, all directions). */
import { KilnError } from '../errors.js';
import { tensorType, type Dim, type ValueType } from '../types.js';
import { checkRnnWeights, rnnActivations, rnnInputDims, rnnConfig, rnnDirections, type RnnKind as Kind } from './config/rnn.js';
import { registerOp, type InferContext, type KernelContext } from './registry.js';
import { inputTensorType } from './util.js';
import { dimOf, fromF64, requireFloat, sigmoid, toF64 } from './sequence-models-common.js';
import type { Tensor } from '../tensor.js';

type Act = (x: number) => number;

/** What each activation computes, from its alpha and beta (parsed by config/rnn.ts). */
const ACTS: Record<string, (alpha: number, beta: number) => Act> = {
  relu: () => (x) => (x > 0 ? x : 0),
  tanh: () => Math.tanh,
  sigmoid: () => sigmoid,
  affine: (a, b) => (x) => a * x + b,
  leakyrelu: (a) => (x) => (x >= 0 ? x : a * x),
  thresholdedrelu: (a) => (x) => (x > a ? x : 0),
  scaledtanh: (a, b) => (x) => a * Math.tanh(b * x),
  hardsigmoid: (a, b) => (x) => Math.max(0, Math.min(1, a * x + b)),
  elu: (a) => (x) => (x >= 0 ? x : a * (Math.exp(x) - 1)),
  softsign: () => (x) => x / (1 + Math.abs(x)),
  softplus: () => (x) => (x > 30 ? x : Math.log1p(Math.exp(x))),
};

/** Activation functions per direction: [dir][k]. */
function activations(ctx: KernelContext, kind: Kind, nd: number): Act[][] {
  return rnnActivations(ctx.attrs, kind, nd).map((dir) =>
    dir.map((f) => {
      const make = ACTS[f.name];
      if (!make) throw new KilnError('unsupported', `unsupported activation ${f.name}`);
      return make(f.alpha, f.beta);
    }),
  );
}

function inferRecurrent(ctx: InferContext, kind: Kind): (ValueType | null)[] {
  const x = inputTensorType(ctx, 0);
  const r = inputTensorType(ctx, 2);
  if (!x) return new Array<ValueType | null>(ctx.outputCount).fill(null);
  requireFloat(x, 'X');
  if (x.shape && x.shape.length !== 3) throw new KilnError('type', `X must be 3-D, got rank ${x.shape.length}`);
  const layout = ctx.attrs.int('layout', 0);
  const nd = rnnDirections(ctx.attrs.string('direction', 'forward'));
  const H: Dim = ctx.attrs.optInt('hidden_size') ?? dimOf(r, 2);
  const seq = dimOf(x, layout === 0 ? 0 : 1);
  const batch = dimOf(x, layout === 0 ? 1 : 0);
  const Y = layout === 0 ? [seq, nd, batch, H] : [batch, seq, nd, H];
  const Yh = layout === 0 ? [nd, batch, H] : [batch, nd, H];
  const out: (ValueType | null)[] = [tensorType(x.dtype, Y)];
  if (ctx.outputCount > 1) out.push(tensorType(x.dtype, Yh));
  if (kind === 'LSTM' && ctx.outputCount > 2) out.push(tensorType(x.dtype, Yh));
  return out;
}

/** Reads a [nd, batch, H] (layout 0) or [batch, nd, H] (layout 1) state into [nd][batch*H]. */
function readState(t: Tensor | null, layout: number, nd: number, batch: number, H: number, what: string): Float64Array[] {
  const out: Float64Array[] = [];
  for (let d = 0; d < nd; d++) out.push(new Float64Array(batch * H));
  if (!t) return out;
  const want = layout === 0 ? [nd, batch, H] : [batch, nd, H];
  if (t.rank !== 3 || t.shape.some((s, i) => s !== want[i])) throw new KilnError('type', `${what} shape [${t.shape.join(',')}] must be [${want.join(',')}]`);
  const src = toF64(t);
  for (let d = 0; d < nd; d++)
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < H; h++) out[d]![b * H + h] = src[layout === 0 ? (d * batch + b) * H + h : (b * nd + d) * H + h]!;
  return out;
}

function runRecurrent(ctx: KernelContext, kind: Kind): (Tensor | null)[] {
  const { layout, direction, nd, clip, gates: G, hiddenSize, linearBeforeReset, inputForget } = rnnConfig(ctx.attrs, kind);
  const X = ctx.tensor(0);
  const Wt = ctx.tensor(1);
  const Rt = ctx.tensor(2);
  requireFloat(X, 'X');
  const Bt = ctx.optTensor(3);
  const seqLensT = ctx.optTensor(4);
  const h0 = ctx.optTensor(5);
  const c0 = kind === 'LSTM' ? ctx.optTensor(6) : null;
  const Pt = kind === 'LSTM' ? ctx.optTensor(7) : null;
  const [S, batch, I] = rnnInputDims(layout, X.shape);
  if (Rt.rank !== 3) throw new KilnError('type', 'R must be 3-D');
  const H = hiddenSize ?? Rt.shape[2]!;
  checkRnnWeights(nd, G, H, I, Wt.shape, Rt.shape);
  if (Bt && (Bt.rank !== 2 || Bt.shape[0] !== nd || Bt.shape[1] !== 2 * G * H)) throw new KilnError('type', `B shape [${Bt.shape.join(',')}] must be [${nd},${2 * G * H}]`);
  if (Pt && (Pt.rank !== 2 || Pt.shape[0] !== nd || Pt.shape[1] !== 3 * H)) throw new KilnError('type', `P shape [${Pt.shape.join(',')}] must be [${nd},${3 * H}]`);
  const x = toF64(X);
  const W = toF64(Wt);
  const R = toF64(Rt);
  const Bd = Bt ? toF64(Bt) : new Float64Array(nd * 2 * G * H);
  const Pd = Pt ? toF64(Pt) : new Float64Array(nd * 3 * H);
  const seqLens = seqLensT ? seqLensT.toIndexArray() : new Array<number>(batch).fill(S);
  if (seqLens.length !== batch) throw new KilnError('type', `sequence_lens must have ${batch} elements`);
  for (const l of seqLens) if (l < 0 || l > S) throw new KilnError('runtime', `sequence length ${l} out of range [0, ${S}]`);
  const acts = activations(ctx, kind, nd);
  const hs = readState(h0, layout, nd, batch, H, 'initial_h');
  const cs = readState(c0, layout, nd, batch, H, 'initial_c');
  const Y = new Float64Array(S * nd * batch * H); // [S, nd, batch, H]
  const cl = (v: number): number => (clip === undefined ? v : Math.max(-clip, Math.min(clip, v)));
  const xAt = (t: number, b: number, i: number): number => x[layout === 0 ? (t * batch + b) * I + i : (b * S + t) * I + i]!;
  const gx = new Float64Array(G * H);
  const gh = new Float64Array(G * H);
  for (let d = 0; d < nd; d++) {
    const reverse = direction === 'reverse' || d === 1;
    const [f, g, hAct] = acts[d]!;
    const wOff = d * G * H * I;
    const rOff = d * G * H * H;
    const bOff = d * 2 * G * H;
    const pOff = d * 3 * H;
    for (let b = 0; b < batch; b++) {
      const L = seqLens[b]!;
      const hPrev = hs[d]!.subarray(b * H, (b + 1) * H);
      const cPrev = cs[d]!.subarray(b * H, (b + 1) * H);
      for (let step = 0; step < L; step++) {
        const t = reverse ? L - 1 - step : step;
        // gx = W x + Wb ; gh = R h + Rb
        for (let r = 0; r < G * H; r++) {
          let s = Bd[bOff + r]!;
          const wr = wOff + r * I;
          for (let i = 0; i < I; i++) s += W[wr + i]! * xAt(t, b, i);
          gx[r] = s;
          let s2 = Bd[bOff + G * H + r]!;
          const rr = rOff + r * H;
          for (let k = 0; k < H; k++) s2 += R[rr + k]! * hPrev[k]!;
          gh[r] = s2;
        }
        const hNew = new Float64Array(H);
        if (kind === 'RNN') {
          for (let k = 0; k < H; k++) hNew[k] = f!(cl(gx[k]! + gh[k]!));
        } else if (kind === 'GRU') {
          // reset gate for every unit first: (r ⊙ h_prev) feeds the hidden projection of each unit
          const rVec = new Float64Array(H);
          for (let k = 0; k < H; k++) rVec[k] = f!(cl(gx[H + k]! + gh[H + k]!));
          for (let k = 0; k < H; k++) {
            const z = f!(cl(gx[k]! + gh[k]!));
            const rg = rVec[k]!;
            let pre: number;
            if (linearBeforeReset) pre = gx[2 * H + k]! + rg * gh[2 * H + k]!;
            else {
              let s = Bd[bOff + G * H + 2 * H + k]!;
              const rr = rOff + (2 * H + k) * H;
              for (let j = 0; j < H; j++) s += R[rr + j]! * rVec[j]! * hPrev[j]!;
              pre = gx[2 * H + k]! + s;
            }
            const hh = g!(cl(pre));
            hNew[k] = (1 - z) * hh + z * hPrev[k]!;
          }
        } else {
          const cNew = new Float64Array(H);
          for (let k = 0; k < H; k++) {
            const ig = f!(cl(gx[k]! + gh[k]! + Pd[pOff + k]! * cPrev[k]!));
            const fg = inputForget ? 1 - ig : f!(cl(gx[2 * H + k]! + gh[2 * H + k]! + Pd[pOff + 2 * H + k]! * cPrev[k]!));
            const cc = g!(cl(gx[3 * H + k]! + gh[3 * H + k]!));
            const c = fg * cPrev[k]! + ig * cc;
            cNew[k] = c;
            const og = f!(cl(gx[H + k]! + gh[H + k]! + Pd[pOff + H + k]! * c));
            hNew[k] = og * hAct!(c);
          }
          cPrev.set(cNew);
        }
        hPrev.set(hNew);
        Y.set(hNew, ((t * nd + d) * batch + b) * H);
      }
    }
  }
  const dt = X.dtype;
  const res: (Tensor | null)[] = [];
  if (ctx.hasOutput(0)) {
    if (layout === 0) res.push(fromF64(dt, [S, nd, batch, H], Y));
    else {
      const y1 = new Float64Array(Y.length);
      for (let t = 0; t < S; t++)
        for (let d = 0; d < nd; d++)
          for (let b = 0; b < batch; b++)
            for (let k = 0; k < H; k++) y1[((b * S + t) * nd + d) * H + k] = Y[((t * nd + d) * batch + b) * H + k]!;
      res.push(fromF64(dt, [batch, S, nd, H], y1));
    }
  } else res.push(null);
  const packState = (st: Float64Array[]): Tensor => {
    const o = new Float64Array(nd * batch * H);
    for (let d = 0; d < nd; d++)
      for (let b = 0; b < batch; b++)
        for (let k = 0; k < H; k++) o[layout === 0 ? (d * batch + b) * H + k : (b * nd + d) * H + k] = st[d]![b * H + k]!;
    return fromF64(dt, layout === 0 ? [nd, batch, H] : [batch, nd, H], o);
  };
  if (ctx.outputCount > 1) res.push(ctx.hasOutput(1) ? packState(hs) : null);
  if (kind === 'LSTM' && ctx.outputCount > 2) res.push(ctx.hasOutput(2) ? packState(cs) : null);
  return res;
}

for (const kind of ['RNN', 'GRU', 'LSTM'] as const) {
  registerOp({
    opType: kind,
    since: 1,
    attrs: {
      activation_alpha: 'floats',
      activation_beta: 'floats',
      activations: 'strings',
      clip: 'float',
      direction: 'string',
      hidden_size: 'int',
      layout: 'int',
      ...(kind === 'GRU' ? { linear_before_reset: 'int' as const } : {}),
      ...(kind === 'LSTM' ? { input_forget: 'int' as const } : {}),
    },
    infer: (ctx) => inferRecurrent(ctx, kind),
    interp: (ctx) => runRecurrent(ctx, kind),
  });
}
