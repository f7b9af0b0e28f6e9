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
  /** Where the figures come from. */
  source: string;
}

export const DEFAULT_HOST_PROFILE = 'x86-64-avx2';

/** Host profiles by name (the `host` devices). */
export function hostProfileNames(): string[] {
  return listDevices('host').map((d) => d.name).sort();
}

export function hostRoofline(name: string = DEFAULT_HOST_PROFILE): Roofline {
  if (!hostProfileNames().includes(name)) throw new KilnError('usage', `unknown host profile '${name}' (known: ${hostProfileNames().join(', ') || 'none'})`);
  return getDevice(name, 'host').roofline;
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
