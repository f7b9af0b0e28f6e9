/**
 * Scratch folders for the runners that build and run emitted code (C, MCU, HLS csim). A runner
 * removes its folder when it returns; a pool that may stop a worker mid-case (conformance, fuzz
 * time limits) sets a root folder of its own first and removes that root at the end, so a stopped
 * case leaves nothing behind in the system's temp folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

let scratchRoot: string | undefined;

/** Makes new scratch folders under dir (undefined: the system's temp folder again). */
export function setScratchRoot(dir: string | undefined): void {
  scratchRoot = dir;
}

/** A new, empty folder named prefix + a unique suffix, under the scratch root. */
export function makeScratchDir(prefix: string): string {
  return fs.mkdtempSync(path.join(scratchRoot ?? os.tmpdir(), prefix));
}
