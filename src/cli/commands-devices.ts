/** `kiln devices [--kind k] [--json]` and `kiln boards` (the mcu devices): lists device descriptions. */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { DEVICE_KINDS, listDevices, type Device, type DeviceKind } from '../costmodel/devices.js';

const kib = (n: number): string => (n % 1048576 === 0 ? `${n / 1048576} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`);

/** A few key figures per kind, for the text listing. */
function summary(d: Device): string {
  switch (d.kind) {
    case 'mcu':
      return `${d.cpu}${d.fpu ? `+${d.fpu}` : ''}, flash ${kib(d.flash.size)}, sram ${kib(d.sram.size)}${d.levels?.length ? `, ${d.levels.map((l) => `${l.name} ${kib(l.size)}`).join(', ')}` : ''}`;
    case 'host':
      return `${d.cores} core(s), ${d.vectorBits}-bit vectors, ${d.caches.map((c) => `L${c.level} ${kib(c.bytes)}`).join(', ')}`;
    case 'gpu':
      return `workgroup <= ${d.limits.maxComputeInvocationsPerWorkgroup} invocations, ${kib(d.limits.maxComputeWorkgroupStorageSize)} workgroup storage, ${d.limits.maxStorageBuffersPerShaderStage} storage buffers/stage`;
    case 'fpga':
      return `${d.part}: ${d.resources.dsp} DSP (${d.dsp.name} ${d.dsp.multiplierBits.join('x')}), ${d.resources.bram18k} BRAM18K, ${d.resources.uram} URAM, ${d.resources.lut} LUT, ${d.resources.ff} FF @ ${d.clock.mhz} MHz`;
    case 'pim':
      return `${d.memory.standard}, ${d.pim.unitsPerChannel} units/${d.memory.pseudoChannelsPerChannel > 1 ? 'pseudo-channel' : 'channel'}, ${d.pim.lanes} x ${d.pim.elementType} lanes, ${d.memory.bankGroups * d.memory.banksPerGroup} banks, ${kib(d.memory.rowBytes)} rows`;
  }
}

function print(devices: Device[], json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
    return;
  }
  const w = Math.max(4, ...devices.map((d) => d.name.length));
  for (const d of devices) process.stdout.write(`${d.name.padEnd(w)}  ${d.kind.padEnd(4)}  ${summary(d)}\n`);
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
