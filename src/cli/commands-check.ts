/** `kiln check`: runs lit/FileCheck-style IR tests (see docs/ir-tests.md). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { checkFiles, collectTestFiles, formatTestResult, type ExecResult, type KilnExec } from '../driver/check.js';

type Write = typeof process.stdout.write;

function chunkText(chunk: unknown): string {
  return typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
}

/** The CLI's entry point (src/cli/main.ts), handed in so this module does not import it back. */
export type InProcessMain = (argv: readonly string[]) => Promise<number>;

/**
 * Runs `kiln <argv>` in this process with stdout/stderr captured. Tests run one after another, so
 * nothing else writes while a command runs; the exit code is saved and restored around it.
 */
const inProcess = (main: InProcessMain): KilnExec => async (argv) => {
  const out: string[] = [];
  const err: string[] = [];
  const capture = (sink: string[]): Write =>
    ((chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
      sink.push(chunkText(chunk));
      const done = typeof enc === 'function' ? enc : cb;
      if (typeof done === 'function') (done as () => void)();
      return true;
    }) as Write;
  const saved = { out: process.stdout.write, err: process.stderr.write, code: process.exitCode };
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  process.exitCode = undefined;
  let code: number;
  try {
    code = await main(['node', 'kiln', ...argv]);
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    process.exitCode = saved.code;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
};

const KILN_BIN = fileURLToPath(new URL('../../bin/kiln.js', import.meta.url));

/** Runs `kiln <argv>` as a child process (isolates global state at the cost of a start-up per RUN). */
const childProcess: KilnExec = (argv) =>
  new Promise<ExecResult>((resolve) => {
    const child = spawn(process.execPath, [KILN_BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `cannot start kiln: ${e.message}\n` }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });

export function registerCheckCommand(program: Command, main: InProcessMain): void {
  program
    .command('check')
    .description('run FileCheck-style IR tests: RUN: lines and CHECK directives in .kir comments')
    .argument('<tests...>', 'test files (.kir) or folders searched for them')
    .option('--json', 'print per-test results as JSON instead of text')
    .option('--isolated', 'run each RUN line in a child process instead of in this process')
    .option('-q, --quiet', 'print only failures and the summary')
    .action(async (tests: string[], opts: { json?: boolean; isolated?: boolean; quiet?: boolean }) => {
      const files = collectTestFiles(tests);
      if (files.length === 0) throw new KilnError('usage', `no .kir test files found in ${tests.join(' ')}`);
      const exec = opts.isolated ? childProcess : inProcess(main);
      const write = process.stdout.write.bind(process.stdout);
      const s = await checkFiles(files, exec, (r) => {
        if (!opts.json && (!r.ok || !opts.quiet)) write(formatTestResult(r));
      });
      if (opts.json) write(`${JSON.stringify(s, null, 2)}\n`);
      else write(`${s.passed} passed, ${s.failed} failed\n`);
      if (s.failed > 0) process.exitCode = 1;
    });
}
