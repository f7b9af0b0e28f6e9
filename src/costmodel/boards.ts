/**
 * Board descriptions for the MCU target. The boards are data: one JSON file per board in
 * src/costmodel/boards/ (read at run time; from dist/ the loader looks in ../../src/costmodel/boards/
 * of the package, so adding a board needs no code change).
 *
 * Fields: cpu (-mcpu), fpu (-mfpu, null without one), floatAbi (-mfloat-abi), flash and sram
 * ({origin, size} in bytes), stackBytes (stack reserved in SRAM), and either qemuMachine (QEMU
 * emulates the board: runs use its memory map) or runOn (a board QEMU does emulate: runs link for
 * that board's memory map and machine, while the fit check still uses this board's budget).
 * Optional `levels`: memory beyond on-chip SRAM (see MemoryLevel), fastest first; activations that do
 * not fit on-chip are placed there (src/passes/place-levels.ts). Optional `roofline`: peak figures for
 * the analytical cost model (src/costmodel/roofline.ts).
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../ir/errors.js';
import { parseRoofline, type Roofline } from './roofline.js';

export type FloatAbi = 'hard' | 'softfp' | 'soft';

export interface MemoryRegion {
  origin: number;
  size: number;
}

/** A memory level beyond on-chip SRAM (e.g. external PSRAM), addressable by the CPU. */
export interface MemoryLevel {
  /** Identifier (arena symbol and linker section `.kiln_<name>`). */
  name: string;
  origin: number;
  size: number;
  /** Sustained bytes per CPU cycle of a copy to/from this level (cost figure; optional). */
  bytesPerCycle?: number;
  /** CPU cycles of one random access (cost figure; optional). */
  cyclesPerAccess?: number;
  /** Where the address and cost figures come from. */
  source: string;
}

export interface Board {
  name: string;
  description: string;
  cpu: string;
  fpu: string | null;
  floatAbi: FloatAbi;
  flash: MemoryRegion;
  sram: MemoryRegion;
  stackBytes: number;
  /** `qemu-system-arm -M <machine>` when QEMU emulates this board. */
  qemuMachine?: string;
  /** Board whose memory map and QEMU machine `kiln run` uses for this one. */
  runOn?: string;
  /** Memory levels beyond `sram`, fastest first (absent: SRAM only). */
  levels?: MemoryLevel[];
  /** Peak figures for the analytical cost model (see roofline.ts). */
  roofline?: Roofline;
}

/** Folders searched for <name>.json: beside the module (if copied there), then the source tree. */
function boardDirs(): string[] {
  return [new URL('./boards/', import.meta.url), new URL('../../src/costmodel/boards/', import.meta.url)].map((u) => fileURLToPath(u));
}

function boardDir(): string {
  const dir = boardDirs().find((d) => fs.existsSync(d) && fs.readdirSync(d).some((f) => f.endsWith('.json')));
  if (!dir) throw new KilnError('io', `board descriptions not found (looked in ${boardDirs().join(', ')})`);
  return dir;
}

function bad(file: string, what: string): KilnError {
  return new KilnError('io', `board description ${file}: ${what}`);
}

function region(file: string, key: string, v: unknown): MemoryRegion {
  const r = v as { origin?: unknown; size?: unknown } | null;
  if (typeof r !== 'object' || r === null) throw bad(file, `'${key}' must be an object {origin, size}`);
  const origin = typeof r.origin === 'string' ? Number(r.origin) : r.origin;
  if (typeof origin !== 'number' || !Number.isInteger(origin) || origin < 0 || origin > 0xffffffff) throw bad(file, `'${key}.origin' must be an address`);
  if (typeof r.size !== 'number' || !Number.isInteger(r.size) || r.size <= 0 || origin + r.size > 2 ** 32) throw bad(file, `'${key}.size' must be a positive byte count`);
  return { origin, size: r.size };
}

