/** Builds an MCU project in a scratch folder to measure it (used by `kiln compile --target mcu`). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Board } from '../../costmodel/boards.js';
import type { Program } from '../../ir/kernel/types.js';
import { checkMeasured, fitReport, type FitReport } from './fit.js';
import type { McuProject } from './project.js';
import { buildElf, gccCommand, hasTool, measureElf, sizeCommand } from './toolchain.js';
import { describeFit, writeFiles } from './run.js';
import { makeScratchDir } from '../scratch.js';

export interface McuSizeFields {
  board: string;
  flashBytes: number;
  ramBytes: number;
  ramNeededBytes: number;
  fits: { flash: boolean; sram: boolean };
  /** Where the figures come from: arm-none-eabi-size, or the estimate when the tools are missing. */
  sizes: string;
  sizeSummary: string;
}

/**
 * The report fields for a project: measured with arm-none-eabi-gcc/-size when installed (and
 * checked against the board: KilnError('unsupported') when the image does not fit), else the estimate.
 */
export function sizeMcuProject(project: Pick<McuProject, 'files' | 'fit'>, program: Program, board: Board, opts: { estimateOnly?: string } = {}): McuSizeFields {
  if (opts.estimateOnly !== undefined || !hasTool(gccCommand()) || !hasTool(sizeCommand())) {
    const e = project.fit;
    const missing = opts.estimateOnly ?? `${hasTool(gccCommand()) ? sizeCommand() : gccCommand()} not installed`;
    return {
      board: board.name,
      flashBytes: e.flashBytes,
      ramBytes: e.sramBytes - e.stackBytes - e.ioBytes,
      ramNeededBytes: e.sramBytes,
      fits: { flash: e.flashBytes <= board.flash.size, sram: e.sramBytes <= board.sram.size },
      sizes: `estimated (${missing})`,
      sizeSummary: `mcu ${board.name}: estimated flash ${e.flashBytes} B of ${board.flash.size} B, SRAM ${e.sramBytes} B of ${board.sram.size} B (${missing})`,
    };
  }
  const dir = makeScratchDir('kiln-mcu-');
  try {
    writeFiles(dir, project.files);
    buildElf(dir, board);
    const r: FitReport = fitReport(measureElf(path.join(dir, 'model.elf')), program, board);
    checkMeasured(r, board);
    return {
      board: board.name,
      flashBytes: r.flashBytes,
      ramBytes: r.ramBytes,
      ramNeededBytes: r.ramNeededBytes,
      fits: r.fits,
      sizes: sizeCommand(),
      sizeSummary: describeFit({ outputs: [], size: r, ranOn: board.name }),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
