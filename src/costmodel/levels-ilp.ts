/**
 * Which activations stay in on-chip memory and which go to an external level, and when they are
 * copied in and out, minimizing off-chip traffic: a mixed-integer program (after "Combined
 * Scheduling, Memory Allocation and Tensor Replacement for Minimizing Off-Chip Data Accesses of DNN
 * Accelerators", with the kernel order fixed), solved with HiGHS, and the greedy heuristic it is
 * compared with.
 *
 * Model. Time is kernel steps. A block (buffers that share memory) is touched at its uses
 * u_1 < … < u_n; boundary i lies between u_i and u_{i+1} (its interior: the steps strictly between).
 *   r_i ∈ {0,1}    resident: at use i the block is on-chip; with 0 the kernel at u_i reads and
 *                  writes the block's off-chip home directly (`directBytes` of that use);
 *   k_i ∈ {0,1}    kept: the block stays on-chip through boundary i (k_i ≤ r_i, k_i ≤ r_{i+1});
 *   leave_i = r_i − k_i: the block leaves on-chip memory after u_i: its members live across the
 *                  boundary are copied to their homes when the home is stale (`outs`: once per write
 *                  epoch; a write at a non-resident use goes to the home, which is then current);
 *   enter_i = r_{i+1} − k_i: the block is copied in before u_{i+1} (`reloadBytes`).
 * Capacity, per step t: Σ size_b·r_{b,i} over uses at t + Σ size_b·k_{b,i} over boundaries whose
 * interior holds t ≤ C (only steps whose demand with everything on-chip exceeds C get a row).
 * Objective: Σ directBytes_i·(1 − r_i) + Σ reloadBytes_i·enter_i + Σ outBytes·out_c.
 * Everything off-chip is always feasible. The copy kernels sit between steps; their on-chip demand
 * never exceeds that of the neighbouring use step, so the per-step rows cover them.
 */
import { createRequire } from 'node:module';
import { runHighs, type MipModel } from './highs.js';

export interface LevelUse {
  step: number;
  /** Bytes the kernel at this step moves when the block is not resident (accesses off-chip). */
  directBytes: number;
}

export interface LevelBoundary {
  /** Bytes of the members live across the boundary: what a copy-in moves. */
  reloadBytes: number;
}

/**
 * One member's copy-out at a boundary it lives across: `bytes` are written to its home when the
 * block leaves there, unless it left at a boundary of `sameEpoch` (earlier, no write in between:
 * the home is current) or the last write before it (`writtenAt`, a use index) was not resident.
 */
export interface LevelCopyOut {
  boundary: number;
  bytes: number;
  sameEpoch: number[];
  writtenAt: number | null;
}

export interface LevelBlock {
  id: number;
  /** On-chip bytes while resident (multiple of the alignment). */
  size: number;
  uses: LevelUse[];
  /** boundaries[i] lies between uses[i] and uses[i + 1]. */
  boundaries: LevelBoundary[];
  outs: LevelCopyOut[];
}

export interface LevelProblem {
  steps: number;
  /** On-chip bytes available. */
  capacity: number;
  blocks: LevelBlock[];
}

export interface LevelDecision {
  /** resident[b][i]: block b is on-chip at use i. */
  resident: boolean[][];
  /** keep[b][i]: block b stays on-chip through boundary i (only when resident on both sides). */
  keep: boolean[][];
}

const leaves = (d: LevelDecision, b: number, i: number): boolean => d.resident[b]![i]! && !d.keep[b]![i]!;

/** Off-chip bytes block `bi` moves under a decision. */
export function blockTraffic(p: LevelProblem, d: LevelDecision, bi: number): number {
  const b = p.blocks[bi]!;
  const r = d.resident[bi]!;
  const k = d.keep[bi]!;
  let t = 0;
  b.uses.forEach((u, i) => {
    if (!r[i]) t += u.directBytes;
  });
  b.boundaries.forEach((x, i) => {
    if (r[i + 1] && !k[i]) t += x.reloadBytes;
  });
  for (const c of b.outs) {
    if (!leaves(d, bi, c.boundary) || c.sameEpoch.some((j) => leaves(d, bi, j))) continue;
    if (c.writtenAt !== null && !r[c.writtenAt]) continue;
    t += c.bytes;
  }
  return t;
}

export function levelTraffic(p: LevelProblem, d: LevelDecision): number {
  return p.blocks.reduce((a, _, i) => a + blockTraffic(p, d, i), 0);
}

/** On-chip bytes at every step under a decision. */
export function levelDemand(p: LevelProblem, d: LevelDecision): number[] {
  const dem = new Array<number>(p.steps).fill(0);
  p.blocks.forEach((b, bi) => {
    b.uses.forEach((u, i) => {
      if (d.resident[bi]![i]) dem[u.step]! += b.size;
    });
    b.boundaries.forEach((_, i) => {
      if (!d.keep[bi]![i]) return;
      for (let t = b.uses[i]!.step + 1; t < b.uses[i + 1]!.step; t++) dem[t]! += b.size;
    });
  });
  return dem;
}

