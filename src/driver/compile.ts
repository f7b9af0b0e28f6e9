/** `kiln compile`: model → specialized graph → kernel program → target files in an output folder. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../ir/errors.js';
import { loadModel } from './load.js';
import { specializeShapes } from '../passes/specialize.js';
import { lowerScheduled, type ScheduleMode } from '../passes/schedule-memory.js';
import { emitC, type CReport } from '../backends/c/emit.js';
import { cIdent } from '../backends/c/render.js';
import { getBoard } from '../costmodel/boards.js';
import { sizeMcuProject } from '../backends/mcu/build.js';
import { emitMcu } from '../backends/mcu/project.js';
import { checkEstimate } from '../backends/mcu/fit.js';
import { DEFAULT_ILP_MS, type MemoryStrategy } from '../passes/plan-memory.js';
import { memoryPlotSvg } from '../passes/memory-plot.js';
import { writeFileAtomic } from './output.js';

export interface CompileOptions {
  target: string;
  out: string;
  /** Board for target mcu (default mps2-an386). */
  board?: string;
  /** name → static shape for inputs with dynamic dims. */
  inputShapes?: ReadonlyMap<string, readonly number[]>;
  /** Name used in generated identifiers (default: the model's graph name or file name). */
  name?: string;
  /** Memory planning strategy (default 'auto'). */
  memory?: MemoryStrategy;
  /** Time limit of the memory ILP in milliseconds (default 10 000). */
  timeLimitMs?: number;
  /** Write the arena-over-time picture (SVG) to this file. */
  memoryPlot?: string;
  /** Node order: 'memory' (default) schedules for a smaller peak live set, 'file' keeps the model's order. */
  schedule?: ScheduleMode;
}

export interface CompileResult {
  dir: string;
  files: string[];
  report: CReport;
  ms: number;
}

/** Parses `name=1x3x224x224` (repeatable) into a map. */
export function parseInputShapes(specs: readonly string[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const s of specs) {
    const eq = s.lastIndexOf('=');
    const dims = eq < 0 ? '' : s.slice(eq + 1);
    if (eq <= 0 || !/^\d+(x\d+)*$|^$/.test(dims)) throw new KilnError('usage', `--input-shape '${s}' must look like name=1x3x224x224`);
    m.set(s.slice(0, eq), dims === '' ? [] : dims.split('x').map(Number));
  }
  return m;
}

/**
 * Writes every file into a fresh sibling folder, then moves it into place, so a failed compile
 * never leaves a half-written output folder.
 */
export function writeFolderAtomic(dir: string, files: ReadonlyMap<string, string | Uint8Array>): void {
  const abs = path.resolve(dir);
  const tmp = `${abs}.kiln-tmp-${process.pid}`;
  const old = `${abs}.kiln-old-${process.pid}`;
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    for (const [name, data] of files) fs.writeFileSync(path.join(tmp, name), data);
    if (fs.existsSync(abs)) fs.renameSync(abs, old);
    fs.renameSync(tmp, abs);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(abs) && fs.existsSync(old)) fs.renameSync(old, abs);
    throw new KilnError('io', `cannot write '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function compileModel(file: string, opts: CompileOptions): CompileResult {
  const t0 = performance.now();
  if (opts.target !== 'c' && opts.target !== 'mcu') throw new KilnError('usage', `unknown compile target '${opts.target}' (known: c, mcu)`);
  if (opts.board !== undefined && opts.target !== 'mcu') throw new KilnError('usage', `--board applies to --target mcu, not '${opts.target}'`);
  const board = opts.target === 'mcu' ? getBoard(opts.board ?? 'mps2-an386') : null;
  const module = loadModel(file);
  specializeShapes(module, opts.inputShapes ?? new Map());
  const lowered = lowerScheduled(module, opts.schedule ?? 'memory', true);
  const program = lowered.program;
  const name = cIdent(opts.name ?? (module.graph.name || path.basename(file).replace(/\.[^.]*$/, '')));
  const memory = {
    strategy: opts.memory ?? 'auto',
    timeLimitMs: opts.timeLimitMs ?? DEFAULT_ILP_MS,
    order: lowered.order,
    ...(lowered.liveness ? { liveness: lowered.liveness } : {}),
  };
  let project;
  if (board) {
    const mcu = emitMcu(program, name, board, board, memory);
    // fit check before any tool runs, then the real sizes when the cross compiler is installed
    checkEstimate(mcu.fit, board);
    const sized = sizeMcuProject(mcu, program, board);
    Object.assign(mcu.report, sized);
    project = mcu;
  } else project = emitC(program, name, { target: opts.target, memory });
  if (lowered.schedule) project.report.memory.schedule = lowered.schedule;
  const ms = performance.now() - t0;
  project.report.compileMs = Math.round(ms);
  project.files.set('report.json', `${JSON.stringify(project.report, null, 2)}\n`);
  writeFolderAtomic(opts.out, project.files);
  if (opts.memoryPlot) writeFileAtomic(opts.memoryPlot, memoryPlotSvg(project.plan, { title: name }));
  return { dir: opts.out, files: [...project.files.keys()], report: project.report, ms };
}
