/**
 * Attribute parsing for RNN, GRU and LSTM, shared by the reference interpreter
 * (ops/sequence-models-rnn.ts) and the lowering (kernel/lower/misc-rnn.ts): directions, gate
 * counts, weight shapes and the activation list with its alpha/beta values. What each activation
 * computes stays with each side.
 */
import { KilnError } from '../../errors.js';
import type { Attrs } from '../registry.js';

export type RnnKind = 'RNN' | 'GRU' | 'LSTM';

/** Gate blocks stacked in W and R. */
export const RNN_GATES: Readonly<Record<RnnKind, number>> = { RNN: 1, GRU: 3, LSTM: 4 };

const DEFAULT_ACTS: Readonly<Record<RnnKind, readonly string[]>> = { RNN: ['Tanh'], GRU: ['Sigmoid', 'Tanh'], LSTM: ['Sigmoid', 'Tanh', 'Tanh'] };

interface ActParams {
  usesAlpha: boolean;
  usesBeta: boolean;
  defAlpha: number;
  defBeta: number;
}

const p = (usesAlpha: boolean, usesBeta: boolean, defAlpha: number, defBeta: number): ActParams => ({ usesAlpha, usesBeta, defAlpha, defBeta });

/** The activations ONNX allows in recurrent layers (lower-case names) and how they read alpha/beta. */
const ACT_PARAMS: Readonly<Record<string, ActParams>> = {
  relu: p(false, false, 0, 0),
  tanh: p(false, false, 0, 0),
  sigmoid: p(false, false, 0, 0),
  affine: p(true, true, 1, 0),
  leakyrelu: p(true, false, 0.01, 0),
  thresholdedrelu: p(true, false, 1, 0),
  scaledtanh: p(true, true, 1, 1),
  hardsigmoid: p(true, true, 0.2, 0.5),
  elu: p(true, false, 1, 0),
  softsign: p(false, false, 0, 0),
  softplus: p(false, false, 0, 0),
};

/** One activation: its lower-case name and the alpha/beta it takes (defaults where unused). */
export interface RnnActivation {
  name: string;
  alpha: number;
  beta: number;
}

export interface RnnConfig {
  layout: number;
  direction: 'forward' | 'reverse' | 'bidirectional';
  /** directions: 1 (forward or reverse) or 2 (bidirectional) */
  nd: number;
  clip: number | undefined;
  /** gate blocks (RNN_GATES) */
  gates: number;
  /** the hidden_size attribute, when given */
  hiddenSize: number | undefined;
  linearBeforeReset: boolean;
  inputForget: boolean;
}

export function rnnDirections(direction: string): number {
  if (direction === 'forward' || direction === 'reverse') return 1;
  if (direction === 'bidirectional') return 2;
  throw new KilnError('type', `invalid direction '${direction}'`);
}

export function rnnConfig(attrs: Attrs, kind: RnnKind): RnnConfig {
  const direction = attrs.string('direction', 'forward');
  const nd = rnnDirections(direction);
  return {
    layout: attrs.int('layout', 0),
    direction: direction as RnnConfig['direction'],
    nd,
    clip: attrs.optFloat('clip'),
    gates: RNN_GATES[kind],
    hiddenSize: attrs.optInt('hidden_size'),
    linearBeforeReset: kind === 'GRU' && attrs.int('linear_before_reset', 0) !== 0,
    inputForget: kind === 'LSTM' && attrs.int('input_forget', 0) !== 0,
  };
}

/** (sequence length, batch, input size) of X under the layout. */
export function rnnInputDims(layout: number, xShape: readonly number[]): [number, number, number] {
  if (xShape.length !== 3) throw new KilnError('type', `X must be 3-D, got rank ${xShape.length}`);
  return layout === 0 ? [xShape[0]!, xShape[1]!, xShape[2]!] : [xShape[1]!, xShape[0]!, xShape[2]!];
}

/** Checks W ([nd, G·H, I]) and R ([nd, G·H, H]) against the layer's geometry. */
export function checkRnnWeights(nd: number, G: number, H: number, I: number, W: readonly number[], R: readonly number[]): void {
  if (W.length !== 3 || W[0] !== nd || W[1] !== G * H || W[2] !== I) throw new KilnError('type', `W shape [${W.join(',')}] must be [${nd},${G * H},${I}]`);
  if (R.length !== 3 || R[0] !== nd || R[1] !== G * H || R[2] !== H) throw new KilnError('type', `R shape [${R.join(',')}] must be [${nd},${G * H},${H}]`);
}

/** Activations per direction, [dir][k]: the default list, one list for both directions, or one per direction. */
export function rnnActivations(attrs: Attrs, kind: RnnKind, nd: number): RnnActivation[][] {
  const defaults = DEFAULT_ACTS[kind];
  const per = defaults.length;
  let names = attrs.strings('activations', []);
  if (names.length === 0) names = nd === 2 ? [...defaults, ...defaults] : defaults;
  else if (names.length === per && nd === 2) names = [...names, ...names];
  if (names.length !== per * nd) throw new KilnError('type', `${kind} expects ${per * nd} activations, got ${names.length}`);
  const alphas = attrs.floats('activation_alpha', []);
  const betas = attrs.floats('activation_beta', []);
  let ai = 0;
  let bi = 0;
  const acts = names.map((n): RnnActivation => {
    const name = n.toLowerCase();
    const spec = ACT_PARAMS[name];
    if (!spec) throw new KilnError('unsupported', `unsupported ${kind} activation ${n}`);
    let alpha = spec.defAlpha;
    let beta = spec.defBeta;
    if (spec.usesAlpha && ai < alphas.length) alpha = alphas[ai++]!;
    if (spec.usesBeta && bi < betas.length) beta = betas[bi++]!;
    return { name, alpha, beta };
  });
  const out: RnnActivation[][] = [];
  for (let d = 0; d < nd; d++) out.push(acts.slice(d * per, (d + 1) * per));
  return out;
}
