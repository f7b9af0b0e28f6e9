/** The `lower` pass (its own module so lower.ts and schedule-memory.ts do not import each other). */
import type { Module } from '../ir/graph.js';
import type { Program } from '../ir/kernel/types.js';
import { KilnError } from '../ir/errors.js';
import { definePass, type PassContext } from './pass.js';
import { lowerScheduled } from './schedule-memory.js';
import { checkTileDevice, parseFixedTile, tilePolicy } from './tile.js';
import { DEFAULT_HOST_PROFILE } from '../costmodel/roofline.js';

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
    tile: 'RxW, RxW/kc or RxW/kc/rows: fixes the register tile (and K block, im2col rows) of every templated kernel instead of searching (experiments, tests)',
    device: `device profile whose registers, caches or SRAM the tile choices (register tiles, K blocks, im2col blocks) are searched for (host or mcu; default ${DEFAULT_HOST_PROFILE}); each choice is a 'tile:' note`,
  },
  run(module: Module, ctx: PassContext): Program {
    const mode = ctx.options.schedule ?? 'file';
    if (mode !== 'file' && mode !== 'memory') throw new KilnError('usage', `lower: schedule must be 'file' or 'memory', not '${mode}'`);
    const style = ctx.options.style ?? 'cpu';
    if (style !== 'cpu' && style !== 'gpu') throw new KilnError('usage', `lower: style must be 'cpu' or 'gpu', not '${style}'`);
    const device = ctx.options.device ?? DEFAULT_HOST_PROFILE;
    checkTileDevice(device);
    const lowered = lowerScheduled(module, mode, mode === 'memory', style, tilePolicy(device, ctx.options.tile !== undefined ? parseFixedTile(ctx.options.tile) : undefined));
    ctx.results.set('lowering', lowered);
    return lowered.program;
  },
});
