/** Pipeline flags (shared by `compile` and `opt`), the `opt` command, and plugin/config loading. */
import type { Command } from 'commander';
import { optFile } from '../driver/opt.js';
import { loadConfig, type KilnConfig } from '../driver/plugins.js';
import { loadPlugin } from '../index.js';
import { writeFileAtomic } from '../driver/output.js';
import type { PipelineFlags } from '../driver/compile.js';
import { DEFAULT_ELIDE_OVER, type PrintOptions } from '../ir/print.js';
import { KilnError } from '../ir/errors.js';
import { describePass, registeredPasses } from '../passes/registry.js';
import '../passes/builtin.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** The config read at startup (kiln.config.mjs|json in the working folder), for defaults. */
export let activeConfig: KilnConfig = {};

/** Loads the config file and every plugin (config first, then --plugin flags). */
export async function loadPluginsAndConfig(plugins: readonly string[], useConfig: boolean): Promise<void> {
  const found = useConfig ? await loadConfig(process.cwd()) : null;
  activeConfig = found?.config ?? {};
  for (const p of [...(activeConfig.plugins ?? []), ...plugins]) await loadPlugin(p);
}

export function addPipelineFlags(cmd: Command): Command {
  return cmd
    .option('--passes <pipeline>', "passes to run, e.g. 'cse,dce' or 'plan-memory{strategy=greedy-size}' (see kiln opt --list-passes)")
    .option('--verify-each', 'run the IR verifier after every pass')
    .option('--print-ir-after-all', 'print the IR after every pass (to stderr for compile, stdout for opt)')
    .option('--print-ir-after <pass>', 'print the IR after this pass (repeatable)', collect, [])
    .option('--print-ir-before <pass>', 'print the IR before this pass (repeatable)', collect, [])
    .option('--dump-dir <dir>', 'write the IR after every pass as numbered .kir files (a new folder, or one Kiln wrote)')
    .option('--verbose', "print the passes' log messages (ctx.log) on stderr")
    .option(...ELIDE_OPTION)
    .option(...FULL_CONSTANTS_OPTION);
}

/** Constant elision flags of every command that prints IR for people (print, dumps, --print-ir-*). */
export const ELIDE_OPTION = [
  '--elide-constants <n>',
  `printed IR and dumps show constants of more than n elements as dense<elided:digest> (default ${DEFAULT_ELIDE_OVER})`,
  (v: string): number => {
    if (!/^\d+$/.test(v)) throw new KilnError('usage', `--elide-constants '${v}' must be a number of elements`);
    return Number(v);
  },
] as const;
export const FULL_CONSTANTS_OPTION = ['--full-constants', 'print every constant with its data (output that kiln run/compile can read back)'] as const;

/** The print options the two flags ask for. */
export function printOptionsFrom(o: { elideConstants?: number; fullConstants?: boolean }): PrintOptions {
  return o.fullConstants ? {} : { elideConstantsOver: o.elideConstants ?? DEFAULT_ELIDE_OVER };
}

export interface PipelineCliOpts {
  passes?: string;
  verifyEach?: boolean;
  printIrAfterAll?: boolean;
  printIrAfter: string[];
  printIrBefore: string[];
  dumpDir?: string;
  verbose?: boolean;
  elideConstants?: number;
  fullConstants?: boolean;
}

/** --verbose: each ctx.log message of a pass as a line on stderr. */
export const verboseLog = (message: string): void => void process.stderr.write(`${message}\n`);

export function pipelineFlagsFrom(o: PipelineCliOpts, print: (s: string) => void, defaultPasses?: string): PipelineFlags {
  const passes = o.passes ?? defaultPasses;
  return {
    ...(passes !== undefined ? { passes } : {}),
    verifyEach: o.verifyEach ?? false,
    printIrAfterAll: o.printIrAfterAll ?? false,
    printIrAfter: o.printIrAfter,
    printIrBefore: o.printIrBefore,
    ...(o.dumpDir ? { dumpDir: o.dumpDir } : {}),
    ...(o.verbose ? { log: verboseLog } : {}),
    printOptions: printOptionsFrom(o),
    print,
  };
}

export function registerPipelineCommands(program: Command): void {
  addPipelineFlags(
    program
      .command('opt')
      .description('run passes over textual IR (.kir, either level) or an ONNX model and print the result, like mlir-opt')
      .argument('[input]', 'file.kir or model.onnx')
      .option('-o, --output <file>', 'write the result to a file instead of stdout')
      .option('--list-passes', 'list the registered passes and their options')
      .option('--timing', 'print per-pass times to stderr'),
  ).action((input: string | undefined, o: PipelineCliOpts & { output?: string; listPasses?: boolean; timing?: boolean }) => {
    if (o.listPasses) {
      process.stdout.write(`${registeredPasses().map(describePass).join('\n')}\n`);
      return;
    }
    if (input === undefined) {
      program.commands.find((c) => c.name() === 'opt')?.error("missing argument 'input'");
      return;
    }
    const r = optFile(input, pipelineFlagsFrom(o, (s) => process.stdout.write(s)));
    if (o.output) writeFileAtomic(o.output, r.text, { models: [input] });
    else process.stdout.write(r.text);
    if (o.timing) for (const t of r.timeline) process.stderr.write(`${t.name.padEnd(24)} ${t.level.padEnd(7)} ${t.ms.toFixed(2).padStart(9)} ms\n`);
  });
}
