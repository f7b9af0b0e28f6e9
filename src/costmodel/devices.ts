/**
 * Device descriptions: one JSON file per device in src/costmodel/devices/, every kind (mcu, host,
 * gpu, fpga, pim) checked by the one schema in device-schema.ts plus a few cross-field rules here.
 * Adding a device needs no code change. From dist/ the loader finds the files in
 * ../../src/costmodel/devices/ of the package (package.json "files" ships that folder).
 * KILN_DEVICES_DIR, or the `dir` argument of loadDevices, points at another folder (tests).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../ir/errors.js';
import { DEVICE_KINDS, DEVICE_SCHEMA, checkFields, deviceError, type DeviceKind } from './device-schema.js';

export type { DeviceKind } from './device-schema.js';
export { DEVICE_KINDS, DEVICE_SCHEMA } from './device-schema.js';

interface DeviceBase {
  name: string;
  description: string;
  source: string;
}

export interface MemoryRegion {
  origin: number;
  size: number;
  note?: string;
}

/** A memory level beyond on-chip SRAM (e.g. external PSRAM), addressable by the CPU. */
export interface MemoryLevel {
  /** Identifier (arena symbol and linker section `.kiln_<name>`). */
  name: string;
  origin: number;
  size: number;
  /** Sustained bytes per CPU cycle of a copy to/from this level (cost figure; optional). */
  bytesPerCycle?: number;
  /** CPU cycles of one random access (cost figure; optional). */
  cyclesPerAccess?: number;
  note?: string;
  /** Where the address and cost figures come from. */
  source: string;
}

/** Peak figures for the analytical cost model (as stored; roofline.ts adds the profile name). */
export interface RooflineFigures {
  clockHz: number;
  flopsPerCycle: number;
  intOpsPerCycle: number;
  bytesPerCycle: number;
  /** Peak scalar (not vectorized) figures, when measured. */
  scalarFlopsPerCycle?: number;
  scalarIntOpsPerCycle?: number;
  /** Cycles per iteration of a scalar float accumulator chain (kiln calibrate). */
  accumulateCycles?: number;
  source: string;
}

export type FloatAbi = 'hard' | 'softfp' | 'soft';

export interface McuDevice extends DeviceBase {
  kind: 'mcu';
  cpu: string;
  fpu: string | null;
  floatAbi: FloatAbi;
  flash: MemoryRegion;
  sram: MemoryRegion;
  stackBytes: number;
  qemuMachine?: string;
  runOn?: string;
  levels?: MemoryLevel[];
  /** With `name` = the device name added by the loader (roofline.ts's Roofline). */
  roofline?: RooflineFigures & { name: string };
}

export interface CacheLevel {
  level: number;
  bytes: number;
  lineBytes: number;
  shared: boolean;
  /** Sustained read bandwidth of a working set that fits this level (measured by kiln calibrate). */
  bytesPerCycle?: number;
  source: string;
}

export interface HostDevice extends DeviceBase {
  kind: 'host';
  cores: number;
  vectorBits: number;
  caches: CacheLevel[];
  /** DRAM bandwidth beyond the last cache (measured by kiln calibrate). */
  memory?: { bytesPerCycle: number; source: string };
  roofline: RooflineFigures & { name: string };
  /** Cost of an OpenMP parallel region (the `parallelize` pass's threshold); absent: never parallel. */
  threads?: { forkJoinCycles: number; source: string };
}

export interface GpuLimits {
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupSizeZ: number;
  maxComputeWorkgroupsPerDimension: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxUniformBufferBindingSize: number;
  maxUniformBuffersPerShaderStage: number;
  maxBufferSize: number;
  maxBindGroups: number;
  minStorageBufferOffsetAlignment: number;
  source: string;
}

export interface GpuDevice extends DeviceBase {
  kind: 'gpu';
  limits: GpuLimits;
  performance: { bandwidthBytesPerSecond: number; peakFlopsPerSecond: number; subgroupSize: number | null; source: string };
}

export interface FpgaDevice extends DeviceBase {
  kind: 'fpga';
  part: string;
  family: string;
  resources: { dsp: number; bram18k: number; uram: number; lut: number; ff: number; source: string };
  clock: { mhz: number; source: string };
  dsp: { name: string; multiplierBits: number[]; source: string };
}

export type PimElementType = 'fp16' | 'bf16' | 'fp32' | 'int8' | 'int16';

export interface PimTiming {
  tRCD: number;
  tRP: number;
  tRAS: number;
  tRC: number;
  tCCD_S: number;
  tCCD_L: number;
  tRRD_S: number;
  tRRD_L: number;
  tWR: number;
  tWTR: number;
  tRTP: number;
  tFAW: number;
  tREFI: number;
  tRFC: number;
  tWTR_S: number;
  CL: number;
  CWL: number;
  tBURST: number;
  source: string;
}

