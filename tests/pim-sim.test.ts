/**
 * PIM simulator: each DRAM timing rule checked on the command trace, refresh, the fp16/bf16 lane
 * arithmetic against the generic narrow-float rounding, the assembler round trip, and determinism
 * of the GEMV/elementwise mappings (functional results against a plain reference).
 */
import { describe, expect, it } from 'vitest';
import { loadPimDevice, pimDeviceNames, type PimDeviceParams } from '../src/backends/pim/device.js';
import { getDevice } from '../src/costmodel/devices.js';
import { DramChannel, type IssuedCommand } from '../src/backends/pim/dram.js';
import { assemble, decode, disassemble, encode, parseInstruction, type Instruction } from '../src/backends/pim/isa.js';
import { laneCodec, roundBF16, roundF16, f16FromBits, f16ToBits, bf16ToBits, bf16FromBits } from '../src/backends/pim/f16.js';
import { roundToFormat, toBits } from '../src/ir/floatfmt.js';
import { benchValues, elementwisePim, gemmPim, gemvBaseline, gemvPim } from '../src/backends/pim/kernels.js';
import { PimChannel } from '../src/backends/pim/sim.js';

const dev = loadPimDevice('hbm2-pim');
const T = dev.timing;

function traced(d: PimDeviceParams = dev, refresh = false): DramChannel {
  const ch = new DramChannel(d, refresh);
  ch.trace = [];
  return ch;
}
const acts = (tr: IssuedCommand[]): IssuedCommand[] => tr.filter((c) => c.kind === 'ACT');

describe('device profiles', () => {
  it('are read from the shared device files (no second copy of any figure)', () => {
    expect(pimDeviceNames()).toEqual(expect.arrayContaining(['hbm2-pim', 'gddr6-aim']));
    for (const name of pimDeviceNames()) {
      const f = getDevice(name, 'pim');
      const d = loadPimDevice(name);
      const { source: _s, tWTR, ...rest } = f.timing;
      expect(d.timing, name).toMatchObject({ ...rest, tWTR_L: tWTR });
      expect(d.tCKns).toBe(f.memory.tCKns);
      expect(d.banks).toBe(f.memory.bankGroups * f.memory.banksPerGroup);
      expect(d.rowsPerBank).toBe(f.memory.rowsPerBank);
      expect(d.ioBytesPerCycle).toBe(f.memory.columnAccessBytes / f.timing.tBURST);
      expect(d.abActGroup).toBe(f.pim.allBankActivateBanks);
      expect(d.hostMacsPerCycle).toBe(f.hostModel.macsPerCycle);
      expect(d.energy).toEqual({ actPj: f.energy.rowActivatePj, columnPjPerBit: f.energy.columnAccessPj / (8 * f.memory.columnAccessBytes), ioPjPerBit: f.energy.ioPjPerBit, laneOpPj: f.energy.opPj, refPj: f.energy.refreshPj });
    }
  });
});

