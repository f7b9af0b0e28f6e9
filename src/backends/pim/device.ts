/**
 * PIM device parameters as the simulator reads them, derived from the shared device descriptions
 * (src/costmodel/devices/<name>.json, kind 'pim', the single source of every figure). Figures and
 * their sources are listed in docs/pim-isa.md; every cycle count the simulator produces follows
 * from these alone.
 */
import { KilnError } from '../../ir/errors.js';
import { getDevice, listDevices, type PimDevice } from '../../costmodel/devices.js';

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

/** The simulator's view of a shared `pim` device description (src/costmodel/devices/<name>.json). */
function fromDevice(d: PimDevice): PimDeviceParams {
  const m = d.memory;
  const t = d.timing;
  const reg = (name: string): number => {
    const r = d.pim.registers.find((x) => x.name === name);
    if (!r) throw new KilnError('unsupported', `PIM device ${d.name}: register file ${name} missing (Kiln's PIM ISA needs GRF_A, GRF_B, SRF_M, SRF_A)`);
    return r.entries;
  };
  if (d.pim.crfEntries === null) throw new KilnError('unsupported', `PIM device ${d.name}: no command register file (crfEntries null); Kiln's PIM ISA needs one`);
  const f16 = d.pim.elementType === 'fp16' ? 'f16' : d.pim.elementType === 'bf16' ? 'bf16' : undefined;
  if (!f16) throw new KilnError('unsupported', `PIM device ${d.name}: ${d.pim.elementType} lanes are not simulated (fp16, bf16)`);
  const bits = m.columnAccessBytes * 8;
  return {
    name: d.name,
    kind: 'pim',
    description: d.description,
    tCKns: m.tCKns,
    banks: m.bankGroups * m.banksPerGroup,
    bankGroups: m.bankGroups,
    rowBytes: m.rowBytes,
    columnBytes: m.columnAccessBytes,
    rowsPerBank: m.rowsPerBank,
    banksPerUnit: d.pim.banksPerUnit,
    lanes: d.pim.lanes,
    laneType: f16,
    grfEntries: reg('GRF_A'),
    srfEntries: reg('SRF_M'),
    crfEntries: d.pim.crfEntries,
    abActGroup: d.pim.allBankActivateBanks,
    ioBytesPerCycle: m.columnAccessBytes / t.tBURST,
    hostMacsPerCycle: d.hostModel.macsPerCycle,
    timing: {
      tRCD: t.tRCD, tRP: t.tRP, tRAS: t.tRAS, tRC: t.tRC, tCCD_S: t.tCCD_S, tCCD_L: t.tCCD_L, tRRD_S: t.tRRD_S, tRRD_L: t.tRRD_L, tFAW: t.tFAW,
      tWR: t.tWR, tWTR_S: t.tWTR_S, tWTR_L: t.tWTR, tRTP: t.tRTP, tREFI: t.tREFI, tRFC: t.tRFC, CL: t.CL, CWL: t.CWL, tBURST: t.tBURST,
    },
    energy: { actPj: d.energy.rowActivatePj, columnPjPerBit: d.energy.columnAccessPj / bits, ioPjPerBit: d.energy.ioPjPerBit, laneOpPj: d.energy.opPj, refPj: d.energy.refreshPj },
    sources: [d.source, `memory: ${m.source}`, `timing: ${t.source}`, `pim: ${d.pim.source}`, `energy: ${d.energy.source}`, `host: ${d.hostModel.source}`],
  };
}

/** Names of the shared `pim` device descriptions. */
export function pimDeviceNames(): string[] {
  return listDevices('pim').map((d) => d.name);
}
export const DEFAULT_PIM_DEVICE = 'hbm2-pim';

const cache = new Map<string, PimDeviceParams>();
export function loadPimDevice(name: string): PimDeviceParams {
  const hit = cache.get(name);
  if (hit) return hit;
  const d = fromDevice(getDevice(name, 'pim'));
  cache.set(name, d);
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
