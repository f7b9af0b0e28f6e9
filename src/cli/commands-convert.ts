/** `kiln convert <in> <out>`: tensor files between .pb, .npy and raw .bin (src/driver/convert.ts). */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { convertTensorFile } from '../driver/convert.js';

function parseShape(v: string): number[] {
  if (!/^(\d+(x\d+)*)?$/.test(v.trim())) throw new KilnError('usage', `--shape '${v}' must look like 1x3x224x224 (empty for a scalar)`);
  return v.trim() === '' ? [] : v.trim().split('x').map(Number);
}

export function registerConvertCommand(program: Command): void {
  program
    .command('convert')
    .description('convert a tensor file between .pb (ONNX TensorProto), .npy (NumPy) and raw .bin/.raw (what the generated harness reads)')
    .argument('<input>', 'tensor file (.pb, .npy, .bin, .raw)')
    .argument('<output>', 'file to write; its extension picks the format')
    .option('--dtype <type>', 'element type of a raw input (f32, i8, u8, i32, i64, ...)')
    .option('--shape <dims>', 'shape of a raw input, e.g. 1x3x32x32')
    .option('--name <name>', 'tensor name in a .pb output (default: the output file name)')
    .option('--force', 'replace an existing output file')
    .action((input: string, output: string, opts: { dtype?: string; shape?: string; name?: string; force?: boolean }) => {
      const r = convertTensorFile(input, output, {
        ...(opts.dtype !== undefined ? { dtype: opts.dtype } : {}),
        ...(opts.shape !== undefined ? { shape: parseShape(opts.shape) } : {}),
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        force: opts.force === true,
      });
      process.stdout.write(`wrote ${output}: ${r.dtype}[${r.shape.join(',')}], ${r.bytes} B\n`);
    });
}
