/**
 * The per-op "attributes → typed config" step (src/ir/ops/config/*) that the reference interpreter
 * and the lowerings both call: defaults, normalization and the one-line errors.
 */
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../src/ir/graph.js';
import { KilnError } from '../src/ir/errors.js';
import { Attrs } from '../src/ir/ops/registry.js';
import { gemmConfig, matmulShapes, parseEinsum } from '../src/ir/ops/config/linalg.js';
import { checkRnnWeights, rnnActivations, rnnConfig, rnnInputDims } from '../src/ir/ops/config/rnn.js';
import { resizeOptions } from '../src/ir/ops/config/resize.js';
import { gridSampleConfig } from '../src/ir/ops/config/grid-sample.js';
import { argReduceConfig, noopWithEmptyAxes, reducedAxes, softmaxLayout } from '../src/ir/ops/config/reduce.js';

function attrs(entries: Record<string, AttrValue> = {}): Attrs {
  return new Attrs(new Node('Op', '', 'n', [], [], new Map(Object.entries(entries))));
}
const int = (value: number): AttrValue => ({ kind: 'int', value });
const float = (value: number): AttrValue => ({ kind: 'float', value });
const str = (value: string): AttrValue => ({ kind: 'string', value });
const strs = (...value: string[]): AttrValue => ({ kind: 'strings', value });
const floats = (...value: number[]): AttrValue => ({ kind: 'floats', value });

function errorOf(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KilnError) return e;
    throw e;
  }
  throw new Error('expected a KilnError');
}

describe('linalg config', () => {
  it('promotes 1-D MatMul operands and broadcasts batch dims', () => {
    const s = matmulShapes([2, 1, 3, 4], [5, 4, 6], 'type');
    expect(s).toMatchObject({ M: 3, K: 4, N: 6, batch: [2, 5], abatch: [2, 1], bbatch: [5], outShape: [2, 5, 3, 6] });
    expect(matmulShapes([4], [4, 6], 'type').outShape).toEqual([6]);
    expect(matmulShapes([3, 4], [4], 'type').outShape).toEqual([3]);
  });

  it('reports MatMul inner mismatches with the caller’s error code', () => {
    const e = errorOf(() => matmulShapes([3, 4], [5, 6], 'runtime'));
    expect(e.code).toBe('runtime');
    expect(e.message).toBe('MatMul inner dimensions 4 and 5 differ');
  });

  it('reads Gemm transposes and C broadcasting', () => {
    const g = gemmConfig(attrs({ transA: int(1), alpha: float(2) }), [4, 3], [4, 5], [5], 'type');
    expect(g).toMatchObject({ transA: true, transB: false, alpha: 2, beta: 1, M: 3, K: 4, N: 5, c: { rowStride: 0, colStride: 1 } });
    expect(gemmConfig(attrs(), [3, 4], [4, 5], [3, 1], 'type').c).toEqual({ rowStride: 1, colStride: 0 });
    // beta 0: C does not contribute and is not checked
    expect(gemmConfig(attrs({ beta: float(0) }), [3, 4], [4, 5], [7, 7], 'type').c).toBeNull();
    expect(errorOf(() => gemmConfig(attrs(), [3, 4], [4, 5], [2, 5], 'type')).message).toContain('does not broadcast to [3,5]');
  });

  it('parses Einsum equations with ellipses and implicit outputs', () => {
    expect(parseEinsum('...ij,...jk', [3, 2])).toEqual({ inputs: [['0', 'i', 'j'], ['j', 'k']], output: ['0', 'i', 'k'] });
    expect(errorOf(() => parseEinsum('ij->ii', [2])).message).toContain("repeats index 'i'");
  });
});

