/**
 * `kiln calibrate`: measures this host with small generated C microbenchmarks (calibrate-c.ts),
 * built with the host C compiler and the bench flags, and turns the results into a `host` device
 * profile in the shared device schema: the clock, peak scalar and vector f32 and i32 operations per
 * cycle, and the sustained read bandwidth of each cache level and of DRAM (working sets sized from
 * the cache sizes: the OS's (getconf) where plausible, else the base profile's). Every measured
 * figure's `source` says when and on which CPU it was measured.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { KilnError } from '../ir/errors.js';
import { cCompiler } from '../backends/c/run.js';
import { makeScratchDir } from '../backends/scratch.js';
import { commandFailure } from '../backends/tools.js';
import { autoVectorSource, CHAINS, mainSource, peakSource, scalarSource, VECTOR_BYTES } from './calibrate-c.js';
import { BENCH_CFLAGS } from '../driver/bench.js';
import { getDevice, loadDevices, parseDevice, type CacheLevel, type HostDevice } from './devices.js';
import { DEFAULT_HOST_PROFILE } from './roofline.js';

export interface CalibrateOptions {
  /** Profile name (default `host`). */
  name?: string;
  /** Data-sheet profile whose cache sizes and line size are the starting point. */
  base?: string;
  /** Milliseconds per timed trial (default 2: short trials, so that some run without being preempted on a shared machine). */
  trialMs?: number;
  /** Trials per figure; the best is kept, the median reported as the noise (default 31). */
  trials?: number;
  /** Tiny working sets and trials (tests): the figures are not meaningful. */
  quick?: boolean;
  cc?: string;
  /** Date stamp in the sources (default today, UTC). */
  date?: string;
}

/** One measured figure: the best trial and the median trial (their gap is the noise). */
export interface Figure {
  name: string;
  best: number;
  median: number;
}

export interface CalibrateResult {
  profile: HostDevice;
  /** The JSON text of the profile (what -o writes). */
  text: string;
  figures: Figure[];
  /** One line per figure, for the terminal. */
  lines: string[];
  cpu: string;
  ms: number;
}

/** The flags `kiln bench` builds with, minus -std (the benchmarks use vector extensions). */
const PEAK_FLAGS = ['-O3', '-march=native', '-ffp-contract=fast'];
const SCALAR_FLAGS = [...PEAK_FLAGS, '-fno-tree-vectorize', '-fno-tree-slp-vectorize'];

export function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model.trim() || `${os.arch()} CPU`;
}

