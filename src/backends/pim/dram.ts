/**
 * Cycle-level timing of one DRAM (pseudo-)channel's command stream: per-bank state machines
 * (closed / open row) and every JEDEC rule the device profile lists. The controller is in order on
 * each of the two command buses (row: ACT/PRE/REF; column: RD/WR), as HBM has separate row and
 * column command pins; a command issues at the first cycle every rule allows. Refresh is inserted by
 * the controller itself every tREFI: open banks are precharged, REF blocks the channel for tRFC, and
 * the rows that were open are re-activated, so programs need not know about it.
 */
import type { PimDeviceParams, PimTiming } from './device.js';

export type CmdKind = 'ACT' | 'PRE' | 'RD' | 'WR' | 'REF';

/** What a command's cycles are charged to in the breakdown. */
export type Category = 'mac' | 'input' | 'row' | 'readback' | 'writeback' | 'config' | 'mode' | 'refresh' | 'stream' | 'layout';

export const CATEGORIES: readonly Category[] = ['mac', 'input', 'row', 'readback', 'writeback', 'config', 'mode', 'refresh', 'stream', 'layout'];

export interface IssuedCommand {
  readonly t: number;
  readonly kind: CmdKind;
  /** -1: all banks. */
  readonly bank: number;
  readonly row: number;
  readonly col: number;
}

export interface DramCounters {
  act: number; // bank activations (an all-bank ACT counts every bank)
  pre: number;
  rd: number; // column commands (an all-bank command counts once)
  wr: number;
  ref: number;
  refreshReopen: number; // rows re-activated after a refresh
  internalBits: number; // bits moved between cell arrays and bank edges
  ioBits: number; // bits moved over the channel's bus
}

const NEVER = -1e18;

export class DramChannel {
  readonly t: PimTiming;
  readonly banks: number;
  readonly groups: number;
  private readonly openRow: Int32Array;
  private readonly bankActAt: Float64Array; // last ACT per bank
  private readonly nextAct: Float64Array;
  private readonly nextPre: Float64Array;
  private readonly nextCol: Float64Array; // tRCD
  private readonly groupNextAct: Float64Array; // tRRD_L
  private readonly groupNextCol: Float64Array; // tCCD_L
  private readonly groupNextRd: Float64Array; // tWTR_L
  private chanNextAct = 0; // tRRD_S
  private chanNextCol = 0; // tCCD_S
  private chanNextRd = 0; // tWTR_S
  private chanNextWr = 0; // read → write bus turnaround
  private readonly faw: Float64Array = new Float64Array(4).fill(NEVER); // last four ACT times, ring
  private fawIdx = 0;
  private rowBus = -1; // last issue cycle on the row command bus
  private colBus = -1;
  private refreshDue: number;
  /** Latest cycle any command issued or any data returned: the end of the stream so far. */
  horizon = 0;
  readonly counters: DramCounters = { act: 0, pre: 0, rd: 0, wr: 0, ref: 0, refreshReopen: 0, internalBits: 0, ioBits: 0 };
  readonly cycles: Record<Category, number> = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  private frontier = 0; // cycles already charged
  /** Optional trace of every command (tests). */
  trace: IssuedCommand[] | undefined;

  constructor(readonly dev: PimDeviceParams, refresh = true) {
    this.t = dev.timing;
    this.banks = dev.banks;
    this.groups = dev.bankGroups;
    this.openRow = new Int32Array(this.banks).fill(-1);
    this.bankActAt = new Float64Array(this.banks).fill(NEVER);
    this.nextAct = new Float64Array(this.banks);
    this.nextPre = new Float64Array(this.banks);
    this.nextCol = new Float64Array(this.banks);
    this.groupNextAct = new Float64Array(this.groups);
    this.groupNextCol = new Float64Array(this.groups);
    this.groupNextRd = new Float64Array(this.groups);
    this.refreshDue = refresh ? this.t.tREFI : Infinity;
  }

  groupOf(bank: number): number {
    return Math.floor(bank / (this.banks / this.groups));
  }

  isOpen(bank: number): number {
    return this.openRow[bank]!;
  }

  private charge(t: number, cat: Category, waitCat: Category, cadence: number): void {
    if (t <= this.frontier) return;
    // Up to the command's own cadence (bus spacing) the cycles are its own; beyond that they were
    // spent waiting on row timing (tRCD after an ACT, …).
    const own = Math.min(t, Math.max(this.frontier, cadence));
    this.cycles[cat] += own - this.frontier;
    this.cycles[waitCat] += t - own;
    this.frontier = t;
  }

