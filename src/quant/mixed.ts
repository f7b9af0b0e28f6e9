/**
 * Mixed precision: per layer int8 or int4 weights, and int8 or int16 output activation, chosen to
 * minimize predicted bytes under an accuracy budget.
 *
 * Sensitivity is measured, not guessed: starting from the all-int8 model, each layer in turn gets
 * int4 weights (then, separately, an int16 output) and the output error power is measured on the
 * calibration set. Quantization errors of different layers are close to independent, so their
 * powers add: the predicted output noise of a plan is the int8 noise plus the sum of the chosen
 * options' deltas, and an SQNR budget of B dB below the int8 model is a linear constraint
 * (Σ Δ ≤ N₈·(10^(B/10) − 1)). An ILP (HiGHS) picks one option per layer minimizing bytes; without
 * HiGHS a greedy takes int4 layers by least noise per byte saved. The chosen plan is then measured;
 * if it misses the budget, the budget given to the solver is halved until it does.
 */
import { KilnError } from '../ir/errors.js';
import type { Module } from '../ir/graph.js';
import { runHighs, type MipModel } from '../costmodel/highs.js';
import type { DataSet } from './calibrate.js';
import type { Calibration } from './calibrate.js';
import { evaluate, type Accuracy } from './evaluate.js';
import { activationTensors, buildQdq, findLayers, type Layer, type QdqResult, type QuantPlan } from './qdq.js';
import { weightBytes, type ActType, type WeightBits } from './qparams.js';

export type Budget = { kind: 'sqnr-drop'; db: number } | { kind: 'top1-drop'; percent: number };

export interface LayerOption {
  bits: WeightBits;
  act: 'i8' | 'i16';
  /** Predicted bytes: weights as stored plus the output activation. */
  bytes: number;
  /** Measured change of output noise power against the all-int8 model. */
  deltaNoise: number;
}

export interface LayerSensitivity {
  layer: string;
  /** The activation the layer writes (the one an int16 option widens); null when none is quantized. */
  activation: string | null;
  /** Output SQNR with this layer's weights at int4 (others int8). */
  int4SqnrDb: number;
  /** Output SQNR with this layer's output at int16 (others int8), null without an activation. */
  int16SqnrDb: number | null;
  options: LayerOption[];
}

export interface MixedResult {
  plan: QuantPlan;
  result: QdqResult;
  accuracy: Accuracy;
  baseline: { sqnrDb: number; top1Agreement: number | null; weightBytes: number };
  sensitivity: LayerSensitivity[];
  solver: string;
  /** The SQNR drop (dB) finally given to the solver. */
  solverBudgetDb: number;
}

/** Output 0's error power relative to its signal (output 0 carries the budget, classification or not). */
const noiseOf = (a: Accuracy): number => {
  const s = a.outputs[0]!.sqnrDb;
  return Number.isFinite(s) ? 10 ** (-s / 10) : 0;
};

function layerActivation(module: Module, l: Layer, acts: ReadonlySet<string>): string | null {
  if (acts.has(l.output.name)) return l.output.name;
  for (const n of module.graph.nodes) {
    if (n.inputs.includes(l.output) && n.outputs[0] && acts.has(n.outputs[0].name)) return n.outputs[0].name;
  }
  return null;
}

function planOf(base: QuantPlan, layers: readonly Layer[], acts: readonly (string | null)[], choice: readonly LayerOption[]): QuantPlan {
  const weightBits = new Map(base.weightBits);
  const actType = new Map(base.actType);
  layers.forEach((l, i) => {
    weightBits.set(l.name, choice[i]!.bits);
    if (acts[i]) actType.set(acts[i]!, choice[i]!.act);
  });
  return { weightBits, actType };
}

