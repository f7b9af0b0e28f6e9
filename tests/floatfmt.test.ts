import { describe, expect, it } from 'vitest';
import { fromBits, maxFinite, roundToFormat, toBits } from '../src/ir/floatfmt.js';
import type { DType } from '../src/ir/dtype.js';

describe('narrow float formats', () => {
  it('knows the largest finite values', () => {
    expect(maxFinite('f16')).toBe(65504);
    expect(maxFinite('bf16')).toBe(3.3895313892515355e38);
    expect(maxFinite('f8e4m3fn')).toBe(448);
    expect(maxFinite('f8e4m3fnuz')).toBe(240);
    expect(maxFinite('f8e5m2')).toBe(57344);
    expect(maxFinite('f8e5m2fnuz')).toBe(57344);
    expect(maxFinite('f4e2m1')).toBe(6);
  });

  it('rounds half to even', () => {
    // f16 spacing at 2048 is 2: 2049 is a tie between 2048 (even mantissa) and 2050
    expect(roundToFormat('f16', 2049)).toBe(2048);
    expect(roundToFormat('f16', 2051)).toBe(2052);
    expect(roundToFormat('f4e2m1', 2.5)).toBe(2);
    expect(roundToFormat('f4e2m1', 3.5)).toBe(4);
  });

  it('handles subnormals, overflow and saturation', () => {
    expect(roundToFormat('f16', 2 ** -24)).toBe(2 ** -24);
    expect(roundToFormat('f16', 2 ** -26)).toBe(0);
    expect(roundToFormat('f16', 70000)).toBe(Infinity);
    expect(roundToFormat('f8e4m3fn', 1000)).toBeNaN();
    expect(roundToFormat('f8e4m3fn', 1000, true)).toBe(448);
    expect(roundToFormat('f8e5m2', -1e6)).toBe(-Infinity);
    expect(roundToFormat('f8e5m2', -1e6, true)).toBe(-57344);
    expect(Object.is(roundToFormat('f8e4m3fnuz', -0), 0)).toBe(true);
  });

  it('bit patterns round-trip for every code of the 8-bit and 4-bit formats', () => {
    const formats: [DType, number][] = [['f8e4m3fn', 8], ['f8e4m3fnuz', 8], ['f8e5m2', 8], ['f8e5m2fnuz', 8], ['f4e2m1', 4], ['f8e8m0', 8]];
    for (const [dt, bits] of formats) {
      for (let code = 0; code < 2 ** bits; code++) {
        const v = fromBits(dt, code);
        if (Number.isNaN(v)) continue;
        if (dt === 'f4e2m1' && code === 8) continue; // -0 encodes as 0x8
        expect(toBits(dt, v), `${dt} code ${code}`).toBe(code);
        expect(roundToFormat(dt, v)).toBe(v);
      }
    }
  });

  it('decodes known f16 and bf16 patterns', () => {
    expect(fromBits('f16', 0x3c00)).toBe(1);
    expect(fromBits('f16', 0xc000)).toBe(-2);
    expect(fromBits('f16', 0x7c00)).toBe(Infinity);
    expect(fromBits('f16', 0x7e00)).toBeNaN();
    expect(fromBits('bf16', 0x3f80)).toBe(1);
    expect(toBits('bf16', -2)).toBe(0xc000);
  });
});
