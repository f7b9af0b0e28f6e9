/**
 * Attribute and shape parsing for MatMul, Gemm and Einsum, shared by the reference interpreter
 * (ops/reduce-linalg.ts) and the lowerings (kernel/lower/reduce-linalg.ts). Only the reading and
 * validation lives here; each side keeps its own arithmetic, so the interpreter stays an
 * independent oracle for the lowering.
 */
import { KilnError, type KilnErrorCode } from '../../errors.js';
import type { Attrs } from '../registry.js';
import { broadcastShapes } from '../util.js';

/** Static MatMul geometry: numpy matmul with 1-D operands promoted and batch dims broadcast. */
export interface MatmulShapes {
  M: number;
  K: number;
  N: number;
  /** broadcast batch dims, and each operand's own batch dims (for broadcast indexing) */
  batch: number[];
  abatch: number[];
  bbatch: number[];
  outShape: number[];
}

/** `code` is 'runtime' in the interpreter and 'type' at lowering, where shapes are static. */
export function matmulShapes(aShape: readonly number[], bShape: readonly number[], code: KilnErrorCode): MatmulShapes {
  if (aShape.length === 0 || bShape.length === 0) throw new KilnError(code, 'MatMul operands must have rank >= 1');
  const as = aShape.length === 1 ? [1, aShape[0]!] : [...aShape];
  const bs = bShape.length === 1 ? [bShape[0]!, 1] : [...bShape];
  const M = as[as.length - 2]!;
  const K = as[as.length - 1]!;
  const K2 = bs[bs.length - 2]!;
  const N = bs[bs.length - 1]!;
  if (K !== K2) throw new KilnError(code, `MatMul inner dimensions ${K} and ${K2} differ`);
  const abatch = as.slice(0, -2);
  const bbatch = bs.slice(0, -2);
  const batch = broadcastShapes(abatch, bbatch);
  const outShape = [...batch];
  if (aShape.length !== 1) outShape.push(M);
  if (bShape.length !== 1) outShape.push(N);
  return { M, K, N, batch, abatch, bbatch, outShape };
}

export interface GemmConfig {
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  M: number;
  K: number;
  N: number;
  /** element strides of C along the output's rows and columns (0 = broadcast); null = no C term */
  c: { rowStride: number; colStride: number } | null;
}

/** Reads Gemm's attributes and checks A, B and (when it contributes) C against them. */
export function gemmConfig(attrs: Attrs, aShape: readonly number[], bShape: readonly number[], cShape: readonly number[] | null, code: KilnErrorCode): GemmConfig {
  const transA = attrs.int('transA', 0) !== 0;
  const transB = attrs.int('transB', 0) !== 0;
  const alpha = attrs.float('alpha', 1);
  const beta = attrs.float('beta', 1);
  if (aShape.length !== 2 || bShape.length !== 2) throw new KilnError(code, 'Gemm operands A and B must be 2-D');
  const M = transA ? aShape[1]! : aShape[0]!;
  const K = transA ? aShape[0]! : aShape[1]!;
  const K2 = transB ? bShape[1]! : bShape[0]!;
  const N = transB ? bShape[0]! : bShape[1]!;
  if (K !== K2) throw new KilnError(code, `Gemm inner dimensions ${K} and ${K2} differ`);
  let c: GemmConfig['c'] = null;
  if (cShape && beta !== 0) {
    if (cShape.length > 2) throw new KilnError(code, 'Gemm C must have rank <= 2');
    const full = cShape.length === 2 ? cShape : cShape.length === 1 ? [1, cShape[0]!] : [1, 1];
    if ((full[0] !== 1 && full[0] !== M) || (full[1] !== 1 && full[1] !== N)) {
      throw new KilnError(code, `Gemm C of shape [${cShape.join(',')}] does not broadcast to [${M},${N}]`);
    }
    c = { rowStride: full[0] === 1 ? 0 : full[1]!, colStride: full[1] === 1 ? 0 : 1 };
  }
  return { transA, transB, alpha, beta, M, K, N, c };
}

export interface EinsumPlan {
  /** Per operand: one label per dim (ellipsis dims get labels '0','1',... aligned right). */
  inputs: string[][];
  output: string[];
}

/** Parses an Einsum equation against the operand ranks (null: unknown, refused only under an ellipsis). */
export function parseEinsum(eq: string, ranks: readonly (number | null)[]): EinsumPlan {
  const s = eq.replace(/\s+/g, '');
  const arrow = s.indexOf('->');
  const lhs = arrow >= 0 ? s.slice(0, arrow) : s;
  const rhs = arrow >= 0 ? s.slice(arrow + 2) : null;
  const terms = lhs.split(',');
  if (terms.length !== ranks.length) throw new KilnError('type', `Einsum equation '${eq}' has ${terms.length} operands, got ${ranks.length} inputs`);
  const letter = /^[A-Za-z]$/;
  const parseTerm = (t: string): { pre: string[]; post: string[]; ell: boolean } => {
    const e = t.indexOf('...');
    const check = (x: string): string[] => {
      const cs = [...x];
      for (const c of cs) if (!letter.test(c)) throw new KilnError('type', `invalid character '${c}' in Einsum equation '${eq}'`);
      return cs;
    };
    if (e < 0) return { pre: check(t), post: [], ell: false };
    if (t.indexOf('...', e + 3) >= 0) throw new KilnError('type', `Einsum term '${t}' has two ellipses`);
    return { pre: check(t.slice(0, e)), post: check(t.slice(e + 3)), ell: true };
  };
  const parsed = terms.map(parseTerm);
  let ellRank = 0;
  const ellRanks: number[] = [];
  parsed.forEach((p, i) => {
    const r = ranks[i];
    const named = p.pre.length + p.post.length;
    let er = 0;
    if (p.ell) {
      if (r === null || r === undefined) throw new KilnError('unsupported', 'unsupported Einsum ellipsis on an operand of unknown rank');
      er = r - named;
      if (er < 0) throw new KilnError('type', `Einsum term '${terms[i]}' has more indices than the operand's rank ${r}`);
    } else if (r !== null && r !== undefined && r !== named) {
      throw new KilnError('type', `Einsum term '${terms[i]}' does not match operand rank ${r}`);
    }
    ellRanks.push(er);
    ellRank = Math.max(ellRank, er);
  });
  const inputs = parsed.map((p, i) => {
    const ell: string[] = [];
    for (let k = ellRank - ellRanks[i]!; k < ellRank; k++) ell.push(String(k));
    return [...p.pre, ...ell, ...p.post];
  });
  const allEll: string[] = [];
  for (let k = 0; k < ellRank; k++) allEll.push(String(k));
  let output: string[];
  if (rhs === null) {
    const counts = new Map<string, number>();
    for (const p of parsed) for (const c of [...p.pre, ...p.post]) counts.set(c, (counts.get(c) ?? 0) + 1);
    const once = [...counts.entries()].filter(([, n]) => n === 1).map(([c]) => c);
    once.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    output = [...allEll, ...once];
  } else {
    const p = parseTerm(rhs);
    output = [...p.pre, ...(p.ell ? allEll : []), ...p.post];
    const seen = new Set<string>();
    const known = new Set(inputs.flat());
    for (const c of output) {
      if (seen.has(c)) throw new KilnError('type', `Einsum output repeats index '${c}'`);
      if (!known.has(c)) throw new KilnError('type', `Einsum output index '${c}' does not appear in any input`);
      seen.add(c);
    }
  }
  return { inputs, output };
}
