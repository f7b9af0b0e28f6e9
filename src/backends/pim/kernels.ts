/**
 * PIM mappings of the offloadable kernels (GEMV, elementwise add/mul/relu) and their host-only
 * baselines, as host command streams driven through the channel simulator. Data layouts are chosen
 * so that every ACT is followed by reads of the whole row (no row-buffer misses inside a step) and
 * the input vector is broadcast to all units with one write per 16 lanes.
 */
import { KilnError } from '../../ir/errors.js';
import { CATEGORIES, type Category } from './dram.js';
import { peakInternalBytesPerCycle, peakMacsPerCycle, unitsPerChannel, type PimDeviceParams } from './device.js';
import { assemble } from './isa.js';
import { PimChannel, reservedRows } from './sim.js';

export interface PimStats {
  /** Total cycles (tCK) from the first command to the last result on the host. */
  cycles: number;
  dramCycles: number;
  hostCycles: number;
  /** Where the cycles went (summed over channels' critical path: the slowest channel). */
  breakdown: Record<string, number>;
  commands: { act: number; pre: number; rd: number; wr: number; ref: number; pimTriggers: number; refreshReopen: number };
  energyPj: number;
  energy: { act: number; column: number; io: number; pim: number; refresh: number };
  macs: number;
  laneOps: number;
  internalBytes: number;
  ioBytes: number;
  /** Fraction of the device's peak (PIM MAC rate for contractions, internal bandwidth for elementwise). */
  peakFraction: number;
  internalBandwidthFraction: number;
  busFraction: number;
  seconds: number;
}

export interface PimRunOptions {
  readonly channels: number;
  readonly refresh?: boolean;
  /** False: timing only (operands are not loaded and no lane arithmetic runs). */
  readonly functional?: boolean;
}

function emptyStats(): PimStats {
  return {
    cycles: 0, dramCycles: 0, hostCycles: 0, breakdown: {},
    commands: { act: 0, pre: 0, rd: 0, wr: 0, ref: 0, pimTriggers: 0, refreshReopen: 0 },
    energyPj: 0, energy: { act: 0, column: 0, io: 0, pim: 0, refresh: 0 },
    macs: 0, laneOps: 0, internalBytes: 0, ioBytes: 0, peakFraction: 0, internalBandwidthFraction: 0, busFraction: 0, seconds: 0,
  };
}

/** Folds one channel's counters into the stats; channels run in parallel, so cycles take the max. */
function addChannel(s: PimStats, ch: PimChannel, dramCycles: number): void {
  const c = ch.dram.counters;
  const e = ch.energyPj();
  if (dramCycles >= s.dramCycles) {
    s.dramCycles = dramCycles;
    s.breakdown = Object.fromEntries(CATEGORIES.map((k) => [k, ch.dram.cycles[k]]).filter(([, v]) => (v as number) > 0));
  }
  s.commands.act += c.act;
  s.commands.pre += c.pre;
  s.commands.rd += c.rd;
  s.commands.wr += c.wr;
  s.commands.ref += c.ref;
  s.commands.refreshReopen += c.refreshReopen;
  s.commands.pimTriggers += ch.pim.triggers;
  s.energyPj += e.total;
  s.energy.act += e.act;
  s.energy.column += e.column;
  s.energy.io += e.io;
  s.energy.pim += e.pim;
  s.energy.refresh += e.refresh;
  s.laneOps += ch.pim.laneOps;
  s.internalBytes += c.internalBits / 8;
  s.ioBytes += c.ioBits / 8;
}

function finishStats(s: PimStats, dev: PimDeviceParams, channels: number, kind: 'contraction' | 'elementwise'): PimStats {
  s.cycles = s.dramCycles + s.hostCycles;
  if (s.hostCycles > 0) s.breakdown.host = s.hostCycles;
  const cyc = Math.max(1, s.cycles);
  s.internalBandwidthFraction = s.internalBytes / cyc / (peakInternalBytesPerCycle(dev) * channels);
  s.busFraction = s.ioBytes / cyc / (dev.ioBytesPerCycle * channels);
  s.peakFraction = kind === 'contraction' ? s.macs / cyc / (peakMacsPerCycle(dev) * channels) : s.internalBandwidthFraction;
  s.seconds = (s.cycles * dev.tCKns) / 1e9;
  return s;
}

