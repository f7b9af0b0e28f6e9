/**
 * Multiply-accumulate counts per node from static shapes (0 when shapes are not static). Compute-heavy
 * ops count their MACs; elementwise and reduction ops count one per output (resp. input) element.
 */
import type { Node } from './graph.js';
import { staticSize, isStaticShape, type TensorType } from './types.js';

const tt = (n: Node, i: number, out = false): TensorType | null => (out ? n.outputs[i] : n.inputs[i])?.tensorType ?? null;
const size = (t: TensorType | null): number => (t ? (staticSize(t) ?? 0) : 0);

const dataMovement = new Set([
  'Reshape', 'Transpose', 'Concat', 'Slice', 'Gather', 'GatherElements', 'GatherND', 'Split', 'Squeeze', 'Unsqueeze',
  'Expand', 'Tile', 'Pad', 'Shape', 'Size', 'Identity', 'Constant', 'ConstantOfShape', 'Flatten', 'Cast', 'CastLike',
  'DepthToSpace', 'SpaceToDepth', 'Scatter', 'ScatterND', 'ScatterElements', 'Range', 'EyeLike', 'Dropout',
]);

const MAC_OPS = new Set(['MatMul', 'MatMulInteger', 'QLinearMatMul', 'Gemm', 'Conv', 'ConvInteger', 'QLinearConv', 'ConvTranspose']);

/** Ops whose work is multiply-accumulates (what `kiln inspect` counts as MACs). */
export function isMacOp(opType: string): boolean {
  return MAC_OPS.has(opType);
}

export function nodeMacs(n: Node): number {
  const out = tt(n, 0, true);
  switch (n.opType) {
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul':
    case 'Gemm': {
      const a = tt(n, 0);
      if (!a || !isStaticShape(a.shape) || a.shape.length === 0) return 0;
      const transA = n.attrs.get('transA');
      const k = n.opType === 'Gemm' && transA?.kind === 'int' && transA.value ? a.shape[0]! : a.shape[a.shape.length - 1]!;
      return size(out) * k;
    }
    case 'Conv':
    case 'ConvInteger':
    case 'QLinearConv':
    case 'ConvTranspose': {
      // QLinearConv's weight follows x and its scale/zero point
      const w = tt(n, n.opType === 'QLinearConv' ? 3 : 1);
      if (!w || !isStaticShape(w.shape)) return 0;
      const perOut = w.shape.slice(1).reduce((x, y) => x * y, 1);
      if (n.opType === 'ConvTranspose') return size(tt(n, 0)) * (w.shape.length > 1 ? w.shape.slice(1).reduce((x, y) => x * y, 1) : 1);
      return size(out) * perOut;
    }
    default:
      if (dataMovement.has(n.opType)) return 0;
      if (n.opType.startsWith('Reduce') || n.opType.startsWith('Global')) return size(tt(n, 0));
      return size(out);
  }
}
