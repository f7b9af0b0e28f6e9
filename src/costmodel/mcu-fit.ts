/**
 * Does a model fit a microcontroller board? The estimate before any tool runs, from the memory
 * layout: arena, I/O buffers, stack reserve and runtime overhead against SRAM; the weights blob
 * plus a code estimate against flash. The mcu target checks it before building; the place-levels
 * pass uses it to decide whether activations must spill to an external level.
 */
import type { Board } from './boards.js';
import { bufferBytes, type MemoryLayout } from '../ir/kernel/layout.js';
import type { Program } from '../ir/kernel/types.js';

/**
 * Flash taken by the harness, start-up code and the newlib-nano parts it pulls in (stdio over
 * semihosting, malloc, libm), measured with arm-none-eabi-gcc 12 for cortex-m4 (rounded up).
 */
export const RUNTIME_FLASH_BYTES = 16 * 1024;
/**
 * Code per kernel of the model (a loop nest), on the safe side: measured 60-250 B at -O2 for
 * cortex-m4 (30 kernels of the ad-autoencoder sample: about 1.6 KiB).
 */
export const KERNEL_FLASH_BYTES = 256;
/** SRAM taken by newlib's data/bss, stdio buffers and malloc headers (estimate). */
export const RUNTIME_RAM_BYTES = 4 * 1024;
/** Heap the harness's stdio takes besides the I/O buffers (a FILE and its 1 KiB buffer, headers). */
export const RUNTIME_HEAP_BYTES = 2 * 1024;

export interface FitEstimate {
  /** Estimated flash: weights + code. */
  flashBytes: number;
  /** Estimated SRAM: arena + I/O buffers + stack reserve + runtime. */
  sramBytes: number;
  weightBytes: number;
  codeBytes: number;
  arenaBytes: number;
  ioBytes: number;
  stackBytes: number;
  runtimeRamBytes: number;
}

/** Bytes of the harness's heap-allocated input and output buffers (plus malloc headers). */
export function ioBytes(program: Program): number {
  return [...program.inputs, ...program.outputs].reduce((a, b) => a + Math.max(1, bufferBytes(b)) + 16, 0);
}

export function estimateFit(program: Program, plan: Pick<MemoryLayout, 'arenaBytes' | 'blobBytes'>, board: Board): FitEstimate {
  const weightBytes = plan.blobBytes + 16;
  const codeBytes = RUNTIME_FLASH_BYTES + KERNEL_FLASH_BYTES * program.kernels.length;
  const io = ioBytes(program);
  return {
    flashBytes: weightBytes + codeBytes,
    sramBytes: plan.arenaBytes + io + board.stackBytes + RUNTIME_RAM_BYTES,
    weightBytes,
    codeBytes,
    arenaBytes: plan.arenaBytes,
    ioBytes: io,
    stackBytes: board.stackBytes,
    runtimeRamBytes: RUNTIME_RAM_BYTES,
  };
}

