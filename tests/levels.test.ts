/**
 * Memory levels: the level MIP against the greedy heuristic on synthetic lifetimes, the rewrite
 * (copy kernels, one arena per level) on samples with the interpreter, the host C target and the
 * MCU target under QEMU on a board with 64 KiB of SRAM and external PSRAM.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { loadModel } from '../src/driver/load.js';
import { specializeShapes } from '../src/passes/specialize.js';
import { lowerModule } from '../src/passes/lower.js';
import { planMemory } from '../src/passes/plan-memory.js';
import { placeLevels, ON_CHIP } from '../src/passes/place-levels.js';
import { allOnChip, fitsCapacity, greedyLevels, levelDemand, levelTraffic, solveLevelsIlp, type LevelBlock, type LevelProblem } from '../src/costmodel/levels-ilp.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { verifyProgram } from '../src/ir/kernel/verify.js';
import { runC } from '../src/backends/c/run.js';
import { emitMcu } from '../src/backends/mcu/project.js';
import { runMcu } from '../src/backends/mcu/run.js';
import { getBoard } from '../src/costmodel/boards.js';
import { parsePipeline, runPipeline } from '../src/passes/pipeline.js';
import { lookupTarget, type KernelTarget } from '../src/backends/target.js';
import { RUN_SETTINGS } from '../src/driver/targets.js';
import { MEMORY_PLAN, type MemoryLayout } from '../src/ir/kernel/layout.js';
import { compareTensors, DEFAULT_TOLERANCE } from '../src/driver/compare.js';
import { dataSets, readInputs } from '../src/driver/testcase.js';
import { readValueFile } from '../src/frontend/onnx/values.js';
import type { Program } from '../src/ir/kernel/types.js';
import type { Tensor } from '../src/ir/tensor.js';
import { hasTool, kiln, tempDir } from './helpers/onnx-builder.js';

const BOARD = 'mps2-an386-psram';
const hasGcc = hasTool('arm-none-eabi-gcc') && hasTool('arm-none-eabi-size');
const hasQemu = hasTool('qemu-system-arm');
const hasCc = hasTool('cc');
if (!hasGcc) console.log('skipped: arm-none-eabi-gcc not installed');
if (!hasQemu) console.log('skipped: qemu-system-arm not installed');
if (!hasCc) console.log('skipped: cc not installed');

interface Sample {
  program: Program;
  inputs: Tensor[];
  expected: Tensor[];
}

function sample(name: string): Sample {
  const dir = path.resolve('samples', name);
  const m = loadModel(path.join(dir, 'model.onnx'));
  const set = dataSets(dir)[0]!;
  const files = (prefix: string): string[] => fs.readdirSync(set).filter((f) => f.startsWith(prefix)).sort().map((f) => path.join(set, f));
  const inputs = readInputs(m, files('input_')) as Tensor[];
  const expected = files('output_').map((f) => readValueFile(f, null) as Tensor);
  specializeShapes(m, new Map());
  return { program: lowerModule(m), inputs, expected };
}

/** The mcu target's pipeline for a board (plan-memory, place-levels) on the program, in place; its layout. */
function mcuPipeline(program: Program, board: string): MemoryLayout {
  const t = lookupTarget('mcu') as KernelTarget;
  const r = runPipeline({ level: 'kernel', program }, parsePipeline(t.pipeline({ board }, RUN_SETTINGS)));
  return r.results.get(MEMORY_PLAN) as MemoryLayout;
}

function expectClose(actual: Tensor[], expected: Tensor[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(compareTensors(a, expected[i]!, DEFAULT_TOLERANCE)).toBeNull());
}

