/**
 * Registers Kiln's built-in passes through the same API plugins use (registerPass). Importing this
 * module once makes them available to pipelines.
 */
import { registerPass } from './registry.js';
import { foldConstantsPass } from './fold-constants.js';
import { specializePass } from './specialize.js';
import { scheduleMemoryPass } from './schedule-memory.js';
import { lowerPass } from './lower-pass.js';
import { planMemoryPass } from './plan-memory.js';
import { placeLevelsPass } from './place-levels.js';
import { dcePass } from './dce.js';
import { eliminateIdentityPass } from './eliminate-identity.js';
import { csePass } from './cse.js';
import { patchExecutionPass } from './patch-execution.js';
import { mapGpuPass } from './map-gpu.js';
import { parallelizePass } from './parallelize.js';
import { foldQdqPass } from './fold-qdq.js';
import { requantPass } from './requant.js';
import { hlsFoldPass } from './hls-fold.js';
import { foldAffinePass } from './fold-affine.js';
import { fusePass } from './fuse.js';
import { packSubBytePass } from './pack-subbyte.js';

for (const p of [foldConstantsPass, specializePass, scheduleMemoryPass, lowerPass, planMemoryPass]) registerPass(p);
for (const p of [dcePass, eliminateIdentityPass, csePass, foldAffinePass]) registerPass(p);
registerPass(fusePass);
registerPass(patchExecutionPass);
registerPass(placeLevelsPass);
registerPass(mapGpuPass);
registerPass(parallelizePass);
registerPass(foldQdqPass);
registerPass(requantPass);
registerPass(hlsFoldPass);
registerPass(packSubBytePass);
