/**
 * Target `hls` (options `part`, `io`, `budget`, `sanitize`; `hls:<part>` for short): HLS-C++ for
 * Vitis-HLS-style synthesis. Its pipeline is the hls-fold pass, which chooses each layer's unroll
 * factor by an ILP under the part's resource budget; emit renders the design with its pragmas,
 * a testbench, run_hls.tcl and hls_config.cfg; run is C simulation with g++.
 */
import { KilnError } from '../../ir/errors.js';
import { getDevice } from '../../costmodel/devices.js';
import { fpgaRoofline } from '../../costmodel/roofline.js';
import { seconds } from '../memory-pipeline.js';
import { registerTarget, type TargetContext } from '../target.js';
import { commandTool } from '../tools.js';
import type { HlsFoldReport } from '../../costmodel/hls-report.js';
import { describeHls } from './describe.js';
import { emitHls } from './emit.js';
import type { HlsIo } from './render.js';
import { cxxCompiler, runCsim } from './run.js';

const FOLD = 'hls-fold';

function foldOf(ctx: TargetContext): HlsFoldReport {
  const r = ctx.results.get(FOLD) as HlsFoldReport | undefined;
  if (!r) throw new KilnError('invalid-model', 'the hls target needs the hls-fold pass in its pipeline');
  return r;
}

function files(program: Parameters<typeof emitHls>[0], ctx: TargetContext): Map<string, string> {
  const fold = foldOf(ctx);
  const part = getDevice(ctx.options.part!, 'fpga');
  return emitHls(program, ctx.name, { io: ctx.options.io as HlsIo, part: part.part, clockMhz: part.clock.mhz, uram: new Set(fold.uram.arrays), dataflow: fold.dataflow, shared: fold.shared });
}

registerTarget({
  name: 'hls',
  description: 'HLS-C++ for FPGAs (Vitis HLS): dataflow design with per-layer unroll chosen by an ILP under the part\'s budget (--part); C simulation with g++',
  level: 'kernel',
  options: {
    part: { description: 'FPGA part (kiln devices --kind fpga)', default: 'xczu7ev' },
    io: { description: 'top-level ports: m_axi (tensors in external memory, s_axilite control) or stream (axis)', default: 'm_axi', values: ['m_axi', 'stream'] },
    budget: { description: 'percent of each part resource (DSP, BRAM18K, LUT, FF) the design may use', default: '90' },
    sanitize: { description: 'C simulation under AddressSanitizer/UBSan', default: 'off', values: ['off', 'on'] },
  },
  checkOptions(options) {
    getDevice(options.part!, 'fpga');
    const b = Number(options.budget);
    if (!Number.isFinite(b) || b <= 0 || b > 100) throw new KilnError('usage', `option budget '${options.budget}' of target 'hls' must be a percentage in (0, 100]`);
  },
  tools: [commandTool(cxxCompiler, 'apt-get install --no-install-recommends g++ (or set CXX)')],
  capabilities: { ci: true, emits: true, heavyCompile: true },
  pipeline: (options, settings) => `hls-fold{part=${options.part},budget=${options.budget},io=${options.io},time-limit=${seconds(settings.timeLimitSeconds)}}`,
  emit(program, ctx) {
    const report = { target: 'hls', name: ctx.name, hls: foldOf(ctx) };
    return { files: files(program, ctx), report };
  },
  describe: describeHls,
  roofline: (options) => fpgaRoofline(options.part!),
  run(program, inputs, ctx) {
    const fold = foldOf(ctx);
    const outputs = runCsim(program, files(program, ctx), inputs, { sanitize: ctx.options.sanitize === 'on' });
    return { outputs, summary: `C simulation passed on ${fold.part}: predicted interval ${fold.ii} cycles, latency ${fold.latency} cycles at ${fold.clockMhz} MHz`, measures: { iiCycles: fold.ii, latencyCycles: fold.latency } };
  },
});
