/** Fresh value and node names for graph rewrites. */
import type { Graph } from './graph.js';

/** Unique names in a graph: `base`, else `base_2`, `base_3`, … */
export class UniqueNames {
  private readonly taken = new Set<string>();
  constructor(g: Graph) {
    for (const v of [...g.inputs, ...g.initializers]) this.taken.add(v.name);
    for (const n of g.nodes) {
      this.taken.add(n.name);
      for (const o of n.outputs) if (o) this.taken.add(o.name);
    }
  }
  fresh(base: string): string {
    let name = base;
    for (let k = 2; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }
}
