/**
 * The one output policy of every command that writes files or folders (compile -o, --dump-dir,
 * --memory-plot, report, run --out, graph -o, print/opt -o, --json files):
 * - a folder is written new, or replaces a folder Kiln created (it holds OUTPUT_MARKER), or, with
 *   --force, Kiln writes its files into an existing folder and leaves the other files alone;
 * - the model's folder and every folder above it are refused (even with --force), the inputs'
 *   folder unless --force, and a path that is a file where a folder is wanted (or the reverse);
 * - writability is checked before anything moves, and writes go through a temp sibling plus rename,
 *   so a failure never leaves half an output, a `.kiln-old-*`/`.kiln-tmp-*` folder, or a raw errno.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError, fsError } from '../ir/errors.js';

/** The file that marks a folder as Kiln's own (safe to replace). */
export const OUTPUT_MARKER = '.kiln-output';
const MARKER_TEXT = 'Written by Kiln, which may replace this folder on the next run. Delete this file to keep Kiln from replacing it.\n';

export interface OutputGuard {
  /** Files the command reads as models: their folders and every folder above are never written. */
  models?: readonly string[];
  /** Folders holding the user's inputs: written only with `force`. */
  inputs?: readonly string[];
  /** Write into an existing folder Kiln did not create (or the inputs' folder). */
  force?: boolean;
}

type FolderMode = 'new' | 'replace' | 'merge';

const isInside = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw fsError(e, 'write', p);
  }
}

/** The nearest existing folder at or above `abs`; a file on the way is refused. */
function existingAncestor(abs: string, shown: string): string {
  let p = path.dirname(abs);
  for (;;) {
    const st = statOrNull(p);
    if (st) {
      if (!st.isDirectory()) throw new KilnError('io', `cannot write '${shown}': '${p}' is a file, not a folder`);
      return p;
    }
    const up = path.dirname(p);
    if (up === p) return p;
    p = up;
  }
}

function checkWritable(p: string, shown: string): void {
  try {
    fs.accessSync(p, fs.constants.W_OK);
  } catch (e) {
    const err = fsError(e, 'write', p);
    throw p === path.resolve(shown) ? err : new KilnError('io', `cannot write '${shown}': ${err.message.replace(/^cannot write /, '')}`);
  }
}

/** Every folder below `dir` (itself included) must be writable to empty it. */
function checkTreeWritable(dir: string, shown: string): void {
  checkWritable(dir, shown);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) checkTreeWritable(path.join(dir, e.name), shown);
}

function checkModels(abs: string, shown: string, guard: OutputGuard): void {
  for (const m of guard.models ?? []) {
    if (isInside(path.dirname(path.resolve(m)), abs)) {
      throw new KilnError('usage', `output folder '${shown}' holds the model '${m}'; choose a new folder (Kiln never writes into the model's folder or above it)`);
    }
  }
}

/**
 * Decides how `dir` may be written and checks, before anything is written or moved, that it can be.
 * Commands call it up front so that a refused output costs no compile time.
 */
export function checkOutputFolder(dir: string, guard: OutputGuard = {}): FolderMode {
  const abs = path.resolve(dir);
  checkModels(abs, dir, guard);
  const st = statOrNull(abs);
  if (st && !st.isDirectory()) throw new KilnError('usage', `output folder '${dir}' is a file; give a folder path`);
  if (!st) {
    checkWritable(existingAncestor(abs, dir), dir);
    return 'new';
  }
  const inputs = (guard.inputs ?? []).some((i) => path.resolve(i) === abs);
  if (inputs && !guard.force) throw new KilnError('usage', `output folder '${dir}' holds the inputs; choose another folder or pass --force to write the outputs there`);
  let mode: FolderMode;
  if (inputs) mode = 'merge';
  else if (fs.existsSync(path.join(abs, OUTPUT_MARKER))) mode = 'replace';
  else if (readdirOrThrow(abs).length === 0) mode = 'merge';
  else if (guard.force) mode = 'merge';
  else throw new KilnError('usage', `output folder '${dir}' exists and was not created by Kiln; choose a new folder or pass --force to write into it`);
  if (mode === 'replace') {
    checkWritable(path.dirname(abs), dir);
    checkTreeWritable(abs, dir);
  } else checkWritable(abs, dir);
  return mode;
}

function readdirOrThrow(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    throw fsError(e, 'write', dir);
  }
}

function writeFiles(dir: string, files: ReadonlyMap<string, string | Uint8Array>): void {
  for (const [name, data] of files) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
  }
}

/**
 * Writes `files` (name → contents) as the folder `dir` under the policy above. A new or Kiln-owned
 * folder is built as a temp sibling and renamed into place; a merged folder gets each file atomically.
 */
export function writeOutputFolder(dir: string, files: ReadonlyMap<string, string | Uint8Array>, guard: OutputGuard = {}): void {
  const mode = checkOutputFolder(dir, guard);
  const abs = path.resolve(dir);
  if (mode === 'merge') {
    const empty = readdirOrThrow(abs).length === 0;
    for (const [name, data] of files) writeFileAtomic(path.join(abs, name), data);
    if (empty) writeFileAtomic(path.join(abs, OUTPUT_MARKER), MARKER_TEXT);
    return;
  }
  const tmp = `${abs}.kiln-tmp-${process.pid}`;
  const old = `${abs}.kiln-old-${process.pid}`;
  try {
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    writeFiles(tmp, files);
    fs.writeFileSync(path.join(tmp, OUTPUT_MARKER), MARKER_TEXT);
    if (mode === 'replace') fs.renameSync(abs, old);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw fsError(e, 'write', dir);
  }
  try {
    fs.renameSync(tmp, abs);
  } catch (e) {
    if (mode === 'replace') fs.renameSync(old, abs);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw fsError(e, 'write', dir);
  }
  if (mode === 'replace') {
    try {
      fs.rmSync(old, { recursive: true, force: true });
    } catch (e) {
      throw new KilnError('io', `wrote '${dir}', but could not remove the previous copy '${old}': ${fsError(e, 'write', old).message.replace(/^cannot write '[^']*': /, '')}`);
    }
  }
}

/**
 * Checks a file output: not a folder, not one of the command's input files, its folder writable.
 * Writing over a file the user named with -o is what -o asks for; an input never is.
 */
export function checkOutputFile(file: string, guard: OutputGuard = {}): void {
  const abs = path.resolve(file);
  for (const m of guard.models ?? []) {
    if (path.resolve(m) === abs) throw new KilnError('usage', `output file '${file}' would overwrite the input '${m}'; choose another name`);
  }
  const st = statOrNull(abs);
  if (st?.isDirectory()) throw new KilnError('usage', `output file '${file}' is a folder; give a file path`);
  checkWritable(st ? abs : existingAncestor(abs, file), file);
}

/** Writes one file atomically (temp file + rename) so a failure never leaves half a file. */
export function writeFileAtomic(file: string, data: string | Uint8Array, guard: OutputGuard = {}): void {
  checkOutputFile(file, guard);
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing left to clean
    }
    throw fsError(e, 'write', file);
  }
}

/**
 * A dump folder written pass by pass (--dump-dir): prepared as an empty Kiln folder under the
 * policy, then each dump is added atomically, so the dumps before a failing pass stay readable.
 */
export function openDumpFolder(dir: string, guard: OutputGuard = {}): (name: string, text: string) => void {
  writeOutputFolder(dir, new Map(), guard);
  return (name, text) => writeFileAtomic(path.join(dir, name), text);
}