const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** Deterministic lane values in [-1, 1) for benchmarks (a fixed LCG; no Math.random). */
export function benchValues(n: number, seed: number, round: (x: number) => number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = round((s / 2 ** 32) * 2 - 1);
  }
  return out;
}

// ---------------------------------------------------------------- GEMV on PIM

/** What the GEMV walk computes: W·x (MAC), row sums (ADD), or row maxima (MAX, a Kiln extension). */
export type GemvOp = 'mac' | 'sum' | 'max';

/**
 * The GEMV microkernel for one channel (assembly text). `sum` is the same walk over a resident matrix
 * without an input vector: each unit adds its bank columns into per-row lane partial sums (a row-wise
 * reduction; FILL starts each accumulator, ADD the rest). `max` is that walk with Kiln's MAX extension
 * in place of ADD (lane partial maxima).
 */
export function gemvMicrokernel(dev: PimDeviceParams, nKb: number, nGroups: number, op: GemvOp = 'mac', batch = 1): string {
  const bpu = dev.banksPerUnit;
  const colsPerRow = dev.rowBytes / dev.columnBytes;
  const outsPerBank = dev.grfEntries / bpu;
  const bank = (p: number): string => (p === 0 ? 'EVEN_BANK' : 'ODD_BANK');
  const input = op !== 'mac' ? [] : ['MOV GRF_A[0], EVEN_BANK  aam ; input broadcast: WR data -> GRF_A[col]', `JUMP -1, ${dev.grfEntries - 1}`];
  const acc = (p: number): string =>
    op === 'mac' ? `MAC GRF_B[${p * outsPerBank}], ${bank(p)}, GRF_A[0]  aam` : `${op === 'sum' ? 'ADD' : 'MAX'} GRF_B[${p * outsPerBank}], GRF_B[${p * outsPerBank}], ${bank(p)}  aam`;
  const start = (p: number): string => (op !== 'mac' ? `FILL GRF_B[${p * outsPerBank}], ${bank(p)}  aam` : `MUL GRF_B[${p * outsPerBank}], ${bank(p)}, GRF_A[0]  aam`);
  const compute = (): string[] => Array.from({ length: bpu }, (_, p) => [acc(p), `JUMP -1, ${colsPerRow - 1}`]).flat();
  // First k block of a group: MUL (FILL) starts each output's accumulator (no separate clear), MAC (ADD, MAX) the rest.
  const first = Array.from({ length: bpu }, (_, p) => [start(p), acc(p), `JUMP -1, ${dev.grfEntries - 2}`, `JUMP -3, ${outsPerBank - 1}`]).flat();
  const lines = [...input, ...first];
  if (nKb > 1) {
    const body = [...input, ...compute()];
    lines.push(...body);
    if (nKb > 2) lines.push(`JUMP -${body.length}, ${nKb - 2}`);
  }
  for (let p = 0; p < bpu; p++) lines.push(`MOV ${bank(p)}, GRF_B[${p * outsPerBank}]  aam ; partial sums -> result row`, `JUMP -1, ${outsPerBank - 1}`);
  // GEMM: the next input vector against the same resident group (one session, one CRF program).
  if (batch > 1) lines.push(`JUMP -${lines.length}, ${batch - 1}`);
  if (nGroups > 1) lines.push(`JUMP -${lines.length}, ${nGroups - 1}`);
  lines.push('EXIT');
  return lines.map((l) => `${l}\n`).join('');
}

export interface GemvLayout {
  readonly rowsPerChannel: number; // output rows given to each channel (padded)
  readonly kPadded: number;
  readonly nKb: number;
  readonly nGroups: number;
  readonly outputsPerGroup: number; // per channel
  readonly dramRowsUsed: number;
}

