/** External programs targets drive (compilers, emulators): whether they can be started. */
import { execFileSync } from 'node:child_process';
import { KilnError } from '../ir/errors.js';
import type { TargetTool } from './target.js';

const found = new Map<string, boolean>();

/** Whether a command can be started (cached per command). */
export function hasTool(cmd: string): boolean {
  let ok = found.get(cmd);
  if (ok === undefined) {
    try {
      execFileSync(cmd, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
      ok = true;
    } catch (e) {
      ok = (e as { code?: string }).code !== 'ENOENT';
    }
    found.set(cmd, ok);
  }
  return ok;
}

/** A tool found by running `<command> --version`; `command` is read when checked (env overrides). */
export function commandTool(command: () => string, install: string): TargetTool {
  return {
    get name() {
      return command();
    },
    available: () => hasTool(command()),
    install,
  };
}

/** What a failed child_process call (execFileSync/spawnSync error) carries. */
interface ChildFailure {
  stderr?: Buffer | string;
  stdout?: Buffer | string;
  message?: string;
  code?: string;
  signal?: string | null;
}

/** Lines that most likely say why a compiler, emulator or generated program failed. */
const DEFAULT_CAUSE = /error|undefined reference|overflow|fault|sanitizer/i;

/**
 * One line saying why a command failed: a missing tool, a time limit, a signal, or the first line
 * of its output that looks like a diagnostic (else its first line), never an empty message.
 */
export function commandFailure(what: string, e: unknown, opts: { tool?: string; cause?: RegExp; timeoutMs?: number } = {}): KilnError {
  if ((e as ChildFailure).code === 'ENOENT') return new KilnError('unsupported', `${what}: ${opts.tool ?? 'tool'} not installed`);
  return new KilnError('runtime', `${what} failed: ${failureDetail(e, opts)}`);
}

/** The reason part of commandFailure's line (for callers that word the rest themselves). */
export function failureDetail(e: unknown, opts: { cause?: RegExp; timeoutMs?: number } = {}): string {
  const err = e as ChildFailure;
  if (err.code === 'ETIMEDOUT') return `stopped after ${opts.timeoutMs !== undefined ? `${opts.timeoutMs / 1000} s` : 'its time limit'}`;
  const lines = `${String(err.stderr ?? '')}\n${String(err.stdout ?? '')}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => (opts.cause ?? DEFAULT_CAUSE).test(l)) ?? lines[0];
  if (line) return line;
  if (err.signal) return `killed by ${err.signal}`;
  return String(err.message ?? e).split('\n')[0] ?? 'no output';
}
