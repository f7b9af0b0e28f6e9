/** External programs targets drive (compilers, emulators): whether they can be started. */
import { execFileSync } from 'node:child_process';
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
