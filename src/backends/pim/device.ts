/**
 * PIM device parameters, read through one adapter so that switching to the shared device schema
 * (src/costmodel/devices, kind 'pim') is a change to this file only. Figures and their sources are
 * listed in docs/pim-isa.md; every cycle count the simulator produces follows from these alone.
 */
import { KilnError } from '../../ir/errors.js';

/** DRAM timing rules in command-clock cycles (tCK). */
export interface PimTiming {
  readonly tRCD: number; // ACT → RD/WR, same bank
  readonly tRP: number; // PRE → ACT, same bank
  readonly tRAS: number; // ACT → PRE, same bank
  readonly tRC: number; // ACT → ACT, same bank
  readonly tCCD_S: number; // column → column, different bank group
  readonly tCCD_L: number; // column → column, same bank group
  readonly tRRD_S: number; // ACT → ACT, different bank group
  readonly tRRD_L: number; // ACT → ACT, same bank group
  readonly tFAW: number; // window holding at most four ACTs
  readonly tWR: number; // end of write data → PRE, same bank
  readonly tWTR_S: number; // end of write data → RD, different bank group
  readonly tWTR_L: number; // end of write data → RD, same bank group
  readonly tRTP: number; // RD → PRE, same bank
  readonly tREFI: number; // average interval between all-bank refreshes
  readonly tRFC: number; // all-bank refresh → next command
  readonly CL: number; // read latency
  readonly CWL: number; // write latency
  readonly tBURST: number; // cycles a column access occupies the data bus
}

/** Energy per event in picojoules. */
export interface PimEnergy {
  readonly actPj: number; // one ACT+PRE of one bank's row
  readonly columnPjPerBit: number; // cell array ↔ bank edge (sense amps, column path), per bit moved
  readonly ioPjPerBit: number; // bank edge ↔ host (global bus, TSV/PHY, interface), per bit moved
  readonly laneOpPj: number; // one lane of one PIM arithmetic operation (fp multiply + add)
  readonly refPj: number; // one all-bank refresh
}

export interface PimDeviceParams {
  readonly name: string;
  readonly kind: 'pim';
  readonly description: string;
  readonly tCKns: number;
  readonly banks: number; // per (pseudo-)channel
  readonly bankGroups: number;
  readonly rowBytes: number;
  readonly columnBytes: number; // bytes of one column access (burst)
  readonly rowsPerBank: number;
  readonly banksPerUnit: number; // 2 on HBM-PIM (even/odd bank share a unit), 1 on AiM
  readonly lanes: number;
  readonly laneType: 'f16' | 'bf16';
  readonly grfEntries: number; // per half (GRF_A, GRF_B)
  readonly srfEntries: number;
  readonly crfEntries: number;
  /** Banks one all-bank ACT opens at once (16: all at once; 4: AiM-style groups, each counted in tRRD/tFAW). */
  readonly abActGroup: number;
  /** Bus bytes per cycle between the channel and the host (the I/O bandwidth). */
  readonly ioBytesPerCycle: number;
  /** Host fp multiply-adds per cycle available to one channel's data (for the host model). */
  readonly hostMacsPerCycle: number;
  readonly timing: PimTiming;
  readonly energy: PimEnergy;
  /** Where the figures come from (one line each), echoed into reports. */
  readonly sources: readonly string[];
}

