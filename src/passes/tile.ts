/**
 * Tiling: the parameters of the register-tiled GEMM/convolution templates (lower/schedule.ts),
 * chosen per kernel and per device by exhaustive search over the candidates that satisfy the
 * device's capacity constraints, minimizing a predicted cycle count. The `lower` pass takes the
 * device (`lower{device=…}`, the target's roofline profile) and hands the lowerings the policy; each
 * decision is a `tile:` note of the kernel IR dump.
 *
 * Candidates: register tiles R×W (W a multiple of the vector lanes, up to 8 vectors; R up to 16)
 * with R·⌈W/lanes⌉ accumulators + ⌈W/lanes⌉ B vectors + one broadcast A value ≤ the vector (or, on
 * an MCU, floating-point) registers; K blocks kc = ⌈K/b⌉ for b blocks (b ≤ 64, kc·W·e within the
 * first level that holds it); for convolutions X read directly when that is possible, else im2col
 * blocks of a divisor of the output rows whose scratch fits the second cache level (host) or, with
 * the convolution's input and output, the SRAM left beside the stack (MCU).
 *
 * Predicted cycles of a candidate, per GEMM instance (the same reuse rules as the memory model of
 * src/costmodel/memory-model.ts, applied in closed form to the template's loop nest — column blocks
 * outside, K blocks, row blocks inside):
 *  - compute: per k step of a tile the larger of R·⌈W/lanes⌉ vector FMAs at the FMA issue rate,
 *    R + ⌈W/lanes⌉ loads at the load rate, and the step latency (too few independent
 *    accumulators cannot hide it); plus per tile and K block the accumulator loads/stores;
 *  - traffic into each level of capacity S (from the level below, at its bandwidth): nothing when
 *    the GEMM's whole working set fits; else the B slab kc×W once per (column block, K block) when
 *    it fits with a row block's A, else once per row block; A once when it fits with a slab, else
 *    once per column block; the output once, or (K blocks) read and written per K block unless a
 *    column block of it stays; the im2col gather's writes, written back when the block does not fit;
 *  - the cycles are the largest of compute and each level's traffic time, plus the gather.
 * On an MCU (no cache: one SRAM level, weights in flash) the scratch costs arena bytes: the
 * objective is cycles × (1 + scratch / SRAM), so a faster schedule must earn its scratch.
 *
 * A template pays when the problem offers enough independent accumulator vectors to hide the FMA
 * latency (M·⌈N/lanes⌉ ≥ latency × FMA rate) and the best tile wastes at most a third of its
 * lanes; otherwise the lowering keeps its plain loop nest.
 */
import { KilnError } from '../ir/errors.js';
import type { ScalarType } from '../ir/kernel/types.js';
import type { Chosen, ConvProblem, ConvSchedule, GemmProblem, GemmSchedule, TilePolicy } from '../ir/kernel/lower/schedule.js';
import { scheduleText } from '../ir/kernel/lower/schedule.js';
import { getDevice } from '../costmodel/devices.js';
import { DEFAULT_HOST_PROFILE, hostRoofline } from '../costmodel/roofline.js';
import { FMA_LATENCY_CYCLES } from '../costmodel/memory-model.js';

/** What the search needs of a device. */
export interface TileMachine {
  readonly name: string;
  readonly kind: 'host' | 'mcu';
  /** Vector register width in bits (32 on a scalar FPU). */
  readonly vectorBits: number;
  /** Registers that can hold accumulators (vector registers; an MCU's single-precision FP registers). */
  readonly registers: number;
  /** Vector FMAs and vector loads issued per cycle. */
  readonly fmaPerCycle: number;
  readonly loadsPerCycle: number;
  /** Cycles of one accumulator step (the FMA latency). */
  readonly latency: number;
  /** Memory levels fastest first; `bytes` null for the last (DRAM, or an MCU's SRAM/flash). */
  readonly levels: readonly { name: string; bytes: number | null; bytesPerCycle: number }[];
  /**
   * Concurrent read streams a tile may keep (its R rows of A): more than the L1 associativity
   * thrashes when the rows alias (a row length that is a multiple of 4 KiB) and outruns the
   * prefetchers. Host: 8 (assumed: current x86 L1D are 8–12-way); MCU (no cache): unbounded.
   */
  readonly streams: number;
  /**
   * Vectors per tile row the C compiler keeps in registers (host: 2, measured with GCC 12 on AVX-512:
   * a 6×64 tile ran 70× slower than 8×32 on the batch-450 MLP, its rows of four vectors left to
   * memory; MCU: 8 scalar columns).
   */
  readonly rowVectors: number;
  /**
   * Cycles of one k step when the accumulators cannot cover it: two FMA latencies on a host
   * (measured: 4×32 with 8 AVX-512 accumulators ran 2.4× slower than 8×32 with 16 on the
   * batch-450 MLP, where one latency predicts them equal), one on an in-order MCU.
   */
  readonly stepLatency: number;
  /** MCU: SRAM bytes left beside the stack for the arena (activations and scratch). */
  readonly sramBudget: number | null;
  /** Where the figures come from (the note's tail). */
  readonly summary: string;
}

