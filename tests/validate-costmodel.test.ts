/** --validate-costmodel's pieces that need no compiler: the variants are valid kernel IR the model predicts, and Spearman's rho. */
import { describe, expect, it } from 'vitest';
import { costModelVariants } from '../src/costmodel/variants.js';
import { parseProgramText } from '../src/frontend/text/kernel-parser.js';
import { verifyProgram } from '../src/ir/kernel/verify.js';
import { costTotals, kernelCosts } from '../src/costmodel/kernel-cost.js';
import { hostRoofline } from '../src/costmodel/roofline.js';
import { spearman } from '../src/driver/validate-costmodel.js';
import { benchTime } from '../src/driver/report.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './helpers/onnx-builder.js';

describe('cost-model validation variants', () => {
  const variants = costModelVariants();
  it('at least 40 (kernel, schedule) variants, several schedules per computation, each verified and predicted', () => {
    expect(variants.length).toBeGreaterThanOrEqual(40);
    const families = new Map<string, Set<string>>();
    for (const v of variants) families.set(v.family, (families.get(v.family) ?? new Set()).add(v.schedule));
    for (const [f, s] of families) expect(s.size, f).toBeGreaterThanOrEqual(2);
    const roof = hostRoofline();
    for (const v of variants) {
      const p = parseProgramText(v.kir, v.family);
      verifyProgram(p);
      const t = costTotals(kernelCosts(p, roof));
      expect(t.reuseSeconds, `${v.family} ${v.schedule}`).toBeGreaterThan(0);
    }
  });

  it('a schedule that streams a stride-N column is predicted slower than the unit-stride order of the same GEMM', () => {
    const roof = hostRoofline();
    const time = (schedule: string): number => {
      const v = variants.find((x) => x.family === 'gemm 256x256x256' && x.schedule === schedule)!;
      return costTotals(kernelCosts(parseProgramText(v.kir), roof)).reuseSeconds!;
    };
    expect(time('jki')).toBeGreaterThan(4 * time('ikj'));
    expect(time('jik-acc')).toBeGreaterThan(4 * time('ijk-acc'));
  });
});

describe('spearman', () => {
  it('is 1 for the same order, -1 for the reverse, and averages ties', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 400])).toBeCloseTo(1);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1);
    // ranks [1.5, 1.5, 3] vs [1, 2, 3]: Pearson of the centered (-0.5, -0.5, 1) and (-1, 0, 1)
    expect(spearman([5, 5, 9], [1, 2, 3])).toBeCloseTo(1.5 / Math.sqrt(1.5 * 2));
    expect(Number.isNaN(spearman([1], [1]))).toBe(true);
  });
});

describe('kiln report --bench', () => {
  it('finds the model by its folder name in a bench or validate JSON, and nothing for another model', () => {
    const dir = tempDir('kiln-benchjson-');
    const bench = path.join(dir, 'bench.json');
    fs.writeFileSync(bench, JSON.stringify({ rows: [{ model: 'other', status: 'ok', cMs: 9 }, { model: 'resnet8', status: 'ok', cMs: 0.25 }] }));
    const validate = path.join(dir, 'validate.json');
    fs.writeFileSync(validate, JSON.stringify({ rows: [], models: [{ model: 'resnet8', measuredMs: 0.22, predictedMs: 0.13 }] }));
    expect(benchTime(bench, 'samples/resnet8/model.onnx')).toMatchObject({ ms: 0.25, what: 'kiln bench (generated C)' });
    expect(benchTime(validate, 'samples/resnet8/model.onnx')).toMatchObject({ ms: 0.22 });
    expect(benchTime(bench, 'samples/mlp/model.onnx')).toBeNull();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