describe('DRAM timing rules', () => {
  it('two ACTs to one bank are at least tRC apart, and ACT→PRE ≥ tRAS, PRE→ACT ≥ tRP', () => {
    const ch = traced();
    ch.act(0, 1);
    ch.pre(0);
    ch.act(0, 2);
    const [a1, p, a2] = ch.trace!;
    expect(p!.t - a1!.t).toBe(T.tRAS);
    expect(a2!.t - p!.t).toBeGreaterThanOrEqual(T.tRP);
    expect(a2!.t - a1!.t).toBe(Math.max(T.tRC, T.tRAS + T.tRP));
  });
  it('ACT→RD waits tRCD; RD→PRE waits tRTP', () => {
    const ch = traced();
    const a = ch.act(3, 7);
    const r = ch.col('RD', 3, 0, 'stream', 1, true);
    expect(r - a).toBe(T.tRCD);
    const p = ch.pre(3);
    expect(p - r).toBe(Math.max(T.tRTP, T.tRAS - T.tRCD));
  });
  it('tRRD_L within a bank group, tRRD_S across groups', () => {
    const ch = traced();
    const a = ch.act(0, 1); // group 0
    const b = ch.act(1, 1); // group 0
    const c = ch.act(4, 1); // group 1
    expect(b - a).toBe(T.tRRD_L);
    expect(c - b).toBe(T.tRRD_S);
  });
  it('at most four ACTs in any tFAW window', () => {
    const ch = traced({ ...dev, timing: { ...T, tFAW: 30 } });
    for (const b of [0, 4, 8, 12, 1, 5]) ch.act(b, 1);
    const t = acts(ch.trace!).map((c) => c.t);
    for (let i = 4; i < t.length; i++) expect(t[i]! - t[i - 4]!).toBeGreaterThanOrEqual(30);
    expect(t[4]! - t[0]!).toBe(30);
    // the fifth ACT is held by tFAW, not by tRRD alone
    expect(t[4]! - t[3]!).toBeGreaterThan(T.tRRD_S);
  });
  it('column commands: tCCD_L in one bank group, tCCD_S across groups', () => {
    const ch = traced();
    ch.act(0, 1);
    ch.act(4, 1);
    const r0 = ch.col('RD', 0, 0, 'stream', 1, true);
    const r1 = ch.col('RD', 0, 1, 'stream', 1, true);
    const r2 = ch.col('RD', 4, 0, 'stream', 1, true);
    expect(r1 - r0).toBe(T.tCCD_L);
    expect(r2 - r1).toBe(T.tCCD_S);
  });
  it('write → read turnaround (tWTR_L / tWTR_S) and write recovery tWR before PRE', () => {
    const ch = traced();
    ch.act(0, 1);
    ch.act(4, 1);
    const w = ch.col('WR', 0, 0, 'stream', 1, true);
    const rSame = ch.col('RD', 0, 1, 'stream', 1, true);
    expect(rSame - w).toBe(T.CWL + T.tBURST + T.tWTR_L);
    const ch2 = traced();
    ch2.act(0, 1);
    ch2.act(4, 1);
    const w2 = ch2.col('WR', 0, 0, 'stream', 1, true);
    const rOther = ch2.col('RD', 4, 0, 'stream', 1, true);
    expect(rOther - w2).toBe(T.CWL + T.tBURST + T.tWTR_S);
    const p = ch2.pre(0);
    expect(p - w2).toBeGreaterThanOrEqual(T.CWL + T.tBURST + T.tWR);
  });
  it('a column command to a closed bank and an ACT to an open bank are refused', () => {
    const ch = traced();
    expect(() => ch.col('RD', 2, 0, 'stream', 1, true)).toThrow(/no open row/);
    ch.act(2, 0);
    expect(() => ch.act(2, 1)).toThrow(/open/);
  });
  it('refresh every tREFI blocks the channel for tRFC and re-opens the rows', () => {
    const ch = traced(dev, true);
    ch.act(0, 5);
    let last = 0;
    for (let i = 0; last < 2.5 * T.tREFI; i++) last = ch.col('RD', 0, i % 32, 'stream', 1, true);
    const refs = ch.trace!.filter((c) => c.kind === 'REF');
    expect(refs.length).toBe(2);
    for (const [n, r] of refs.entries()) {
      expect(r.t).toBeGreaterThanOrEqual((n + 1) * T.tREFI);
      const next = ch.trace!.find((c) => c.t > r.t && c.kind !== 'REF')!;
      expect(next.kind).toBe('ACT');
      expect(next.t - r.t).toBeGreaterThanOrEqual(T.tRFC);
      const nextRd = ch.trace!.find((c) => c.t > r.t && c.kind === 'RD')!;
      expect(nextRd.t - next.t).toBeGreaterThanOrEqual(T.tRCD);
    }
    expect(ch.counters.refreshReopen).toBe(2);
    expect(ch.cycles.refresh).toBeGreaterThanOrEqual(2 * (T.tRFC + T.tRCD));
  });
  it('an all-bank ACT on AiM is issued in groups that obey tRRD and tFAW', () => {
    const aim = loadPimDevice('gddr6-aim');
    const ch = traced(aim);
    ch.act(-1, 3);
    const t = acts(ch.trace!).map((c) => c.t);
    expect(t.length).toBe(aim.banks / aim.abActGroup);
    for (let i = 1; i < t.length; i++) expect(t[i]! - t[i - 1]!).toBeGreaterThanOrEqual(aim.timing.tRRD_L);
  });
});