/** Cache sizes the OS reports (getconf), by level; empty when unavailable. */
function osCacheSizes(): Map<number, number> {
  const out = new Map<number, number>();
  try {
    const text = execFileSync('getconf', ['-a'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString();
    for (const [lv, key] of [[1, 'LEVEL1_DCACHE_SIZE'], [2, 'LEVEL2_CACHE_SIZE'], [3, 'LEVEL3_CACHE_SIZE']] as const) {
      const m = new RegExp(`^${key}\\s+(\\d+)\\s*$`, 'm').exec(text);
      if (m && Number(m[1]) > 0) out.set(lv, Number(m[1]));
    }
  } catch {
    // no getconf: the base profile's sizes
  }
  return out;
}

/** Largest plausible size of one core's view of a cache level (a VM may report a whole socket's L3). */
const PLAUSIBLE_MAX = 256 * 1024 * 1024;

function cacheLevels(base: HostDevice, quick: boolean): { caches: CacheLevel[]; from: string[] } {
  const osSizes = quick ? new Map<number, number>() : osCacheSizes();
  const from: string[] = [];
  let prev = 0;
  const caches = base.caches.map((c) => {
    const o = osSizes.get(c.level);
    const useOs = o !== undefined && o > prev && o <= PLAUSIBLE_MAX && (c.level < 3 || o <= 64 * 1024 * 1024);
    const bytes = useOs ? o : c.bytes;
    prev = bytes;
    from.push(useOs ? `L${c.level} size reported by the OS (getconf)` : `L${c.level} size from the ${base.name} data sheet`);
    return { ...c, bytes, source: useOs ? `size reported by the OS (getconf LEVEL${c.level}_${c.level === 1 ? 'DCACHE' : 'CACHE'}_SIZE); line size and sharing from ${base.name}` : `size, line and sharing from ${base.name}: ${c.source}` };
  });
  return { caches, from };
}

/** Working sets for the read-bandwidth figures: half of each level (above the one before), then DRAM. */
export function workingSets(caches: readonly CacheLevel[], quick: boolean): { label: string; bytes: number }[] {
  if (quick) return [...caches.map((c, i) => ({ label: `L${c.level}`, bytes: 4096 << i })), { label: 'DRAM', bytes: 65536 }];
  const out = caches.map((c, i) => ({ label: `L${c.level}`, bytes: Math.max(Math.floor(c.bytes / 2), i > 0 ? 2 * caches[i - 1]!.bytes : 0) }));
  const last = caches[caches.length - 1]!.bytes;
  out.push({ label: 'DRAM', bytes: Math.max(8 * last, 128 * 1024 * 1024) });
  return out;
}

function build(dir: string, cc: string): string {
  const run = (args: string[]): void => {
    try {
      execFileSync(cc, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    } catch (e) {
      throw commandFailure('calibrate: building the microbenchmarks', e, { tool: `C compiler '${cc}'`, timeoutMs: 120_000 });
    }
  };
  fs.writeFileSync(path.join(dir, 'peak.c'), peakSource());
  fs.writeFileSync(path.join(dir, 'scalar.c'), scalarSource());
  fs.writeFileSync(path.join(dir, 'main.c'), mainSource());
  run([...SCALAR_FLAGS, '-c', 'scalar.c', '-o', 'scalar.o']);
  run([...PEAK_FLAGS, '-c', 'peak.c', '-o', 'peak.o']);
  run([...PEAK_FLAGS, 'main.c', 'peak.o', 'scalar.o', '-o', 'calib']);
  return path.join(dir, 'calib');
}

/**
 * The vector width (bits) the auto-vectorizer uses with the bench flags, read from the assembly of
 * a simple loop (x86: zmm/ymm/xmm packed ops); null when it cannot tell (other ISAs).
 */
function autoVectorBits(dir: string, cc: string): number | null {
  fs.writeFileSync(path.join(dir, 'auto.c'), autoVectorSource());
  try {
    execFileSync(cc, [...BENCH_CFLAGS.split(/\s+/), '-S', 'auto.c', '-o', 'auto.s'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch {
    return null;
  }
  const asm = fs.readFileSync(path.join(dir, 'auto.s'), 'utf8');
  const packed = asm.split('\n').filter((l) => /\b(v?fmadd\w*ps|v?mulps|v?addps)\b/.test(l));
  if (packed.some((l) => l.includes('%zmm'))) return 512;
  if (packed.some((l) => l.includes('%ymm'))) return 256;
  if (packed.some((l) => l.includes('%xmm'))) return 128;
  return null;
}

function parseFigures(text: string): Figure[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length === 3 && Number.isFinite(Number(p[1])) && Number.isFinite(Number(p[2])))
    .map((p) => ({ name: p[0]!, best: Number(p[1]), median: Number(p[2]) }));
}

const si = (x: number, unit: string): string => {
  const p: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [v, s] of p) if (Math.abs(x) >= v) return `${(x / v).toPrecision(3)} ${s}${unit}`;
  return `${x.toPrecision(3)} ${unit}`;
};
const r3 = (x: number): number => Number(x.toPrecision(3));
const kib = (n: number): string => (n >= 1048576 ? `${(n / 1048576).toFixed(n % 1048576 ? 1 : 0)} MiB` : `${(n / 1024).toFixed(0)} KiB`);

/** Runs the microbenchmarks and builds the profile (nothing is written). */
export function calibrate(opts: CalibrateOptions = {}): CalibrateResult {
  const t0 = performance.now();
  const name = opts.name ?? 'host';
  if (!/^[A-Za-z0-9._+-]+$/.test(name)) throw new KilnError('usage', `calibrate --name '${name}' must be letters, digits, . _ + -`);
  if (loadDevices().has(name)) throw new KilnError('usage', `calibrate --name '${name}' is a shipped device's name (its data sheet stays); choose another`);
  const base = getDevice(opts.base ?? DEFAULT_HOST_PROFILE, 'host');
  const quick = opts.quick ?? false;
  const { caches, from } = cacheLevels(base, quick);
  const sets = workingSets(caches, quick);
  const dir = makeScratchDir('kiln-calibrate-');
  let out: string;
  let autoBits: number | null;
  try {
    const cc = opts.cc ?? cCompiler();
    const exe = build(dir, cc);
    autoBits = autoVectorBits(dir, cc);
    const readBytes = autoBits !== null && (VECTOR_BYTES as readonly number[]).includes(autoBits / 8) ? autoBits / 8 : Math.max(...VECTOR_BYTES);
    const args = [String(opts.trialMs ?? (quick ? 1 : 2)), String(opts.trials ?? (quick ? 3 : 31)), String(readBytes), ...sets.map((s) => String(s.bytes))];
    try {
      out = execFileSync(exe, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 }).toString();
    } catch (e) {
      throw new KilnError('runtime', `calibrate: running the microbenchmarks failed: ${String((e as Error).message).split('\n')[0]}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const figures = parseFigures(out);
  const get = (n: string): Figure | undefined => figures.find((f) => f.name === n);
  const need = (n: string): Figure => get(n) ?? ((): never => { throw new KilnError('runtime', `calibrate: the microbenchmarks printed no '${n}' figure`); })();
  const cpu = cpuModel();
  const date = opts.date ?? new Date().toISOString().slice(0, 10);
  const stamp = `measured by kiln calibrate on ${date}, ${cpu}`;
  const clock = get('clock');
  const clockHz = clock ? clock.best : base.roofline.clockHz;
  const perCycle = (f: Figure): number => r3(f.best / clockHz);
  // the width the auto-vectorizer uses with the bench flags (generated C reaches no more), else the
  // widest the host runs fastest (a 512-bit type on a 256-bit machine is split in two)
  const best = (kind: 'f32' | 'i32'): { f: Figure; bits: number } =>
    autoBits !== null && get(`${kind}.vector${autoBits}`)
      ? { f: need(`${kind}.vector${autoBits}`), bits: autoBits }
      : VECTOR_BYTES.map((w) => ({ f: need(`${kind}.vector${w * 8}`), bits: w * 8 })).reduce((a, b) => (b.f.best > a.f.best * 1.1 ? b : a));
  const vf = best('f32');
  const vi = best('i32');
  const sf = need('f32.scalar');
  const si32 = need('i32.scalar');
  const acc = get('acc.scalar');
  const reads = sets.map((s, i) => ({ ...s, f: need(`read.${i}`) }));
  const clockText = clock ? `clock ${si(clockHz, 'Hz')} measured (a chain of dependent integer adds, one per cycle)` : `clock ${si(clockHz, 'Hz')} from ${base.name} (not measurable on this architecture)`;
  const roofSource = `${stamp}: ${clockText}; f32 ${CHAINS} independent multiply-add chains (2 flops each), i32 add+xor chains, scalar (auto-vectorization off) and on ${vf.bits}-bit vectors (${autoBits !== null ? 'the width the auto-vectorizer uses with the bench flags' : 'the fastest width'}); best of the trials; bytesPerCycle is the L1 read bandwidth at that width; accumulateCycles: a scalar dot product into one float accumulator over an L1-resident array`;
  const profile: HostDevice = {
    name,
    kind: 'host',
    description: `This host (${cpu}), measured by kiln calibrate`,
    source: `${stamp}; cache sizes: ${from.join(', ')}; cores is 1 (the figures are one core's)`,
    cores: 1,
    vectorBits: vf.bits,
    caches: caches.map((c, i) => ({ ...c, bytesPerCycle: perCycle(reads[i]!.f), source: `${c.source}; bytesPerCycle ${stamp} (read of a ${kib(reads[i]!.bytes)} working set)` })),
    memory: { bytesPerCycle: perCycle(reads[reads.length - 1]!.f), source: `${stamp} (read of a ${kib(reads[reads.length - 1]!.bytes)} working set)` },
    roofline: {
      name,
      clockHz: r3(clockHz),
      flopsPerCycle: perCycle(vf.f),
      intOpsPerCycle: perCycle(vi.f),
      bytesPerCycle: perCycle(reads[0]!.f),
      scalarFlopsPerCycle: perCycle(sf),
      scalarIntOpsPerCycle: perCycle(si32),
      ...(acc ? { accumulateCycles: r3(clockHz / acc.best) } : {}),
      source: roofSource,
    },
  };
  const { name: _n, ...roofFile } = profile.roofline;
  void _n;
  const text = `${JSON.stringify({ ...profile, roofline: roofFile }, null, 2)}\n`;
  // the written file must load through the same checks every device file gets
  parseDevice(`${name}.json`, text);
  const noise = (f: Figure): string => (f.best > 0 ? `median ${(100 * (1 - f.median / f.best)).toFixed(0)}% below best` : '');
  const lines = [
    ...(clock ? [`clock            ${si(clockHz, 'Hz').padStart(12)}  (${noise(clock)})`] : []),
    `f32 scalar       ${si(sf.best, 'FLOP/s').padStart(12)}  ${String(perCycle(sf)).padStart(6)} /cycle  (${noise(sf)})`,
    `f32 vector${String(vf.bits).padEnd(6)} ${si(vf.f.best, 'FLOP/s').padStart(12)}  ${String(perCycle(vf.f)).padStart(6)} /cycle  (${noise(vf.f)})`,
    ...(acc ? [`f32 accumulate   ${si(acc.best, 'it/s').padStart(12)}  ${String(r3(clockHz / acc.best)).padStart(6)} cycle/iteration  (${noise(acc)})`] : []),
    `i32 scalar       ${si(si32.best, 'op/s').padStart(12)}  ${String(perCycle(si32)).padStart(6)} /cycle  (${noise(si32)})`,
    `i32 vector${String(vi.bits).padEnd(6)} ${si(vi.f.best, 'op/s').padStart(12)}  ${String(perCycle(vi.f)).padStart(6)} /cycle  (${noise(vi.f)})`,
    ...reads.map((r) => `read ${r.label.padEnd(4)} ${kib(r.bytes).padStart(7)} ${si(r.f.best, 'B/s').padStart(12)}  ${String(perCycle(r.f)).padStart(6)} B/cycle  (${noise(r.f)})`),
  ];
  return { profile, text, figures, lines, cpu, ms: performance.now() - t0 };
}

/** The file a profile is written to: -o, or `<name>.json` in the working folder. */
export function profileFile(name: string, output?: string): string {
  return output ?? `${name}.json`;
}

/**
 * Writes the profile; an existing file is never replaced without `force` (users' files are sacred).
 * The file name must be `<name>.json` so the device loader accepts it.
 */
export function writeProfile(file: string, text: string | null, force: boolean): void {
  if (fs.existsSync(file) && !force) throw new KilnError('usage', `calibrate: '${file}' exists; pass --force to replace it`);
  if (text === null) return; // the check alone
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new KilnError('io', `calibrate: cannot write '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