const kib = (b: number): string => (b >= 1 << 20 && b % (1 << 20) === 0 ? `${b >> 20} MiB` : b % 1024 === 0 ? `${b >> 10} KiB` : `${b} B`);

/** Vector registers of a host profile: its `vectorRegisters`, else 32 for 512-bit vectors (AVX-512) and 16 below (AVX2, NEON's count is 32 but its lanes are 128-bit: 16 is the cautious figure). */
function hostRegisters(vectorBits: number, given: number | undefined): number {
  return given ?? (vectorBits >= 512 ? 32 : 16);
}

/** Single-precision FP registers of an MCU FPU (`-d16`: 16 doubles = 32 singles); no FPU: core registers an accumulator tile may take (assumed 8 of r0–r12). */
function mcuRegisters(fpu: string | null): number {
  if (fpu === null) return 8;
  return /-d32$/.test(fpu) ? 64 : 32;
}

const machines = new Map<string, TileMachine>();

/** The tiling figures of a device profile (host or mcu); other kinds tile as the default host profile. */
export function tileMachine(device: string = DEFAULT_HOST_PROFILE): TileMachine {
  const hit = machines.get(device);
  if (hit) return hit;
  const d = getDevice(device);
  let m: TileMachine;
  if (d.kind === 'host') {
    const r = hostRoofline(device);
    const lanes = Math.max(1, d.vectorBits / 32);
    const registers = hostRegisters(d.vectorBits, d.vectorRegisters);
    const levels = (r.levels ?? []).map((l) => ({ name: l.name, bytes: l.bytes, bytesPerCycle: l.bytesPerCycle }));
    m = {
      name: d.name,
      kind: 'host',
      vectorBits: d.vectorBits,
      registers,
      fmaPerCycle: Math.max(1, r.flopsPerCycle / (2 * lanes)),
      loadsPerCycle: Math.max(1, r.bytesPerCycle / (4 * lanes)),
      latency: r.accumulateCycles ?? FMA_LATENCY_CYCLES,
      levels,
      streams: 8,
      rowVectors: 2,
      stepLatency: 2 * (r.accumulateCycles ?? FMA_LATENCY_CYCLES),
      sramBudget: null,
      summary: `${d.name}: ${registers} × ${d.vectorBits}-bit registers, ${levels.filter((l) => l.bytes !== null).map((l) => `${l.name} ${kib(l.bytes!)}`).join(', ')}`,
    };
  } else if (d.kind === 'mcu') {
    const roof = d.roofline;
    const registers = mcuRegisters(d.fpu);
    const budget = d.sram.size - d.stackBytes;
    m = {
      name: d.name,
      kind: 'mcu',
      vectorBits: 32,
      registers,
      fmaPerCycle: Math.max(0.25, (roof?.flopsPerCycle ?? 1) / 2),
      loadsPerCycle: Math.max(0.25, (roof?.bytesPerCycle ?? 4) / 4),
      latency: roof?.accumulateCycles ?? 1,
      levels: [{ name: 'SRAM', bytes: null, bytesPerCycle: roof?.bytesPerCycle ?? 4 }],
      streams: Infinity,
      rowVectors: 8,
      stepLatency: roof?.accumulateCycles ?? 1,
      sramBudget: budget,
      summary: `${d.name}: ${registers} ${d.fpu === null ? 'core' : 'FP'} registers, no cache, SRAM ${kib(d.sram.size)} (${kib(budget)} beside the stack)`,
    };
  } else {
    m = { ...tileMachine(DEFAULT_HOST_PROFILE), name: device, summary: `${device} is a ${d.kind} device: tiles as ${DEFAULT_HOST_PROFILE}` };
  }
  machines.set(device, m);
  return m;
}