describe('lane arithmetic', () => {
  it('f16 and bf16 rounding match the generic narrow-float rounding (ties to even, subnormals, overflow)', () => {
    const xs = [0, -0, 1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65519.99, 65520, -70000, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -14 - 2 ** -26, 1e-9, 3.14159, NaN];
    for (let i = 0; i < 2000; i++) xs.push(Math.sin(i * 12.9898) * 10 ** ((i % 13) - 6));
    for (const x of xs) {
      expect(Object.is(roundF16(x), roundToFormat('f16', x))).toBe(true);
      expect(Object.is(roundBF16(x), roundToFormat('bf16', x))).toBe(true);
      if (!Number.isNaN(x)) {
        expect(f16ToBits(x)).toBe(toBits('f16', roundToFormat('f16', x)));
        expect(bf16ToBits(x)).toBe(toBits('bf16', roundToFormat('bf16', x)));
      }
    }
    for (let h = 0; h < 65536; h += 7) {
      const v = f16FromBits(h);
      if (!Number.isNaN(v)) expect(f16ToBits(v)).toBe(h);
      const w = bf16FromBits(h);
      if (!Number.isNaN(w)) expect(bf16ToBits(w)).toBe(h);
    }
  });
  it('MAC rounds twice (multiply, then add); MAD likewise', () => {
    const ch = new PimChannel(dev, { refresh: false });
    const a = 1 + 2 ** -10; // a·a = 1 + 2^-9 + 2^-20: the product rounds to 1 + 2^-9
    const acc = 2 ** -11; // exact fused result 1 + 2^-9 + 2^-11 + 2^-20 would round up to 1 + 2^-9 + 2^-10
    const data = (v: number): Uint16Array => new Uint16Array(16).fill(f16ToBits(v));
    ch.enterAllBank();
    ch.writeConfig([{ col: 8, data: data(a) }, { col: 16, data: data(acc) }]);
    ch.programCrf(assemble('MAC GRF_B[0], GRF_A[0], EVEN_BANK\nEXIT\n'));
    ch.enterPim();
    ch.act(0, 0);
    ch.trigger('WR', 0, 'mac', data(a));
    expect(ch.mode).toBe('AB');
    const twice = roundF16(roundF16(a * a) + acc);
    expect(twice).not.toBe(roundF16(a * a + acc));
    for (let u = 0; u < ch.units; u++) expect(ch.grfB[u * 8 * 16]).toBe(twice);
  });
});

describe('ISA', () => {
  it('assembler and disassembler round-trip every instruction form', () => {
    const text = [
      'NOP 5', 'JUMP -3, 7', 'EXIT', 'ADD GRF_A[1], GRF_A[2], EVEN_BANK', 'MUL GRF_B[7], SRF_M[3], ODD_BANK  aam',
      'MAC GRF_B[0], EVEN_BANK, GRF_A[0]  aam', 'MAD GRF_A[4], GRF_B[1], SRF_M[2], SRF_A[6]', 'MOV EVEN_BANK, GRF_B[4]  aam',
      'MOV GRF_A[3], GRF_B[2]  relu', 'FILL GRF_A[0], ODD_BANK  aam relu', 'MAX GRF_B[2], GRF_B[2], EVEN_BANK  aam',
    ].join('\n') + '\n';
    const words = assemble(text);
    expect(disassemble(words)).toBe(text);
    for (const w of words) expect(encode(decode(w))).toBe(w);
    expect(assemble(disassemble(words))).toEqual(words);
  });
  it('refuses malformed instructions with a located message', () => {
    expect(() => assemble('ADD GRF_A[0], GRF_A[1]\n')).toThrow(/line 1: .*2 source/);
    expect(() => assemble('\nMAC BANK, GRF_A[0], GRF_A[1]\n')).toThrow(/line 2: bad operand/);
    expect(() => parseInstruction('MOV SRF_M[0], GRF_A[0]')).toThrow(/scalar registers/);
    expect(() => parseInstruction('ADD EVEN_BANK, GRF_A[0], GRF_A[1]')).toThrow(/only MOV writes a bank/);
    expect(() => decode(0xf0000000)).toThrow(/unknown opcode/);
    const i: Instruction = { op: 'JUMP', back: 0, count: 1 };
    expect(() => encode(i)).toThrow(/distance/);
  });
});