export function gemvLayout(dev: PimDeviceParams, M: number, K: number, channels: number, batch = 1): GemvLayout {
  const colsPerRow = dev.rowBytes / dev.columnBytes;
  const outsPerBank = dev.grfEntries / dev.banksPerUnit;
  if (outsPerBank * dev.grfEntries !== colsPerRow) throw new KilnError('unsupported', `PIM GEMV layout needs ${outsPerBank}×${dev.grfEntries} columns per row on ${dev.name}, rows have ${colsPerRow}`);
  const kBlock = dev.grfEntries * dev.lanes;
  const nKb = ceilDiv(K, kBlock);
  const outputsPerGroup = unitsPerChannel(dev) * dev.grfEntries;
  const rowsPerChannel = ceilDiv(ceilDiv(M, channels), outputsPerGroup) * outputsPerGroup;
  const nGroups = rowsPerChannel / outputsPerGroup;
  const dramRowsUsed = nGroups * nKb + nGroups * batch;
  if (dramRowsUsed > reservedRows(dev).firstReserved) throw new KilnError('unsupported', `PIM GEMV ${M}x${K}${batch > 1 ? ` batch ${batch}` : ''} needs ${dramRowsUsed} rows per bank on ${channels} channel(s) of ${dev.name} (has ${reservedRows(dev).firstReserved})`);
  return { rowsPerChannel, kPadded: nKb * kBlock, nKb, nGroups, outputsPerGroup, dramRowsUsed };
}

/**
 * y = W·x with W (M×K, row-major lane values) resident in the banks and x broadcast by the host.
 * Returns y rounded to the lane type after the host's fp32 reduction of each output's 16 lane sums.
 */
export function gemvPim(dev: PimDeviceParams, M: number, K: number, W: Float64Array | undefined, x: Float64Array | undefined, opts: PimRunOptions, op: GemvOp = 'mac'): { y: Float64Array; stats: PimStats; asm: string } {
  return gemmPim(dev, M, K, 1, W, x, opts, op);
}

/**
 * Y[b] = W·X[b] for `batch` input vectors (X: batch×K) in one PIM session: the CRF is programmed once,
 * the units loop over the vectors of each output group against the same resident weights, and the
 * host reads every partial sum back in one pass. Each vector still re-opens the group's rows: a unit
 * holds one vector block (GRF_A) and one set of accumulators (GRF_B), and every column command runs
 * one instruction, so a weight column read serves one vector (docs/pim-isa.md, GEMM).
 */