export interface PimDevice extends DeviceBase {
  kind: 'pim';
  memory: {
    standard: string;
    channels: number;
    pseudoChannelsPerChannel: number;
    bankGroups: number;
    banksPerGroup: number;
    rowBytes: number;
    busBits: number;
    burstLength: number;
    columnAccessBytes: number;
    rowsPerBank: number;
    tCKns: number;
    source: string;
  };
  /** In tCK cycles. */
  timing: PimTiming;
  pim: {
    unitsPerChannel: number;
    banksPerUnit: number;
    lanes: number;
    elementType: PimElementType;
    clockMHz: number;
    registers: { name: string; entries: number; bits: number }[];
    crfEntries: number | null;
    globalBufferBytes: number | null;
    allBankActivateBanks: number;
    source: string;
  };
  energy: { opPj: number; columnAccessPj: number; rowActivatePj: number; ioPjPerBit: number; refreshPj: number; source: string };
  hostModel: { macsPerCycle: number; source: string };
}

export type Device = McuDevice | HostDevice | GpuDevice | FpgaDevice | PimDevice;
type ByKind = { mcu: McuDevice; host: HostDevice; gpu: GpuDevice; fpga: FpgaDevice; pim: PimDevice };

/** Folders searched: KILN_DEVICES_DIR, beside the module (if copied there), then the source tree. */
function deviceDirs(): string[] {
  const env = process.env.KILN_DEVICES_DIR;
  if (env) return [path.resolve(env)];
  return [new URL('./devices/', import.meta.url), new URL('../../src/costmodel/devices/', import.meta.url)].map((u) => fileURLToPath(u));
}

function checkMcu(file: string, d: McuDevice): void {
  if (d.fpu === null && d.floatAbi !== 'soft') throw deviceError(file, "'floatAbi' must be soft when 'fpu' is null");
  for (const k of ['flash', 'sram'] as const) if (d[k].origin + d[k].size > 2 ** 32) throw deviceError(file, `'${k}.size' runs past the 32-bit address space`);
  const levels = d.levels ?? [];
  levels.forEach((l, i) => {
    if (!/^[a-z][a-z0-9_]*$/.test(l.name) || l.name === 'sram') throw deviceError(file, `'levels[${i}].name' must be a lower-case identifier other than sram`);
    if (l.origin + l.size > 2 ** 32) throw deviceError(file, `'levels[${i}].size' runs past the 32-bit address space`);
  });
  const spans = [d.flash, d.sram, ...levels].map((r) => [r.origin, r.origin + r.size] as const);
  for (let a = 0; a < spans.length; a++) {
    for (let b = a + 1; b < spans.length; b++) if (spans[a]![0] < spans[b]![1] && spans[b]![0] < spans[a]![1]) throw deviceError(file, "'levels' overlap flash, sram or each other");
  }
  if (new Set(levels.map((l) => l.name)).size !== levels.length) throw deviceError(file, "'levels' names must be unique");
}

function checkPim(file: string, d: PimDevice): void {
  const m = d.memory;
  if ((m.busBits * m.burstLength) / 8 !== m.columnAccessBytes) throw deviceError(file, "'memory.columnAccessBytes' must equal busBits x burstLength / 8");
  if (d.timing.tRC < d.timing.tRAS + d.timing.tRP) throw deviceError(file, "'timing.tRC' must be at least tRAS + tRP");
  if (d.pim.unitsPerChannel * d.pim.banksPerUnit !== m.bankGroups * m.banksPerGroup) throw deviceError(file, "'pim.unitsPerChannel' x 'pim.banksPerUnit' must equal the banks of a (pseudo-)channel");
  if ((m.bankGroups * m.banksPerGroup) % d.pim.allBankActivateBanks !== 0) throw deviceError(file, "'pim.allBankActivateBanks' must divide the banks of a (pseudo-)channel");
}

/** Parses and checks one device file's text. */
export function parseDevice(file: string, text: string): Device {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw deviceError(file, (e as Error).message);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw deviceError(file, 'must be a JSON object');
  const o = j as Record<string, unknown>;
  const kind = o.kind;
  if (typeof kind !== 'string' || !(DEVICE_KINDS as readonly string[]).includes(kind)) throw deviceError(file, `'kind' must be one of ${DEVICE_KINDS.join(', ')}`);
  const d = checkFields(file, '', DEVICE_SCHEMA[kind as DeviceKind], o) as unknown as Device;
  if (`${d.name}.json` !== file) throw deviceError(file, `'name' ('${d.name}') must match the file name`);
  // The cost model's Roofline carries the profile name; the file does not repeat it.
  if ((d.kind === 'mcu' || d.kind === 'host') && d.roofline) d.roofline = { ...d.roofline, name: d.name };
  if (d.kind === 'mcu') checkMcu(file, d);
  if (d.kind === 'pim') checkPim(file, d);
  return d;
}