  private fawReady(): number {
    return this.faw[this.fawIdx]! + this.t.tFAW;
  }

  private recordAct(t: number): void {
    this.faw[this.fawIdx] = t;
    this.fawIdx = (this.fawIdx + 1) & 3;
  }

  private record(t: number, kind: CmdKind, bank: number, row: number, col: number): void {
    if (this.trace) this.trace.push({ t, kind, bank, row, col });
  }

  /** Earliest cycle an ACT of these banks may issue. */
  private actReady(banks: readonly number[]): number {
    let t = Math.max(this.rowBus + 1, this.chanNextAct, this.fawReady());
    for (const b of banks) t = Math.max(t, this.nextAct[b]!, this.groupNextAct[this.groupOf(b)]!);
    return t;
  }

  private doAct(t: number, banks: readonly number[], row: number): void {
    const T = this.t;
    for (const b of banks) {
      const g = this.groupOf(b);
      this.openRow[b] = row;
      this.bankActAt[b] = t;
      this.nextAct[b] = t + T.tRC;
      this.nextPre[b] = Math.max(this.nextPre[b]!, t + T.tRAS);
      this.nextCol[b] = t + T.tRCD;
      this.groupNextAct[g] = Math.max(this.groupNextAct[g]!, t + T.tRRD_L);
      this.counters.act++;
    }
    this.chanNextAct = Math.max(this.chanNextAct, t + T.tRRD_S);
    this.recordAct(t);
    this.rowBus = t;
    this.horizon = Math.max(this.horizon, t);
  }

  private preReady(banks: readonly number[]): number {
    let t = this.rowBus + 1;
    for (const b of banks) if (this.openRow[b]! >= 0) t = Math.max(t, this.nextPre[b]!);
    return t;
  }

  private doPre(t: number, banks: readonly number[]): void {
    for (const b of banks) {
      if (this.openRow[b]! < 0) continue;
      this.openRow[b] = -1;
      this.nextAct[b] = Math.max(this.nextAct[b]!, t + this.t.tRP);
      this.counters.pre++;
    }
    this.rowBus = t;
    this.horizon = Math.max(this.horizon, t);
  }

  /** Refresh when due at cycle t: precharge all, REF, re-activate what was open. */
  private refreshIfDue(t: number, cat: Category): void {
    while (t >= this.refreshDue) {
      const all = this.allBanks();
      const reopen = Array.from(this.openRow);
      const start = Math.max(this.refreshDue, this.frontier);
      // Cycles before the refresh fell due belong to the command that was waiting anyway.
      const before = Math.min(start, t);
      if (before > this.frontier) {
        this.cycles[cat] += before - this.frontier;
        this.frontier = before;
      }
      const tPre = Math.max(this.preReady(all), start);
      this.doPre(tPre, all);
      let tRef = this.rowBus + 1;
      for (const b of all) tRef = Math.max(tRef, this.nextAct[b]!);
      this.record(tRef, 'REF', -1, -1, -1);
      this.counters.ref++;
      for (const b of all) this.nextAct[b] = tRef + this.t.tRFC;
      this.rowBus = tRef;
      // Re-open the rows the program had open, grouped by row, as the controller would.
      const rows = new Map<number, number[]>();
      reopen.forEach((r, b) => {
        if (r >= 0) rows.set(r, [...(rows.get(r) ?? []), b]);
      });
      let end = tRef + this.t.tRFC;
      for (const [r, bs] of rows) {
        for (const b of bs) {
          const ta = this.actReady([b]);
          this.doAct(ta, [b], r);
          this.record(ta, 'ACT', b, r, -1);
          this.counters.refreshReopen++;
          end = Math.max(end, ta + this.t.tRCD);
        }
      }
      if (end > this.frontier) {
        this.cycles.refresh += end - this.frontier;
        this.frontier = end;
      }
      this.horizon = Math.max(this.horizon, end);
      this.refreshDue += this.t.tREFI;
    }
  }

  private allBanksCache: number[] | undefined;
  allBanks(): number[] {
    return (this.allBanksCache ??= Array.from({ length: this.banks }, (_, i) => i));
  }

