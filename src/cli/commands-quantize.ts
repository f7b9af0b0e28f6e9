/** `kiln quantize <model> -o <out.onnx|out.kir> --calibration <dir>` (src/driver/quantize.ts, src/quant). */
import type { Command } from 'commander';
import { KilnError } from '../ir/errors.js';
import { formatQuantizeReport, quantizeModel, QUANT_SCHEMES, type QuantScheme } from '../driver/quantize.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../quant/ranges.js';
import type { Budget } from '../quant/mixed.js';
import { jsonOutput } from './commands.js';

function positive(flag: string, v: string, max = Infinity): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x < 0 || x > max) throw new KilnError('usage', `${flag} wants a number from 0 to ${max === Infinity ? 'any' : max}, got '${v}'`);
  return x;
}

interface QuantizeCliOptions {
  output?: string;
  calibration?: string;
  holdout?: string;
  method: string;
  percentile?: string;
  scheme: string;
  activations: string;
  maxSqnrDrop?: string;
  maxTop1Drop?: string;
  device?: string;
  json?: string | boolean;
  force?: boolean;
}

export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize')
    .description('quantize a float model to QDQ ONNX (int8 per-channel weights, int32 biases, calibrated activations) and report its accuracy against the float model')
    .argument('<model>', 'float model (.onnx or .kir)')
    .option('-o, --output <file>', 'the quantized model: .onnx (QDQ) or .kir')
    .option('--calibration <dir>', 'calibration inputs: test_data_set_* folders, input_N.pb/.npy files, or one .pb/.npy per data set')
    .option('--holdout <dir>', 'held-back inputs for the accuracy report (default: every fifth calibration data set)')
    .option('--method <m>', `activation ranges: ${CALIBRATION_METHODS.join(', ')} (entropy: KL divergence as TensorRT)`, 'minmax')
    .option('--percentile <p>', 'percentile kept by --method percentile', '99.99')
    .option('--scheme <s>', `${QUANT_SCHEMES.join(', ')}: int8 weights+activations; int8 weights with int16 activations; per-layer int4/int8 weights and int8/int16 activations under a budget`, 'int8')
    .option('--activations <t>', '8-bit activation type: int8 (asymmetric, default) or uint8', 'int8')
    .option('--max-sqnr-drop <dB>', 'mixed: output SQNR at most this far below the int8 model (default 3)')
    .option('--max-top1-drop <percent>', 'mixed: at most this share of top-1 predictions may differ from the float model')
    .option('--device <name>', 'report whether the weights fit this device (kiln devices)')
    .option('--json [file]', 'the report as JSON: on stdout (the table then goes to stderr), or into a file')
    .option('--force', 'replace an existing output file')
    .action((model: string, opts: QuantizeCliOptions) => {
      if (!opts.output) throw new KilnError('usage', 'quantize needs -o <out.onnx|out.kir>');
      if (!opts.calibration) throw new KilnError('usage', 'quantize needs --calibration <dir>');
      if (!(CALIBRATION_METHODS as readonly string[]).includes(opts.method)) throw new KilnError('usage', `--method '${opts.method}': use ${CALIBRATION_METHODS.join(', ')}`);
      if (!(QUANT_SCHEMES as readonly string[]).includes(opts.scheme)) throw new KilnError('usage', `--scheme '${opts.scheme}': use ${QUANT_SCHEMES.join(', ')}`);
      if (opts.activations !== 'int8' && opts.activations !== 'uint8') throw new KilnError('usage', `--activations '${opts.activations}': use int8 or uint8`);
      if (opts.maxSqnrDrop !== undefined && opts.maxTop1Drop !== undefined) throw new KilnError('usage', 'give one of --max-sqnr-drop and --max-top1-drop');
      let budget: Budget | undefined;
      if (opts.maxSqnrDrop !== undefined) budget = { kind: 'sqnr-drop', db: positive('--max-sqnr-drop', opts.maxSqnrDrop) };
      if (opts.maxTop1Drop !== undefined) budget = { kind: 'top1-drop', percent: positive('--max-top1-drop', opts.maxTop1Drop, 100) };
      const percentile = positive('--percentile', opts.percentile ?? '99.99', 100);
      if (percentile < 50) throw new KilnError('usage', `--percentile wants a value from 50 to 100, got ${percentile}`);
      const out = jsonOutput(opts.json);
      const { report } = quantizeModel(model, {
        out: opts.output,
        calibration: opts.calibration,
        ...(opts.holdout !== undefined ? { holdout: opts.holdout } : {}),
        method: opts.method as CalibrationMethod,
        percentile,
        scheme: opts.scheme as QuantScheme,
        activations: opts.activations === 'uint8' ? 'u8' : 'i8',
        ...(budget ? { budget } : {}),
        ...(opts.device !== undefined ? { device: opts.device } : {}),
        force: opts.force === true,
      });
      out.human.write(formatQuantizeReport(report));
      out.json(report);
    });
}
