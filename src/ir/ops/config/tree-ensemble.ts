/**
 * ai.onnx.ml TreeEnsemble attribute parsing, shared by the reference interpreter (ops/ml.ts) and
 * the lowering (kernel/lower/misc-ml.ts). Tree walking and aggregation stay with each side.
 */
import type { Node } from '../../graph.js';
import type { Tensor } from '../../tensor.js';
import type { Attrs } from '../registry.js';

export interface TreeEnsembleAttrs {
  splits: number[];
  feat: readonly number[];
  modes: readonly number[];
  tIds: readonly number[];
  fIds: readonly number[];
  tLeaf: readonly number[];
  fLeaf: readonly number[];
  leafT: readonly number[];
  leafW: number[];
  roots: readonly number[];
  post: number;
  agg: number;
  missTrue: readonly number[];
  members: number[] | null;
  nTargets: number;
}

const nums = (t: Tensor | undefined): number[] | null => (t ? t.toNumbers() : null);

export function treeEnsembleAttrs(node: Node, a: Attrs): TreeEnsembleAttrs {
  return {
    splits: nums(a.optTensor('nodes_splits')) ?? [],
    feat: a.ints('nodes_featureids'),
    // nodes_modes is a uint8 tensor attribute; accept an ints attribute too
    modes: node.attrs.get('nodes_modes')?.kind === 'tensor' ? nums(a.optTensor('nodes_modes'))! : a.ints('nodes_modes'),
    tIds: a.ints('nodes_truenodeids'),
    fIds: a.ints('nodes_falsenodeids'),
    tLeaf: a.ints('nodes_trueleafs'),
    fLeaf: a.ints('nodes_falseleafs'),
    leafT: a.ints('leaf_targetids'),
    leafW: nums(a.optTensor('leaf_weights')) ?? [],
    roots: a.ints('tree_roots'),
    post: a.int('post_transform', 0),
    agg: a.int('aggregate_function', 1),
    missTrue: a.optInts('nodes_missing_value_tracks_true') ?? [],
    members: nums(a.optTensor('membership_values')),
    nTargets: a.int('n_targets'),
  };
}