/** One option per layer minimizing bytes with Σ deltaNoise ≤ allowed (HiGHS, else greedy). */
function choose(sens: readonly LayerSensitivity[], allowed: number): { pick: LayerOption[]; solver: string } {
  const cols = sens.flatMap((s, l) => s.options.map((o, k) => ({ l, k, o })));
  const numRows = sens.length + 1;
  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  sens.forEach((_, l) => {
    cols.forEach((c, j) => {
      if (c.l === l) {
        indices.push(j);
        values.push(1);
      }
    });
    starts.push(indices.length);
  });
  cols.forEach((c, j) => {
    indices.push(j);
    values.push(c.o.deltaNoise);
  });
  starts.push(indices.length);
  const model: MipModel = {
    numCols: cols.length,
    numRows,
    colCost: cols.map((c) => c.o.bytes),
    colLower: cols.map(() => 0),
    colUpper: cols.map(() => 1),
    rowLower: [...sens.map(() => 1), -Infinity],
    rowUpper: [...sens.map(() => 1), allowed],
    matrix: { format: 'csr', numRows, numCols: cols.length, starts, indices, values },
    integrality: cols.map(() => 1),
  };
  const ans = runHighs(model, null, 10_000, 'choosing layer precisions');
  if (ans.colValue && (ans.status === 'optimal' || ans.status === 'timeLimit')) {
    const pick = sens.map((s, l) => {
      const j = cols.findIndex((c, jj) => c.l === l && ans.colValue![jj]! > 0.5);
      return j >= 0 ? cols[j]!.o : s.options[0]!;
    });
    return { pick, solver: `HiGHS ILP (${ans.status})` };
  }
  // greedy: int4 layers in order of least added noise per byte saved, while the budget holds
  const pick = sens.map((s) => s.options[0]!);
  let used = 0;
  const moves = sens
    .map((s, l) => ({ l, o: s.options.find((o) => o.bits === 4 && o.act === 'i8')! }))
    .filter((m) => m.o !== undefined)
    .sort((a, b) => a.o.deltaNoise / (pick[a.l]!.bytes - a.o.bytes) - b.o.deltaNoise / (pick[b.l]!.bytes - b.o.bytes));
  for (const m of moves) {
    if (used + m.o.deltaNoise <= allowed) {
      pick[m.l] = m.o;
      used += m.o.deltaNoise;
    }
  }
  return { pick, solver: `greedy (HiGHS ${ans.status}${ans.message ? `: ${ans.message}` : ''})` };
}

export interface MixedOptions {
  budget: Budget;
  /** Activation type of the int8 baseline ('i8' or 'u8'). */
  actType: ActType;
}

