/**
 * Does a model fit a board? Before any tool runs: an estimate from the memory plan (arena, I/O
 * buffers, stack reserve, runtime overhead vs SRAM; weights blob plus a code estimate vs flash).
 * After building: the real figures from arm-none-eabi-size (flash = text + data, RAM = data + bss;
 * the heap still holds the I/O buffers and the stack is reserved on top).
 * A model that does not fit fails with a one-line KilnError('unsupported') naming both sizes.
 */
import type { Board } from '../../costmodel/boards.js';
import { ioBytes, RUNTIME_HEAP_BYTES, type FitEstimate } from '../../costmodel/mcu-fit.js';
import { KilnError } from '../../ir/errors.js';
import type { Program } from '../../ir/kernel/types.js';

// the estimate is the cost model's (the place-levels pass uses it too)
export { estimateFit, ioBytes, KERNEL_FLASH_BYTES, RUNTIME_FLASH_BYTES, RUNTIME_HEAP_BYTES, RUNTIME_RAM_BYTES, type FitEstimate } from '../../costmodel/mcu-fit.js';

export interface MeasuredSize {
  text: number;
  data: number;
  bss: number;
}

export interface FitReport {
  board: string;
  /** text + data (arm-none-eabi-size). */
  flashBytes: number;
  /** data + bss (arm-none-eabi-size): static RAM. */
  ramBytes: number;
  /** Static RAM + heap (I/O buffers, stdio) + stack reserve: what the fit check compares with SRAM. */
  ramNeededBytes: number;
  boardFlashBytes: number;
  boardSramBytes: number;
  fits: { flash: boolean; sram: boolean };
}

function limitError(parts: string[]): KilnError {
  // a board too small is a refusal of this model on this board, not a failure
  return new KilnError('unsupported', parts.join('; '));
}

/** Throws KilnError('unsupported') when the estimate exceeds the board's flash or SRAM. */
export function checkEstimate(est: FitEstimate, board: Board): void {
  const parts: string[] = [];
  if (est.sramBytes > board.sram.size) {
    parts.push(`model needs ${est.sramBytes} B of SRAM, board ${board.name} has ${board.sram.size} B (arena ${est.arenaBytes} B + I/O buffers ${est.ioBytes} B + stack ${est.stackBytes} B + runtime ~${est.runtimeRamBytes} B)`);
  }
  if (est.flashBytes > board.flash.size) {
    parts.push(`model needs ${est.flashBytes} B of flash, board ${board.name} has ${board.flash.size} B (weights ${est.weightBytes} B + code ~${est.codeBytes} B)`);
  }
  if (parts.length) throw limitError(parts);
}

/** The real figures against the board. */
export function fitReport(size: MeasuredSize, program: Program, board: Board): FitReport {
  const flashBytes = size.text + size.data;
  const ramBytes = size.data + size.bss;
  const ramNeededBytes = ramBytes + ioBytes(program) + RUNTIME_HEAP_BYTES + board.stackBytes;
  return {
    board: board.name,
    flashBytes,
    ramBytes,
    ramNeededBytes,
    boardFlashBytes: board.flash.size,
    boardSramBytes: board.sram.size,
    fits: { flash: flashBytes <= board.flash.size, sram: ramNeededBytes <= board.sram.size },
  };
}

/** Throws KilnError('unsupported') when the built image does not fit the board. */
export function checkMeasured(r: FitReport, board: Board): void {
  const parts: string[] = [];
  if (!r.fits.sram) parts.push(`model needs ${r.ramNeededBytes} B of SRAM, board ${board.name} has ${board.sram.size} B (data+bss ${r.ramBytes} B from arm-none-eabi-size + heap for I/O buffers and stdio + stack ${board.stackBytes} B)`);
  if (!r.fits.flash) parts.push(`model needs ${r.flashBytes} B of flash, board ${board.name} has ${board.flash.size} B (text+data from arm-none-eabi-size)`);
  if (parts.length) throw limitError(parts);
}