const elemBytes = (t: ScalarType): number => (t === 'f64' || t === 'i64' || t === 'u64' ? 8 : t === 'f16' || t === 'bf16' || t === 'i16' || t === 'u16' ? 2 : t === 'i8' || t === 'u8' || t === 'bool' ? 1 : 4);

/** Lanes of accT in one vector register. */
function lanesOf(m: TileMachine, accT: ScalarType): number {
  return Math.max(1, Math.floor(m.vectorBits / (8 * elemBytes(accT))));
}

/** One GEMM instance for the model: B is K × cols at row stride `stride`; `bWarm`: B was just written (im2col). */
interface GemmShape {
  M: number;
  N: number;
  K: number;
  e: number;
  stride: number;
  bWarm: boolean;
}

/** Register tiles that fit the registers: R ≤ 16, W a multiple of the lanes up to 8 vectors (scalar: up to 8 columns). */
function registerTiles(m: TileMachine, lanes: number): { R: number; W: number }[] {
  const out: { R: number; W: number }[] = [];
  for (let v = 1; v <= m.rowVectors; v++) {
    const W = v * lanes;
    for (let R = 1; R <= Math.min(16, m.streams); R++) if (R * v + v + 1 <= m.registers) out.push({ R, W });
  }
  return out;
}

/** Predicted cycles of one GEMM instance under schedule s (see the file comment). */
function gemmCycles(m: TileMachine, g: GemmShape, s: GemmSchedule, lanes: number): number {
  const { M, N, K, e } = g;
  const vec = Math.ceil(s.W / lanes);
  const kc = Math.min(s.kc, K);
  const nKb = Math.ceil(K / kc);
  const nI = Math.ceil(M / s.R);
  const nJ = Math.ceil(N / s.W);
  const perK = Math.max((s.R * vec) / m.fmaPerCycle, (s.R + vec) / m.loadsPerCycle, m.stepLatency);
  const accMoves = (s.R * vec * (nKb > 1 ? 2 : 1)) / m.loadsPerCycle + s.R + vec;
  let compute = nI * nJ * (K * perK + nKb * accMoves);
  if (nKb > 1) compute += (2 * M * N) / lanes / m.loadsPerCycle;
  const slab = kc * s.W * e;
  const aBytes = M * K * e;
  const bBytes = K * g.stride * e;
  const cBytes = M * N * e;
  let memory = 0;
  for (let l = 0; l + 1 < m.levels.length; l++) {
    const S = m.levels[l]!.bytes ?? Infinity;
    const below = m.levels[l + 1]!.bytesPerCycle;
    if (aBytes + bBytes + cBytes <= S) continue;
    let bytes = 0;
    if (bBytes <= S) bytes += g.bWarm ? 0 : bBytes;
    else if (slab + 2 * s.R * kc * e <= S) bytes += bBytes;
    else bytes += nI * bBytes;
    bytes += aBytes + slab <= S ? aBytes : nJ * aBytes;
    if (nKb === 1) bytes += cBytes;
    else bytes += M * s.W * e + slab + M * kc * e <= S ? 3 * cBytes : (2 * nKb + 1) * cBytes;
    memory = Math.max(memory, bytes / below);
  }
  if (m.levels.length === 1) {
    // no cache: every load and store at the memory's bandwidth
    const bytes = nI * nJ * K * (s.R + s.W) * e + (nKb > 1 ? 2 * nKb + 1 : 1) * cBytes;
    memory = bytes / m.levels[0]!.bytesPerCycle;
  }
  // an in-order MCU core does not overlap its loads with its arithmetic
  return m.kind === 'mcu' ? compute + memory : Math.max(compute, memory);
}

/** K blocks worth trying: kc = ⌈K/b⌉ for b blocks, kc a multiple of 8 unless it is K. */
function kBlocks(K: number, blockable: boolean): number[] {
  if (!blockable || K <= 64) return [K];
  const out = new Set<number>([K]);
  for (let b = 2; b <= 64; b++) {
    const kc = Math.ceil(K / b / 8) * 8;
    if (kc >= 16 && kc < K) out.add(kc);
  }
  return [...out];
}

/** Useful fraction of the MACs the tiles compute (padding rows and columns are wasted). */
function utilization(M: number, N: number, R: number, W: number): number {
  return (M * N) / (Math.ceil(M / R) * R * Math.ceil(N / W) * W);
}

