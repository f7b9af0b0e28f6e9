/**
 * One PIM channel: the DRAM timing model (dram.ts) plus the cell arrays' contents and the PIM units'
 * functional behaviour, driven by the host's command stream. Modes as published for HBM-PIM:
 * single-bank (SB, ordinary DRAM), all-bank (AB: one ACT/PRE/WR reaches every bank, used to load
 * data and program the units) and all-bank-PIM (AB-PIM: every column command triggers the next CRF
 * instruction in every unit at once). Mode changes are command sequences to reserved rows
 * (docs/pim-isa.md); EXIT returns from AB-PIM to AB.
 */
import { KilnError } from '../../ir/errors.js';
import { DramChannel, type Category } from './dram.js';
import { unitsPerChannel, type PimDeviceParams } from './device.js';
import { decode, isComputing, type Instruction, type Operand } from './isa.js';
import { laneCodec, type LaneCodec } from './f16.js';

export type PimMode = 'SB' | 'AB' | 'ABPIM';

/** Reserved rows (the top three rows of every bank) and the configuration row's column map. */
export function reservedRows(d: PimDeviceParams): { abmr: number; sbmr: number; conf: number; firstReserved: number } {
  return { abmr: d.rowsPerBank - 1, sbmr: d.rowsPerBank - 2, conf: d.rowsPerBank - 3, firstReserved: d.rowsPerBank - 3 };
}
export const CONF_COL = { opMode: 0, crf: 4, grfA: 8, grfB: 16, srf: 24 } as const;

export interface PimCounters {
  pimOps: number; // arithmetic instructions executed (per unit counted once per trigger)
  laneOps: number; // lane operations (units × lanes per arithmetic instruction)
  triggers: number; // column commands that triggered an instruction
}

export class PimChannel {
  readonly dram: DramChannel;
  readonly units: number;
  readonly lanes: number;
  readonly codec: LaneCodec;
  mode: PimMode = 'SB';
  private readonly rows: Map<number, Uint16Array>[]; // per bank: row → column data (lane bit patterns)
  private readonly rowWords: number;
  readonly grfA: Float64Array;
  readonly grfB: Float64Array;
  readonly srfM: Float64Array;
  readonly srfA: Float64Array;
  private crf: Instruction[] = [];
  private readonly crfWords: Uint32Array;
  private pc = 0;
  private jumpLeft: Int32Array;
  private nopLeft = 0;
  readonly pim: PimCounters = { pimOps: 0, laneOps: 0, triggers: 0 };

  /** False: timing only (the PC still steps; no lane arithmetic, for compile-time cost estimates). */
  readonly functional: boolean;

  constructor(readonly dev: PimDeviceParams, opts: { refresh?: boolean; functional?: boolean } = {}) {
    this.functional = opts.functional ?? true;
    this.dram = new DramChannel(dev, opts.refresh ?? true);
    this.units = unitsPerChannel(dev);
    this.lanes = dev.lanes;
    this.codec = laneCodec(dev.laneType);
    this.rows = Array.from({ length: dev.banks }, () => new Map());
    this.rowWords = dev.rowBytes / 2;
    this.grfA = new Float64Array(this.units * dev.grfEntries * dev.lanes);
    this.grfB = new Float64Array(this.units * dev.grfEntries * dev.lanes);
    this.srfM = new Float64Array(dev.srfEntries);
    this.srfA = new Float64Array(dev.srfEntries);
    this.crfWords = new Uint32Array(dev.crfEntries);
    this.jumpLeft = new Int32Array(dev.crfEntries).fill(-1);
  }

  get columnsPerRow(): number {
    return this.dev.rowBytes / this.dev.columnBytes;
  }

  /** Backdoor access to the cell arrays (loading a model's weights before a run is not timed). */
  row(bank: number, row: number): Uint16Array {
    let r = this.rows[bank]!.get(row);
    if (!r) {
      r = new Uint16Array(this.rowWords);
      this.rows[bank]!.set(row, r);
    }
    return r;
  }

  private requireMode(m: PimMode, what: string): void {
    if (this.mode !== m) throw new KilnError('runtime', `PIM: ${what} needs ${m} mode, channel is in ${this.mode}`);
  }

  // ---- mode changes (published sequences: ACT+PRE to reserved rows; a write to PIM_OP_MODE) ----

  enterAllBank(): void {
    this.modeChange('SB', reservedRows(this.dev).abmr, 'AB');
  }

  exitAllBank(): void {
    this.modeChange('AB', reservedRows(this.dev).sbmr, 'SB');
  }