export function gemmPim(dev: PimDeviceParams, M: number, K: number, batch: number, W: Float64Array | undefined, X: Float64Array | undefined, opts: PimRunOptions, op: GemvOp = 'mac'): { y: Float64Array; stats: PimStats; asm: string } {
  const L = gemvLayout(dev, M, K, opts.channels, batch);
  const U = unitsPerChannel(dev);
  const E = dev.grfEntries;
  const lanes = dev.lanes;
  const bpu = dev.banksPerUnit;
  const outsPerBank = E / bpu;
  const colsPerRow = dev.rowBytes / dev.columnBytes;
  const W16 = dev.columnBytes / 2;
  const asm = gemvMicrokernel(dev, L.nKb, L.nGroups, op, batch);
  const words = assemble(asm);
  const y = new Float64Array(M * batch);
  const stats = emptyStats();
  const bankOrder = interleavedBanks(dev);
  const resultRow = (g: number, b: number): number => L.nGroups * L.nKb + g * batch + b;
  for (let chIdx = 0; chIdx < opts.channels; chIdx++) {
    const m0 = chIdx * L.rowsPerChannel;
    if (m0 >= M && chIdx > 0) break;
    const ch = new PimChannel(dev, { refresh: opts.refresh, functional: opts.functional });
    const toBits = ch.codec.toBits;
    // A max walk pads with -inf (the identity of max); the other walks pad with zeros.
    const pad = op === 'max' ? toBits(-Infinity) : 0;
    // Resident weights (loaded before the timed run).
    for (let g = 0; W && g < L.nGroups; g++)
      for (let u = 0; u < U; u++)
        for (let s = 0; s < E; s++) {
          const m = m0 + (g * U + u) * E + s;
          if (m >= M) continue;
          const p = Math.floor(s / outsPerBank);
          const o = s % outsPerBank;
          for (let kb = 0; kb < L.nKb; kb++) {
            const row = ch.row(u * bpu + p, g * L.nKb + kb);
            for (let j = 0; j < E; j++)
              for (let l = 0; l < lanes; l++) {
                const k = kb * E * lanes + j * lanes + l;
                row[(o * E + j) * W16 + l] = k < K ? toBits(W[m * K + k]!) : pad;
              }
          }
        }
    const xBits = (b: number, c: number): Uint16Array => {
      const d = new Uint16Array(W16);
      for (let l = 0; l < lanes; l++) {
        const k = c * lanes + l;
        if (X && k < K) d[l] = toBits(X[b * K + k]!);
      }
      return d;
    };
    const zero = new Uint16Array(W16);
    ch.enterAllBank();
    ch.programCrf(words);
    ch.enterPim();
    for (let g = 0; g < L.nGroups; g++) {
      for (let b = 0; b < batch; b++) {
        for (let kb = 0; kb < L.nKb; kb++) {
          ch.act(0, g * L.nKb + kb);
          if (op === 'mac') for (let j = 0; j < E; j++) ch.trigger('WR', j, 'input', xBits(b, kb * E + j));
          for (let p = 0; p < bpu; p++) for (let c = 0; c < colsPerRow; c++) ch.trigger('RD', c, 'mac');
          ch.pre(0);
        }
        ch.act(0, resultRow(g, b), 'writeback');
        for (let p = 0; p < bpu; p++) for (let o = 0; o < outsPerBank; o++) ch.trigger('WR', o * E, 'writeback', zero);
        ch.pre(0, 'writeback');
      }
    }
    if (ch.mode !== 'AB') throw new Error('GEMV microkernel did not reach EXIT');
    ch.exitAllBank();
    // Read the partial sums back over the bus.
    const buf = new Uint16Array(W16);
    for (let g = 0; g < L.nGroups; g++) {
      for (let b = 0; b < batch; b++) {
        const row = resultRow(g, b);
        for (let i = 0; i < bankOrder.length; i += dev.bankGroups) {
          const set = bankOrder.slice(i, i + dev.bankGroups);
          for (const bk of set) ch.act(bk, row, 'readback');
          for (let o = 0; o < outsPerBank; o++)
            for (const bk of set) {
              ch.read(bk, o * E, 'readback', buf);
              const u = Math.floor(bk / bpu);
              const s = (bk % bpu) * outsPerBank + o;
              const m = m0 + (g * U + u) * E + s;
              if (m >= M || !ch.functional) continue;
              let acc = op === 'max' ? -Infinity : 0;
              for (let l = 0; l < lanes; l++) acc = op === 'max' ? Math.max(acc, ch.codec.fromBits(buf[l]!)) : Math.fround(acc + ch.codec.fromBits(buf[l]!));
              y[b * M + m] = ch.codec.round(acc);
            }
          for (const bk of set) ch.pre(bk, 'readback');
        }
      }
    }
    const dramCycles = ch.dram.finish('readback');
    addChannel(stats, ch, dramCycles);
  }
  stats.macs = op === 'mac' ? M * K * batch : 0;
  // Host: the 16-lane reduction (sum or max) of each output, after its read-back (not overlapped).
  stats.hostCycles = Math.ceil((L.rowsPerChannel * batch * lanes) / dev.hostMacsPerCycle);
  return { y, stats: finishStats(stats, dev, opts.channels, op === 'mac' ? 'contraction' : 'elementwise'), asm };
}

/** Banks ordered so consecutive banks are in different bank groups. */
function interleavedBanks(dev: PimDeviceParams): number[] {
  const per = dev.banks / dev.bankGroups;
  const out: number[] = [];
  for (let i = 0; i < per; i++) for (let g = 0; g < dev.bankGroups; g++) out.push(g * per + i);
  return out;
}

// ---------------------------------------------------------------- host streaming (baseline)

/**
 * Streams `columns` column accesses (RD or WR) over the bus in SB mode, open-page, one row per bank
 * group at a time, the next set's ACTs issued ahead of the current set's column commands.
 */
