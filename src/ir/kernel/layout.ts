/**
 * The memory layout a kernel program gets from the memory passes (`plan-memory`, `place-levels`),
 * as the backends read it: arena offsets, the weights blob, which roots share memory, and the
 * arenas of external levels. The passes leave it in the pipeline's results under MEMORY_PLAN; the
 * buffers themselves also carry `level`/`offset`, so the text form shows the placement.
 */
import { KilnError } from '../errors.js';
import { dtypeInfo } from '../dtype.js';
import { bufferSize, type KBuffer, type ScalarType } from './types.js';

/** Key of the layout in a pipeline's results map. */
export const MEMORY_PLAN = 'memory-plan';

/** Bytes one element takes in memory (sub-byte types are stored one per byte). */
export function elementBytes(t: ScalarType): number {
  if (t === 'index') return 4;
  return Math.max(1, dtypeInfo(t).bits / 8);
}

export function bufferBytes(b: KBuffer): number {
  return bufferSize(b) * elementBytes(b.dtype);
}

/** Outcome of an ILP solve (HiGHS), as reported. */
export interface SolverReport {
  status: string;
  gap: number | null;
  ms: number;
  bound?: number | null;
  arenaBytes?: number | null;
  message?: string;
}

export interface MemoryReport {
  arenaBytes: number;
  lowerBoundBytes: number;
  strategy: string;
  strategies: Record<string, number>;
  solver: SolverReport;
  order: 'file' | 'scheduled';
  blocks: number;
  buffers: number;
  inPlace: number;
}

/** A static arena of one external memory level (e.g. PSRAM). */
export interface LevelArenaLayout {
  name: string;
  /** C symbol of the arena. */
  symbol: string;
  bytes: number;
  capacity: number;
  /** Linker section (MCU: placed in the level's memory region); absent: an ordinary static array. */
  section?: string;
  offsets: Map<KBuffer, number>;
}

export interface LevelsReport {
  levels: { name: string; bytes: number; capacity: number }[];
  offChipTrafficBytes: number;
  levelSolver: SolverReport & { method: 'ilp' | 'greedy'; greedyTrafficBytes: number; trafficBytes: number | null; columns: number; rows: number; iterations: number };
  levelPlacement: { onChipBuffers: number; offChipBuffers: number; copyIns: number; copyKernels: number; offChipUses: number; capacityBytes: number };
}

export interface MemoryLayout {
  /** Byte offset of each temp buffer in the (on-chip) arena. */
  arenaOffset: Map<KBuffer, number>;
  arenaBytes: number;
  /** Byte offset of each const buffer in the weights blob. */
  blobOffset: Map<KBuffer, number>;
  blobBytes: number;
  /** Storage roots that share memory with another buffer (no `restrict`). */
  shared: Set<KBuffer>;
  report: MemoryReport;
  /** Arenas of external memory levels (place-levels); absent: one arena. */
  levels?: readonly LevelArenaLayout[];
  levelReport?: LevelsReport;
}

/** The layout the pipeline left, or a one-line error naming the target whose pipeline lacks it. */
export function memoryLayoutOf(results: ReadonlyMap<string, unknown>, target: string): MemoryLayout {
  const plan = results.get(MEMORY_PLAN) as MemoryLayout | undefined;
  if (!plan) throw new KilnError('usage', `target '${target}' needs a memory plan: its pipeline must run plan-memory`);
  return plan;
}
