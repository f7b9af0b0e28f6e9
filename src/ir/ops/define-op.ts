/**
 * defineOp: one call registers everything Kiln needs to know about an op — its attribute schema,
 * type inference, interpreter kernel and (optionally) its lowering to kernel IR. Built-in op families
 * use registerOp/registerLowering directly; plugins use this.
 */
import { KilnError } from '../errors.js';
import type { AttrKind } from '../graph.js';
import { registerLowering, type LowerContext } from '../kernel/lowering.js';
import { lookupOp, registerOp, type InferContext, type KernelContext, type OpDef } from './registry.js';
import type { ValueType } from '../types.js';
import type { RtValue } from '../tensor.js';

export interface OpDefinition {
  /** Op type, e.g. 'Swish'. */
  readonly opType: string;
  /** Domain, e.g. 'com.example' ('' is the default ONNX domain, where plugins may not redefine ops). */
  readonly domain: string;
  readonly description?: string;
  /** Attribute names and kinds, checked by the verifier and the text parser. */
  readonly attrs?: Readonly<Record<string, AttrKind>>;
  /** Output types from input types and attributes. */
  infer(ctx: InferContext): (ValueType | null)[];
  /** Reference semantics: output values from input values. */
  interp(ctx: KernelContext): (RtValue | null)[];
  /** Lowering to kernels; without it the op runs in the interpreter only and code generation refuses it. */
  lower?(ctx: LowerContext): void;
}

export function defineOp(def: OpDefinition): OpDef {
  if (typeof def.opType !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(def.opType)) throw new KilnError('usage', `defineOp: op type '${String(def.opType)}' must be an identifier`);
  if (typeof def.domain !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(def.domain)) throw new KilnError('usage', `defineOp: op '${def.opType}' needs a domain like 'com.example'`);
  if (def.domain === 'ai.onnx') throw new KilnError('usage', `defineOp: op '${def.opType}' cannot be defined in the ONNX domain; use your own`);
  if (typeof def.infer !== 'function' || typeof def.interp !== 'function') throw new KilnError('usage', `defineOp: op '${def.domain}::${def.opType}' needs infer and interp functions`);
  if (lookupOp(def.domain, def.opType)) throw new KilnError('usage', `defineOp: op '${def.domain}::${def.opType}' is already defined`);
  const op = registerOp({
    opType: def.opType,
    domain: def.domain,
    ...(def.attrs ? { attrs: def.attrs } : {}),
    ...(def.description ? { description: def.description } : {}),
    infer: def.infer,
    interp: def.interp,
  });
  const lower = def.lower;
  if (lower) registerLowering({ opType: def.opType, domain: def.domain, lower: (ctx) => lower(ctx) });
  return op;
}
