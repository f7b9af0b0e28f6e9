/**
 * The output policy (src/driver/output.ts): Kiln writes into a new folder or one it created, never
 * over a user's files, never into the model's folder or above it; file-system errors are one line
 * that names the path, never a raw errno code; nothing is moved when the destination cannot be written.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kiln, tempDir } from './helpers/onnx-builder.js';

const SAMPLE = path.resolve('samples', 'mlp');
const RAW_ERRNO = /\b(ENOENT|EISDIR|EACCES|EEXIST|EBUSY|ENOTDIR|EROFS|EPERM|ENOTEMPTY)\b/;

/** A copy of samples/mlp (model.onnx + test_data_set_0) in a fresh temp folder. */
function caseCopy(): { dir: string; model: string; data: string } {
  const dir = path.join(tempDir(), 'case');
  fs.cpSync(SAMPLE, dir, { recursive: true });
  return { dir, model: path.join(dir, 'model.onnx'), data: path.join(dir, 'test_data_set_0') };
}

function expectOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^kiln: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(RAW_ERRNO);
}

/** Every file below `dir` with its bytes, to check that a refused command changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out[f] = fs.readFileSync(p).toString('base64');
  }
  return out;
}

function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => /\.kiln-(old|tmp)-/.test(f));
}

describe('kiln compile -o', () => {
  it('writes a new folder and replaces a folder it created', () => {
    const c = caseCopy();
    const out = path.join(path.dirname(c.dir), 'build');
    expect(kiln(['compile', c.model, '-o', out]).code).toBe(0);
    expect(fs.existsSync(path.join(out, 'model.c'))).toBe(true);
    fs.writeFileSync(path.join(out, 'stale.txt'), 'from an older compile');
    expect(kiln(['compile', c.model, '-o', out]).code).toBe(0);
    expect(fs.existsSync(path.join(out, 'stale.txt'))).toBe(false);
    expect(leftovers(path.dirname(out))).toEqual([]);
  });

  it('refuses a folder it did not create, and writes into it with --force keeping the other files', () => {
    const c = caseCopy();
    const out = path.join(path.dirname(c.dir), 'mine');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'precious');
    const before = snapshot(out);
    expectOneLine(kiln(['compile', c.model, '-o', out]), /not created by Kiln.*--force/);
    expect(snapshot(out)).toEqual(before);
    expect(kiln(['compile', c.model, '-o', out, '--force']).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('precious');
    expect(fs.existsSync(path.join(out, 'model.c'))).toBe(true);
  });

  it('refuses a path that is a file', () => {
    const c = caseCopy();
    const file = path.join(path.dirname(c.dir), 'notes.txt');
    fs.writeFileSync(file, 'precious');
    expectOneLine(kiln(['compile', c.model, '-o', file]), /is a file/);
    expect(fs.readFileSync(file, 'utf8')).toBe('precious');
    expectOneLine(kiln(['compile', c.model, '-o', file, '--force']), /is a file/);
  });

  it("refuses the model's own folder and every folder above it, even with --force", () => {
    const c = caseCopy();
    const before = snapshot(c.dir);
    expectOneLine(kiln(['compile', 'model.onnx', '-o', '.'], { cwd: c.dir }), /holds the model/);
    expectOneLine(kiln(['compile', c.model, '-o', path.dirname(c.dir), '--force']), /holds the model/);
    expectOneLine(kiln(['compile', c.model, '-o', c.dir, '--force']), /holds the model/);
    expect(snapshot(c.dir)).toEqual(before);
  });

  it('--dump-dir and --memory-plot follow the same policy', () => {
    const c = caseCopy();
    const root = path.dirname(c.dir);
    const mine = path.join(root, 'mine');
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, 'notes.txt'), 'precious');
    const out = path.join(root, 'build');
    expectOneLine(kiln(['compile', c.model, '-o', out, '--dump-dir', mine]), /not created by Kiln/);
    expect(fs.readdirSync(mine)).toEqual(['notes.txt']);
    expect(fs.existsSync(out)).toBe(false);
    expectOneLine(kiln(['compile', c.model, '-o', out, '--memory-plot', mine]), /is a folder/);
    const dumps = path.join(root, 'dumps');
    expect(kiln(['compile', c.model, '-o', out, '--dump-dir', dumps]).code).toBe(0);
    expect(fs.readdirSync(dumps).some((f) => f.endsWith('.kir'))).toBe(true);
    expect(kiln(['compile', c.model, '-o', out, '--dump-dir', dumps]).code).toBe(0);
  });

  it('a file output never replaces the model', () => {
    const c = caseCopy();
    const before = snapshot(c.dir);
    expectOneLine(kiln(['print', c.model, '-o', c.model]), /would overwrite the input/);
    expect(snapshot(c.dir)).toEqual(before);
  });
});

describe('kiln run --out', () => {
  it("refuses the inputs' folder (it holds the expected outputs) unless --force", () => {
    const c = caseCopy();
    const before = snapshot(c.data);
    expectOneLine(kiln(['run', c.model, '--inputs', c.data, '--out', c.data]), /inputs.*--force/);
    expect(snapshot(c.data)).toEqual(before);
    const r = kiln(['run', c.model, '--inputs', c.data, '--out', c.data, '--force']);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(c.data, 'input_0.pb'))).toBe(true);
  });

  it("refuses the model's folder", () => {
    const c = caseCopy();
    expectOneLine(kiln(['run', c.model, '--inputs', c.data, '--out', c.dir]), /holds the model/);
  });
});

describe('file-system errors are one line without errno codes', () => {
  it('a missing model', () => {
    const dir = tempDir();
    expectOneLine(kiln(['print', path.join(dir, 'nope.onnx')]), /cannot read '.*nope\.onnx': no such file/);
    expectOneLine(kiln(['compile', path.join(dir, 'nope.onnx'), '-o', path.join(dir, 'o')]), /no such file/);
  });

  it('a folder given as the model', () => {
    const dir = tempDir();
    expectOneLine(kiln(['inspect', dir]), /is a folder/);
  });

  it('missing inputs', () => {
    const c = caseCopy();
    expectOneLine(kiln(['run', c.model, '--inputs', path.join(c.dir, 'nope.pb')]), /cannot read .*nope\.pb.*no such file/);
  });

  it('an output folder below a file', () => {
    const c = caseCopy();
    const file = path.join(path.dirname(c.dir), 'f.txt');
    fs.writeFileSync(file, 'x');
    expectOneLine(kiln(['compile', c.model, '-o', path.join(file, 'out')]), /'.*f\.txt' is a file/);
  });
});

/** Read-only destinations: as root, chmod does not deny anything, so these use read-only tmpfs mounts. */
function tryMount(dir: string, opts: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
function umount(dir: string): void {
  execFileSync('umount', [dir], { stdio: 'ignore' });
}
/** Runs `fn` with an empty read-only tmpfs mounted at a new folder `ro` beside `dir`. */
function withReadOnlyFolder(dir: string, fn: (ro: string) => void): void {
  const ro = path.join(path.dirname(dir), 'ro');
  fs.mkdirSync(ro);
  expect(tryMount(ro, 'ro,size=1m')).toBe(true);
  try {
    fn(ro);
  } finally {
    umount(ro);
  }
}
const probe = tempDir();
const canMount = tryMount(probe, 'ro,size=1m');
if (canMount) umount(probe);

describe.skipIf(!canMount)('read-only destinations fail before anything moves (tmpfs mounts)', () => {
  it('a read-only parent folder', () => {
    const c = caseCopy();
    withReadOnlyFolder(c.dir, (ro) => {
      expectOneLine(kiln(['compile', c.model, '-o', path.join(ro, 'out')]), /cannot write .*ro.*read-only/);
      expect(fs.readdirSync(ro)).toEqual([]);
    });
  });

  it('a read-only output folder that Kiln created is left as it was', () => {
    const c = caseCopy();
    const out = path.join(path.dirname(c.dir), 'out');
    fs.mkdirSync(out);
    expect(tryMount(out, 'size=4m')).toBe(true);
    try {
      // a Kiln-created folder (marker inside), then made read-only
      expect(kiln(['compile', c.model, '-o', path.join(out, 'inner')]).code).toBe(0);
      fs.cpSync(path.join(out, 'inner'), out, { recursive: true });
      fs.rmSync(path.join(out, 'inner'), { recursive: true });
      execFileSync('mount', ['-o', 'remount,ro', out], { stdio: 'ignore' });
      const before = snapshot(out);
      expectOneLine(kiln(['compile', c.model, '-o', out]), /cannot write .*out.*read-only/);
      expect(snapshot(out)).toEqual(before);
      expect(leftovers(path.dirname(out))).toEqual([]);
    } finally {
      umount(out);
    }
  });

  it('run --out into a read-only folder', () => {
    const c = caseCopy();
    withReadOnlyFolder(c.dir, (ro) => expectOneLine(kiln(['run', c.model, '--inputs', c.data, '--out', path.join(ro, 'o')]), /cannot write .*read-only/));
  });
});

it.runIf(!canMount)('skipped: read-only destination tests need `mount -t tmpfs` (root)', () => {
  console.warn('skipped: read-only destination tests need `mount -t tmpfs` (not permitted here)');
});
