/** C simulation of an HLS design: the design and its testbench built with g++ (as csim does) and run. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { KilnError } from '../../ir/errors.js';
import type { Program } from '../../ir/kernel/types.js';
import { Tensor } from '../../ir/tensor.js';
import { fillFromBytes, tensorToBytes } from '../../ir/rawdata.js';
import { storageBytes } from '../c/render.js';
import { CSIM_CXXFLAGS } from './emit.js';
import { makeScratchDir } from '../scratch.js';
import { commandFailure } from '../tools.js';

/** Extra flags of the sanitizer build (option sanitize=on): any ASan/UBSan report fails the run. */
export const SANITIZE_CXXFLAGS = '-O0 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer';

/** The C++ compiler C simulation uses: $CXX or g++. */
export function cxxCompiler(): string {
  return process.env.CXX ?? 'g++';
}

const CSIM_CAUSE = /error|sanitizer|csim:|hls::stream/i;
const CSIM_TIMEOUT_MS = 240_000;

function failure(what: string, e: unknown): KilnError {
  return commandFailure(what, e, { tool: cxxCompiler(), cause: CSIM_CAUSE, timeoutMs: CSIM_TIMEOUT_MS });
}

/** Writes the design, builds it with its testbench and returns the outputs of one run. */
export function runCsim(program: Program, files: ReadonlyMap<string, string>, inputs: readonly Tensor[], opts: { sanitize?: boolean; keepDir?: string } = {}): Tensor[] {
  const dir = opts.keepDir ?? makeScratchDir('kiln-hls-');
  try {
    fs.mkdirSync(dir, { recursive: true });
    for (const [n, data] of files) fs.writeFileSync(path.join(dir, n), data);
    const flags = `${CSIM_CXXFLAGS}${opts.sanitize ? ` ${SANITIZE_CXXFLAGS}` : ''}`.split(/\s+/).filter(Boolean);
    try {
      execFileSync(cxxCompiler(), [...flags, '-o', 'csim', 'tb.cpp', 'model.cpp', '-lm'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: CSIM_TIMEOUT_MS });
    } catch (e) {
      throw failure('C simulation build', e);
    }
    const args = inputs.map((t, i) => {
      const f = path.join(dir, `in${i}.bin`);
      fs.writeFileSync(f, tensorToBytes(t, false));
      return f;
    });
    try {
      const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' };
      execFileSync(path.join(dir, 'csim'), [...args, '-o', path.join(dir, 'out')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: CSIM_TIMEOUT_MS, env });
    } catch (e) {
      throw failure('C simulation', e);
    }
    return program.outputs.map((b, i) => {
      if (b.dtype === 'index') throw new KilnError('type', 'index-typed output');
      const bytes = fs.readFileSync(path.join(dir, `out${i}.bin`));
      const t = Tensor.zeros(b.dtype, [...b.shape]);
      if (bytes.length !== storageBytes(b.dtype) * t.size) throw new KilnError('runtime', `output ${i} has ${bytes.length} bytes`);
      fillFromBytes(t, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), false);
      return t;
    });
  } finally {
    if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
