/** The memory-planning step of the C-like targets' pipelines (`plan-memory` with the driver's settings). */
import type { PipelineSettings } from './target.js';

/** Seconds as a pipeline option value. */
export const seconds = (s: number): string => String(s);

export function planMemoryStep(settings: PipelineSettings): string {
  return `plan-memory{strategy=${settings.memory},time-limit=${seconds(settings.timeLimitSeconds)}}`;
}
