/** Target `kernel`: the lowered program run by the kernel interpreter (checks the shared lowering). */
import { runProgram } from '../../ir/kernel/interp.js';
import { registerTarget } from '../target.js';

registerTarget({
  name: 'kernel',
  description: 'lowered kernel IR run by the kernel interpreter (checks the shared lowering)',
  level: 'kernel',
  capabilities: { ci: true, emits: false },
  pipeline: () => '',
  run: (program, inputs) => ({ outputs: runProgram(program, inputs) }),
});
