/**
 * Boards of the MCU target: a thin view of the `mcu` devices (src/costmodel/devices.ts, files in
 * src/costmodel/devices/*.json, documented in docs/devices.md). Kept so existing callers keep
 * their API; new code can use getDevice(name, 'mcu').
 */
import { KilnError } from '../ir/errors.js';
import { listDevices, type McuDevice } from './devices.js';

export type { FloatAbi, MemoryRegion, MemoryLevel } from './devices.js';
export type Board = McuDevice;

export function listBoards(): Board[] {
  return listDevices('mcu');
}

export function boardNames(): string[] {
  return listBoards().map((b) => b.name);
}

export function getBoard(name: string): Board {
  const b = listBoards().find((x) => x.name === name);
  if (!b) throw new KilnError('usage', `unknown board '${name}' (known: ${boardNames().join(', ')})`);
  return b;
}

/** The board whose memory map and QEMU machine runs use (the board itself when QEMU emulates it). */
export function runBoard(board: Board): Board | null {
  if (board.qemuMachine) return board;
  return board.runOn ? getBoard(board.runOn) : null;
}
