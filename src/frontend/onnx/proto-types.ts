/** Shapes of decoded ONNX messages (protobufjs reflection objects), limited to what Kiln reads. */
import type Long from 'long';

export type Int64 = number | Long;

export interface PStringEntry { key: string; value: string }
export interface PTensor {
  dims: Int64[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: Int64[];
  name: string;
  rawData: Uint8Array;
  externalData: PStringEntry[];
  dataLocation: number;
  doubleData: number[];
  uint64Data: Int64[];
  segment?: unknown;
}
export interface PSparseTensor { values?: PTensor; indices?: PTensor; dims: Int64[] }
export interface PDimension { dimValue?: Int64; dimParam?: string }
export interface PShape { dim: PDimension[] }
export interface PType {
  tensorType?: { elemType: number; shape?: PShape };
  sequenceType?: { elemType?: PType };
  mapType?: { keyType: number; valueType?: PType };
  optionalType?: { elemType?: PType };
  sparseTensorType?: { elemType: number; shape?: PShape };
}
export interface PValueInfo { name: string; type?: PType }
export interface PAttribute {
  name: string;
  refAttrName: string;
  type: number;
  f: number;
  i: Int64;
  s: Uint8Array;
  t?: PTensor;
  g?: PGraph;
  sparseTensor?: PSparseTensor;
  tp?: PType;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: PTensor[];
  graphs: PGraph[];
  sparseTensors: PSparseTensor[];
  typeProtos: PType[];
}
export interface PNode {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  overload: string;
  attribute: PAttribute[];
}
export interface PTensorAnnotation { tensorName: string; quantParameterTensorNames: PStringEntry[] }
export interface PGraph {
  node: PNode[];
  name: string;
  initializer: PTensor[];
  sparseInitializer: PSparseTensor[];
  input: PValueInfo[];
  output: PValueInfo[];
  valueInfo: PValueInfo[];
  quantizationAnnotation: PTensorAnnotation[];
}
export interface POpset { domain: string; version: Int64 }
export interface PFunction {
  name: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: PAttribute[];
  node: PNode[];
  opsetImport: POpset[];
  domain: string;
  overload: string;
  valueInfo: PValueInfo[];
}
export interface PModel {
  irVersion: Int64;
  opsetImport: POpset[];
  producerName: string;
  producerVersion: string;
  graph?: PGraph;
  metadataProps: PStringEntry[];
  functions: PFunction[];
}
export interface PSequence {
  elemType: number;
  tensorValues: PTensor[];
  sequenceValues: PSequence[];
  optionalValues: POptional[];
}
export interface POptional {
  elemType: number;
  tensorValue?: PTensor;
  sequenceValue?: PSequence;
  optionalValue?: POptional;
}

export function int64ToNumber(x: Int64 | undefined | null): number {
  if (x === undefined || x === null) return 0;
  if (typeof x === 'number') return x;
  const v = BigInt(x.toString());
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

export function int64ToBigInt(x: Int64 | undefined | null, unsigned = false): bigint {
  if (x === undefined || x === null) return 0n;
  if (typeof x === 'number') return BigInt(x);
  const s = unsigned && !x.unsigned ? x.toUnsigned().toString() : x.toString();
  return BigInt(s);
}
