/**
 * Roofline figures of a target: clock, peak scalar operations per cycle (float and integer) and the
 * load/store bandwidth in bytes per cycle. They are data: the `roofline` object of an `mcu` or
 * `host` device (src/costmodel/devices/*.json, checked by the device schema). Each carries a
 * `source` line saying where its numbers come from; nothing is measured.
 */
import { KilnError } from '../ir/errors.js';
import { getDevice, listDevices } from './devices.js';
import { ROOFLINE_SPEC, checkValue } from './device-schema.js';

export interface Roofline {
  /** Profile name (the board's name, or the host profile's). */
  name: string;
  clockHz: number;
  /** Peak floating-point operations per cycle (one add or one multiply counts as one). */
  flopsPerCycle: number;
  /** Peak integer/logic operations per cycle. */
  intOpsPerCycle: number;
  /** Bytes the core can load or store per cycle from the memory the arena and weights live in. */
  bytesPerCycle: number;
  /** Peak scalar (not vectorized) operations per cycle, when the profile has them (kiln calibrate). */
  scalarFlopsPerCycle?: number;
  scalarIntOpsPerCycle?: number;
  /** Cycles per iteration of a scalar float accumulator chain, when measured. */
  accumulateCycles?: number;
  /** Host profiles: SIMD width, for the scalar figures a data sheet leaves out. */
  vectorBits?: number;
  /** Host profiles: the memory hierarchy, fastest first, DRAM last (`bytes` null: unbounded). */
  levels?: readonly MemoryLevelFigure[];
  /** Where the figures come from. */
  source: string;
}

/** One level of a host's memory hierarchy for the reuse-aware memory model (memory-model.ts). */
export interface MemoryLevelFigure {
  name: string;
  /** Capacity; null for DRAM. */
  bytes: number | null;
  lineBytes: number;
  /** Sustained bandwidth into the core from this level. */
  bytesPerCycle: number;
  /** True when measured (kiln calibrate); false when assumed from the data sheet. */
  measured: boolean;
}

export const DEFAULT_HOST_PROFILE = 'x86-64-avx2';

/** Host profiles by name (the `host` devices). */
export function hostProfileNames(): string[] {
  return listDevices('host').map((d) => d.name).sort();
}

/**
 * The roofline of a host profile, by name or by the path of a profile file (`kiln calibrate -o`).
 * Cache levels without a measured bandwidth get one assumed from the data sheet: the L1 figure
 * (roofline.bytesPerCycle) halved per level below, DRAM included.
 */
export function hostRoofline(name: string = DEFAULT_HOST_PROFILE): Roofline {
  if (!name.endsWith('.json') && !hostProfileNames().includes(name)) throw new KilnError('usage', `unknown host profile '${name}' (known: ${hostProfileNames().join(', ') || 'none'}; or the path of a profile file)`);
  const d = getDevice(name, 'host');
  const l1 = d.roofline.bytesPerCycle;
  const levels: MemoryLevelFigure[] = d.caches.map((c, i) => ({ name: `L${c.level}`, bytes: c.bytes, lineBytes: c.lineBytes, bytesPerCycle: c.bytesPerCycle ?? l1 / 2 ** i, measured: c.bytesPerCycle !== undefined }));
  levels.push({ name: 'DRAM', bytes: null, lineBytes: d.caches[d.caches.length - 1]!.lineBytes, bytesPerCycle: d.memory?.bytesPerCycle ?? l1 / 2 ** d.caches.length, measured: d.memory !== undefined });
  return { ...d.roofline, vectorBits: d.vectorBits, levels };
}

/** Checks a `roofline` object by the device schema; `name` is the profile it belongs to. */
export function parseRoofline(file: string, name: string, v: unknown): Roofline {
  return { ...(checkValue(file, 'roofline', ROOFLINE_SPEC, v) as Omit<Roofline, 'name'>), name };
}

/**
 * Roofline of an FPGA part for `kiln report`, derived from its DSP count and clock: an f32 multiply-add
 * takes 5 DSP slices (2 flops), an integer MAC of narrow operands one slice (2 ops); on-chip memory
 * moves 2 ports × 4 bytes per BRAM18K per cycle.
 */
export function fpgaRoofline(name: string): Roofline {
  const d = getDevice(name, 'fpga');
  return {
    name: d.name,
    clockHz: d.clock.mhz * 1e6,
    flopsPerCycle: (2 * d.resources.dsp) / 5,
    intOpsPerCycle: 2 * d.resources.dsp,
    bytesPerCycle: 8 * d.resources.bram18k,
    source: `derived from ${d.name}.json: ${d.resources.dsp} DSP (f32 MAC = 5 DSP, int MAC = 1 DSP), ${d.resources.bram18k} BRAM18K (2 ports x 4 B), clock ${d.clock.mhz} MHz (${d.clock.source.split(':')[0]})`,
  };
}
