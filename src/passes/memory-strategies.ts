/**
 * Offset assignment for the blocks of a liveness analysis: every item is a rectangle (size in bytes ×
 * [first, last] kernel steps); two items whose intervals overlap must not overlap in memory.
 *
 * - `first-fit`: in order of first use, the lowest offset that fits (the original planner).
 * - `greedy-size`: TensorFlow Lite Micro's GreedyMemoryPlanner: largest first, lowest offset that
 *   fits among the already placed items that overlap in time.
 * - `greedy-size-offset`: Pisarchyk & Lee, "Greedy by Size for Offset Calculation": largest first,
 *   the smallest gap that fits (best fit); otherwise above the highest overlapping item.
 * - `greedy-breadth`: Pisarchyk & Lee's breadth order (steps by decreasing total live bytes, within
 *   a step items by decreasing size) with the best-fit offset calculation.
 *
 * All are deterministic: ties are broken by first use, then by item id.
 */

export interface MemItem {
  id: number;
  /** Bytes (a multiple of the alignment). */
  size: number;
  first: number;
  last: number;
}

export interface Placement {
  /** offsets[i] is the offset of items[i]. */
  offsets: number[];
  arena: number;
}

export type HeuristicName = 'first-fit' | 'greedy-size' | 'greedy-breadth' | 'greedy-size-offset';
export const HEURISTICS: readonly HeuristicName[] = ['greedy-size', 'greedy-size-offset', 'greedy-breadth', 'first-fit'];

const overlaps = (a: MemItem, b: MemItem): boolean => a.first <= b.last && b.first <= a.last;

/** max over steps of the bytes live at that step: no placement can use less. */
export function liveLowerBound(items: readonly MemItem[]): number {
  const ev = new Map<number, number>();
  for (const it of items) {
    ev.set(it.first, (ev.get(it.first) ?? 0) + it.size);
    ev.set(it.last + 1, (ev.get(it.last + 1) ?? 0) - it.size);
  }
  let cur = 0;
  let best = 0;
  for (const t of [...ev.keys()].sort((a, b) => a - b)) {
    cur += ev.get(t)!;
    best = Math.max(best, cur);
  }
  return best;
}

/** Bytes live at every step 0..steps-1. */
export function liveProfile(items: readonly MemItem[], steps: number): number[] {
  const p = new Array<number>(steps).fill(0);
  for (const it of items) for (let t = Math.max(0, it.first); t <= it.last && t < steps; t++) p[t]! += it.size;
  return p;
}

/** Places items one by one in `order`; `fit` chooses the offset among the placed neighbours. */
function placeInOrder(items: readonly MemItem[], order: readonly number[], bestFit: boolean): Placement {
  const offsets = new Array<number>(items.length).fill(-1);
  const placed: number[] = [];
  let arena = 0;
  for (const i of order) {
    const it = items[i]!;
    const busy = placed.filter((j) => overlaps(items[j]!, it)).sort((a, b) => offsets[a]! - offsets[b]! || a - b);
    let off = 0;
    let chosen = -1;
    let bestGap = Infinity;
    let top = 0;
    for (const j of busy) {
      const o = offsets[j]!;
      const gap = o - off;
      if (gap >= it.size) {
        if (!bestFit) {
          chosen = off;
          break;
        }
        if (gap < bestGap) {
          bestGap = gap;
          chosen = off;
        }
      }
      off = Math.max(off, o + items[j]!.size);
      top = Math.max(top, o + items[j]!.size);
    }
    if (chosen < 0) chosen = bestFit ? top : off;
    offsets[i] = chosen;
    placed.push(i);
    arena = Math.max(arena, chosen + it.size);
  }
  return { offsets, arena };
}

const byFirst = (items: readonly MemItem[]) => (a: number, b: number): number => items[a]!.first - items[b]!.first || items[a]!.id - items[b]!.id;
const bySize = (items: readonly MemItem[]) => (a: number, b: number): number => items[b]!.size - items[a]!.size || byFirst(items)(a, b);

export function firstFit(items: readonly MemItem[]): Placement {
  return placeInOrder(items, items.map((_, i) => i).sort(byFirst(items)), false);
}

export function greedyBySize(items: readonly MemItem[]): Placement {
  return placeInOrder(items, items.map((_, i) => i).sort(bySize(items)), false);
}

export function greedyBySizeOffset(items: readonly MemItem[]): Placement {
  return placeInOrder(items, items.map((_, i) => i).sort(bySize(items)), true);
}

export function greedyByBreadth(items: readonly MemItem[]): Placement {
  if (items.length === 0) return { offsets: [], arena: 0 };
  const steps = Math.max(...items.map((it) => it.last)) + 1;
  const prof = liveProfile(items, steps);
  const stepOrder = prof.map((_, t) => t).sort((a, b) => prof[b]! - prof[a]! || a - b);
  const liveAt = new Map<number, number[]>();
  items.forEach((it, i) => {
    for (let t = it.first; t <= it.last; t++) {
      const l = liveAt.get(t);
      if (l) l.push(i);
      else liveAt.set(t, [i]);
    }
  });
  const seen = new Set<number>();
  const order: number[] = [];
  for (const t of stepOrder) {
    for (const i of (liveAt.get(t) ?? []).sort(bySize(items))) {
      if (seen.has(i)) continue;
      seen.add(i);
      order.push(i);
    }
  }
  items.forEach((_, i) => {
    if (!seen.has(i)) order.push(i);
  });
  return placeInOrder(items, order, true);
}

export function runHeuristic(name: HeuristicName, items: readonly MemItem[]): Placement {
  switch (name) {
    case 'first-fit': return firstFit(items);
    case 'greedy-size': return greedyBySize(items);
    case 'greedy-size-offset': return greedyBySizeOffset(items);
    case 'greedy-breadth': return greedyByBreadth(items);
  }
}

/** Throws when two items that overlap in time overlap in memory (a self-check of every plan). */
export function checkPlacement(items: readonly MemItem[], p: Placement): void {
  const idx = items.map((_, i) => i).sort((a, b) => items[a]!.first - items[b]!.first);
  for (let x = 0; x < idx.length; x++) {
    const a = items[idx[x]!]!;
    const oa = p.offsets[idx[x]!]!;
    if (oa < 0 || oa + a.size > p.arena) throw new Error(`memory plan: item ${a.id} outside the arena`);
    for (let y = x + 1; y < idx.length; y++) {
      const b = items[idx[y]!]!;
      if (b.first > a.last) break;
      const ob = p.offsets[idx[y]!]!;
      if (a.size > 0 && b.size > 0 && oa < ob + b.size && ob < oa + a.size) throw new Error(`memory plan: items ${a.id} and ${b.id} overlap`);
    }
  }
}
