/**
 * The PIM unit's instruction set: the published HBM-PIM CRF set (NOP, JUMP, EXIT, ADD, MUL, MAC, MAD,
 * MOV, FILL) plus one Kiln extension (MAX, used only when the target option `isa=extended` asks for it,
 * so programs for the published device never contain it) in a 32-bit encoding whose field order follows the published CRF format (opcode, then
 * destination/source operand files, then the AAM and ReLU bits, then register indices). Opcode
 * numbers and the exact bit positions are Kiln's (docs/pim-isa.md). Assembly syntax:
 *
 *   MAC  GRF_B[0], EVEN_BANK, GRF_A[0], GRF_B[0]  aam
 *   MOV  GRF_A[3], ODD_BANK  relu
 *   JUMP -1, 7        ; repeat the previous 1 instruction 7 more times
 *   NOP  4            ; wait for 4 triggering commands
 *   EXIT
 */
import { KilnError } from '../../ir/errors.js';

export const OPCODES = { NOP: 0, JUMP: 1, EXIT: 2, ADD: 4, MUL: 5, MAC: 6, MAD: 7, MOV: 8, FILL: 9, MAX: 10 } as const;
/** Opcodes Kiln adds to the published CRF set (docs/pim-isa.md, Extensions). */
export const EXTENSION_OPCODES: ReadonlySet<Opcode> = new Set<Opcode>(['MAX']);
export type Opcode = keyof typeof OPCODES;
/** The opcodes with a destination and source operands. */
export type ArithOpcode = Exclude<Opcode, 'NOP' | 'JUMP' | 'EXIT'>;
const OPCODE_NAMES = new Map<number, Opcode>(Object.entries(OPCODES).map(([k, v]) => [v, k as Opcode]));

/** Operand files: vector registers, scalar registers (broadcast to all lanes), and the two banks of a unit. */
export const FILES = { GRF_A: 0, GRF_B: 1, SRF_M: 2, SRF_A: 3, EVEN_BANK: 4, ODD_BANK: 5 } as const;
export type OperandFile = keyof typeof FILES;
const FILE_NAMES = new Map<number, OperandFile>(Object.entries(FILES).map(([k, v]) => [v, k as OperandFile]));

export interface Operand {
  readonly file: OperandFile;
  /** Register index (0..7); ignored for bank operands. */
  readonly index: number;
}

export type Instruction =
  | { readonly op: 'NOP'; readonly count: number }
  | { readonly op: 'JUMP'; readonly back: number; readonly count: number }
  | { readonly op: 'EXIT' }
  | {
      readonly op: ArithOpcode;
      readonly dst: Operand;
      readonly src: readonly Operand[];
      /** Address-aligned mode: register indices offset by the triggering command's column address. */
      readonly aam: boolean;
      readonly relu: boolean;
    };

/** Opcodes that compute (counted as PIM operations and charged their energy); MOV and FILL only move data. */
export function isComputing(op: Opcode): boolean {
  return op === 'ADD' || op === 'MUL' || op === 'MAC' || op === 'MAD' || op === 'MAX';
}

/** Number of source operands per arithmetic opcode (MAC's accumulator is its destination). */
export const ARITY: Readonly<Record<ArithOpcode, number>> = { ADD: 2, MUL: 2, MAC: 2, MAD: 3, MOV: 1, FILL: 1, MAX: 2 };

const isBank = (f: OperandFile): boolean => f === 'EVEN_BANK' || f === 'ODD_BANK';

function checkInstruction(i: Instruction): void {
  const bad = (why: string): never => {
    throw new KilnError('usage', `PIM instruction ${i.op}: ${why}`);
  };
  if (i.op === 'NOP' && !(i.count >= 1 && i.count <= 2048)) bad('count must be 1..2048');
  if (i.op === 'JUMP') {
    if (!(i.back >= 1 && i.back <= 2047)) bad('jump distance must be 1..2047');
    if (!(i.count >= 1 && i.count < 1 << 17)) bad('repeat count must be 1..131071');
  }
  if (i.op !== 'NOP' && i.op !== 'JUMP' && i.op !== 'EXIT') {
    if (i.src.length !== ARITY[i.op]) bad(`wants ${ARITY[i.op]} source operand(s)`);
    for (const o of [i.dst, ...i.src]) if (!Number.isInteger(o.index) || o.index < 0 || o.index > 7) bad('register index must be 0..7');
    if (i.dst.file === 'SRF_M' || i.dst.file === 'SRF_A') bad('scalar registers are written by the host only');
    if (isBank(i.dst.file) && i.op !== 'MOV') bad('only MOV writes a bank');
    if (i.src.filter((o) => isBank(o.file)).length > 1) bad('at most one bank operand');
    if (isBank(i.dst.file) && i.src.some((o) => isBank(o.file))) bad('bank to bank is not a PIM operation');
    if (i.op === 'FILL' && !isBank(i.src[0]!.file)) bad('FILL reads a bank');
    if (i.relu && i.op !== 'MOV' && i.op !== 'FILL') bad('relu applies to MOV/FILL only');
  }
}

export function encode(i: Instruction): number {
  checkInstruction(i);
  const opc = OPCODES[i.op] << 28;
  switch (i.op) {
    case 'NOP':
      return (opc | (i.count - 1)) >>> 0;
    case 'JUMP':
      return (opc | (i.count << 11) | i.back) >>> 0;
    case 'EXIT':
      return opc >>> 0;
    default: {
      const s = [...i.src, { file: 'GRF_A' as OperandFile, index: 0 }, { file: 'GRF_A' as OperandFile, index: 0 }, { file: 'GRF_A' as OperandFile, index: 0 }];
      return (
        (opc |
          (FILES[i.dst.file] << 25) |
          (FILES[s[0]!.file] << 22) |
          (FILES[s[1]!.file] << 19) |
          (FILES[s[2]!.file] << 16) |
          (i.aam ? 1 << 15 : 0) |
          (i.relu ? 1 << 14 : 0) |
          (i.dst.index << 9) |
          (s[0]!.index << 6) |
          (s[1]!.index << 3) |
          s[2]!.index) >>>
        0
      );
    }
  }
}

