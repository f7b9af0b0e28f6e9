/** `kiln devices [--kind k] [--json]` and `kiln boards` (the mcu devices): lists device descriptions. */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import * as path from 'node:path';
import { DEVICE_KINDS, deviceSummary, listDevices, type Device, type DeviceKind } from '../costmodel/devices.js';
import { calibrate, writeProfile } from '../costmodel/calibrate.js';
import { DEFAULT_HOST_PROFILE } from '../costmodel/roofline.js';

function print(devices: Device[], json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
    return;
  }
  const w = Math.max(4, ...devices.map((d) => d.name.length));
  for (const d of devices) process.stdout.write(`${d.name.padEnd(w)}  ${d.kind.padEnd(4)}  ${deviceSummary(d)}\n`);
}

export function registerDevicesCommands(program: Command): void {
  program
    .command('devices')
    .description('list the device descriptions (src/costmodel/devices/*.json; fields in docs/devices.md)')
    .option('--kind <kind>', `only devices of this kind (${DEVICE_KINDS.join(', ')})`)
    .option('--json', 'print the full descriptions as JSON')
    .action((opts: { kind?: string; json?: boolean }) => {
      if (opts.kind !== undefined && !(DEVICE_KINDS as readonly string[]).includes(opts.kind)) {
        throw new KilnError('usage', `--kind must be one of ${DEVICE_KINDS.join(', ')}, got '${opts.kind}'`);
      }
      print(opts.kind ? listDevices(opts.kind as DeviceKind) : listDevices(), opts.json);
    });
  program
    .command('boards')
    .description('list the MCU boards (same as `kiln devices --kind mcu`)')
    .option('--json', 'print the full descriptions as JSON')
    .action((opts: { json?: boolean }) => print(listDevices('mcu'), opts.json));
  program
    .command('calibrate')
    .description('measure this host with small C microbenchmarks (peak scalar/vector FLOP/s and int ops, read bandwidth per cache level and DRAM) and write a host device profile')
    .option('-o, --output <file.json>', 'profile file; its name must be <name>.json (default: <name>.json in the working folder)')
    .option('--name <n>', 'profile name (default: the -o file name without .json, else host)')
    .option('--base <profile>', `data-sheet host profile giving cache sizes the OS does not report (default ${DEFAULT_HOST_PROFILE})`)
    .option('--force', 'replace an existing file')
    .option('--quick', 'tiny working sets and 1 ms trials (a smoke test: the figures are not meaningful)')
    .option('--trial-ms <ms>', 'milliseconds per timed trial', (v) => parseFloat(v))
    .option('--trials <n>', 'trials per figure (the best is kept, the median shown as the noise)', (v) => parseInt(v, 10))
    .action((opts: { output?: string; name?: string; base?: string; force?: boolean; quick?: boolean; trialMs?: number; trials?: number }) => {
      const fromFile = opts.output !== undefined && opts.output.endsWith('.json') ? path.basename(opts.output, '.json') : undefined;
      if (opts.output !== undefined && !opts.output.endsWith('.json')) throw new KilnError('usage', `calibrate -o '${opts.output}' must end in .json`);
      const name = opts.name ?? fromFile ?? 'host';
      if (fromFile !== undefined && fromFile !== name) throw new KilnError('usage', `calibrate: the file of profile '${name}' must be named ${name}.json, not '${path.basename(opts.output!)}'`);
      const file = opts.output ?? `${name}.json`;
      // refuse before spending the time on the measurements
      if (!opts.force) writeProfile(file, null, false);
      if (opts.trialMs !== undefined && !(opts.trialMs > 0)) throw new KilnError('usage', '--trial-ms must be a positive number');
      if (opts.trials !== undefined && !(opts.trials >= 1 && opts.trials <= 64)) throw new KilnError('usage', '--trials must be from 1 to 64');
      const r = calibrate({ name, ...(opts.base !== undefined ? { base: opts.base } : {}), quick: opts.quick ?? false, ...(opts.trialMs !== undefined ? { trialMs: opts.trialMs } : {}), ...(opts.trials !== undefined ? { trials: opts.trials } : {}) });
      for (const l of r.lines) process.stdout.write(`${l}\n`);
      writeProfile(file, r.text, opts.force ?? false);
      process.stdout.write(`wrote ${file}: host profile '${name}' for ${r.cpu} in ${(r.ms / 1000).toFixed(1)} s (use it with --host ${file}, e.g. kiln report --host ${file})\n`);
    });
}
