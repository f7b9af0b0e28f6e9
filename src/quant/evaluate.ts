/**
 * Accuracy of a quantized model against its float original, both on the reference interpreter:
 * SQNR (10·log10 of signal power over error power) per quantized activation and per output, and
 * top-1 agreement where an output is a classification (2-D, [batch, classes]).
 */
import type { Module } from '../ir/graph.js';
import { interpret } from '../ir/interp/interpreter.js';
import type { Tensor } from '../ir/tensor.js';
import type { DataSet } from './calibrate.js';
import type { QdqResult } from './qdq.js';

export interface SqnrAcc {
  signal: number;
  noise: number;
}

export function sqnrDb(a: SqnrAcc): number {
  if (a.noise === 0) return Infinity;
  if (a.signal === 0) return -Infinity;
  return 10 * Math.log10(a.signal / a.noise);
}

function accumulate(acc: SqnrAcc, ref: Tensor, got: Tensor): void {
  const r = ref.toNumbers();
  const g = got.toNumbers();
  for (let i = 0; i < r.length; i++) {
    acc.signal += r[i]! * r[i]!;
    acc.noise += (r[i]! - g[i]!) ** 2;
  }
}

/** Row-wise argmax of a [rows, classes] tensor. */
export function argmaxRows(t: Tensor): number[] {
  const [rows, cls] = [t.shape[0]!, t.shape[1]!];
  const d = t.toNumbers();
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let c = 1; c < cls; c++) if (d[r * cls + c]! > d[r * cls + best]!) best = c;
    return best;
  });
}

export const isClassification = (t: Tensor): boolean => t.rank === 2 && t.shape[1]! > 1;

export interface OutputAccuracy {
  name: string;
  sqnrDb: number;
  /** Share of rows whose argmax equals the float model's (null when the output is not [batch, classes]). */
  top1Agreement: number | null;
  rows: number;
}

export interface LayerAccuracy {
  tensor: string;
  /** The node producing the tensor ('' for a graph input). */
  producer: string;
  dtype: string;
  sqnrDb: number;
}

export interface Accuracy {
  dataSets: number;
  outputs: OutputAccuracy[];
  layers: LayerAccuracy[];
  /** Each output of the quantized model per data set (for callers that score against labels). */
  quantOutputs: Tensor[][];
}

/** Float model's outputs and watched activations, then the quantized model's, data set by data set. */
export function evaluate(float: Module, q: QdqResult, data: readonly DataSet[]): Accuracy {
  const names = [...q.dequantized.keys()];
  const layerAcc = new Map(names.map((n) => [n, { signal: 0, noise: 0 }]));
  const outAcc = float.graph.outputs.map(() => ({ signal: 0, noise: 0, agree: 0, rows: 0, cls: true }));
  const byDq = new Map([...q.dequantized].map(([orig, dq]) => [dq, orig]));
  const quantOutputs: Tensor[][] = [];
  for (const inputs of data) {
    const ref = new Map<string, Tensor>();
    float.graph.inputs.forEach((v, i) => {
      const x = inputs[i];
      if (x && x.kind === 'tensor' && layerAcc.has(v.name)) ref.set(v.name, x);
    });
    const fOut = interpret(float, inputs, {
      onNode: (node, outs) =>
        node.outputs.forEach((v, i) => {
          const x = outs[i];
          if (v && x && x.kind === 'tensor' && layerAcc.has(v.name)) ref.set(v.name, x);
        }),
    });
    const qOut = interpret(q.module, inputs, {
      onNode: (node, outs) => {
        const v = node.outputs[0];
        const orig = v ? byDq.get(v.name) : undefined;
        const x = outs[0];
        if (orig !== undefined && x && x.kind === 'tensor') accumulate(layerAcc.get(orig)!, ref.get(orig)!, x);
      },
    });
    const qs: Tensor[] = [];
    fOut.forEach((f, i) => {
      const g = qOut[i]!;
      if (f.kind !== 'tensor' || g.kind !== 'tensor') return;
      qs.push(g);
      const a = outAcc[i]!;
      accumulate(a, f, g);
      if (isClassification(f)) {
        const fa = argmaxRows(f);
        const ga = argmaxRows(g);
        a.agree += fa.filter((c, r) => c === ga[r]).length;
        a.rows += fa.length;
      } else a.cls = false;
    });
    quantOutputs.push(qs);
  }
  const producers = new Map(float.graph.nodes.flatMap((n) => n.outputs.filter((v) => v !== null).map((v) => [v!.name, n.name] as const)));
  return {
    dataSets: data.length,
    outputs: float.graph.outputs.map((v, i) => {
      const a = outAcc[i]!;
      return { name: v.name, sqnrDb: sqnrDb(a), top1Agreement: a.cls && a.rows > 0 ? a.agree / a.rows : null, rows: a.rows };
    }),
    layers: names.map((n) => ({ tensor: n, producer: producers.get(n) ?? '', dtype: q.params.get(n)!.dtype, sqnrDb: sqnrDb(layerAcc.get(n)!) })),
    quantOutputs,
  };
}
