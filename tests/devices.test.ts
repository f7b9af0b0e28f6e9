import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DEVICE_KINDS, DEVICE_SCHEMA, getDevice, listDevices, loadDevices, parseDevice, type Device } from '../src/costmodel/devices.js';
import type { FieldSpec } from '../src/costmodel/device-schema.js';
import { getBoard, listBoards } from '../src/costmodel/boards.js';
import { hostRoofline } from '../src/costmodel/roofline.js';
import { isKilnError } from '../src/ir/errors.js';
import { kiln, tempDir } from './helpers/onnx-builder.js';

const DIR = fileURLToPath(new URL('../src/costmodel/devices/', import.meta.url));
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const read = (f: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as Record<string, unknown>;

/** The one-line message of what `f` throws. */
function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!isKilnError(e)) throw e;
    return e.message;
  }
  throw new Error('expected a KilnError');
}

/** A temp folder holding a copy of every device file, with `file` replaced by `edit(copy)`. */
function brokenCopy(file: string, edit: (j: Record<string, unknown>) => void): string {
  const dir = tempDir('kiln-devices-');
  for (const f of FILES) fs.copyFileSync(path.join(DIR, f), path.join(dir, f));
  const j = read(file);
  edit(j);
  fs.writeFileSync(path.join(dir, file), JSON.stringify(j));
  return dir;
}

describe('device files', () => {
  it('every file loads and its name matches the file', () => {
    const all = loadDevices(DIR);
    expect([...all.keys()].map((n) => `${n}.json`).sort()).toEqual(FILES);
    for (const f of FILES) expect(() => parseDevice(f, fs.readFileSync(path.join(DIR, f), 'utf8'))).not.toThrow();
  });

  it('has the required devices of every kind', () => {
    const names = (k: Device['kind']): string[] => listDevices(k).map((d) => d.name);
    expect(names('mcu')).toEqual(expect.arrayContaining(['mps2-an385', 'mps2-an386', 'mps2-an386-psram', 'stm32f446']));
    expect(names('host')).toContain('x86-64-avx2');
    expect(names('fpga')).toEqual(expect.arrayContaining(['xczu7ev', 'xc7a100t']));
    expect(names('gpu')).toEqual(expect.arrayContaining(['webgpu-default', 'webgpu-compat']));
    expect(names('pim')).toEqual(expect.arrayContaining(['hbm2-pim', 'gddr6-aim']));
  });

  it('every object holding figures in the schema requires a source', () => {
    const visit = (where: string, fields: Readonly<Record<string, FieldSpec>>): void => {
      const hasFigure = Object.values(fields).some((s) => ['int', 'number', 'bytes'].includes(s.t) || (s.t === 'list' && s.of.t !== 'object'));
      if (hasFigure) expect(fields.source, `${where} has figures but no source`).toBeDefined();
      for (const [k, s] of Object.entries(fields)) {
        const inner = s.t === 'list' ? s.of : s;
        // Memory regions and register files are covered by their parent's source.
        if (inner.t === 'object' && !['flash', 'sram', 'registers'].includes(k)) visit(`${where}.${k}`, inner.fields);
      }
    };
    for (const k of DEVICE_KINDS) visit(k, DEVICE_SCHEMA[k]);
  });

  it('reads the published figures asked for', () => {
    const zu = getDevice('xczu7ev', 'fpga');
    expect(zu.resources).toMatchObject({ dsp: 1728, bram18k: 624, lut: 230400, ff: 460800, uram: 96 });
    expect(zu.dsp.multiplierBits).toEqual([27, 18]);
    const a7 = getDevice('xc7a100t', 'fpga');
    expect(a7.resources).toMatchObject({ dsp: 240, bram18k: 270, lut: 63400, ff: 126800 });
    expect(getDevice('webgpu-compat', 'gpu').limits.maxStorageBuffersPerShaderStage).toBe(4);
    const pim = getDevice('hbm2-pim', 'pim');
    expect(pim.memory.columnAccessBytes).toBe(32);
    expect(pim.pim).toMatchObject({ unitsPerChannel: 8, banksPerUnit: 2, lanes: 16, elementType: 'fp16', crfEntries: 32 });
  });

  it('keeps the old board and host-profile API', () => {
    expect(listBoards().map((b) => b.name).sort()).toEqual(listDevices('mcu').map((d) => d.name).sort());
    const b = getBoard('stm32f446');
    expect(b.sram).toEqual({ origin: 0x20000000, size: 131072 });
    expect(b.roofline?.name).toBe('stm32f446');
    expect(hostRoofline().name).toBe('x86-64-avx2');
    expect(hostRoofline().flopsPerCycle).toBe(32);
    expect(errorOf(() => getBoard('xczu7ev'))).toMatch(/unknown board 'xczu7ev'/);
  });
});

