/**
 * The Arm tools the MCU target drives: arm-none-eabi-gcc (build), arm-none-eabi-size (flash/RAM)
 * and qemu-system-arm (run with semihosting). A missing tool is KilnError('unsupported'), never a
 * crash. KILN_ARM_GCC, KILN_ARM_SIZE and KILN_QEMU_ARM override the commands; KILN_MCU_TIMEOUT_MS
 * the time limit of one QEMU run (default 60 s).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../../ir/errors.js';
import type { Board } from '../../costmodel/boards.js';
import { archFlags, MCU_SPECS } from './project.js';
import type { MeasuredSize } from './fit.js';
import { commandFailure, failureDetail, hasTool } from '../tools.js';

export const gccCommand = (): string => process.env.KILN_ARM_GCC ?? 'arm-none-eabi-gcc';
export const sizeCommand = (): string => process.env.KILN_ARM_SIZE ?? 'arm-none-eabi-size';
export const qemuCommand = (): string => process.env.KILN_QEMU_ARM ?? 'qemu-system-arm';

export { hasTool };

/** Throws KilnError('unsupported', '<tool> not installed') when the tool is missing. */
export function requireTool(cmd: string): void {
  if (!hasTool(cmd)) throw new KilnError('unsupported', `${cmd} not installed`);
}

/** Flags of the checking build: the Makefile's flags plus -Werror (KILN_MCU_CFLAGS overrides). */
export const MCU_CHECK_CFLAGS = process.env.KILN_MCU_CFLAGS ?? '-O2 -std=c99 -Wall -Wextra -Werror -pedantic -fno-strict-aliasing -ffunction-sections -fdata-sections';

const BUILD_TIMEOUT_MS = 300_000;

/** Builds model.elf in dir (the project's files must be there). */
export function buildElf(dir: string, board: Board): void {
  requireTool(gccCommand());
  const args = [
    ...archFlags(board),
    ...MCU_CHECK_CFLAGS.split(/\s+/).filter(Boolean),
    '-o', 'model.elf', 'startup.s', 'main.c', 'model.c', fs.existsSync(path.join(dir, 'weights.c')) ? 'weights.c' : 'weights.s',
    ...MCU_SPECS, '-T', 'link.ld', '-Wl,--gc-sections', '-Wl,--no-warn-execstack', '-lm',
  ];
  try {
    execFileSync(gccCommand(), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 << 20 });
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw new KilnError('unsupported', `${gccCommand()} not installed`);
    throw commandFailure(`MCU build (${gccCommand()})`, e, { timeoutMs: BUILD_TIMEOUT_MS });
  }
}

/** text/data/bss of an ELF from arm-none-eabi-size (Berkeley format). */
export function measureElf(elf: string): MeasuredSize {
  requireTool(sizeCommand());
  let out: string;
  try {
    out = execFileSync(sizeCommand(), ['-B', elf], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (e) {
    throw commandFailure(sizeCommand(), e, { tool: sizeCommand() });
  }
  const row = out.trim().split('\n')[1]?.trim().split(/\s+/).map(Number);
  if (!row || row.length < 3 || row.slice(0, 3).some((n) => !Number.isFinite(n))) throw new KilnError('runtime', `cannot read the output of ${sizeCommand()}: ${out.trim().split('\n')[0] ?? ''}`);
  return { text: row[0]!, data: row[1]!, bss: row[2]! - levelSectionBytes(elf) };
}

/**
 * Bytes of the external memory levels' arenas (sections .kiln_<level>, NOLOAD): the Berkeley format
 * counts them as bss, but they are not in SRAM.
 */
function levelSectionBytes(elf: string): number {
  let out: string;
  try {
    out = execFileSync(sizeCommand(), ['-A', elf], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (e) {
    throw commandFailure(sizeCommand(), e, { tool: sizeCommand() });
  }
  let n = 0;
  for (const line of out.split('\n')) {
    const m = /^\.kiln_[a-z0-9_]+\s+(\d+)\s/.exec(line.trim() + ' ');
    if (m) n += Number(m[1]);
  }
  return n;
}

/** Semihosting argument list for -semihosting-config (commas doubled, as QEMU's option parser wants). */
export function semihostingArgs(args: readonly string[]): string {
  return args.map((a) => `arg=${a.replace(/,/g, ',,')}`).join(',');
}

/**
 * Runs model.elf in dir under qemu-system-arm with semihosting; args are the harness arguments
 * (argv[1..]), paths relative to dir. Returns stdout+stderr.
 */
export function runQemu(dir: string, machine: string, args: readonly string[], timeoutMs = Number(process.env.KILN_MCU_TIMEOUT_MS ?? 60_000)): string {
  requireTool(qemuCommand());
  const qargs = ['-M', machine, '-nographic', '-monitor', 'none', '-serial', 'none', '-semihosting-config', `enable=on,target=native,${semihostingArgs(['model', ...args])}`, '-kernel', 'model.elf'];
  try {
    return execFileSync(qemuCommand(), qargs, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as { code?: string; signal?: string; status?: number | null };
    if (err.code === 'ENOENT') throw new KilnError('unsupported', `${qemuCommand()} not installed`);
    if (err.signal) throw new KilnError('runtime', `QEMU run on ${machine} stopped after ${timeoutMs} ms (${err.signal})`);
    throw new KilnError('runtime', `model under QEMU ${machine} exited with status ${err.status}: ${failureDetail(e)}`);
  }
}