export function hostStream(ch: PimChannel, kind: 'RD' | 'WR', columns: number, rowBase: number, cat: Category): void {
  const dev = ch.dev;
  const colsPerRow = ch.columnsPerRow;
  const G = dev.bankGroups;
  const per = dev.banks / G;
  const rows = ceilDiv(columns, colsPerRow);
  const sets = ceilDiv(rows, G);
  const setRows = (s: number): { bank: number; row: number; first: number }[] => {
    const out: { bank: number; row: number; first: number }[] = [];
    for (let j = 0; j < G && s * G + j < rows; j++) out.push({ bank: j * per + (s % per), row: rowBase + Math.floor(s / per), first: (s * G + j) * colsPerRow });
    return out;
  };
  const zero = new Uint16Array(dev.columnBytes / 2);
  if (sets > 0) for (const r of setRows(0)) ch.act(r.bank, r.row, 'row');
  for (let s = 0; s < sets; s++) {
    const cur = setRows(s);
    if (s + 1 < sets) for (const r of setRows(s + 1)) ch.act(r.bank, r.row, 'row');
    for (let c = 0; c < colsPerRow; c++)
      for (const r of cur) {
        if (r.first + c >= columns) continue;
        if (kind === 'RD') ch.read(r.bank, c, cat);
        else ch.write(r.bank, c, zero, cat);
      }
    for (const r of cur) ch.pre(r.bank, 'row');
  }
}

/** GEMV done by the host: W and x stream over the bus, y is written back; host MACs overlap the stream. */
export function gemvBaseline(dev: PimDeviceParams, M: number, K: number, opts: PimRunOptions, op: GemvOp = 'mac', batch = 1): PimStats {
  const stats = emptyStats();
  const mc = ceilDiv(M, opts.channels);
  const perCol = dev.columnBytes / 2;
  for (let chIdx = 0; chIdx < opts.channels; chIdx++) {
    const ch = new PimChannel(dev, { refresh: opts.refresh });
    const wCols = ceilDiv(mc * K, perCol);
    // A blocked host GEMM reads W once for every vector of the batch (the vectors stay in its cache).
    if (op === 'mac') hostStream(ch, 'RD', ceilDiv(K * batch, perCol), 0, 'input');
    hostStream(ch, 'RD', wCols, 1, 'stream');
    hostStream(ch, 'WR', ceilDiv(mc * batch, perCol), 2 + ceilDiv(wCols, ch.columnsPerRow * dev.banks), 'writeback');
    addChannel(stats, ch, ch.dram.finish('stream'));
  }
  stats.macs = op === 'mac' ? M * K * batch : 0;
  const compute = Math.ceil((mc * K * batch) / dev.hostMacsPerCycle);
  stats.hostCycles = Math.max(0, compute - stats.dramCycles); // overlapped; only an excess shows
  return finishStats(stats, dev, opts.channels, op === 'mac' ? 'contraction' : 'elementwise');
}

// ---------------------------------------------------------------- elementwise on PIM

export type ElementwiseOp = 'add' | 'mul' | 'relu';

interface EwLayout {
  readonly perStep: number; // elements per channel per microkernel step
  readonly steps: number;
  readonly stepsPerRow: number;
}

function ewLayout(dev: PimDeviceParams, op: ElementwiseOp, nPerChannel: number): EwLayout {
  const colsPerRow = dev.rowBytes / dev.columnBytes;
  const U = unitsPerChannel(dev);
  const E = dev.grfEntries;
  // Binary ops: a in the even bank (or first half of the row), b in the odd bank (or second half).
  const dataCols = op === 'relu' ? colsPerRow : dev.banksPerUnit === 2 ? colsPerRow : colsPerRow / 2;
  const stepsPerRow = dataCols / E;
  const perStep = U * E * dev.lanes * (op === 'relu' ? dev.banksPerUnit : 1);
  const steps = ceilDiv(nPerChannel, perStep);
  return { perStep, steps, stepsPerRow: op === 'relu' ? colsPerRow / E : stepsPerRow };
}