describe('device validation', () => {
  it('names the file and the field in one line', () => {
    const dir = brokenCopy('stm32f446.json', (j) => {
      (j.sram as Record<string, unknown>).size = -4;
    });
    const msg = errorOf(() => loadDevices(dir));
    expect(msg).toBe("device stm32f446.json: 'sram.size' must be a positive byte count");
  });

  it('refuses unknown fields, at the top and nested', () => {
    expect(errorOf(() => loadDevices(brokenCopy('hbm2-pim.json', (j) => (j.colour = 'red'))))).toBe("device hbm2-pim.json: unknown field 'colour'");
    const msg = errorOf(() => loadDevices(brokenCopy('webgpu-default.json', (j) => ((j.limits as Record<string, unknown>).maxFoo = 1))));
    expect(msg).toBe("device webgpu-default.json: unknown field 'limits.maxFoo'");
  });

  it('refuses a missing source, a missing field and a bad kind', () => {
    expect(errorOf(() => loadDevices(brokenCopy('xczu7ev.json', (j) => delete (j.resources as Record<string, unknown>).source)))).toMatch(/^device xczu7ev\.json: missing field 'resources\.source'/);
    expect(errorOf(() => loadDevices(brokenCopy('hbm2-pim.json', (j) => delete (j.timing as Record<string, unknown>).tFAW)))).toMatch(/^device hbm2-pim\.json: missing field 'timing\.tFAW'/);
    expect(errorOf(() => loadDevices(brokenCopy('xc7a100t.json', (j) => (j.kind = 'asic'))))).toMatch(/^device xc7a100t\.json: 'kind' must be one of/);
    expect(errorOf(() => loadDevices(brokenCopy('gddr6-aim.json', (j) => ((j.pim as Record<string, unknown>).registers = [{ name: 'A', entries: 0, bits: 8 }]))))).toBe(
      "device gddr6-aim.json: 'pim.registers[0].entries' must be a positive integer",
    );
  });

  it('keeps the cross-field rules of boards and PIM', () => {
    expect(errorOf(() => loadDevices(brokenCopy('mps2-an385.json', (j) => (j.floatAbi = 'hard'))))).toBe("device mps2-an385.json: 'floatAbi' must be soft when 'fpu' is null");
    expect(errorOf(() => loadDevices(brokenCopy('stm32f446.json', (j) => (j.runOn = 'stm32f446'))))).toMatch(/'runOn' \('stm32f446'\) is not an mcu device QEMU emulates/);
    expect(errorOf(() => loadDevices(brokenCopy('hbm2-pim.json', (j) => ((j.memory as Record<string, unknown>).burstLength = 8))))).toMatch(/columnAccessBytes/);
  });
});

describe('kiln devices', () => {
  const saved = process.env.KILN_DEVICES_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.KILN_DEVICES_DIR;
    else process.env.KILN_DEVICES_DIR = saved;
  });

  it('--json lists every device file', () => {
    const r = kiln(['devices', '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; kind: string }[];
    expect(list.map((d) => `${d.name}.json`).sort()).toEqual(FILES);
  });

  it('--kind and boards filter by kind', () => {
    const pim = JSON.parse(kiln(['devices', '--kind', 'pim', '--json']).stdout) as { kind: string }[];
    expect(pim.length).toBeGreaterThan(0);
    expect(pim.every((d) => d.kind === 'pim')).toBe(true);
    const boards = kiln(['boards']);
    expect(boards.code).toBe(0);
    expect(boards.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]).sort()).toEqual(listDevices('mcu').map((d) => d.name).sort());
    const bad = kiln(['devices', '--kind', 'tpu']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^kiln: error: --kind must be one of/);
  });

  it('a broken device file is one error line naming file and field', () => {
    process.env.KILN_DEVICES_DIR = brokenCopy('xc7a100t.json', (j) => ((j.resources as Record<string, unknown>).lut = 'many'));
    const r = kiln(['devices']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("kiln: error: device xc7a100t.json: 'resources.lut' must be a positive integer\n");
  });
});