function levels(file: string, v: unknown, board: Board): MemoryLevel[] {
  if (!Array.isArray(v)) throw bad(file, "'levels' must be a list of {name, origin, size, source}");
  const out: MemoryLevel[] = v.map((x: unknown, i: number) => {
    const l = x as Record<string, unknown> | null;
    if (typeof l !== 'object' || l === null) throw bad(file, `'levels[${i}]' must be an object`);
    if (typeof l.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(l.name) || l.name === 'sram') throw bad(file, `'levels[${i}].name' must be a lower-case identifier other than sram`);
    if (typeof l.source !== 'string' || l.source.trim() === '') throw bad(file, `'levels[${i}].source' must say where the figures come from`);
    const r = region(file, `levels[${i}]`, l);
    const level: MemoryLevel = { name: l.name, origin: r.origin, size: r.size, source: l.source };
    for (const k of ['bytesPerCycle', 'cyclesPerAccess'] as const) {
      if (l[k] === undefined) continue;
      if (typeof l[k] !== 'number' || !(l[k] > 0)) throw bad(file, `'levels[${i}].${k}' must be a positive number`);
      level[k] = l[k];
    }
    return level;
  });
  const spans = [board.flash, board.sram, ...out].map((r) => [r.origin, r.origin + r.size] as const);
  for (let a = 0; a < spans.length; a++) {
    for (let b = a + 1; b < spans.length; b++) if (spans[a]![0] < spans[b]![1] && spans[b]![0] < spans[a]![1]) throw bad(file, 'memory levels overlap flash, sram or each other');
  }
  if (new Set(out.map((l) => l.name)).size !== out.length) throw bad(file, 'memory level names must be unique');
  return out;
}

function parseBoard(file: string, text: string): Board {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw bad(file, (e as Error).message);
  }
  const str = (k: string): string => {
    if (typeof j[k] !== 'string' || !/^[A-Za-z0-9._+-]+$/.test(j[k] as string)) throw bad(file, `'${k}' must be a name`);
    return j[k] as string;
  };
  const floatAbi = str('floatAbi');
  if (floatAbi !== 'hard' && floatAbi !== 'softfp' && floatAbi !== 'soft') throw bad(file, "'floatAbi' must be hard, softfp or soft");
  const fpu = j.fpu === null || j.fpu === undefined ? null : str('fpu');
  if (fpu === null && floatAbi !== 'soft') throw bad(file, "a board without 'fpu' needs floatAbi soft");
  const stackBytes = j.stackBytes;
  if (typeof stackBytes !== 'number' || !Number.isInteger(stackBytes) || stackBytes < 1024) throw bad(file, "'stackBytes' must be at least 1024");
  const board: Board = {
    name: str('name'),
    description: typeof j.description === 'string' ? j.description : '',
    cpu: str('cpu'),
    fpu,
    floatAbi,
    flash: region(file, 'flash', j.flash),
    sram: region(file, 'sram', j.sram),
    stackBytes,
  };
  if (j.qemuMachine !== undefined) board.qemuMachine = str('qemuMachine');
  if (j.runOn !== undefined) board.runOn = str('runOn');
  if (j.levels !== undefined) board.levels = levels(file, j.levels, board);
  if (j.roofline !== undefined) board.roofline = parseRoofline(file, board.name, j.roofline);
  return board;
}

let cache: Map<string, Board> | null = null;

function load(): Map<string, Board> {
  if (cache) return cache;
  const dir = boardDir();
  const boards = new Map<string, Board>();
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const b = parseBoard(f, fs.readFileSync(`${dir}/${f}`, 'utf8'));
    if (`${b.name}.json` !== f) throw bad(f, `name '${b.name}' does not match the file name`);
    boards.set(b.name, b);
  }
  for (const b of boards.values()) {
    if (b.runOn !== undefined && !boards.get(b.runOn)?.qemuMachine) throw bad(`${b.name}.json`, `runOn '${b.runOn}' is not a board QEMU emulates`);
  }
  cache = boards;
  return boards;
}

export function listBoards(): Board[] {
  return [...load().values()];
}

export function boardNames(): string[] {
  return [...load().keys()];
}

export function getBoard(name: string): Board {
  const b = load().get(name);
  if (!b) throw new KilnError('usage', `unknown board '${name}' (known: ${boardNames().join(', ')})`);
  return b;
}

/** The board whose memory map and QEMU machine runs use (the board itself when QEMU emulates it). */
export function runBoard(board: Board): Board | null {
  if (board.qemuMachine) return board;
  return board.runOn ? getBoard(board.runOn) : null;
}