describe('GEMV and elementwise mappings', () => {
  it('GEMV on hbm2-pim equals a reference that follows the same rounding steps, on any channel count', () => {
    const M = 80;
    const K = 200;
    const W = benchValues(M * K, 11, roundF16);
    const x = benchValues(K, 12, roundF16);
    const r1 = gemvPim(dev, M, K, W, x, { channels: 1 });
    const r2 = gemvPim(dev, M, K, W, x, { channels: 3 });
    expect(Array.from(r2.y)).toEqual(Array.from(r1.y));
    for (let m = 0; m < M; m++) {
      // lane l accumulates k = l, l+16, …: MUL first, then MAC (two roundings each)
      let sum = 0;
      for (let l = 0; l < 16; l++) {
        let acc = 0;
        let first = true;
        for (let k = l; k < Math.ceil(K / 128) * 128; k += 16) {
          const p = k < K ? roundF16(W[m * K + k]! * x[k]!) : 0;
          acc = first ? p : roundF16(acc + p);
          first = false;
        }
        sum = Math.fround(sum + acc);
      }
      expect(r1.y[m]).toBe(roundF16(sum));
    }
    expect(r1.stats.macs).toBe(M * K);
    expect(r1.stats.cycles).toBeGreaterThan(0);
  });
  it('is deterministic, and PIM beats the host baseline on a bandwidth-bound GEMV', () => {
    const M = 256;
    const K = 1024;
    const W = benchValues(M * K, 1, roundF16);
    const x = benchValues(K, 2, roundF16);
    const a = gemvPim(dev, M, K, W, x, { channels: 1 });
    const b = gemvPim(dev, M, K, W, x, { channels: 1 });
    expect(JSON.stringify(b.stats)).toBe(JSON.stringify(a.stats));
    expect(Array.from(b.y)).toEqual(Array.from(a.y));
    const base = gemvBaseline(dev, M, K, { channels: 1 });
    expect(a.stats.cycles).toBeLessThan(base.cycles);
    expect(a.stats.peakFraction).toBeGreaterThan(0);
    expect(a.stats.peakFraction).toBeLessThanOrEqual(1);
    const sum = Object.values(a.stats.breakdown).reduce((s, v) => s + v, 0);
    expect(sum).toBe(a.stats.cycles);
  });
  it('GEMM in one session equals one GEMV per row bit for bit, costs no more, and counts every MAC', () => {
    const M = 64;
    const K = 300;
    const B = 3;
    const W = benchValues(M * K, 21, roundF16);
    const X = benchValues(B * K, 22, roundF16);
    const gemm = gemmPim(dev, M, K, B, W, X, { channels: 2 });
    let rows = 0;
    for (let b = 0; b < B; b++) {
      const one = gemvPim(dev, M, K, W, X.subarray(b * K, (b + 1) * K), { channels: 2 });
      expect(Array.from(gemm.y.subarray(b * M, (b + 1) * M)), `row ${b}`).toEqual(Array.from(one.y));
      rows += one.stats.cycles;
    }
    expect(gemm.stats.macs).toBe(M * K * B);
    expect(gemm.stats.cycles).toBeLessThan(rows);
    expect(Object.values(gemm.stats.breakdown).reduce((a, v) => a + v, 0)).toBe(gemm.stats.cycles);
  });
  it('a row-wise sum walks the GEMV layout with FILL/ADD: lane partial sums, then the host adds the lanes', () => {
    const M = 40;
    const K = 260;
    const X = benchValues(M * K, 31, roundF16);
    const r = gemvPim(dev, M, K, X, undefined, { channels: 1 }, 'sum');
    expect(r.asm).toMatch(/FILL GRF_B\[0\], EVEN_BANK  aam/);
    expect(r.asm).not.toMatch(/MAC|GRF_A/);
    for (let m = 0; m < M; m++) {
      let sum = 0;
      for (let l = 0; l < 16; l++) {
        let acc = 0;
        for (let k = l; k < Math.ceil(K / 128) * 128; k += 16) acc = k === l ? (k < K ? X[m * K + k]! : 0) : roundF16(acc + (k < K ? X[m * K + k]! : 0));
        sum = Math.fround(sum + acc);
      }
      expect(r.y[m]).toBe(roundF16(sum));
    }
    expect(r.stats.commands.wr).toBeLessThan(r.stats.commands.rd); // no input broadcast
    expect(r.stats.cycles).toBeGreaterThan(0);
  });
  it('a row-wise max (Kiln\'s MAX extension) walks the same layout, pads with -inf, and is exact on both profiles', () => {
    for (const d of [dev, loadPimDevice('gddr6-aim')]) {
      const M = 24;
      const K = 200; // not a multiple of the k block: the padding must not win
      const round = laneCodec(d.laneType).round;
      const X = benchValues(M * K, 7, round).map((v) => round(-Math.abs(v) - 1)); // all negative: a zero pad would win
      X[5 * K + 3] = NaN;
      const r = gemvPim(d, M, K, X, undefined, { channels: 2 }, 'max');
      expect(r.asm).toMatch(/^MAX GRF_B\[0\], GRF_B\[0\], EVEN_BANK  aam$/m);
      expect(r.asm).not.toMatch(/ADD|MAC|GRF_A/);
      for (let m = 0; m < M; m++) {
        let want = -Infinity;
        for (let k = 0; k < K; k++) want = Math.max(want, X[m * K + k]!);
        expect(r.y[m], `row ${m}`).toBe(want);
      }
    }
  });
  it('elementwise add/mul/relu are exact per-element roundings on both profiles', () => {
    for (const name of ['hbm2-pim', 'gddr6-aim']) {
      const d = loadPimDevice(name);
      const rnd = d.laneType === 'f16' ? roundF16 : roundBF16;
      const n = 5000;
      const a = benchValues(n, 5, rnd);
      const b = benchValues(n, 6, rnd);
      const add = elementwisePim(d, 'add', a, b, { channels: 2 });
      const mul = elementwisePim(d, 'mul', a, b, { channels: 1 });
      const relu = elementwisePim(d, 'relu', a, undefined, { channels: 1 });
      for (let i = 0; i < n; i++) {
        expect(add.c[i]).toBe(rnd(a[i]! + b[i]!));
        expect(mul.c[i]).toBe(rnd(a[i]! * b[i]!));
        expect(relu.c[i]).toBe(a[i]! > 0 ? a[i] : 0);
      }
    }
  });
});

describe('decode bench', () => {
  it('composes a decoder block; the speed-up stays under the internal/bus bandwidth ratio', async () => {
    const { runDecodeBench } = await import('../src/backends/pim/bench.js');
    const r = runDecodeBench('hbm2-pim', 1, 256, 4, 64);
    expect(r.pimCycles).toBe(r.steps.reduce((a, s) => a + s.pimCycles, 0));
    expect(r.hostCycles).toBe(r.steps.reduce((a, s) => a + s.hostCycles, 0));
    for (const s of r.steps) expect(s.pimCycles).toBeLessThanOrEqual(s.hostCycles);
    expect(r.speedup).toBeGreaterThan(1);
    expect(r.speedup).toBeLessThan(r.bandwidthRatio);
    expect(r.bandwidthRatio).toBe(4);
  });
});