  private modeChange(from: PimMode, row: number, to: PimMode): void {
    this.requireMode(from, `switching to ${to} mode`);
    for (const b of [0, 1]) {
      this.dram.act(b, row, 'mode');
      this.dram.pre(b, 'mode');
    }
    this.mode = to;
  }

  /** Writes 32-byte words to the configuration row in AB mode (CRF, GRF, SRF, PIM_OP_MODE). */
  writeConfig(writes: readonly { col: number; data: Uint16Array }[], cat: Category = 'config'): void {
    this.requireMode('AB', 'writing PIM configuration');
    const { conf } = reservedRows(this.dev);
    this.dram.act(-1, conf, cat);
    for (const w of writes) {
      this.dram.col('WR', -1, w.col, cat, 0, true);
      this.applyConfig(w.col, w.data);
    }
    this.dram.pre(-1, cat);
  }

  private applyConfig(col: number, data: Uint16Array): void {
    const d = this.dev;
    const perCol = d.columnBytes / 4; // 32-bit instructions per column
    if (col === CONF_COL.opMode) {
      if (data[0]! & 1) this.startPim();
      return;
    }
    if (col >= CONF_COL.crf && col < CONF_COL.crf + d.crfEntries / perCol) {
      const base = (col - CONF_COL.crf) * perCol;
      for (let i = 0; i < perCol; i++) this.crfWords[base + i] = (data[2 * i]! | (data[2 * i + 1]! << 16)) >>> 0;
      return;
    }
    const setGrf = (g: Float64Array, idx: number): void => {
      for (let u = 0; u < this.units; u++) for (let l = 0; l < this.lanes; l++) g[(u * d.grfEntries + idx) * this.lanes + l] = this.codec.fromBits(data[l]!);
    };
    if (col >= CONF_COL.grfA && col < CONF_COL.grfA + d.grfEntries) return setGrf(this.grfA, col - CONF_COL.grfA);
    if (col >= CONF_COL.grfB && col < CONF_COL.grfB + d.grfEntries) return setGrf(this.grfB, col - CONF_COL.grfB);
    if (col === CONF_COL.srf) {
      for (let i = 0; i < d.srfEntries; i++) {
        this.srfM[i] = this.codec.fromBits(data[i]!);
        this.srfA[i] = this.codec.fromBits(data[d.srfEntries + i]!);
      }
      return;
    }
    throw new KilnError('runtime', `PIM: configuration column ${col} is reserved`);
  }

  /** Loads a microkernel: CRF words packed 8 per column write. */
  programCrf(words: Uint32Array): void {
    const perCol = this.dev.columnBytes / 4;
    if (words.length > this.dev.crfEntries) throw new KilnError('unsupported', `PIM microkernel of ${words.length} instructions exceeds the ${this.dev.crfEntries}-entry CRF`);
    const writes: { col: number; data: Uint16Array }[] = [];
    for (let c = 0; c * perCol < words.length; c++) {
      const data = new Uint16Array(this.dev.columnBytes / 2);
      for (let i = 0; i < perCol && c * perCol + i < words.length; i++) {
        const w = words[c * perCol + i]!;
        data[2 * i] = w & 0xffff;
        data[2 * i + 1] = w >>> 16;
      }
      writes.push({ col: CONF_COL.crf + c, data });
    }
    // A trailing EXIT keeps unwritten entries harmless; words beyond the program are cleared.
    this.crfWords.fill(0);
    this.writeConfig(writes);
  }

  /** AB → AB-PIM: a write of 1 to PIM_OP_MODE. */
  enterPim(): void {
    const data = new Uint16Array(this.dev.columnBytes / 2);
    data[0] = 1;
    this.writeConfig([{ col: CONF_COL.opMode, data }], 'mode');
  }

  private startPim(): void {
    this.crf = [];
    for (const w of this.crfWords) {
      this.crf.push(decode(w));
      if (this.crf[this.crf.length - 1]!.op === 'EXIT') break;
    }
    this.pc = 0;
    this.nopLeft = 0;
    this.jumpLeft.fill(-1);
    this.mode = 'ABPIM';
    this.settle();
  }

  /** Resolves JUMPs (zero-cycle) and EXIT at the PC. */
  private settle(): void {
    for (;;) {
      const i = this.crf[this.pc];
      if (!i) throw new KilnError('runtime', `PIM: PC ${this.pc} ran past the microkernel`);
      if (i.op === 'JUMP') {
        if (this.jumpLeft[this.pc] === -1) this.jumpLeft[this.pc] = i.count;
        if (this.jumpLeft[this.pc]! > 0) {
          this.jumpLeft[this.pc]!--;
          this.pc -= i.back;
          if (this.pc < 0) throw new KilnError('runtime', 'PIM: JUMP before the first instruction');
        } else {
          this.jumpLeft[this.pc] = -1;
          this.pc++;
        }
        continue;
      }
      if (i.op === 'EXIT') this.mode = 'AB';
      return;
    }
  }

