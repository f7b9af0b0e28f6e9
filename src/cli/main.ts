/** `kiln` command line: parses arguments, calls the driver, prints. No compiler logic lives here. */
import { Command, CommanderError } from 'commander';
import { KilnError, isKilnError } from '../ir/errors.js';
import { registerCommands } from './commands.js';

export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const program = new Command();
  program
    .name('kiln')
    .description('Kiln: a tensor compiler for WebGPU, microcontrollers, FPGAs (HLS) and processing-in-memory')
    .option('--debug', 'show stack traces for errors')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`kiln: error: ${s.replace(/^error: /, '').trim()}\n`),
    });
  registerCommands(program);
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
