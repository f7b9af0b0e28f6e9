/**
 * Quantization of a graph's inputs and outputs, for the generated API (scale and zero point as C
 * constants): taken from the value's type annotation when it has one, else from the boundary ops
 * that (de)quantize it with constant parameters: an input read by DequantizeLinear or a QLinear op,
 * an output written by QuantizeLinear or a QLinear op. Per-axis parameters are not reported.
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { constantOf } from '../ir/infer.js';
import type { IoQuant } from '../ir/kernel/types.js';

/** Where a QLinear op's output scale / zero point are among its inputs. */
const OUTPUT_PARAMS: Record<string, readonly [number, number]> = {
  QuantizeLinear: [1, 2],
  QLinearConv: [6, 7],
  QLinearMatMul: [6, 7],
  QLinearAdd: [6, 7],
  QLinearMul: [6, 7],
  QLinearAveragePool: [3, 4],
  QLinearGlobalAveragePool: [3, 4],
  QLinearLeakyRelu: [3, 4],
  QLinearSigmoid: [3, 4],
  QLinearSoftmax: [3, 4],
  QLinearConcat: [0, 1],
};

function scalarOf(v: Value | null | undefined): number | null {
  if (!v) return null;
  const t = constantOf(v);
  if (!t || t.size !== 1) return null;
  return Number(t.get(0));
}

function quantFrom(node: Node, scaleAt: number, zpAt: number): IoQuant | null {
  const scale = scalarOf(node.inputs[scaleAt]);
  if (scale === null || !Number.isFinite(scale)) return null;
  // an omitted zero point is 0 (ONNX default)
  const zp = node.inputs[zpAt] ? scalarOf(node.inputs[zpAt]) : 0;
  return zp === null ? null : { scale, zeroPoint: zp };
}

function annotated(v: Value): IoQuant | null {
  const q = v.tensorType?.quant;
  return q && q.scale.length === 1 && q.zeroPoint.length <= 1 ? { scale: q.scale[0]!, zeroPoint: q.zeroPoint[0] ?? 0 } : null;
}

/** Scale/zero point of `v` as its consumers read it. */
function inputQuant(g: Graph, v: Value): IoQuant | null {
  for (const n of g.nodes) {
    const op = n.opType;
    for (let i = 0; i < n.inputs.length; i++) {
      if (n.inputs[i] !== v) continue;
      if (op === 'DequantizeLinear' && i === 0) return quantFrom(n, 1, 2);
      if (op === 'QLinearConcat' && i >= 2 && (i - 2) % 3 === 0) return quantFrom(n, i + 1, i + 2);
      // every other QLinear op lists each quantized operand followed by its scale and zero point
      if (op.startsWith('QLinear') && op !== 'QLinearConcat' && OUTPUT_PARAMS[op] && i < OUTPUT_PARAMS[op]![0] && (i === 0 || i === 3)) return quantFrom(n, i + 1, i + 2);
    }
  }
  return null;
}

function outputQuant(v: Value): IoQuant | null {
  const n = v.producer;
  if (!n || n.outputs[0] !== v) return null;
  const at = OUTPUT_PARAMS[n.opType];
  return at ? quantFrom(n, at[0], at[1]) : null;
}

/** Quantization of each graph input (non-constant) and output; undefined when none is quantized. */
export function graphIoQuant(g: Graph): { inputs: (IoQuant | null)[]; outputs: (IoQuant | null)[] } | undefined {
  const isInt = (v: Value): boolean => /^[iu](8|16)$/.test(v.tensorType?.dtype ?? '');
  const inputs = g.inputs.filter((v) => !v.init).map((v) => (isInt(v) ? annotated(v) ?? inputQuant(g, v) : null));
  const outputs = g.outputs.map((v) => (isInt(v) ? annotated(v) ?? outputQuant(v) : null));
  return [...inputs, ...outputs].some((q) => q !== null) ? { inputs, outputs } : undefined;
}
