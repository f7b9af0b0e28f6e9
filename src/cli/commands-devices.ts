/** `kiln devices [--kind k] [--json]` and `kiln boards` (the mcu devices): lists device descriptions. */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { DEVICE_KINDS, deviceSummary, listDevices, type Device, type DeviceKind } from '../costmodel/devices.js';

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
}
