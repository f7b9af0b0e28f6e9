/**
 * The ONNX protobuf schema (onnx.proto of IR version 11, plus SequenceProto/OptionalProto/MapProto
 * from onnx-data.proto) as a protobufjs reflection root.
 *
 * Why not onnx-proto: it carries the ONNX 1.10 schema, which lacks SequenceProto/OptionalProto (the
 * test data stores sequence and optional outputs that way), FunctionProto.attribute_proto,
 * value_info and overload (current exporters' model-local functions), and metadata fields. Field
 * numbers below follow onnx.proto.
 */
import protobuf from 'protobufjs';

type FieldSpec = [name: string, id: number, type: string, rule?: 'repeated' | 'packed'];

function message(fields: FieldSpec[], nested?: Record<string, unknown>): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  for (const [name, id, type, rule] of fields) {
    const spec: Record<string, unknown> = { id, type };
    if (rule === 'repeated') spec.rule = 'repeated';
    if (rule === 'packed') {
      spec.rule = 'repeated';
      spec.options = { packed: true };
    }
    if (rule === undefined) spec.rule = 'optional';
    f[name] = spec;
  }
  return nested ? { fields: f, nested } : { fields: f };
}

const descriptor = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: message([['key', 1, 'string'], ['value', 2, 'string']]),
        AttributeProto: message([
          ['name', 1, 'string'], ['refAttrName', 21, 'string'], ['docString', 13, 'string'], ['type', 20, 'int32'],
          ['f', 2, 'float'], ['i', 3, 'int64'], ['s', 4, 'bytes'], ['t', 5, 'TensorProto'], ['g', 6, 'GraphProto'],
          ['sparseTensor', 22, 'SparseTensorProto'], ['tp', 14, 'TypeProto'],
          ['floats', 7, 'float', 'packed'], ['ints', 8, 'int64', 'packed'], ['strings', 9, 'bytes', 'repeated'],
          ['tensors', 10, 'TensorProto', 'repeated'], ['graphs', 11, 'GraphProto', 'repeated'],
          ['sparseTensors', 23, 'SparseTensorProto', 'repeated'], ['typeProtos', 15, 'TypeProto', 'repeated'],
        ]),
        ValueInfoProto: message([['name', 1, 'string'], ['type', 2, 'TypeProto'], ['docString', 3, 'string'], ['metadataProps', 4, 'StringStringEntryProto', 'repeated']]),
        NodeProto: message([
          ['input', 1, 'string', 'repeated'], ['output', 2, 'string', 'repeated'], ['name', 3, 'string'], ['opType', 4, 'string'],
          ['domain', 7, 'string'], ['overload', 8, 'string'], ['attribute', 5, 'AttributeProto', 'repeated'], ['docString', 6, 'string'],
          ['metadataProps', 9, 'StringStringEntryProto', 'repeated'],
        ]),
        TrainingInfoProto: message([
          ['initialization', 1, 'GraphProto'], ['algorithm', 2, 'GraphProto'],
          ['initializationBinding', 3, 'StringStringEntryProto', 'repeated'], ['updateBinding', 4, 'StringStringEntryProto', 'repeated'],
        ]),
        ModelProto: message([
          ['irVersion', 1, 'int64'], ['opsetImport', 8, 'OperatorSetIdProto', 'repeated'], ['producerName', 2, 'string'],
          ['producerVersion', 3, 'string'], ['domain', 4, 'string'], ['modelVersion', 5, 'int64'], ['docString', 6, 'string'],
          ['graph', 7, 'GraphProto'], ['metadataProps', 14, 'StringStringEntryProto', 'repeated'],
          ['trainingInfo', 20, 'TrainingInfoProto', 'repeated'], ['functions', 25, 'FunctionProto', 'repeated'],
        ]),
        TensorAnnotation: message([['tensorName', 1, 'string'], ['quantParameterTensorNames', 2, 'StringStringEntryProto', 'repeated']]),
        GraphProto: message([
          ['node', 1, 'NodeProto', 'repeated'], ['name', 2, 'string'], ['initializer', 5, 'TensorProto', 'repeated'],
          ['sparseInitializer', 15, 'SparseTensorProto', 'repeated'], ['docString', 10, 'string'],
          ['input', 11, 'ValueInfoProto', 'repeated'], ['output', 12, 'ValueInfoProto', 'repeated'],
          ['valueInfo', 13, 'ValueInfoProto', 'repeated'], ['quantizationAnnotation', 14, 'TensorAnnotation', 'repeated'],
          ['metadataProps', 16, 'StringStringEntryProto', 'repeated'],
        ]),
        TensorProto: message(
          [
            ['dims', 1, 'int64', 'packed'], ['dataType', 2, 'int32'], ['segment', 3, 'Segment'],
            ['floatData', 4, 'float', 'packed'], ['int32Data', 5, 'int32', 'packed'], ['stringData', 6, 'bytes', 'repeated'],
            ['int64Data', 7, 'int64', 'packed'], ['name', 8, 'string'], ['docString', 12, 'string'], ['rawData', 9, 'bytes'],
            ['externalData', 13, 'StringStringEntryProto', 'repeated'], ['dataLocation', 14, 'int32'],
            ['doubleData', 10, 'double', 'packed'], ['uint64Data', 11, 'uint64', 'packed'],
            ['metadataProps', 16, 'StringStringEntryProto', 'repeated'],
          ],
          { Segment: message([['begin', 1, 'int64'], ['end', 2, 'int64']]) },
        ),
        SparseTensorProto: message([['values', 1, 'TensorProto'], ['indices', 2, 'TensorProto'], ['dims', 3, 'int64', 'packed']]),
        TensorShapeProto: message([['dim', 1, 'Dimension', 'repeated']], {
          Dimension: message([['dimValue', 1, 'int64'], ['dimParam', 2, 'string'], ['denotation', 3, 'string']]),
        }),
        TypeProto: message(
          [
            ['tensorType', 1, 'Tensor'], ['sequenceType', 4, 'Sequence'], ['mapType', 5, 'Map'], ['optionalType', 9, 'Optional'],
            ['sparseTensorType', 8, 'SparseTensor'], ['denotation', 6, 'string'],
          ],
          {
            Tensor: message([['elemType', 1, 'int32'], ['shape', 2, 'TensorShapeProto']]),
            Sequence: message([['elemType', 1, 'TypeProto']]),
            Map: message([['keyType', 1, 'int32'], ['valueType', 2, 'TypeProto']]),
            Optional: message([['elemType', 1, 'TypeProto']]),
            SparseTensor: message([['elemType', 1, 'int32'], ['shape', 2, 'TensorShapeProto']]),
          },
        ),
        OperatorSetIdProto: message([['domain', 1, 'string'], ['version', 2, 'int64']]),
        FunctionProto: message([
          ['name', 1, 'string'], ['input', 4, 'string', 'repeated'], ['output', 5, 'string', 'repeated'],
          ['attribute', 6, 'string', 'repeated'], ['attributeProto', 11, 'AttributeProto', 'repeated'],
          ['node', 7, 'NodeProto', 'repeated'], ['docString', 8, 'string'], ['opsetImport', 9, 'OperatorSetIdProto', 'repeated'],
          ['domain', 10, 'string'], ['overload', 13, 'string'], ['valueInfo', 12, 'ValueInfoProto', 'repeated'],
          ['metadataProps', 14, 'StringStringEntryProto', 'repeated'],
        ]),
        SequenceProto: message([
          ['name', 1, 'string'], ['elemType', 2, 'int32'], ['tensorValues', 3, 'TensorProto', 'repeated'],
          ['sparseTensorValues', 4, 'SparseTensorProto', 'repeated'], ['sequenceValues', 5, 'SequenceProto', 'repeated'],
          ['mapValues', 6, 'MapProto', 'repeated'], ['optionalValues', 7, 'OptionalProto', 'repeated'],
        ]),
        MapProto: message([
          ['name', 1, 'string'], ['keyType', 2, 'int32'], ['keys', 3, 'int64', 'packed'], ['stringKeys', 4, 'bytes', 'repeated'],
          ['values', 5, 'SequenceProto'],
        ]),
        OptionalProto: message([
          ['name', 1, 'string'], ['elemType', 2, 'int32'], ['tensorValue', 3, 'TensorProto'], ['sparseTensorValue', 4, 'SparseTensorProto'],
          ['sequenceValue', 5, 'SequenceProto'], ['mapValue', 6, 'MapProto'], ['optionalValue', 7, 'OptionalProto'],
        ]),
      },
    },
  },
};

export const onnxRoot = protobuf.Root.fromJSON(descriptor);
const t = (name: string): protobuf.Type => onnxRoot.lookupType(`onnx.${name}`);
export const ModelProtoType = t('ModelProto');
export const TensorProtoType = t('TensorProto');
export const SequenceProtoType = t('SequenceProto');
export const OptionalProtoType = t('OptionalProto');
export const GraphProtoType = t('GraphProto');

/** SequenceProto/OptionalProto elem_type codes. */
export const ValueKindCode = { UNDEFINED: 0, TENSOR: 1, SPARSE_TENSOR: 2, SEQUENCE: 3, MAP: 4, OPTIONAL: 5 } as const;

/** AttributeProto.AttributeType codes. */
export const AttrTypeCode = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9,
  GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;
