/** Builds generated C with the system compiler and runs it through its harness. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { KilnError } from '../../ir/errors.js';
import { shapeAt, type Program } from '../../ir/kernel/types.js';
import { paramValueOf } from '../../ir/kernel/interp.js';
import { Tensor } from '../../ir/tensor.js';
import { fillFromBytes, storageBytes, tensorToBytes } from '../../ir/rawdata.js';
import type { MemoryLayout } from '../../ir/kernel/layout.js';
import { emitC, OPENMP_FLAG, type CProject } from './emit.js';
import { makeScratchDir } from '../scratch.js';
import { commandFailure } from '../tools.js';

/** Flags for checking runs: the strict warning set is part of what is checked. */
export const CHECK_CFLAGS = process.env.KILN_CFLAGS ?? '-std=c99 -O1 -Wall -Wextra -Werror -pedantic -fno-strict-aliasing';

export function writeProject(dir: string, project: CProject): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, data] of project.files) fs.writeFileSync(path.join(dir, name), data);
}

/** Compiler and sanitizer diagnostics (a -Werror build names its warning). */
const C_CAUSE = /error|warning|sanitizer/i;
/** Time limits of the C build and of one run (a large model at -O3 may need more: KILN_CC_TIMEOUT_MS). */
const compileTimeoutMs = (): number => Number(process.env.KILN_CC_TIMEOUT_MS ?? 300_000);
const RUN_TIMEOUT_MS = 120_000;

/** The C compiler runs use: $CC or cc. */
export function cCompiler(): string {
  return process.env.CC ?? 'cc';
}

/** Compiles the program's C with `cc` and runs it on the inputs; returns the outputs. */
export function runC(program: Program, name: string, inputs: readonly Tensor[], layout: MemoryLayout, opts: { cc?: string; cflags?: string; keepDir?: string; openmp?: boolean } = {}): Tensor[] {
  const dir = opts.keepDir ?? makeScratchDir('kiln-c-');
  try {
    const project = emitC(program, name, layout, opts.openmp ? { openmp: true } : {});
    writeProject(dir, project);
    const cc = opts.cc ?? cCompiler();
    const cflags = [...(opts.cflags ?? CHECK_CFLAGS).split(/\s+/).filter(Boolean), ...(opts.openmp ? [OPENMP_FLAG] : [])];
    try {
      execFileSync(cc, [...cflags, '-o', 'model', 'main.c', 'model.c', 'weights.s', '-lm'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: compileTimeoutMs() });
    } catch (e) {
      throw commandFailure('C compile', e, { tool: cc, cause: C_CAUSE, timeoutMs: compileTimeoutMs() });
    }
    const args: string[] = [];
    inputs.forEach((t, i) => {
      const f = path.join(dir, `in${i}.bin`);
      fs.writeFileSync(f, tensorToBytes(t, false));
      args.push(f);
    });
    try {
      // sanitizer builds stop at the first report; leak checking needs ptrace, which sandboxes may refuse
      const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' };
      execFileSync(path.join(dir, 'model'), [...args, '-o', path.join(dir, 'out')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS, env });
    } catch (e) {
      throw commandFailure('running the compiled model', e, { cause: C_CAUSE, timeoutMs: RUN_TIMEOUT_MS });
    }
    const value = paramValueOf(program, inputs) ?? 0;
    return program.outputs.map((b, i) => {
      const bytes = fs.readFileSync(path.join(dir, `out${i}.bin`));
      if (b.dtype === 'index') throw new KilnError('type', 'index-typed output');
      const shape = shapeAt(b, program.param, value);
      if (bytes.length !== storageBytes(b.dtype, shape.reduce((x, y) => x * y, 1))) throw new KilnError('runtime', `output ${i} has ${bytes.length} bytes`);
      const t = Tensor.zeros(b.dtype, shape);
      fillFromBytes(t, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), false);
      return t;
    });
  } finally {
    if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