  // ---- column and row commands ----

  /** ACT: one bank in SB mode, every bank in AB / AB-PIM mode. */
  act(bank: number, row: number, cat: Category = 'row'): void {
    if (row >= reservedRows(this.dev).firstReserved) throw new KilnError('runtime', `PIM: row ${row} is reserved`);
    this.dram.act(this.mode === 'SB' ? bank : -1, row, cat);
  }

  pre(bank: number, cat: Category = 'row'): void {
    this.dram.pre(this.mode === 'SB' ? bank : -1, cat);
  }

  /** SB-mode read of one column: data to the host over the bus. */
  read(bank: number, col: number, cat: Category, out?: Uint16Array): void {
    this.requireMode('SB', 'a host read');
    const row = this.dram.isOpen(bank);
    this.dram.col('RD', bank, col, cat, 1, true);
    if (out) {
      const w = this.dev.columnBytes / 2;
      out.set(this.row(bank, row).subarray(col * w, col * w + w));
    }
  }

  /** SB-mode write of one column, or (AB mode) the same column of every bank at once. */
  write(bank: number, col: number, data: Uint16Array, cat: Category): void {
    if (this.mode === 'ABPIM') throw new KilnError('runtime', 'PIM: plain writes are not allowed in AB-PIM mode');
    const w = this.dev.columnBytes / 2;
    const banks = this.mode === 'SB' ? [bank] : this.dram.allBanks();
    const row = this.dram.isOpen(banks[0]!);
    this.dram.col('WR', this.mode === 'SB' ? bank : -1, col, cat, banks.length, true);
    for (const b of banks) this.row(b, row).set(data.subarray(0, w), col * w);
  }

  /** AB-PIM column command: triggers the next instruction in every unit. `data`: the WR's bus data. */
  trigger(kind: 'RD' | 'WR', col: number, cat: Category, data?: Uint16Array): void {
    this.requireMode('ABPIM', 'a PIM trigger');
    const i = this.crf[this.pc]!;
    const arith = i.op !== 'NOP' && i.op !== 'EXIT' && i.op !== 'JUMP' ? i : undefined;
    // Data moves inside the die only when a RD feeds a bank operand or a WR stores one.
    const internal = arith && ((kind === 'RD' && arith.src.some((o) => o.file.endsWith('BANK'))) || (kind === 'WR' && arith.dst.file.endsWith('BANK'))) ? this.units : 0;
    this.dram.col(kind, -1, col, cat, internal, kind === 'WR');
    this.pim.triggers++;
    if (i.op === 'NOP') {
      if (this.nopLeft === 0) this.nopLeft = i.count;
      if (--this.nopLeft > 0) return;
    } else if (i.op !== 'EXIT' && i.op !== 'JUMP') {
      if (this.functional) this.execute(i, kind, col, data);
      else if (isComputing(i.op)) {
        this.pim.pimOps++;
        this.pim.laneOps += this.units * this.lanes;
      }
    }
    this.pc++;
    this.settle();
  }

  private regIndex(o: Operand, aam: boolean, col: number): number {
    if (!aam) return o.index;
    const add = o.file === 'GRF_A' ? col : o.file === 'GRF_B' ? col >> 3 : 0;
    return (o.index + add) & (this.dev.grfEntries - 1);
  }

  private bankOf(u: number, f: string): number {
    const parity = f === 'ODD_BANK' ? 1 : 0;
    if (parity >= this.dev.banksPerUnit) throw new KilnError('runtime', `PIM: ${f} does not exist on ${this.dev.name} (one bank per unit)`);
    return u * this.dev.banksPerUnit + parity;
  }