export function allOnChip(p: LevelProblem): LevelDecision {
  return { resident: p.blocks.map((b) => b.uses.map(() => true)), keep: p.blocks.map((b) => b.boundaries.map(() => true)) };
}

/** keep only between resident uses. */
export function isConsistent(p: LevelProblem, d: LevelDecision): boolean {
  return p.blocks.every((b, bi) => b.boundaries.every((_, i) => !d.keep[bi]![i] || (d.resident[bi]![i]! && d.resident[bi]![i + 1]!)));
}

export function fitsCapacity(p: LevelProblem, d: LevelDecision): boolean {
  return isConsistent(p, d) && levelDemand(p, d).every((x) => x <= p.capacity);
}

/**
 * Greedy: while some step is over capacity, take the first step with the largest overflow and free
 * the bytes there that add the least traffic per byte: stop keeping a block through a boundary
 * whose interior holds the step, or make a use at the step non-resident (ties: larger block, lower
 * block index, boundary before use).
 */
export function greedyLevels(p: LevelProblem): LevelDecision {
  const d = allOnChip(p);
  for (;;) {
    const dem = levelDemand(p, d);
    let t = -1;
    for (let s = 0; s < dem.length; s++) if (dem[s]! > p.capacity && (t < 0 || dem[s]! > dem[t]!)) t = s;
    if (t < 0) return d;
    let best: { per: number; size: number; b: number; apply: () => void } | null = null;
    p.blocks.forEach((b, bi) => {
      if (b.size === 0) return;
      const base = blockTraffic(p, d, bi);
      const tryMove = (change: () => void, undo: () => void): void => {
        change();
        const per = (blockTraffic(p, d, bi) - base) / b.size;
        undo();
        if (!best || per < best.per || (per === best.per && (b.size > best.size || (b.size === best.size && bi < best.b)))) best = { per, size: b.size, b: bi, apply: change };
      };
      b.boundaries.forEach((_, i) => {
        if (!d.keep[bi]![i] || !(b.uses[i]!.step < t && t < b.uses[i + 1]!.step)) return;
        tryMove(() => (d.keep[bi]![i] = false), () => (d.keep[bi]![i] = true));
      });
      b.uses.forEach((u, i) => {
        if (u.step !== t || !d.resident[bi]![i]) return;
        const kb = i > 0 ? d.keep[bi]![i - 1]! : false;
        const ka = i < b.boundaries.length ? d.keep[bi]![i]! : false;
        const set = (r: boolean, before: boolean, after: boolean): void => {
          d.resident[bi]![i] = r;
          if (i > 0) d.keep[bi]![i - 1] = before;
          if (i < b.boundaries.length) d.keep[bi]![i] = after;
        };
        tryMove(() => set(false, false, false), () => set(true, kb, ka));
      });
    });
    if (!best) throw new Error('levels: over capacity with nothing on-chip (a zero-size block?)');
    (best as { apply: () => void }).apply();
  }
}

// ---------- the MIP ----------

export interface LevelsIlpResult {
  /** HiGHS model status ('optimal', 'timeLimit', …), or 'not run' / 'unavailable' / 'timeout' / 'error'. */
  status: string;
  decision?: LevelDecision;
  /** Traffic of the returned decision. */
  traffic: number | null;
  /** Proven lower bound on the traffic. */
  bound: number | null;
  gap: number | null;
  ms: number;
  columns: number;
  rows: number;
  message?: string;
}

interface Built {
  model: MipModel;
  /** Constant term of the objective (Σ directBytes), kept out of the model. */
  offset: number;
  rCol: number[][];
  kCol: number[][];
  start: (d: LevelDecision) => number[];
}

