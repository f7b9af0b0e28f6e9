/** Runtime values in .pb files: TensorProto, SequenceProto and OptionalProto (ONNX test data layout). */
import * as fs from 'node:fs';
import { KilnError, fsError } from '../../ir/errors.js';
import { NoneValue, SequenceValue, type RtValue, Tensor } from '../../ir/tensor.js';
import type { ValueType } from '../../ir/types.js';
import { OptionalProtoType, SequenceProtoType, TensorProtoType, ValueKindCode } from './schema.js';
import { decodeTensor, tensorToProto } from './tensorproto.js';
import type { POptional, PSequence, PTensor } from './proto-types.js';

/** Decodes a .pb value. `expected` (the graph's declared type) decides between the three message kinds. */
export function decodeValue(bytes: Uint8Array, expected: ValueType | null, what: string): RtValue {
  try {
    if (expected?.kind === 'sequence') return sequenceFrom(SequenceProtoType.decode(bytes) as unknown as PSequence, expected.elem);
    if (expected?.kind === 'optional') return optionalFrom(OptionalProtoType.decode(bytes) as unknown as POptional, expected);
    return decodeTensor(TensorProtoType.decode(bytes) as unknown as PTensor);
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError('parse', `malformed value file: ${(e as Error).message}`, { tensor: what });
  }
}

function sequenceFrom(p: PSequence, elem: ValueType | null): SequenceValue {
  if (p.elemType === ValueKindCode.SEQUENCE) {
    return new SequenceValue(elem, p.sequenceValues.map((s) => sequenceFrom(s, elem?.kind === 'sequence' ? elem.elem : null)));
  }
  if (p.elemType === ValueKindCode.OPTIONAL) {
    return new SequenceValue(elem, p.optionalValues.map((o) => optionalFrom(o, elem)));
  }
  return new SequenceValue(elem, p.tensorValues.map((t) => decodeTensor(t)));
}

function optionalFrom(p: POptional, type: ValueType | null): RtValue {
  const inner = type?.kind === 'optional' ? type.elem : null;
  switch (p.elemType) {
    case ValueKindCode.TENSOR:
      return p.tensorValue ? decodeTensor(p.tensorValue) : new NoneValue(type);
    case ValueKindCode.SEQUENCE:
      return p.sequenceValue ? sequenceFrom(p.sequenceValue, inner?.kind === 'sequence' ? inner.elem : null) : new NoneValue(type);
    case ValueKindCode.OPTIONAL:
      return p.optionalValue ? optionalFrom(p.optionalValue, inner) : new NoneValue(type);
    default:
      return new NoneValue(type);
  }
}

export function readValueFile(file: string, expected: ValueType | null): RtValue {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw fsError(e, 'read', file);
  }
  return decodeValue(bytes, expected, file);
}

function sequenceProto(s: SequenceValue, name: string): Record<string, unknown> {
  const first = s.items[0];
  if (first === undefined || first.kind === 'tensor') {
    return { name, elemType: ValueKindCode.TENSOR, tensorValues: s.items.map((t) => tensorToProto(t as Tensor)) };
  }
  if (first.kind === 'sequence') return { name, elemType: ValueKindCode.SEQUENCE, sequenceValues: s.items.map((x) => sequenceProto(x as SequenceValue, '')) };
  return { name, elemType: ValueKindCode.OPTIONAL, optionalValues: s.items.map((x) => optionalProto(x, '')) };
}

function optionalProto(v: RtValue, name: string): Record<string, unknown> {
  if (v.kind === 'none') return { name, elemType: ValueKindCode.UNDEFINED };
  if (v.kind === 'tensor') return { name, elemType: ValueKindCode.TENSOR, tensorValue: tensorToProto(v) };
  return { name, elemType: ValueKindCode.SEQUENCE, sequenceValue: sequenceProto(v, '') };
}

/** Encodes a runtime value as the .pb message its declared type calls for. */
export function encodeValue(v: RtValue, declared: ValueType | null, name = ''): Uint8Array {
  if (declared?.kind === 'optional') return OptionalProtoType.encode(OptionalProtoType.fromObject(optionalProto(v, name))).finish();
  if (v.kind === 'sequence') return SequenceProtoType.encode(SequenceProtoType.fromObject(sequenceProto(v, name))).finish();
  if (v.kind === 'none') return OptionalProtoType.encode(OptionalProtoType.fromObject(optionalProto(v, name))).finish();
  return TensorProtoType.encode(TensorProtoType.fromObject(tensorToProto(v, name))).finish();
}