export function chooseMixed(float: Module, cal: Calibration, data: readonly DataSet[], opts: MixedOptions): MixedResult {
  const layers = findLayers(float);
  if (layers.length === 0) throw new KilnError('unsupported', 'mixed precision: the model has no Conv/Gemm/MatMul layer with a constant weight');
  const actNames = activationTensors(float, layers).map((v) => v.name);
  const actSet = new Set(actNames);
  const layerActs = layers.map((l) => layerActivation(float, l, actSet));
  const base: QuantPlan = { weightBits: new Map(layers.map((l) => [l.name, 8 as WeightBits])), actType: new Map(actNames.map((n) => [n, opts.actType])) };
  const run = (plan: QuantPlan): { result: QdqResult; accuracy: Accuracy } => {
    const result = buildQdq(float, plan, cal.ranges, cal.minMax);
    return { result, accuracy: evaluate(float, result, data) };
  };
  const b = run(base);
  const n0 = noiseOf(b.accuracy);
  const elements = (name: string | null): number => {
    const t = name ? float.graph.nodes.flatMap((n) => n.outputs).find((v) => v?.name === name)?.tensorType : null;
    const shape = t?.shape ?? [];
    return shape.every((d) => typeof d === 'number') ? (shape as number[]).reduce((x, y) => x * y, 1) : 0;
  };
  const sensitivity: LayerSensitivity[] = layers.map((l, i) => {
    const one = (bits: WeightBits, act: 'i8' | 'i16'): Accuracy => {
      const choice = layers.map((_, j) => (j === i ? { bits, act, bytes: 0, deltaNoise: 0 } : { bits: 8 as WeightBits, act: 'i8' as const, bytes: 0, deltaNoise: 0 }));
      const plan = planOf(base, layers, layerActs.map((a, j) => (j === i ? a : null)), choice);
      return run(plan).accuracy;
    };
    const a4 = one(4, 'i8');
    const d4 = Math.max(0, noiseOf(a4) - n0);
    const a16 = layerActs[i] ? one(8, 'i16') : null;
    const d16 = a16 ? Math.min(0, noiseOf(a16) - n0) : 0;
    const actBytes = elements(layerActs[i]!);
    const wb = (bits: WeightBits): number => weightBytes(l.elements, l.channels, bits) + (l.bias ? 4 * l.channels : 0);
    const options: LayerOption[] = [
      { bits: 8, act: 'i8', bytes: wb(8) + actBytes, deltaNoise: 0 },
      { bits: 4, act: 'i8', bytes: wb(4) + actBytes, deltaNoise: d4 },
    ];
    if (a16) {
      options.push({ bits: 8, act: 'i16', bytes: wb(8) + 2 * actBytes, deltaNoise: d16 });
      options.push({ bits: 4, act: 'i16', bytes: wb(4) + 2 * actBytes, deltaNoise: d4 + d16 });
    }
    return { layer: l.name, activation: layerActs[i] ?? null, int4SqnrDb: a4.outputs[0]!.sqnrDb, int16SqnrDb: a16 ? a16.outputs[0]!.sqnrDb : null, options };
  });

  const baseTop1 = b.accuracy.outputs[0]!.top1Agreement;
  const meets = (a: Accuracy): boolean => {
    if (opts.budget.kind === 'sqnr-drop') return a.outputs[0]!.sqnrDb >= b.accuracy.outputs[0]!.sqnrDb - opts.budget.db - 1e-9;
    const t = a.outputs[0]!.top1Agreement;
    if (t === null) throw new KilnError('usage', `--max-top1-drop needs a classification output ([batch, classes]); output '${a.outputs[0]!.name}' is not one`);
    return 100 * (1 - t) <= opts.budget.percent + 1e-9;
  };
  if (opts.budget.kind === 'top1-drop' && baseTop1 === null) throw new KilnError('usage', `--max-top1-drop needs a classification output ([batch, classes]); output '${b.accuracy.outputs[0]!.name}' is not one`);
  // an SQNR budget is given to the solver as is; a top-1 budget starts from a generous SQNR proxy
  // (the top-1 proxy steps down by 2 dB from 40: top-1 tolerates far more noise than SQNR budgets ask)
  const proxies = opts.budget.kind === 'sqnr-drop' ? [1, 0.5, 0.25, 0.125, 0.0625].map((k) => k * (opts.budget as { db: number }).db) : Array.from({ length: 20 }, (_, k) => 40 - 2 * k);
  for (const solverBudget of proxies) {
    const allowed = n0 * (10 ** (solverBudget / 10) - 1);
    const { pick, solver } = choose(sensitivity, allowed);
    const plan = planOf(base, layers, layerActs, pick);
    const r = run(plan);
    if (meets(r.accuracy)) {
      return { plan, ...r, baseline: { sqnrDb: b.accuracy.outputs[0]!.sqnrDb, top1Agreement: baseTop1, weightBytes: b.result.weightBytes }, sensitivity, solver, solverBudgetDb: solverBudget };
    }
  }
  // nothing cheaper meets the budget: the all-int8 model (which meets any drop budget by definition, or is the best there is)
  return { plan: base, ...b, baseline: { sqnrDb: b.accuracy.outputs[0]!.sqnrDb, top1Agreement: baseTop1, weightBytes: b.result.weightBytes }, sensitivity, solver: 'none (all-int8 kept)', solverBudgetDb: 0 };
}