describe('rnn config', () => {
  it('defaults and repeats activation lists per direction', () => {
    const acts = rnnActivations(attrs({ direction: str('bidirectional') }), 'LSTM', 2);
    expect(acts.map((d) => d.map((a) => a.name))).toEqual([
      ['sigmoid', 'tanh', 'tanh'],
      ['sigmoid', 'tanh', 'tanh'],
    ]);
    const one = rnnActivations(attrs({ activations: strs('Affine', 'Relu') }), 'GRU', 1)[0]!;
    expect(one).toEqual([
      { name: 'affine', alpha: 1, beta: 0 },
      { name: 'relu', alpha: 0, beta: 0 },
    ]);
  });

  it('hands alpha and beta only to the activations that take them, in order', () => {
    const a = attrs({ activations: strs('LeakyRelu', 'Tanh', 'ScaledTanh'), activation_alpha: floats(0.5, 3), activation_beta: floats(7) });
    expect(rnnActivations(a, 'LSTM', 1)[0]).toEqual([
      { name: 'leakyrelu', alpha: 0.5, beta: 0 },
      { name: 'tanh', alpha: 0, beta: 0 },
      { name: 'scaledtanh', alpha: 3, beta: 7 },
    ]);
  });

  it('refuses wrong counts, unknown activations and directions', () => {
    expect(errorOf(() => rnnActivations(attrs({ activations: strs('Tanh') }), 'GRU', 1)).message).toBe('GRU expects 2 activations, got 1');
    expect(errorOf(() => rnnActivations(attrs({ activations: strs('Swish') }), 'RNN', 1)).code).toBe('unsupported');
    expect(errorOf(() => rnnConfig(attrs({ direction: str('sideways') }), 'RNN')).message).toBe("invalid direction 'sideways'");
  });

  it('reads the layer geometry', () => {
    const c = rnnConfig(attrs({ direction: str('bidirectional'), linear_before_reset: int(1), layout: int(1) }), 'GRU');
    expect(c).toMatchObject({ nd: 2, gates: 3, linearBeforeReset: true, inputForget: false, layout: 1, hiddenSize: undefined });
    expect(rnnInputDims(1, [2, 5, 3])).toEqual([5, 2, 3]);
    expect(() => checkRnnWeights(1, 3, 4, 3, [1, 12, 3], [1, 12, 4])).not.toThrow();
    expect(errorOf(() => checkRnnWeights(1, 3, 4, 3, [1, 12, 3], [1, 8, 4])).message).toBe('R shape [1,8,4] must be [1,12,4]');
  });
});

describe('resize, grid sample and reduction config', () => {
  it('fixes Resize options before opset 11 and for Upsample', () => {
    const a = attrs({ mode: str('linear'), coordinate_transformation_mode: str('align_corners') });
    expect(resizeOptions(a, 13, false)).toMatchObject({ mode: 'linear', ctm: 'align_corners', simpleNearest: false });
    expect(resizeOptions(a, 10, false)).toMatchObject({ ctm: 'asymmetric', nearestMode: 'floor', simpleNearest: true });
    expect(errorOf(() => resizeOptions(attrs({ mode: str('cubic') }), 9, true)).message).toBe('Upsample does not support cubic');
    expect(errorOf(() => resizeOptions(attrs({ antialias: int(1) }), 18, false)).code).toBe('unsupported');
  });

  it('maps GridSample modes and coordinate ranges', () => {
    const g = gridSampleConfig(attrs({ mode: str('bicubic') }), 16, [1, 2, 4, 6], [1, 3, 5, 2]);
    expect(g).toMatchObject({ mode: 'cubic', padding: 'zeros', alignCorners: false, N: 1, C: 2, dims: [4, 6], outSp: [3, 5], strides: [6, 1] });
    expect(g.lo).toEqual([-0.5, -0.5]);
    expect(g.hi).toEqual([3.5, 5.5]);
    expect(errorOf(() => gridSampleConfig(attrs(), 16, [1, 2, 4, 6], [1, 3, 5, 3])).message).toBe('GridSample grid shape does not match input');
  });

  it('normalizes reduction axes and the Softmax layout', () => {
    expect(reducedAxes([], 3)).toEqual([0, 1, 2]);
    expect(reducedAxes([-1, 0], 3)).toEqual([2, 0]);
    expect(errorOf(() => reducedAxes([1, -2], 3)).message).toContain('twice');
    expect(noopWithEmptyAxes(attrs({ noop_with_empty_axes: int(1) }), 13, 'ReduceSum')).toBe(true);
    expect(noopWithEmptyAxes(attrs({ noop_with_empty_axes: int(1) }), 13, 'ReduceMax')).toBe(false);
    expect(argReduceConfig(attrs({ axis: int(-1), keepdims: int(0) }), 3)).toEqual({ axis: 2, keepdims: false, selectLastIndex: false });
    expect(softmaxLayout([2, 3, 4], 11, undefined)).toEqual([2, 12, 1]);
    expect(softmaxLayout([2, 3, 4], 13, 1)).toEqual([2, 3, 4]);
  });
});