function buildModel(p: LevelProblem, unit: number): Built {
  const colCost: number[] = [];
  const integrality: number[] = [];
  const col = (int: boolean): number => {
    colCost.push(0);
    integrality.push(int ? 1 : 0);
    return colCost.length - 1;
  };
  let offset = 0;
  const rCol = p.blocks.map((b) => b.uses.map(() => col(true)));
  const kCol = p.blocks.map((b) => b.boundaries.map(() => col(true)));
  const oCol = p.blocks.map((b) => b.outs.map(() => col(false)));
  p.blocks.forEach((b, bi) => {
    b.uses.forEach((u, i) => {
      offset += u.directBytes;
      colCost[rCol[bi]![i]!]! -= u.directBytes;
    });
    // enter_i = r_{i+1} − k_i
    b.boundaries.forEach((x, i) => {
      colCost[rCol[bi]![i + 1]!]! += x.reloadBytes;
      colCost[kCol[bi]![i]!]! -= x.reloadBytes;
    });
    b.outs.forEach((c, j) => (colCost[oCol[bi]![j]!]! += c.bytes));
  });
  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const rowLower: number[] = [];
  const rowUpper: number[] = [];
  const row = (entries: Map<number, number>, lo: number, hi: number): void => {
    for (const [c, v] of [...entries].sort((a, b) => a[0] - b[0])) {
      if (v === 0) continue;
      indices.push(c);
      values.push(v);
    }
    starts.push(indices.length);
    rowLower.push(lo);
    rowUpper.push(hi);
  };
  const add = (m: Map<number, number>, c: number, v: number): void => void m.set(c, (m.get(c) ?? 0) + v);
  p.blocks.forEach((b, bi) => {
    const r = rCol[bi]!;
    const k = kCol[bi]!;
    b.boundaries.forEach((_, i) => {
      row(new Map([[k[i]!, 1], [r[i]!, -1]]), -Infinity, 0);
      row(new Map([[k[i]!, 1], [r[i + 1]!, -1]]), -Infinity, 0);
    });
    // out ≥ leave_i − Σ leave_j (same epoch) − (1 − r_w)
    b.outs.forEach((c, j) => {
      const m = new Map<number, number>();
      add(m, oCol[bi]![j]!, 1);
      add(m, r[c.boundary]!, -1);
      add(m, k[c.boundary]!, 1);
      for (const e of c.sameEpoch) {
        add(m, r[e]!, 1);
        add(m, k[e]!, -1);
      }
      if (c.writtenAt !== null) add(m, r[c.writtenAt]!, -1);
      row(m, c.writtenAt !== null ? -1 : 0, Infinity);
    });
  });
  const full = levelDemand(p, allOnChip(p));
  for (let t = 0; t < p.steps; t++) {
    if (full[t]! <= p.capacity) continue;
    const m = new Map<number, number>();
    p.blocks.forEach((b, bi) => {
      const s = b.size / unit;
      if (s === 0) return;
      b.uses.forEach((u, i) => {
        if (u.step === t) add(m, rCol[bi]![i]!, s);
      });
      b.boundaries.forEach((_, i) => {
        if (b.uses[i]!.step < t && t < b.uses[i + 1]!.step) add(m, kCol[bi]![i]!, s);
      });
    });
    row(m, -Infinity, Math.floor(p.capacity / unit));
  }
  const numCols = colCost.length;
  const model: MipModel = {
    numCols,
    numRows: rowLower.length,
    colCost,
    colLower: new Array<number>(numCols).fill(0),
    colUpper: new Array<number>(numCols).fill(1),
    rowLower,
    rowUpper,
    matrix: { format: 'csr', numRows: rowLower.length, numCols, starts, indices, values },
    integrality,
  };
  const start = (d: LevelDecision): number[] => {
    const x = new Array<number>(numCols).fill(0);
    p.blocks.forEach((b, bi) => {
      b.uses.forEach((_, i) => (x[rCol[bi]![i]!] = d.resident[bi]![i] ? 1 : 0));
      b.boundaries.forEach((_, i) => (x[kCol[bi]![i]!] = d.keep[bi]![i] ? 1 : 0));
      b.outs.forEach((c, j) => {
        const charged = leaves(d, bi, c.boundary) && !c.sameEpoch.some((e) => leaves(d, bi, e)) && (c.writtenAt === null || d.resident[bi]![c.writtenAt]!);
        x[oCol[bi]![j]!] = charged ? 1 : 0;
      });
    });
    return x;
  };
  return { model, offset, rCol, kCol, start };
}

/** Solves the level MIP, warm-started from `start` (a feasible decision, e.g. the greedy one). */
export function solveLevelsIlp(p: LevelProblem, opts: { timeLimitMs: number; start: LevelDecision; unit?: number }): LevelsIlpResult {
  const t0 = performance.now();
  const built = buildModel(p, opts.unit ?? 16);
  const base = { columns: built.model.numCols, rows: built.model.numRows };
  const ms = (): number => Math.round(performance.now() - t0);
  if (opts.timeLimitMs <= 0) return { status: 'not run', traffic: null, bound: null, gap: null, ms: 0, message: 'no time budget', ...base };
  const a = runHighs(built.model, built.start(opts.start), Math.max(1, opts.timeLimitMs - (performance.now() - t0)), 'solving memory-level ILP');
  let decision: LevelDecision | undefined;
  if (a.colValue) {
    const v = a.colValue;
    decision = { resident: built.rCol.map((cs) => cs.map((c) => v[c]! > 0.5)), keep: built.kCol.map((cs) => cs.map((c) => v[c]! > 0.5)) };
    if (!fitsCapacity(p, decision)) decision = undefined;
  }
  const traffic = decision ? levelTraffic(p, decision) : null;
  const bound = a.status === 'optimal' && traffic !== null ? traffic : a.bound !== null ? Math.max(0, Math.ceil(a.bound + built.offset - 1e-6)) : null;
  const gap = a.status === 'optimal' ? 0 : traffic !== null && bound !== null && traffic > 0 ? Math.max(0, (traffic - bound) / traffic) : null;
  return { status: a.status, ...(decision ? { decision } : {}), traffic, bound, gap, ms: ms(), ...base, ...(a.message ? { message: a.message } : {}) };
}
