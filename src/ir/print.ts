/** Textual IR printer (placeholder: replaced by the full printer). */
import type { Module } from './graph.js';

export function printModule(module: Module): string {
  return `// kiln module with ${module.graph.nodes.length} nodes\n`;
}
