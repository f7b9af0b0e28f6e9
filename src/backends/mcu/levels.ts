/**
 * Memory levels on a board: when the activations do not fit the board's SRAM (the fit estimate) and
 * the board describes an external level, the temps are placed across SRAM and that level
 * (src/passes/place-levels.ts); otherwise the ordinary one-arena plan is used unchanged.
 */
import type { Board } from '../../costmodel/boards.js';
import type { Program } from '../../ir/kernel/types.js';
import { planMemory, type MemoryPlan, type PlanOptions } from '../../passes/plan-memory.js';
import { placeLevels, type LevelPlan } from '../../passes/place-levels.js';
import { EMIT_DEFAULT_ILP_MS } from '../c/emit.js';
import { estimateFit } from './fit.js';

export interface BoardPlan {
  program: Program;
  plan: MemoryPlan | LevelPlan;
}

export function planForBoard(program: Program, board: Board, memory?: PlanOptions): BoardPlan {
  const opts = memory ?? { timeLimitMs: EMIT_DEFAULT_ILP_MS };
  const plan = planMemory(program, opts);
  const level = board.levels?.[0];
  if (!level) return { program, plan };
  const est = estimateFit(program, plan, board);
  if (est.sramBytes <= board.sram.size) return { program, plan };
  // SRAM left for the arena once I/O buffers, stack and runtime are counted (as the estimate does)
  const capacity = Math.floor((board.sram.size - (est.sramBytes - est.arenaBytes)) / 16) * 16;
  // I/O buffers and stack alone do not fit: the fit check reports that as for any board
  if (capacity <= 0) return { program, plan };
  // the level MIP is small, but HiGHS start-up alone can take most of the 1 s default of run paths
  return placeLevels(program, { ...opts, capacity, level, sections: true, ...(memory ? {} : { levelTimeLimitMs: 5000 }) });
}