/** Deterministic pseudo-random numbers (LCG). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Random blocks with 1-3 uses each over `steps` steps; one member, written at its first use. */
function syntheticProblem(seed: number, steps = 10, count = 6): LevelProblem {
  const r = rng(seed);
  const blocks: LevelBlock[] = [];
  for (let id = 0; id < count; id++) {
    const size = 16 * (1 + Math.floor(r() * 8));
    const steps0 = [Math.floor(r() * (steps - 2))];
    const n = Math.floor(r() * 3);
    for (let k = 0; k < n && steps0[steps0.length - 1]! < steps - 1; k++) steps0.push(Math.min(steps - 1, steps0[steps0.length - 1]! + 1 + Math.floor(r() * 4)));
    const uses = steps0.map((step) => ({ step, directBytes: size * (1 + Math.floor(r() * 6)) }));
    const boundaries = uses.slice(1).map(() => ({ reloadBytes: size }));
    const outs = boundaries.map((_, i) => ({ boundary: i, bytes: size, sameEpoch: boundaries.map((__, e) => e).filter((e) => e < i), writtenAt: 0 }));
    blocks.push({ id, size, uses, boundaries, outs });
  }
  const peak = Math.max(...levelDemand({ steps, capacity: 0, blocks }, allOnChip({ steps, capacity: 0, blocks })));
  return { steps, capacity: 16 * Math.floor((peak * 0.5) / 16), blocks };
}

/** Least traffic over every consistent decision that fits (exhaustive: small problems only). */
function bruteForce(p: LevelProblem): number {
  // every (resident, keep) assignment of each block, keep only between resident uses
  const configs = p.blocks.map((b) => {
    const out: { resident: boolean[]; keep: boolean[] }[] = [];
    for (let rm = 0; rm < 1 << b.uses.length; rm++) {
      const resident = b.uses.map((_, i) => ((rm >> i) & 1) === 1);
      for (let km = 0; km < 1 << b.boundaries.length; km++) {
        const keep = b.boundaries.map((_, i) => ((km >> i) & 1) === 1);
        if (keep.every((k, i) => !k || (resident[i] && resident[i + 1]))) out.push({ resident, keep });
      }
    }
    return out;
  });
  let best = Infinity;
  const d = allOnChip(p);
  const go = (bi: number): void => {
    if (bi === p.blocks.length) {
      if (fitsCapacity(p, d)) best = Math.min(best, levelTraffic(p, d));
      return;
    }
    for (const c of configs[bi]!) {
      d.resident[bi] = c.resident;
      d.keep[bi] = c.keep;
      go(bi + 1);
    }
  };
  go(0);
  return best;
}

const SEEDS = [1, 2, 3, 4, 5, 6];

describe('level placement model', () => {
  it('the board with external PSRAM is described as data', () => {
    const b = getBoard(BOARD);
    expect(b.qemuMachine).toBe('mps2-an386');
    expect(b.sram.size).toBe(64 * 1024);
    expect(b.levels).toHaveLength(1);
    expect(b.levels![0]).toMatchObject({ name: 'psram', origin: 0x21000000 });
    expect(b.levels![0]!.source).toMatch(/hw\/arm\/mps2\.c/);
    // existing boards have no levels
    expect(getBoard('mps2-an386').levels).toBeUndefined();
  });

  it('a hand-made case: spilling the long-lived block beats accessing a hot one off-chip', () => {
    // A (64 B) is used at 0 and 4; B, C (64 B each) at 1-3 by kernels that read them 8 times.
    const hot = [1, 2, 3].map((step) => ({ step, directBytes: 512 }));
    const blocks: LevelBlock[] = [
      { id: 0, size: 64, uses: [{ step: 0, directBytes: 64 }, { step: 4, directBytes: 64 }], boundaries: [{ reloadBytes: 64 }], outs: [{ boundary: 0, bytes: 64, sameEpoch: [], writtenAt: 0 }] },
      { id: 1, size: 64, uses: hot, boundaries: [{ reloadBytes: 64 }, { reloadBytes: 64 }], outs: [] },
      { id: 2, size: 64, uses: hot, boundaries: [{ reloadBytes: 64 }, { reloadBytes: 64 }], outs: [] },
    ];
    const p: LevelProblem = { steps: 5, capacity: 128, blocks };
    const g = greedyLevels(p);
    expect(fitsCapacity(p, g)).toBe(true);
    const r = solveLevelsIlp(p, { timeLimitMs: 10_000, start: g });
    expect(r.status).toBe('optimal');
    // A off-chip: 128 B; A spilled (out + in): 128 B; any use of B or C off-chip: 512 B or more
    expect(r.traffic).toBe(128);
    expect(bruteForce(p)).toBe(128);
    expect(r.decision!.resident[1]).toEqual([true, true, true]);
    expect(r.decision!.resident[2]).toEqual([true, true, true]);
  });

  it('on synthetic lifetimes the MIP finds the optimum (brute force), never worse than greedy, within the capacity', () => {
    let better = 0;
    for (const seed of SEEDS) {
      const p = syntheticProblem(seed);
      const g = greedyLevels(p);
      expect(fitsCapacity(p, g), `seed ${seed}: greedy`).toBe(true);
      const r = solveLevelsIlp(p, { timeLimitMs: 10_000, start: g });
      expect(r.status, `seed ${seed}: ${r.message ?? ''}`).toBe('optimal');
      expect(fitsCapacity(p, r.decision!), `seed ${seed}: ilp`).toBe(true);
      expect(Math.max(...levelDemand(p, r.decision!))).toBeLessThanOrEqual(p.capacity);
      expect(r.traffic).toBe(levelTraffic(p, r.decision!));
      expect(r.traffic!).toBeLessThanOrEqual(levelTraffic(p, g));
      expect(r.traffic).toBe(bruteForce(p));
      if (r.traffic! < levelTraffic(p, g)) better++;
    }
    // the instances are fixed, so this records that the greedy heuristic is not optimal on them
    expect(better).toBeGreaterThan(0);
  });
});