export function decode(word: number): Instruction {
  const w = word >>> 0;
  const op = OPCODE_NAMES.get(w >>> 28);
  if (!op) throw new KilnError('usage', `PIM word 0x${w.toString(16).padStart(8, '0')}: unknown opcode ${w >>> 28}`);
  let i: Instruction;
  if (op === 'NOP') i = { op, count: (w & 0x7ff) + 1 };
  else if (op === 'JUMP') i = { op, back: w & 0x7ff, count: (w >>> 11) & 0x1ffff };
  else if (op === 'EXIT') i = { op };
  else {
    const file = (v: number): OperandFile => {
      const f = FILE_NAMES.get(v);
      if (!f) throw new KilnError('usage', `PIM word 0x${w.toString(16).padStart(8, '0')}: unknown operand file ${v}`);
      return f;
    };
    const srcs: Operand[] = [
      { file: file((w >>> 22) & 7), index: (w >>> 6) & 7 },
      { file: file((w >>> 19) & 7), index: (w >>> 3) & 7 },
      { file: file((w >>> 16) & 7), index: w & 7 },
    ];
    i = { op, dst: { file: file((w >>> 25) & 7), index: (w >>> 9) & 7 }, src: srcs.slice(0, ARITY[op]), aam: ((w >>> 15) & 1) === 1, relu: ((w >>> 14) & 1) === 1 };
  }
  checkInstruction(i);
  return i;
}

function fmtOperand(o: Operand): string {
  return isBank(o.file) ? o.file : `${o.file}[${o.index}]`;
}

export function formatInstruction(i: Instruction): string {
  switch (i.op) {
    case 'NOP':
      return `NOP ${i.count}`;
    case 'JUMP':
      return `JUMP -${i.back}, ${i.count}`;
    case 'EXIT':
      return 'EXIT';
    default: {
      const flags = [i.aam ? 'aam' : '', i.relu ? 'relu' : ''].filter((f) => f).join(' ');
      return `${i.op} ${[i.dst, ...i.src].map(fmtOperand).join(', ')}${flags ? `  ${flags}` : ''}`;
    }
  }
}

/** One instruction per line; `;` starts a comment. */
export function disassemble(words: readonly number[] | Uint32Array): string {
  return Array.from(words, (w) => `${formatInstruction(decode(w))}\n`).join('');
}

function parseOperand(s: string, line: number): Operand {
  const m = /^([A-Z_]+)(?:\[(\d+)\])?$/.exec(s.trim());
  const file = m ? (m[1] as OperandFile) : undefined;
  if (!m || !file || !(file in FILES)) throw new KilnError('parse', `pim asm line ${line}: bad operand '${s.trim()}'`);
  if (isBank(file) !== (m[2] === undefined)) throw new KilnError('parse', `pim asm line ${line}: '${s.trim()}' ${isBank(file) ? 'takes no index' : 'needs an index [0..7]'}`);
  return { file, index: m[2] === undefined ? 0 : Number(m[2]) };
}

export function parseInstruction(text: string, line = 1): Instruction {
  const m = /^\s*([A-Z]+)\s*(.*?)\s*$/i.exec(text);
  if (!m) throw new KilnError('parse', `pim asm line ${line}: empty instruction`);
  const op = m[1]!.toUpperCase();
  let rest = m[2]!;
  const wrap = (f: () => Instruction): Instruction => {
    try {
      const i = f();
      checkInstruction(i);
      return i;
    } catch (e) {
      if (e instanceof KilnError && e.code !== 'parse') throw new KilnError('parse', `pim asm line ${line}: ${e.message}`);
      throw e;
    }
  };
  if (op === 'EXIT') {
    if (rest !== '') throw new KilnError('parse', `pim asm line ${line}: EXIT takes no operands`);
    return { op: 'EXIT' };
  }
  if (op === 'NOP') return wrap(() => ({ op: 'NOP', count: rest === '' ? 1 : Number(rest) }));
  if (op === 'JUMP') {
    const j = /^-(\d+)\s*,\s*(\d+)$/.exec(rest);
    if (!j) throw new KilnError('parse', `pim asm line ${line}: JUMP wants '-distance, count'`);
    return wrap(() => ({ op: 'JUMP', back: Number(j[1]), count: Number(j[2]) }));
  }
  if (!(op in ARITY)) throw new KilnError('parse', `pim asm line ${line}: unknown opcode '${m[1]}'`);
  const flags = new Set<string>();
  for (;;) {
    const f = /\s+(aam|relu)$/i.exec(rest);
    if (!f) break;
    flags.add(f[1]!.toLowerCase());
    rest = rest.slice(0, f.index);
  }
  const ops = rest.split(',').map((s) => parseOperand(s, line));
  const a = op as ArithOpcode;
  return wrap(() => ({ op: a, dst: ops[0]!, src: ops.slice(1), aam: flags.has('aam'), relu: flags.has('relu') }));
}

/** Assembles text (one instruction per line, `;` comments) into CRF words. */
export function assemble(text: string): Uint32Array {
  const words: number[] = [];
  text.split('\n').forEach((raw, n) => {
    const l = raw.replace(/;.*$/, '').trim();
    if (l !== '') words.push(encode(parseInstruction(l, n + 1)));
  });
  return Uint32Array.from(words);
}