const HBM2_PIM: PimDeviceParams = {
  name: 'hbm2-pim',
  kind: 'pim',
  description: 'Samsung HBM-PIM (Aquabolt-XL) pseudo-channel: 16 banks / 4 groups, 8 fp16 SIMD units, tCK 1 ns',
  tCKns: 1,
  banks: 16,
  bankGroups: 4,
  rowBytes: 1024,
  columnBytes: 32,
  rowsPerBank: 8192,
  banksPerUnit: 2,
  lanes: 16,
  laneType: 'f16',
  grfEntries: 8,
  srfEntries: 8,
  crfEntries: 32,
  abActGroup: 16,
  ioBytesPerCycle: 16,
  hostMacsPerCycle: 64,
  timing: {
    tRCD: 14, tRP: 14, tRAS: 34, tRC: 48, tCCD_S: 2, tCCD_L: 4, tRRD_S: 4, tRRD_L: 6, tFAW: 16,
    tWR: 16, tWTR_S: 3, tWTR_L: 8, tRTP: 4, tREFI: 3900, tRFC: 260, CL: 14, CWL: 4, tBURST: 2,
  },
  energy: { actPj: 909, columnPjPerBit: 1.51, ioPjPerBit: 2.46, laneOpPj: 1.5, refPj: 16 * 909 },
  sources: [
    'organisation, units, register files, modes: Lee et al., ISCA 2021; Kwon et al., ISSCC 2021 (25.4)',
    'timing: JEDEC JESD235 HBM2 at tCK 1 ns (2 Gb/s/pin), 4 Gb PIM die',
    'energy: O\'Connor et al., MICRO 2017 (HBM2 breakdown); Horowitz, ISSCC 2014 (fp16 add/mul)',
  ],
};

const GDDR6_AIM: PimDeviceParams = {
  name: 'gddr6-aim',
  kind: 'pim',
  description: 'SK hynix GDDR6-AiM-like channel: 16 banks / 4 groups, one bf16 MAC unit per bank, tCK 0.5 ns',
  tCKns: 0.5,
  banks: 16,
  bankGroups: 4,
  rowBytes: 2048,
  columnBytes: 32,
  rowsPerBank: 16384,
  banksPerUnit: 1,
  lanes: 16,
  laneType: 'bf16',
  grfEntries: 8,
  srfEntries: 8,
  crfEntries: 32,
  abActGroup: 4,
  ioBytesPerCycle: 16,
  hostMacsPerCycle: 64,
  timing: {
    tRCD: 36, tRP: 36, tRAS: 64, tRC: 100, tCCD_S: 2, tCCD_L: 2, tRRD_S: 8, tRRD_L: 8, tFAW: 32,
    tWR: 36, tWTR_S: 10, tWTR_L: 16, tRTP: 4, tREFI: 3800, tRFC: 240, CL: 48, CWL: 12, tBURST: 2,
  },
  energy: { actPj: 1400, columnPjPerBit: 1.5, ioPjPerBit: 5.5, laneOpPj: 2.0, refPj: 16 * 1400 },
  sources: [
    'organisation: Kwon et al., ISSCC 2022 (27.1) GDDR6-AiM: 16 Gb/s/pin, one processing unit per bank, bf16 MAC',
    'timing: GDDR6 (JESD250) grades near 16 Gb/s, CK 2 GHz; Kiln estimates where the paper gives none (docs/pim-isa.md)',
    'energy: Kiln estimates scaled from the HBM2 figures (docs/pim-isa.md)',
  ],
};

const PROFILES: ReadonlyMap<string, PimDeviceParams> = new Map([
  [HBM2_PIM.name, HBM2_PIM],
  [GDDR6_AIM.name, GDDR6_AIM],
]);

export const PIM_DEVICE_NAMES: readonly string[] = [...PROFILES.keys()];
export const DEFAULT_PIM_DEVICE = HBM2_PIM.name;

export function loadPimDevice(name: string): PimDeviceParams {
  const d = PROFILES.get(name);
  if (!d) throw new KilnError('usage', `unknown PIM device '${name}' (known: ${PIM_DEVICE_NAMES.join(', ')})`);
  return d;
}

/** Units per channel, bank group of a bank (banks are numbered group-major: bank b is in group b mod groups). */
export function unitsPerChannel(d: PimDeviceParams): number {
  return d.banks / d.banksPerUnit;
}

/**
 * Peak PIM multiply-accumulates per cycle per channel: an all-bank column command reaches every bank
 * group, so such commands are spaced tCCD_L; each triggers one lane-wide instruction in every unit.
 */
export function peakMacsPerCycle(d: PimDeviceParams): number {
  return (unitsPerChannel(d) * d.lanes) / d.timing.tCCD_L;
}

/** Peak internal (bank-to-unit) bytes per cycle per channel. */
export function peakInternalBytesPerCycle(d: PimDeviceParams): number {
  return (unitsPerChannel(d) * d.columnBytes) / d.timing.tCCD_L;
}
