/** `kiln pim-bench`: PIM microbenchmarks on the simulator (parse, run, print). */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { DEFAULT_PIM_DEVICE, loadPimDevice } from '../backends/pim/device.js';
import { PIM_BENCH_OPS, runDecodeBench, runPimBench, type PimBenchMode, type PimBenchOp, type PimBenchResult } from '../backends/pim/bench.js';

const BREAKDOWN_NAMES: Record<string, string> = {
  mac: 'PIM compute commands', input: 'input vector (broadcast writes)', row: 'row switches (ACT/PRE, tRCD/tRP)', readback: 'result read-back',
  writeback: 'result write-back', config: 'unit programming', mode: 'mode switches', refresh: 'refresh', stream: 'bus streaming', host: 'host reduction',
  layout: 'host layout writes',
};

function num(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

function printResult(r: PimBenchResult): string {
  const pct = (f: number): string => `${(100 * f).toFixed(1)}%`;
  const lines = [
    `${r.op} ${r.shape.join('x')} ${r.dtype} on ${r.device} x${r.channels} (${r.mode}): ${r.cycles} cycles (${(r.seconds * 1e6).toFixed(2)} us), ${(r.energyPj / 1e6).toFixed(3)} uJ`,
    `  ${r.op === 'gemv' || r.op === 'gemm' ? 'peak PIM MAC rate' : 'peak internal bandwidth'}: ${pct(r.peakFraction)}; internal bandwidth ${pct(r.internalBandwidthFraction)} of ${r.peakInternalBytesPerCycle} B/cycle; bus ${pct(r.busFraction)}`,
    `  commands: ACT ${r.commands.act} PRE ${r.commands.pre} RD ${r.commands.rd} WR ${r.commands.wr} REF ${r.commands.ref} (PIM triggers ${r.commands.pimTriggers})`,
    '  cycles by cause:',
    ...Object.entries(r.breakdown).map(([k, v]) => `    ${(BREAKDOWN_NAMES[k] ?? k).padEnd(36)} ${String(v).padStart(10)}  ${pct(v / Math.max(1, r.cycles))}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerPimCommands(program: Command): void {
  program
    .command('pim-bench')
    .description('simulate a PIM microbenchmark (gemv, gemm, add, mul, relu, decode) and print cycles, energy and where the cycles go')
    .argument('<op>', `${PIM_BENCH_OPS.join('|')}|decode`)
    .option('--d <dmodel>', 'decode: model width', '1024')
    .option('--heads <n>', 'decode: attention heads', '16')
    .option('--tokens <n>', 'decode: KV-cache length', '256')
    .option('--m <rows>', 'gemv: output rows; gemm: input rows (the batch of vectors)')
    .option('--k <cols>', 'gemv/gemm: reduction length')
    .option('--n <count>', 'add/mul/relu: elements; gemm: outputs per row (columns of the resident matrix)')
    .option('--dtype <type>', 'lane type (f16 on hbm2-pim, bf16 on gddr6-aim)')
    .option('--device <name>', 'PIM device profile (`kiln devices --kind pim` lists them)', DEFAULT_PIM_DEVICE)
    .option('--channels <n>', 'pseudo-channels working in parallel', '1')
    .option('--baseline', 'the same work done by the host over the bus instead of the PIM units')
    .option('--per-row', 'gemm: one GEMV run per input row instead of one GEMM session')
    .option('--compare', 'run PIM and host (and, for gemm, GEMV per row) and print the speed-ups')
    .option('--json', 'print JSON')
    .action((op: string, o: { d: string; heads: string; tokens: string; m?: string; k?: string; n?: string; dtype?: string; device: string; channels: string; baseline?: boolean; perRow?: boolean; compare?: boolean; json?: boolean }) => {
      if (op === 'decode') {
        const r = runDecodeBench(o.device, Number(o.channels), Number(o.d), Number(o.heads), Number(o.tokens));
        if (o.json) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        const lines = [`decoder block, decode mode: d ${r.dModel}, ${r.heads} heads, KV cache ${r.tokens} tokens, ${r.device} x${r.channels}`];
        for (const s of r.steps) lines.push(`  ${s.name.padEnd(34)} ${`${s.count}x ${s.shape}`.padEnd(14)} pim config ${String(s.pimCycles).padStart(9)} (${s.where.padEnd(4)})  host-only ${String(s.hostCycles).padStart(9)}`);
        lines.push(`  total: pim ${r.pimCycles} cycles, host-only ${r.hostCycles} cycles: ${r.speedup.toFixed(2)}x (bound by the internal/bus bandwidth ratio ${r.bandwidthRatio.toFixed(1)}x); energy ${(r.pimEnergyPj / 1e6).toFixed(2)} vs ${(r.hostEnergyPj / 1e6).toFixed(2)} uJ`);
        process.stdout.write(`${lines.join('\n')}\n`);
        return;
      }
      if (!(PIM_BENCH_OPS as readonly string[]).includes(op)) throw new KilnError('usage', `pim-bench: unknown op '${op}' (known: ${PIM_BENCH_OPS.join(', ')})`);
      const dtype = o.dtype ?? loadPimDevice(o.device).laneType;
      const base = { op: op as PimBenchOp, m: num(o.m), k: num(o.k), n: num(o.n), dtype, device: o.device, channels: Number(o.channels) };
      const modes: PimBenchMode[] = o.compare ? ['pim', 'baseline', ...(op === 'gemm' ? (['pim-per-row'] as const) : [])] : [o.baseline ? 'baseline' : o.perRow ? 'pim-per-row' : 'pim'];
      const results = modes.map((mode) => runPimBench({ ...base, mode }));
      const speedup = results.length >= 2 ? results[1]!.cycles / results[0]!.cycles : undefined;
      const perRowSpeedup = results.length === 3 ? results[2]!.cycles / results[0]!.cycles : undefined;
      if (o.json) {
        const out = results.length === 1 ? results[0] : { results, speedup, ...(perRowSpeedup !== undefined ? { perRowSpeedup } : {}) };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      for (const r of results) process.stdout.write(printResult(r));
      if (speedup !== undefined) process.stdout.write(`speed-up of PIM over the host baseline: ${speedup.toFixed(2)}x (energy ${(results[1]!.energyPj / results[0]!.energyPj).toFixed(2)}x lower)\n`);
      if (perRowSpeedup !== undefined) process.stdout.write(`speed-up of the GEMM session over one GEMV run per row: ${perRowSpeedup.toFixed(2)}x\n`);
    });
}