  /** Activate `row` in one bank, or in all banks (bank -1; issued in groups of `abActGroup`). */
  act(bank: number, row: number, cat: Category = 'row'): number {
    const groups: number[][] = [];
    if (bank >= 0) groups.push([bank]);
    else for (let b = 0; b < this.banks; b += this.dev.abActGroup) groups.push(this.allBanks().slice(b, b + this.dev.abActGroup));
    let last = 0;
    for (const bs of groups) {
      for (const b of bs) if (this.openRow[b]! >= 0) throw new Error(`ACT to bank ${b} with row ${this.openRow[b]} open`);
      let t = this.actReady(bs);
      this.refreshIfDue(t, cat);
      t = this.actReady(bs);
      this.charge(t, cat, cat, t);
      this.doAct(t, bs, row);
      this.record(t, 'ACT', bs.length === 1 ? bs[0]! : -1, row, -1);
      last = t;
    }
    return last;
  }

  /** Precharge one bank or all banks (-1). */
  pre(bank: number, cat: Category = 'row'): number {
    const bs = bank >= 0 ? [bank] : this.allBanks();
    let t = this.preReady(bs);
    this.refreshIfDue(t, cat);
    t = this.preReady(bs);
    this.charge(t, cat, cat, t);
    this.doPre(t, bs);
    this.record(t, 'PRE', bank, -1, -1);
    return t;
  }

  /**
   * A column command (RD or WR) to one bank or all banks (-1). `internalBanks`: how many banks'
   * columns move data inside the die; `io`: whether its data crosses the channel bus.
   */
  col(kind: 'RD' | 'WR', bank: number, colAddr: number, cat: Category, internalBanks: number, io: boolean): number {
    const T = this.t;
    const bs = bank >= 0 ? [bank] : this.allBanks();
    const ready = (): { t: number; cadence: number } => {
      let cadence = Math.max(this.colBus + 1, this.chanNextCol);
      let t = cadence;
      if (kind === 'RD') cadence = Math.max(cadence, this.chanNextRd);
      else cadence = Math.max(cadence, this.chanNextWr);
      t = cadence;
      for (const b of bs) {
        if (this.openRow[b]! < 0) throw new Error(`${kind} to bank ${b} with no open row`);
        const g = this.groupOf(b);
        cadence = Math.max(cadence, this.groupNextCol[g]!);
        if (kind === 'RD') cadence = Math.max(cadence, this.groupNextRd[g]!);
        t = Math.max(t, this.nextCol[b]!);
      }
      return { t: Math.max(t, cadence), cadence };
    };
    let r = ready();
    this.refreshIfDue(r.t, cat);
    r = ready();
    const t = r.t;
    this.charge(t, cat, 'row', r.cadence);
    const groupsHit = new Set<number>();
    for (const b of bs) groupsHit.add(this.groupOf(b));
    for (const g of groupsHit) this.groupNextCol[g] = Math.max(this.groupNextCol[g]!, t + T.tCCD_L);
    this.chanNextCol = Math.max(this.chanNextCol, t + T.tCCD_S);
    if (kind === 'RD') {
      for (const b of bs) this.nextPre[b] = Math.max(this.nextPre[b]!, t + T.tRTP);
      // Read data occupies the bus from CL to CL+burst; a write may follow once it has passed (+2 turnaround).
      this.chanNextWr = Math.max(this.chanNextWr, t + T.CL + T.tBURST + 2 - T.CWL);
      this.counters.rd++;
      this.horizon = Math.max(this.horizon, t + T.CL + T.tBURST);
    } else {
      const dataEnd = t + T.CWL + T.tBURST;
      for (const b of bs) this.nextPre[b] = Math.max(this.nextPre[b]!, dataEnd + T.tWR);
      for (const g of groupsHit) this.groupNextRd[g] = Math.max(this.groupNextRd[g]!, dataEnd + T.tWTR_L);
      this.chanNextRd = Math.max(this.chanNextRd, dataEnd + T.tWTR_S);
      this.counters.wr++;
      this.horizon = Math.max(this.horizon, dataEnd);
    }
    this.counters.internalBits += internalBanks * this.dev.columnBytes * 8;
    if (io) this.counters.ioBits += this.dev.columnBytes * 8;
    this.colBus = t;
    this.record(t, kind, bank, this.openRow[bs[0]!]!, colAddr);
    return t;
  }

  /** Closes the stream: charges the tail (last data returned) and returns the total cycles. */
  finish(cat: Category): number {
    if (this.horizon > this.frontier) {
      this.cycles[cat] += this.horizon - this.frontier;
      this.frontier = this.horizon;
    }
    return this.frontier;
  }

  /** Cycle of the next refresh the controller will insert. */
  get nextRefresh(): number {
    return this.refreshDue;
  }
}
