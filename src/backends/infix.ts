/**
 * Binary operators that every C-like renderer (C, WGSL) writes as the same parenthesized infix
 * expression: comparisons and the logical and/or. Each renderer handles the rest itself.
 */
import type { BinOp } from '../ir/kernel/types.js';

const INFIX = { lt: '<', le: '<=', gt: '>', ge: '>=', eq: '==', ne: '!=', and: '&&', or: '||' } as const satisfies Partial<Record<BinOp, string>>;

export type InfixOp = keyof typeof INFIX;

/** `(a op b)`. */
export function sharedInfix(op: InfixOp, a: string, b: string): string {
  return `(${a} ${INFIX[op]} ${b})`;
}
