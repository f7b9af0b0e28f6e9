/**
 * Calibration: runs the float model on Kiln's reference interpreter over the calibration inputs and
 * keeps per-tensor statistics of the activations that will be quantized (min/max in a first pass,
 * a histogram in a second pass for the percentile and entropy methods), then turns them into ranges.
 */
import type { Module } from '../ir/graph.js';
import { interpret } from '../ir/interp/interpreter.js';
import type { RtValue, Tensor } from '../ir/tensor.js';
import { entropyRange, histogramKind, minMaxRange, percentileRange, TensorStats, type CalibrationMethod, type Range } from './ranges.js';

/** One data set: the model's inputs in graph-input order. */
export type DataSet = readonly (RtValue | undefined)[];

function floatData(t: Tensor): ArrayLike<number> {
  return t.data instanceof Float32Array || t.data instanceof Float64Array ? t.data : t.toNumbers();
}

/** Runs the model on every data set and calls `visit` with each watched tensor's value. */
export function observe(module: Module, data: readonly DataSet[], watched: ReadonlySet<string>, visit: (name: string, t: Tensor) => void): void {
  for (const inputs of data) {
    module.graph.inputs.forEach((v, i) => {
      const x = inputs[i];
      if (x && x.kind === 'tensor' && watched.has(v.name)) visit(v.name, x);
    });
    interpret(module, inputs, {
      onNode: (node, outs) => {
        node.outputs.forEach((v, i) => {
          const x = outs[i];
          if (v && x && x.kind === 'tensor' && watched.has(v.name)) visit(v.name, x);
        });
      },
    });
  }
}

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** For 'percentile': the percentile kept (default 99.99). */
  percentile?: number;
}

export interface Calibration {
  /** Ranges from the chosen method (for 8-bit activations). */
  ranges: Map<string, Range>;
  /** Min/max ranges (for int16 activations, which have the levels to keep outliers). */
  minMax: Map<string, Range>;
}

export function calibrate(module: Module, data: readonly DataSet[], tensors: readonly string[], opts: CalibrationOptions): Calibration {
  const watched = new Set(tensors);
  const stats = new Map(tensors.map((n) => [n, new TensorStats()]));
  observe(module, data, watched, (name, t) => stats.get(name)!.observe(floatData(t)));
  const kind = histogramKind(opts.method);
  if (kind !== 'none') observe(module, data, watched, (name, t) => stats.get(name)!.histogram(floatData(t), kind === 'abs'));
  const ranges = new Map<string, Range>();
  const minMax = new Map<string, Range>();
  for (const [name, s] of stats) {
    minMax.set(name, minMaxRange(s, name));
    if (opts.method === 'minmax') ranges.set(name, minMaxRange(s, name));
    else if (opts.method === 'percentile') ranges.set(name, percentileRange(s, name, opts.percentile ?? 99.99));
    else ranges.set(name, entropyRange(s, name, { unsigned: 256, signed: 128 }));
  }
  return { ranges, minMax };
}