describe('placing a sample across two levels', () => {
  const s = sample('transformer-block');
  const base = planMemory(s.program, { timeLimitMs: 1000 });
  const capacity = 16 * Math.floor((base.arenaBytes * 0.6) / 16);
  const placed = placeLevels(s.program, { capacity, level: { name: 'psram', size: 1 << 24 }, timeLimitMs: 5000 });

  it('fits the on-chip capacity, spills with copy kernels and reports the traffic', () => {
    const r = placed.plan.levelReport;
    expect(placed.plan.arenaBytes).toBeLessThanOrEqual(capacity);
    expect(r.levels[0]).toEqual({ name: ON_CHIP, bytes: placed.plan.arenaBytes, capacity });
    expect(r.levels[1]!.bytes).toBeGreaterThan(0);
    expect(r.offChipTrafficBytes).toBeGreaterThan(0);
    expect(r.levelPlacement.copyKernels).toBeGreaterThan(0);
    expect(r.levelPlacement.copyIns).toBeGreaterThan(0);
    expect(placed.program.kernels.length).toBe(s.program.kernels.length + r.levelPlacement.copyKernels);
    expect(placed.program.kernels.filter((k) => k.origin.op === 'CopyIn' || k.origin.op === 'CopyOut')).toHaveLength(r.levelPlacement.copyKernels);
    // every temp a kernel touches has exactly one place: the on-chip arena or the PSRAM arena
    const psram = placed.plan.levels[0]!;
    for (const [b] of psram.offsets) expect(placed.plan.arenaOffset.has(b)).toBe(false);
    expect(psram.bytes).toBe(r.levels[1]!.bytes);
    // the original program is left as it was; the rewritten one is well formed
    expect(s.program.kernels.length).toBe(base.liveness.steps);
    expect(() => verifyProgram(placed.program)).not.toThrow();
    for (const b of placed.program.buffers) if (b.role === 'temp' && !b.viewOf && b.level) expect([ON_CHIP, 'psram']).toContain(b.level);
  });

  it('the rewritten program computes the same outputs (interpreter)', () => {
    expectClose(runProgram(placed.program, s.inputs), s.expected);
  });

  it.skipIf(!hasCc)('the host C target runs it with one static arena per level', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-levels-'));
    try {
      expectClose(runC(placed.program, 'transformer', s.inputs, placed.plan, { keepDir: dir }), s.expected);
      const c = fs.readFileSync(path.join(dir, 'model.c'), 'utf8');
      expect(c).toMatch(new RegExp(`static unsigned char kiln_arena\\[${placed.plan.arenaBytes}\\]`));
      expect(c).toMatch(new RegExp(`static unsigned char kiln_arena_psram\\[${placed.plan.levels[0]!.bytes}\\] __attribute__\\(\\(aligned\\(16\\)\\)\\);`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('MCU board with 64 KiB SRAM and PSRAM', () => {
  it('a program that fits on-chip gives the same model.c as on a board without levels', () => {
    const s = sample('mlp');
    const a = emitMcu(s.program, 'mlp', getBoard(BOARD), mcuPipeline(s.program, BOARD));
    const b = emitMcu(s.program, 'mlp', getBoard('mps2-an386'), mcuPipeline(s.program, 'mps2-an386'));
    expect(a.files.get('model.c')).toBe(b.files.get('model.c'));
    expect(a.report.memory.levels).toBeUndefined();
    expect(a.files.get('link.ld')).not.toMatch(/kiln_psram/);
  });

  it.skipIf(!hasGcc || !fs.existsSync(path.resolve('dist/cli/main.js')))('kiln compile picks the levels and reports them', () => {
    const out = path.join(tempDir(), 'out');
    const r = kiln(['compile', path.resolve('samples/kws-dscnn/model.onnx'), '--target', 'mcu', '--board', BOARD, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as {
      fits: { sram: boolean };
      arenaBytes: number;
      memory: { levels: { name: string; bytes: number; capacity: number }[]; offChipTrafficBytes: number; levelSolver: { status: string; gap: number | null; ms: number } };
    };
    expect(report.fits.sram).toBe(true);
    expect(report.memory.levels.map((l) => l.name)).toEqual(['sram', 'psram']);
    expect(report.memory.levels[0]!.bytes).toBe(report.arenaBytes);
    for (const l of report.memory.levels) expect(l.bytes).toBeLessThanOrEqual(l.capacity);
    expect(report.memory.offChipTrafficBytes).toBeGreaterThan(0);
    expect(typeof report.memory.levelSolver.status).toBe('string');
    expect(fs.readFileSync(path.join(out, 'link.ld'), 'utf8')).toMatch(/\.kiln_psram \(NOLOAD\)/);
  });

  it.skipIf(!hasGcc || !hasQemu)('kws-dscnn does not fit 64 KiB: it runs under QEMU with its arena split over SRAM and PSRAM', () => {
    const s = sample('kws-dscnn');
    const board = getBoard(BOARD);
    const layout = mcuPipeline(s.program, BOARD);
    const project = emitMcu(s.program, 'kws', board, layout);
    const levels = project.report.memory.levels!;
    expect(levels.map((l) => l.name)).toEqual(['sram', 'psram']);
    expect(levels[0]!.bytes).toBeLessThanOrEqual(levels[0]!.capacity);
    expect(project.fit.sramBytes).toBeLessThanOrEqual(board.sram.size);
    expect(project.report.memory.offChipTrafficBytes).toBeGreaterThan(0);
    expect(project.files.get('link.ld')).toMatch(/LEVEL_PSRAM \(rw\) : ORIGIN = 0x21000000/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-levels-mcu-'));
    try {
      const r = runMcu(s.program, 'kws', s.inputs, layout, { board: BOARD, keepDir: dir });
      expectClose(r.outputs, s.expected);
      expect(r.size.fits.sram).toBe(true);
      // the PSRAM arena really sits at the level's address
      const nm = execFileSync('arm-none-eabi-nm', [path.join(dir, 'model.elf')], { encoding: 'utf8' });
      const sym = /^([0-9a-f]{8}) [bBdD] kiln_arena_psram$/m.exec(nm);
      expect(sym).not.toBeNull();
      expect(parseInt(sym![1]!, 16)).toBeGreaterThanOrEqual(0x21000000);
      expect(parseInt(sym![1]!, 16)).toBeLessThan(0x21000000 + board.levels![0]!.size);
      const onChip = /^([0-9a-f]{8}) [bB] kiln_arena$/m.exec(nm);
      expect(parseInt(onChip![1]!, 16)).toBeLessThan(board.sram.origin + board.sram.size);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasGcc || !hasQemu)('resnet8 needs copy kernels between the levels: still correct under QEMU', () => {
    const s = sample('resnet8');
    const layout = mcuPipeline(s.program, BOARD);
    const project = emitMcu(s.program, 'resnet8', getBoard(BOARD), layout);
    const placement = project.report.memory.levelPlacement as { copyKernels: number; copyIns: number } | undefined;
    expect(placement?.copyKernels).toBeGreaterThan(0);
    expect(placement?.copyIns).toBeGreaterThan(0);
    const r = runMcu(s.program, 'resnet8', s.inputs, layout, { board: BOARD });
    expectClose(r.outputs, s.expected);
    expect(r.size.fits.sram).toBe(true);
  });
});
