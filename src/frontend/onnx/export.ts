/** Graph IR → ONNX ModelProto bytes (Kiln's own ONNX writer, used for samples and round trips). */
import { dtypeToOnnx } from '../../ir/dtype.js';
import { KilnError } from '../../ir/errors.js';
import type { AttrValue, Graph, Module, Value } from '../../ir/graph.js';
import type { ValueType } from '../../ir/types.js';
import { AttrTypeCode, ModelProtoType } from './schema.js';
import { tensorToProto } from './tensorproto.js';

const utf8 = new TextEncoder();

function typeProto(t: ValueType): Record<string, unknown> {
  switch (t.kind) {
    case 'tensor': {
      const tt: Record<string, unknown> = { elemType: dtypeToOnnx(t.dtype) };
      if (t.shape !== null) {
        tt.shape = { dim: t.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) };
      }
      return { tensorType: tt };
    }
    case 'sequence':
      return { sequenceType: t.elem ? { elemType: typeProto(t.elem) } : {} };
    case 'optional':
      return { optionalType: t.elem ? { elemType: typeProto(t.elem) } : {} };
    case 'map':
      return { mapType: { keyType: dtypeToOnnx(t.key), valueType: typeProto(t.value) } };
  }
}

function valueInfo(v: Value): Record<string, unknown> {
  return v.type ? { name: v.name, type: typeProto(v.type) } : { name: v.name };
}

function attribute(name: string, a: AttrValue): Record<string, unknown> {
  switch (a.kind) {
    case 'int': return { name, type: AttrTypeCode.INT, i: a.value };
    case 'float': return { name, type: AttrTypeCode.FLOAT, f: a.value };
    case 'string': return { name, type: AttrTypeCode.STRING, s: utf8.encode(a.value) };
    case 'tensor': return { name, type: AttrTypeCode.TENSOR, t: tensorToProto(a.value) };
    case 'graph': return { name, type: AttrTypeCode.GRAPH, g: graphProto(a.value) };
    case 'type': return { name, type: AttrTypeCode.TYPE_PROTO, tp: typeProto(a.value) };
    case 'ints': return { name, type: AttrTypeCode.INTS, ints: [...a.value] };
    case 'floats': return { name, type: AttrTypeCode.FLOATS, floats: [...a.value] };
    case 'strings': return { name, type: AttrTypeCode.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
    case 'tensors': return { name, type: AttrTypeCode.TENSORS, tensors: a.value.map((t) => tensorToProto(t)) };
    case 'graphs': return { name, type: AttrTypeCode.GRAPHS, graphs: a.value.map((g) => graphProto(g)) };
    case 'types': return { name, type: AttrTypeCode.TYPE_PROTOS, typeProtos: a.value.map((t) => typeProto(t)) };
  }
}

function graphProto(g: Graph): Record<string, unknown> {
  const produced = g.nodes.flatMap((n) => n.outputs.filter((o): o is Value => o !== null));
  const outputs = new Set(g.outputs);
  return {
    name: g.name,
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
    initializer: [...g.inputs.filter((v) => v.init), ...g.initializers].map((v) => tensorToProto(v.init!, v.name)),
    valueInfo: produced.filter((v) => !outputs.has(v) && v.type).map(valueInfo),
    node: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      input: n.inputs.map((v) => v?.name ?? ''),
      output: n.outputs.map((v) => v?.name ?? ''),
      attribute: [...n.attrs.entries()].map(([k, a]) => attribute(k, a)),
    })),
  };
}

export function exportOnnx(module: Module): Uint8Array {
  const msg = {
    irVersion: module.irVersion,
    producerName: module.producer || 'kiln',
    opsetImport: [...module.opsets.entries()].map(([domain, version]) => ({ domain, version })),
    graph: graphProto(module.graph),
    metadataProps: [...module.metadata.entries()].map(([key, value]) => ({ key, value })),
  };
  const err = ModelProtoType.verify(msg);
  if (err) throw new KilnError('invalid-model', `cannot encode model: ${err}`);
  return ModelProtoType.encode(ModelProtoType.fromObject(msg)).finish();
}
