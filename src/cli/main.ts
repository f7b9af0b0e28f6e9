/** `kiln` command line: parses arguments, calls the driver, prints. No compiler logic lives here. */
import * as fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { KilnError, isKilnError } from '../ir/errors.js';
import { registerCommands } from './commands.js';
import { registerDevicesCommands } from './commands-devices.js';
import { registerConvertCommand } from './commands-convert.js';
import { registerQuantizeCommand } from './commands-quantize.js';
import { registerPimCommands } from './commands-pim.js';
import { loadPluginsAndConfig } from './commands-pipeline.js';
import { maxTensorBytes, setMaxTensorBytes } from '../ir/tensor.js';
import { createProgress, setProgressEnabled } from '../driver/progress.js';
import { setSolverProgress } from '../costmodel/highs.js';

const BYTE_SUFFIX: Record<string, number> = { '': 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `--max-tensor-bytes`: a positive whole number of bytes, optionally with a K/M/G (binary) suffix. */
export function parseByteCount(v: string): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(v);
  const mult = m ? BYTE_SUFFIX[m[2]!.toLowerCase()] : undefined;
  const n = m && mult !== undefined ? Number(m[1]) * mult : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new KilnError('usage', `--max-tensor-bytes wants a positive number of bytes (e.g. 4294967296 or 4G), got '${v}'`);
  return n;
}

/** The version in package.json (dist/cli/main.js → ../../package.json). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const program = new Command();
  program
    .name('kiln')
    .description('Kiln: a tensor compiler from ONNX to C for hosts and Arm Cortex-M, WGSL for WebGPU, and a simulated processing-in-memory device')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--debug', 'show stack traces for errors')
    .option('--max-tensor-bytes <n>', 'largest tensor Kiln allocates or accepts, in bytes (K/M/G suffixes allowed); bigger shapes are refused before allocation', String(maxTensorBytes))
    .option('--plugin <file>', 'load a plugin (ES module adding passes/ops); repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--no-config', 'ignore kiln.config.mjs / kiln.config.json in the working folder')
    .option('--no-progress', 'no progress line on stderr (it is drawn only on a terminal, never when CI is set)')
    .hook('preAction', async (cmd) => {
      const o = cmd.opts<{ maxTensorBytes: string; plugin: string[]; config: boolean }>();
      setMaxTensorBytes(parseByteCount(String(o.maxTensorBytes)));
      setProgressEnabled(cmd.opts<{ progress?: boolean }>().progress !== false);
      // the cost model's solver waits draw a spinner through the CLI's progress line
      setSolverProgress((label) => {
        const p = createProgress({ label, heartbeatMs: 0 });
        return p.active ? { tick: () => p.tick(0), done: () => p.done() } : null;
      });
      await loadPluginsAndConfig(o.plugin, o.config);
    })
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`kiln: error: ${s.replace(/^error: /, '').trim()}\n`),
    });
  registerCommands(program, main);
  registerDevicesCommands(program);
  registerConvertCommand(program);
  registerQuantizeCommand(program);
  registerPimCommands(program);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : 1;
    }
    if (isKilnError(e)) {
      process.stderr.write(`kiln: error: ${e.oneLine()}\n`);
      if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
      return 1;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`kiln: error: internal error: ${err.message.split('\n')[0]}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

export { KilnError };
