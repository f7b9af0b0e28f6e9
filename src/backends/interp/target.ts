/** Target `interp`: the reference interpreter on the graph IR (the oracle every backend is checked against). */
import { interpret } from '../../ir/interp/interpreter.js';
import { registerTarget } from '../target.js';

registerTarget({
  name: 'interp',
  description: 'reference interpreter on the graph IR',
  level: 'graph',
  capabilities: { ci: true, emits: false },
  run: (module, inputs) => interpret(module, inputs),
});