/** Whether a template pays for an M × N output at all (see the file comment). */
function pays(m: TileMachine, M: number, N: number, lanes: number): boolean {
  return M * Math.ceil(N / lanes) >= m.latency * m.fmaPerCycle;
}

/** Parameters a pipeline fixes (`lower{tile=RxW[/kc[/rows]]}`, for experiments and tests); the search chooses the rest. */
export interface FixedTile {
  R: number;
  W: number;
  kc?: number;
  rows?: number;
}

/** Parses `RxW`, `RxW/kc` or `RxW/kc/rows` (kc `K`: no K blocks). */
export function parseFixedTile(s: string): FixedTile {
  const m = /^(\d+)x(\d+)(?:\/(\d+|K)(?:\/(\d+))?)?$/.exec(s.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new KilnError('usage', `lower: tile '${s}' must look like RxW, RxW/kc or RxW/kc/rows (e.g. 8x32/256)`);
  return { R: Number(m[1]), W: Number(m[2]), ...(m[3] !== undefined ? { kc: m[3] === 'K' ? Infinity : Number(m[3]) } : {}), ...(m[4] !== undefined ? { rows: Number(m[4]) } : {}) };
}

interface Best<S> {
  schedule: S;
  cost: number;
  candidates: number;
  /** No candidate met the scratch limit ('scratch'), or any constraint ('all'): the cheapest of the rest. */
  relaxed?: 'scratch' | 'all';
}

/** Register tiles and K blocks to try: the fixed ones, or the search space. */
function tileSpace(m: TileMachine, lanes: number, fixed: FixedTile | undefined): { R: number; W: number }[] {
  return fixed ? [{ R: fixed.R, W: fixed.W }] : registerTiles(m, lanes);
}

function kSpace(K: number, blockable: boolean, fixed: FixedTile | undefined): number[] {
  if (fixed?.kc !== undefined) return [blockable ? Math.min(fixed.kc, K) : K];
  return kBlocks(K, blockable);
}

function searchGemm(m: TileMachine, p: GemmProblem, fixed?: FixedTile): Best<GemmSchedule> | null {
  const lanes = lanesOf(m, p.accT);
  if (!fixed && !pays(m, p.M, p.N, lanes)) return null;
  const e = elemBytes(p.accT);
  const g: GemmShape = { M: p.M, N: p.N, K: p.K, e, stride: p.N, bWarm: false };
  let best: Best<GemmSchedule> | null = null;
  let n = 0;
  for (const t of tileSpace(m, lanes, fixed)) {
    if (!fixed && utilization(p.M, p.N, t.R, t.W) < 2 / 3) continue;
    for (const kc of kSpace(p.K, p.kBlockable, fixed)) {
      n++;
      const s = { R: t.R, W: t.W, kc };
      const c = gemmCycles(m, g, s, lanes) * p.count;
      if (!best || c < best.cost - 1e-9) best = { schedule: s, cost: c, candidates: 0 };
    }
  }
  if (best) best.candidates = n;
  return best;
}

function searchConv(m: TileMachine, p: ConvProblem, fixed?: FixedTile): Best<ConvSchedule> | null {
  return searchConvWith(m, p, fixed, 2) ?? searchConvWith(m, p, fixed, 1) ?? searchConvWith(m, p, fixed, 0);
}

/**
 * `level` 2: the scratch capacity and the utilization constraints hold; 1 (nothing met them): the
 * utilization ones only (the scratch traffic is priced by the model anyway); 0: none.
 */
function searchConvWith(m: TileMachine, p: ConvProblem, fixed: FixedTile | undefined, level: number): Best<ConvSchedule> | null {
  const strict = level >= 1;
  const capacity = level >= 2;
  const lanes = lanesOf(m, p.accT);
  const P = p.OH * p.OW;
  if (!fixed && !pays(m, p.Mg, P, lanes)) return null;
  const e = elemBytes(p.accT);
  const l2 = m.levels.length > 2 ? m.levels[1]!.bytes : null;
  let best = null as Best<ConvSchedule> | null;
  let n = 0;
  const tiles = tileSpace(m, lanes, fixed);
  const consider = (direct: boolean, rows: number): void => {
    const cols = rows * p.OW;
    const nBlocks = p.OH / rows;
    for (const t of tiles) {
      if (!fixed && strict && utilization(p.Mg, cols, t.R, t.W) < 2 / 3) continue;
      // a gathered block of a single tile column re-reads the whole weight panel per tile (and GCC
      // was seen to vectorize such narrow panels badly): blocks hold two tile columns unless they are the image
      if (!fixed && strict && !direct && rows < p.OH && cols < 2 * t.W) continue;
      const padded = Math.ceil(cols / t.W) * t.W;
      const stride = direct ? P : padded;
      const scratch = direct ? 0 : p.K * stride * e;
      if (capacity && fixed?.rows === undefined && !direct && m.sramBudget !== null && p.ioBytes + scratch > m.sramBudget && rows > 1) continue;
      if (capacity && fixed?.rows === undefined && !direct && l2 !== null && scratch > l2 && rows > 1) continue;
      // the gather: K·cols stores (at the load/store rate, scalar), reading X rows of the block
      const xRows = Math.min(p.IH, rows * p.SH + p.KH);
      const gather = direct ? 0 : nBlocks * (p.K * padded + p.Cg * xRows * p.IW) / m.loadsPerCycle;
      for (const kc of kSpace(p.K, true, fixed)) {
        n++;
        const s = { R: t.R, W: t.W, kc };
        const g: GemmShape = { M: p.Mg, N: cols, K: p.K, e, stride, bWarm: !direct };
        let c = (nBlocks * gemmCycles(m, g, s, lanes) + gather) * p.count;
        if (m.sramBudget !== null) c *= 1 + scratch / m.sramBudget;
        if (!best || c < best.cost - 1e-9) best = { schedule: { gemm: s, direct, rows }, cost: c, candidates: 0 };
      }
    }
  };
  if (fixed?.rows !== undefined) {
    // the largest divisor of OH up to the rows asked for
    let d = Math.min(p.OH, Math.max(1, fixed.rows));
    while (p.OH % d !== 0) d--;
    consider(false, d);
  } else {
    if (p.canDirect) consider(true, p.OH);
    for (let d = 1; d <= p.OH; d++) if (p.OH % d === 0) consider(false, d);
  }
  if (best) best.candidates = n;
  if (best && level < 2) best.relaxed = level === 1 ? 'scratch' : 'all';
  return best;
}

function convNote(m: TileMachine, p: ConvProblem, b: Best<ConvSchedule>, how: string): string {
  const s = b.schedule;
  const what = s.direct ? 'direct' : `im2col rows=${s.rows} (scratch ${kib(p.K * Math.ceil((s.rows * p.OW) / s.gemm.W) * s.gemm.W * elemBytes(p.accT))})`;
  return `${scheduleText(s.gemm, p.K)} ${what} (${how}${b.relaxed === 'scratch' ? `no block within the scratch limit (${m.sramBudget !== null ? 'SRAM' : 'L2'}), ` : b.relaxed === 'all' ? 'no candidate within the limits, ' : ''}best of ${b.candidates} candidates, predicted ${Math.round(b.cost)} cycles; ${m.summary})`;
}

/** The policy for a device: searches once per distinct problem. */
export function tilePolicy(device: string = DEFAULT_HOST_PROFILE, fixed?: FixedTile): TilePolicy {
  const m = tileMachine(device);
  const how = fixed ? 'fixed by tile=…, ' : '';
  const convs = new Map<string, Chosen<ConvSchedule> | null>();
  const gemms = new Map<string, Chosen<GemmSchedule> | null>();
  return {
    conv(p) {
      const key = JSON.stringify(p);
      if (!convs.has(key)) {
        const b = searchConv(m, p, fixed);
        convs.set(key, b ? { schedule: b.schedule, note: convNote(m, p, b, how) } : null);
      }
      return convs.get(key)!;
    },
    gemm(p) {
      const key = JSON.stringify(p);
      if (!gemms.has(key)) {
        const b = searchGemm(m, p, fixed);
        gemms.set(key, b ? { schedule: b.schedule, note: `${scheduleText(b.schedule, p.K)} (${how}best of ${b.candidates} candidates, predicted ${Math.round(b.cost)} cycles; ${m.summary})` } : null);
      }
      return gemms.get(key)!;
    },
  };
}

/** Checks a `device` option of the lower pass (a host or mcu profile; other kinds tile as the default host). */
export function checkTileDevice(device: string): void {
  try {
    tileMachine(device);
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError('usage', `lower: device '${device}': ${e.message}`);
    throw e;
  }
}