export function elementwiseMicrokernel(dev: PimDeviceParams, op: ElementwiseOp, steps: number): string {
  const E = dev.grfEntries;
  const rep = `JUMP -1, ${E - 1}`;
  const lines: string[] = [];
  if (op === 'relu') {
    for (let p = 0; p < dev.banksPerUnit; p++) {
      const bank = p === 0 ? 'EVEN_BANK' : 'ODD_BANK';
      lines.push(`FILL GRF_A[0], ${bank}  aam relu`, rep, `MOV ${bank}, GRF_A[0]  aam`, rep);
    }
  } else {
    const other = dev.banksPerUnit === 2 ? 'ODD_BANK' : 'EVEN_BANK';
    lines.push('FILL GRF_A[0], EVEN_BANK  aam', rep, `${op === 'add' ? 'ADD' : 'MUL'} GRF_A[0], GRF_A[0], ${other}  aam`, rep, 'MOV EVEN_BANK, GRF_A[0]  aam', rep);
  }
  if (steps > 1) lines.push(`JUMP -${lines.length}, ${steps - 1}`);
  lines.push('EXIT');
  return lines.map((l) => `${l}\n`).join('');
}

/** c = a op b (or relu(a)), operands resident in the banks, result written in place of a. */
export function elementwisePim(dev: PimDeviceParams, op: ElementwiseOp, a: Float64Array, b: Float64Array | undefined, opts: PimRunOptions): { c: Float64Array; stats: PimStats; asm: string } {
  const n = a.length;
  const nc = ceilDiv(n, opts.channels);
  const Lw = ewLayout(dev, op, nc);
  const U = unitsPerChannel(dev);
  const E = dev.grfEntries;
  const lanes = dev.lanes;
  const bpu = dev.banksPerUnit;
  const W16 = dev.columnBytes / 2;
  const half = dev.rowBytes / dev.columnBytes / 2;
  const rowsNeeded = ceilDiv(Lw.steps, Lw.stepsPerRow);
  if (rowsNeeded > reservedRows(dev).firstReserved) throw new KilnError('unsupported', `PIM ${op} of ${n} elements needs ${rowsNeeded} rows per bank (has ${reservedRows(dev).firstReserved})`);
  const asm = elementwiseMicrokernel(dev, op, Lw.steps);
  const words = assemble(asm);
  const c = new Float64Array(n);
  const stats = emptyStats();
  // Element e of a channel: step s, unit u, (bank part p for relu,) register j, lane l.
  const place = (e: number): { bank: number; row: number; col: number; lane: number; p: number } => {
    const l = e % lanes;
    let r = Math.floor(e / lanes);
    const j = r % E;
    r = Math.floor(r / E);
    const u = r % U;
    r = Math.floor(r / U);
    let p = 0;
    if (op === 'relu') {
      p = r % bpu;
      r = Math.floor(r / bpu);
    }
    const s = r;
    const row = Math.floor(s / Lw.stepsPerRow);
    const col = (s % Lw.stepsPerRow) * E + j;
    return { bank: u * bpu + p, row, col, lane: l, p };
  };
  for (let chIdx = 0; chIdx < opts.channels; chIdx++) {
    const e0 = chIdx * nc;
    if (e0 >= n && chIdx > 0) break;
    const ch = new PimChannel(dev, { refresh: opts.refresh, functional: opts.functional });
    const toBits = ch.codec.toBits;
    for (let e = 0; ch.functional && e < nc && e0 + e < n; e++) {
      const q = place(e);
      ch.row(q.bank, q.row)[q.col * W16 + q.lane] = toBits(a[e0 + e]!);
      if (b) {
        const bb = bpu === 2 ? q.bank + 1 : q.bank;
        const bc = bpu === 2 ? q.col : q.col + half;
        ch.row(bb, q.row)[bc * W16 + q.lane] = toBits(b[e0 + e]!);
      }
    }
    const zero = new Uint16Array(W16);
    ch.enterAllBank();
    ch.programCrf(words);
    ch.enterPim();
    let openRow = -1;
    for (let s = 0; s < Lw.steps; s++) {
      const row = Math.floor(s / Lw.stepsPerRow);
      if (row !== openRow) {
        if (openRow >= 0) ch.pre(0);
        ch.act(0, row);
        openRow = row;
      }
      const c0 = (s % Lw.stepsPerRow) * E;
      if (op === 'relu') {
        for (let p = 0; p < bpu; p++) {
          for (let j = 0; j < E; j++) ch.trigger('RD', c0 + j, 'mac');
          for (let j = 0; j < E; j++) ch.trigger('WR', c0 + j, 'writeback', zero);
        }
      } else {
        for (let j = 0; j < E; j++) ch.trigger('RD', c0 + j, 'input');
        for (let j = 0; j < E; j++) ch.trigger('RD', bpu === 2 ? c0 + j : c0 + j + half, 'mac');
        for (let j = 0; j < E; j++) ch.trigger('WR', c0 + j, 'writeback', zero);
      }
    }
    if (openRow >= 0) ch.pre(0);
    if (ch.mode !== 'AB') throw new Error('elementwise microkernel did not reach EXIT');
    ch.exitAllBank();
    for (let e = 0; ch.functional && e < nc && e0 + e < n; e++) {
      const q = place(e);
      c[e0 + e] = ch.codec.fromBits(ch.row(q.bank, q.row)[q.col * W16 + q.lane]!);
    }
    addChannel(stats, ch, ch.dram.finish('writeback'));
  }
  stats.macs = n;
  return { c, stats: finishStats(stats, dev, opts.channels, 'elementwise'), asm };
}

