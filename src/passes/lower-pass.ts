/** The `lower` pass (its own module so lower.ts and schedule-memory.ts do not import each other). */
import type { Module } from '../ir/graph.js';
import type { Program } from '../ir/kernel/types.js';
import { KilnError } from '../ir/errors.js';
import { definePass, type PassContext } from './pass.js';
import { lowerScheduled } from './schedule-memory.js';

/**
 * `lower`: graph IR → kernel IR. With {schedule=memory} it also schedules the graph for a smaller
 * peak and keeps whichever order has the lower kernel-level live-set bound (the compile default);
 * the default keeps the current node order. Leaves the LoweredSchedule in ctx.results('lowering').
 */
export const lowerPass = definePass({
  name: 'lower',
  level: 'lower',
  description: 'lower every node to kernels (loop nests) over buffers: graph level → kernel level',
  options: {
    schedule: "'file' (default: the current node order) or 'memory' (memory-aware order, kept when its live-set bound is lower)",
    style: "'cpu' (default: register tiles and scratch blocks for C compilers) or 'gpu' (one independent iteration per output element, for map-gpu)",
  },
  run(module: Module, ctx: PassContext): Program {
    const mode = ctx.options.schedule ?? 'file';
    if (mode !== 'file' && mode !== 'memory') throw new KilnError('usage', `lower: schedule must be 'file' or 'memory', not '${mode}'`);
    const style = ctx.options.style ?? 'cpu';
    if (style !== 'cpu' && style !== 'gpu') throw new KilnError('usage', `lower: style must be 'cpu' or 'gpu', not '${style}'`);
    const lowered = lowerScheduled(module, mode, mode === 'memory', style);
    ctx.results.set('lowering', lowered);
    return lowered.program;
  },
});
