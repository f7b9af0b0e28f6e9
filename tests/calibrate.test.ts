/** `kiln calibrate`: the profile it writes loads through the device schema, and it never replaces a file without --force. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDevice } from '../src/costmodel/devices.js';
import { hostRoofline } from '../src/costmodel/roofline.js';
import { hasTool, kiln, tempDir } from './helpers/onnx-builder.js';

const HAS_CC = hasTool(process.env.CC ?? 'cc');

describe.skipIf(!HAS_CC)('kiln calibrate --quick', () => {
  it('writes a host profile that validates, with every measured figure sourced, and refuses to overwrite', () => {
    const dir = tempDir('kiln-calibrate-');
    const file = path.join(dir, 'myhost.json');
    const r = kiln(['calibrate', '--quick', '-o', file], { timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // one line per figure: the clock (x86), scalar and vector f32/i32, one read per cache level and DRAM
    const figureLines = r.stdout.split('\n').filter((l) => /\/cycle|GHz/.test(l));
    const text = fs.readFileSync(file, 'utf8');
    const d = parseDevice('myhost.json', text);
    if (d.kind !== 'host') throw new Error('not a host profile');
    expect(figureLines.length).toBeGreaterThanOrEqual(4 + d.caches.length + 1);
    expect(d.name).toBe('myhost');
    expect(d.roofline.scalarFlopsPerCycle).toBeGreaterThan(0);
    expect(d.roofline.flopsPerCycle).toBeGreaterThanOrEqual(d.roofline.scalarFlopsPerCycle!);
    for (const c of d.caches) {
      expect(c.bytesPerCycle).toBeGreaterThan(0);
      expect(c.source).toMatch(/measured by kiln calibrate on \d{4}-\d\d-\d\d, /);
    }
    expect(d.memory?.source).toMatch(/measured by kiln calibrate on/);
    expect(d.roofline.source).toMatch(/measured by kiln calibrate on/);
    // the roofline the cost model reads from the file: every level measured
    const roof = hostRoofline(file);
    expect(roof.name).toBe('myhost');
    expect(roof.levels?.map((l) => l.measured)).toEqual([...d.caches.map(() => true), true]);

    // users' files are sacred: no overwrite without --force, and the file is left as it was
    fs.writeFileSync(file, 'my own notes\n');
    const again = kiln(['calibrate', '--quick', '-o', file], { timeout: 60_000 });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/exists; pass --force/);
    expect(fs.readFileSync(file, 'utf8')).toBe('my own notes\n');
    const forced = kiln(['calibrate', '--quick', '--force', '-o', file], { timeout: 60_000 });
    expect(forced.code).toBe(0);
    expect(() => parseDevice('myhost.json', fs.readFileSync(file, 'utf8'))).not.toThrow();
    // a file name that does not match the profile name could not be loaded: refused up front
    const bad = kiln(['calibrate', '--quick', '--name', 'other', '-o', path.join(dir, 'x.json')], { timeout: 60_000 });
    expect(bad.code).not.toBe(0);
    expect(fs.existsSync(path.join(dir, 'x.json'))).toBe(false);
    // a shipped data sheet's name is refused: the file could never load beside it
    const shipped = kiln(['calibrate', '--quick', '-o', path.join(dir, 'x86-64-avx2.json')], { timeout: 60_000 });
    expect(shipped.code).not.toBe(0);
    expect(shipped.stderr).toMatch(/shipped device's name/);
    expect(fs.existsSync(path.join(dir, 'x86-64-avx2.json'))).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