/** Elementwise on the host: operands stream in, the result streams out. */
export function elementwiseBaseline(dev: PimDeviceParams, op: ElementwiseOp, n: number, opts: PimRunOptions): PimStats {
  const stats = emptyStats();
  const nc = ceilDiv(n, opts.channels);
  const cols = ceilDiv(nc, dev.columnBytes / 2);
  const rowsPerOperand = ceilDiv(cols, (dev.rowBytes / dev.columnBytes) * dev.banks) + 1;
  for (let chIdx = 0; chIdx < opts.channels; chIdx++) {
    const ch = new PimChannel(dev, { refresh: opts.refresh });
    hostStream(ch, 'RD', cols, 0, 'stream');
    if (op !== 'relu') hostStream(ch, 'RD', cols, rowsPerOperand, 'stream');
    hostStream(ch, 'WR', cols, 2 * rowsPerOperand, 'writeback');
    addChannel(stats, ch, ch.dram.finish('stream'));
  }
  stats.macs = n;
  return finishStats(stats, dev, opts.channels, 'elementwise');
}

/**
 * The host writing `elements` lane values over the bus (SB mode, open page): the layout step of an
 * operand that is not resident in the PIM layout (e.g. a runtime matrix of an activation×activation
 * contraction), counted before the PIM run.
 */
export function hostWriteStats(dev: PimDeviceParams, elements: number, opts: PimRunOptions): PimStats {
  const stats = emptyStats();
  const cols = ceilDiv(ceilDiv(elements, opts.channels), dev.columnBytes / 2);
  for (let chIdx = 0; chIdx < opts.channels; chIdx++) {
    const ch = new PimChannel(dev, { refresh: opts.refresh });
    hostStream(ch, 'WR', cols, 0, 'layout');
    addChannel(stats, ch, ch.dram.finish('layout'));
  }
  return finishStats(stats, dev, opts.channels, 'elementwise');
}

/** Sums two runs done one after the other (cycles, energy and counters add; fractions recomputed). */
export function sequenceStats(dev: PimDeviceParams, channels: number, kind: 'contraction' | 'elementwise', ...runs: PimStats[]): PimStats {
  const s = emptyStats();
  for (const r of runs) {
    s.dramCycles += r.dramCycles;
    s.hostCycles += r.hostCycles;
    for (const [k, v] of Object.entries(r.breakdown)) if (k !== 'host') s.breakdown[k] = (s.breakdown[k] ?? 0) + v;
    for (const k of Object.keys(s.commands) as (keyof PimStats['commands'])[]) s.commands[k] += r.commands[k];
    s.energyPj += r.energyPj;
    for (const k of Object.keys(s.energy) as (keyof PimStats['energy'])[]) s.energy[k] += r.energy[k];
    s.macs += r.macs;
    s.laneOps += r.laneOps;
    s.internalBytes += r.internalBytes;
    s.ioBytes += r.ioBytes;
  }
  return finishStats(s, dev, channels, kind);
}
