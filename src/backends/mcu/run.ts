/** `--target mcu`: cross-compiles the model for a board and runs it under QEMU with semihosting. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../../ir/errors.js';
import type { Program } from '../../ir/kernel/types.js';
import type { MemoryLayout } from '../../ir/kernel/layout.js';
import { Tensor } from '../../ir/tensor.js';
import { fillFromBytes, storageBytes, tensorToBytes } from '../../ir/rawdata.js';
import { getBoard, runBoard, type Board } from '../../costmodel/boards.js';
import { emitMcu } from './project.js';
import { checkEstimate, checkMeasured, fitReport, type FitReport } from './fit.js';
import { buildElf, gccCommand, measureElf, qemuCommand, requireTool, runQemu, sizeCommand } from './toolchain.js';
import { makeScratchDir } from '../scratch.js';

export interface McuRunResult {
  outputs: Tensor[];
  size: FitReport;
  /** The board whose memory map and QEMU machine ran the model. */
  ranOn: string;
}

export function writeFiles(dir: string, files: ReadonlyMap<string, string | Uint8Array>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, data] of files) fs.writeFileSync(path.join(dir, name), data);
}

/** The board runs use for `board`; unsupported when QEMU can run neither it nor a stand-in. */
export function qemuBoardFor(board: Board): Board {
  const rb = runBoard(board);
  if (!rb?.qemuMachine) throw new KilnError('unsupported', `board ${board.name} cannot be run under QEMU (no qemuMachine or runOn in its description)`);
  return rb;
}

/**
 * Fit check (estimate), build, size (arm-none-eabi-size, checked against `board`), run under QEMU.
 * Boards QEMU does not emulate run on their `runOn` board's memory map with their own budget.
 */
export function runMcu(program: Program, name: string, inputs: readonly Tensor[], layout: MemoryLayout, opts: { board?: string; keepDir?: string } = {}): McuRunResult {
  const board = getBoard(opts.board ?? 'mps2-an386');
  const rb = qemuBoardFor(board);
  requireTool(gccCommand());
  requireTool(sizeCommand());
  requireTool(qemuCommand());
  const project = emitMcu(program, name, board, layout, rb);
  checkEstimate(project.fit, board);
  const dir = opts.keepDir ?? makeScratchDir('kiln-mcu-');
  try {
    writeFiles(dir, project.files);
    buildElf(dir, rb);
    const size = fitReport(measureElf(path.join(dir, 'model.elf')), program, board);
    checkMeasured(size, board);
    const args: string[] = [];
    inputs.forEach((t, i) => {
      fs.writeFileSync(path.join(dir, `in${i}.bin`), tensorToBytes(t, false));
      args.push(`in${i}.bin`);
    });
    runQemu(dir, rb.qemuMachine!, [...args, '-o', 'out']);
    const outputs = program.outputs.map((b, i) => {
      const f = path.join(dir, `out${i}.bin`);
      if (!fs.existsSync(f)) throw new KilnError('runtime', `the model under QEMU wrote no output ${i}`);
      const bytes = fs.readFileSync(f);
      if (b.dtype === 'index') throw new KilnError('type', 'index-typed output');
      if (bytes.length !== storageBytes(b.dtype, b.shape.reduce((x, y) => x * y, 1))) throw new KilnError('runtime', `output ${i} has ${bytes.length} bytes`);
      const t = Tensor.zeros(b.dtype, b.shape);
      fillFromBytes(t, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), false);
      return t;
    });
    return { outputs, size, ranOn: rb.name };
  } finally {
    if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One line for `kiln run`: measured sizes against the board. */
export function describeFit(r: McuRunResult): string {
  const s = r.size;
  const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(1)}%`;
  const on = r.ranOn === s.board ? '' : ` (ran under QEMU on ${r.ranOn}'s memory map; ${s.board} budget checked)`;
  return `mcu ${s.board}: flash ${s.flashBytes} B of ${s.boardFlashBytes} B (${pct(s.flashBytes, s.boardFlashBytes)}), RAM ${s.ramBytes} B static, ${s.ramNeededBytes} B with I/O buffers and stack, of ${s.boardSramBytes} B (${pct(s.ramNeededBytes, s.boardSramBytes)})${on}`;
}
