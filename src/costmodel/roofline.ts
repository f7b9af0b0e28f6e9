/**
 * Roofline figures of a target: clock, peak scalar operations per cycle (float and integer) and the
 * load/store bandwidth in bytes per cycle. They are data: the `roofline` object of a board JSON
 * (src/costmodel/boards/*.json) for the MCU target, and src/costmodel/boards/hosts/*.json for the
 * host C target. Each carries a `source` line saying where its numbers come from; nothing is measured.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../ir/errors.js';

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

function positive(file: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new KilnError('io', `roofline ${file}: '${key}' must be a positive number`);
  return v;
}

/** Reads a `roofline` object; `name` is the profile it belongs to. */
export function parseRoofline(file: string, name: string, v: unknown): Roofline {
  const r = v as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new KilnError('io', `roofline ${file}: must be an object {clockHz, flopsPerCycle, intOpsPerCycle, bytesPerCycle, source}`);
  if (typeof r.source !== 'string' || r.source.trim() === '') throw new KilnError('io', `roofline ${file}: 'source' must say where the figures come from`);
  return {
    name,
    clockHz: positive(file, 'clockHz', r.clockHz),
    flopsPerCycle: positive(file, 'flopsPerCycle', r.flopsPerCycle),
    intOpsPerCycle: positive(file, 'intOpsPerCycle', r.intOpsPerCycle),
    bytesPerCycle: positive(file, 'bytesPerCycle', r.bytesPerCycle),
    source: r.source,
  };
}

function hostDirs(): string[] {
  return [new URL('./boards/hosts/', import.meta.url), new URL('../../src/costmodel/boards/hosts/', import.meta.url)].map((u) => fileURLToPath(u));
}

/** Host profiles by name (files src/costmodel/boards/hosts/<name>.json). */
export function hostProfileNames(): string[] {
  const dir = hostDirs().find((d) => fs.existsSync(d));
  return dir ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort() : [];
}

export function hostRoofline(name: string = DEFAULT_HOST_PROFILE): Roofline {
  if (!/^[A-Za-z0-9._+-]+$/.test(name) || !hostProfileNames().includes(name)) {
    throw new KilnError('usage', `unknown host profile '${name}' (known: ${hostProfileNames().join(', ') || 'none'})`);
  }
  const dir = hostDirs().find((d) => fs.existsSync(`${d}/${name}.json`))!;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(fs.readFileSync(`${dir}/${name}.json`, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new KilnError('io', `host profile ${name}.json: ${(e as Error).message}`);
  }
  return parseRoofline(`${name}.json`, name, j.roofline);
}
