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