  /** Loads operand o's lanes for unit u into out. */
  private srcVals(o: Operand, aam: boolean, kind: 'RD' | 'WR', col: number, data: Uint16Array | undefined, u: number, out: Float64Array): void {
    const L = this.lanes;
    switch (o.file) {
      case 'GRF_A':
      case 'GRF_B': {
        const g = o.file === 'GRF_A' ? this.grfA : this.grfB;
        const base = (u * this.dev.grfEntries + this.regIndex(o, aam, col)) * L;
        for (let l = 0; l < L; l++) out[l] = g[base + l]!;
        return;
      }
      case 'SRF_M':
      case 'SRF_A':
        out.fill((o.file === 'SRF_M' ? this.srfM : this.srfA)[o.index]!);
        return;
      default: {
        const fromBits = this.codec.fromBits;
        if (kind === 'WR') {
          // A WR-triggered instruction reads its bank operand from the write data on the bus.
          if (!data) throw new KilnError('runtime', 'PIM: a WR-triggered instruction reads the write data but the WR carried none');
          for (let l = 0; l < L; l++) out[l] = fromBits(data[l]!);
        } else {
          const b = this.bankOf(u, o.file);
          const r = this.row(b, this.dram.isOpen(b));
          const base = (col * this.dev.columnBytes) / 2;
          for (let l = 0; l < L; l++) out[l] = fromBits(r[base + l]!);
        }
      }
    }
  }

  private execute(i: Exclude<Instruction, { op: 'NOP' | 'JUMP' | 'EXIT' }>, kind: 'RD' | 'WR', col: number, data?: Uint16Array): void {
    const L = this.lanes;
    const E = this.dev.grfEntries;
    const round = this.codec.round;
    const W = this.dev.columnBytes / 2;
    if (kind === 'RD' && i.dst.file.endsWith('BANK')) throw new KilnError('runtime', `PIM: ${i.op} writes a bank but was triggered by a RD`);
    const a = this.tmpA;
    const b = this.tmpB;
    const c = this.tmpC;
    const arith = isComputing(i.op);
    const dstBank = i.dst.file === 'EVEN_BANK' || i.dst.file === 'ODD_BANK';
    const nsrc = i.src.length;
    for (let u = 0; u < this.units; u++) {
      this.srcVals(i.src[0]!, i.aam, kind, col, data, u, a);
      if (nsrc > 1) this.srcVals(i.src[1]!, i.aam, kind, col, data, u, b);
      if (nsrc > 2) this.srcVals(i.src[2]!, i.aam, kind, col, data, u, c);
      let dst: Float64Array = this.tmpD;
      let d = 0;
      if (!dstBank) {
        dst = i.dst.file === 'GRF_A' ? this.grfA : this.grfB;
        d = (u * E + this.regIndex(i.dst, i.aam, col)) * L;
      }
      switch (i.op) {
        case 'ADD':
          for (let l = 0; l < L; l++) dst[d + l] = round(a[l]! + b[l]!);
          break;
        case 'MUL':
          for (let l = 0; l < L; l++) dst[d + l] = round(a[l]! * b[l]!);
          break;
        case 'MAC': // multiply, round; add to the accumulator, round (separate fp16 multiplier and adder)
          for (let l = 0; l < L; l++) dst[d + l] = round(dst[d + l]! + round(a[l]! * b[l]!));
          break;
        case 'MAD':
          for (let l = 0; l < L; l++) dst[d + l] = round(round(a[l]! * b[l]!) + c[l]!);
          break;
        case 'MAX': // Kiln extension: a comparator, exact (no rounding); a NaN operand gives NaN, as the kernel IR's max
          for (let l = 0; l < L; l++) dst[d + l] = Math.max(a[l]!, b[l]!);
          break;
        default: // MOV, FILL
          for (let l = 0; l < L; l++) {
            const v = a[l]!;
            dst[d + l] = i.relu && v <= 0 ? 0 : v;
          }
      }
      if (dstBank) {
        const bk = this.bankOf(u, i.dst.file);
        const r = this.row(bk, this.dram.isOpen(bk));
        for (let l = 0; l < L; l++) r[col * W + l] = this.codec.toBits(dst[l]!);
      }
    }
    if (arith) {
      this.pim.pimOps++;
      this.pim.laneOps += this.units * L;
    }
  }

  private readonly tmpA = new Float64Array(64);
  private readonly tmpB = new Float64Array(64);
  private readonly tmpC = new Float64Array(64);
  private readonly tmpD = new Float64Array(64);

  /** Energy in pJ of everything issued so far. */
  energyPj(): { total: number; act: number; column: number; io: number; pim: number; refresh: number } {
    const e = this.dev.energy;
    const c = this.dram.counters;
    const act = c.act * e.actPj;
    const column = c.internalBits * e.columnPjPerBit;
    const io = c.ioBits * e.ioPjPerBit;
    const pim = this.pim.laneOps * e.laneOpPj;
    const refresh = c.ref * e.refPj;
    return { total: act + column + io + pim + refresh, act, column, io, pim, refresh };
  }
}