const caches = new Map<string, Map<string, Device>>();

/** All devices of `dir` (default: the shipped folder or KILN_DEVICES_DIR), checked; cached per folder. */
export function loadDevices(dir?: string): Map<string, Device> {
  const folder = dir ?? deviceDirs().find((d) => fs.existsSync(d) && fs.readdirSync(d).some((f) => f.endsWith('.json')));
  if (!folder) throw new KilnError('io', `device descriptions not found (looked in ${deviceDirs().join(', ')})`);
  const hit = caches.get(folder);
  if (hit) return hit;
  const out = new Map<string, Device>();
  for (const f of fs.readdirSync(folder).filter((x) => x.endsWith('.json')).sort()) {
    const d = parseDevice(f, fs.readFileSync(path.join(folder, f), 'utf8'));
    out.set(d.name, d);
  }
  for (const d of out.values()) {
    if (d.kind !== 'mcu' || d.runOn === undefined) continue;
    const r = out.get(d.runOn);
    if (r?.kind !== 'mcu' || !r.qemuMachine) throw deviceError(`${d.name}.json`, `'runOn' ('${d.runOn}') is not an mcu device QEMU emulates`);
  }
  caches.set(folder, out);
  return out;
}

export function listDevices(): Device[];
export function listDevices<K extends DeviceKind>(kind: K): ByKind[K][];
export function listDevices(kind?: DeviceKind): Device[] {
  const all = [...loadDevices().values()];
  return kind ? all.filter((d) => d.kind === kind) : all;
}

/** Device files loaded from a path (`kiln calibrate` output), by profile name. */
const userDevices = new Map<string, Device>();

/**
 * Loads a device file from a path (e.g. the profile `kiln calibrate` wrote), checked like the shipped
 * ones (its name must match the file name); afterwards `getDevice(<its name>)` finds it too. A name
 * that a shipped device already has is refused.
 */
export function loadDeviceFile(file: string): Device {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new KilnError('io', `device ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const d = parseDevice(path.basename(file), text);
  if (loadDevices().has(d.name)) throw deviceError(path.basename(file), `'name' ('${d.name}') is a shipped device's name; choose another`);
  userDevices.set(d.name, d);
  return d;
}

export function getDevice(name: string): Device;
export function getDevice<K extends DeviceKind>(name: string, kind: K): ByKind[K];
export function getDevice(name: string, kind?: DeviceKind): Device {
  const d = loadDevices().get(name) ?? userDevices.get(name) ?? (name.endsWith('.json') ? loadDeviceFile(name) : undefined);
  if (!d || (kind && d.kind !== kind)) {
    const known = (kind ? listDevices(kind) : listDevices()).map((x) => x.name).join(', ');
    throw new KilnError('usage', `unknown ${kind ? `${kind} ` : ''}device '${name}' (known: ${known || 'none'})`);
  }
  return d;
}

const kib = (n: number): string => (n % 1048576 === 0 ? `${n / 1048576} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`);

/** A few key figures per kind, for the text listing. */
export function deviceSummary(d: Device): string {
  switch (d.kind) {
    case 'mcu':
      return `${d.cpu}${d.fpu ? `+${d.fpu}` : ''}, flash ${kib(d.flash.size)}, sram ${kib(d.sram.size)}${d.levels?.length ? `, ${d.levels.map((l) => `${l.name} ${kib(l.size)}`).join(', ')}` : ''}`;
    case 'host':
      return `${d.cores} core(s), ${d.vectorBits}-bit vectors, ${d.caches.map((c) => `L${c.level} ${kib(c.bytes)}`).join(', ')}`;
    case 'gpu':
      return `workgroup <= ${d.limits.maxComputeInvocationsPerWorkgroup} invocations, ${kib(d.limits.maxComputeWorkgroupStorageSize)} workgroup storage, ${d.limits.maxStorageBuffersPerShaderStage} storage buffers/stage`;
    case 'fpga':
      return `${d.part}: ${d.resources.dsp} DSP (${d.dsp.name} ${d.dsp.multiplierBits.join('x')}), ${d.resources.bram18k} BRAM18K, ${d.resources.uram} URAM, ${d.resources.lut} LUT, ${d.resources.ff} FF @ ${d.clock.mhz} MHz`;
    case 'pim':
      return `${d.memory.standard}, ${d.pim.unitsPerChannel} units/${d.memory.pseudoChannelsPerChannel > 1 ? 'pseudo-channel' : 'channel'}, ${d.pim.lanes} x ${d.pim.elementType} lanes, ${d.memory.bankGroups * d.memory.banksPerGroup} banks, ${kib(d.memory.rowBytes)} rows`;
  }
}
