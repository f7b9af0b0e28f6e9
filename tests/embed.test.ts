/**
 * Generated C as firmware embeds it (docs/embedding.md): model.h from C++, the files copied into
 * another folder with both weight forms, `make run` for the host and every board, two models and
 * two arenas in one binary, the int8 boundary constants, and `kiln convert`. Tests that need a tool
 * (gcc, g++, arm-none-eabi-gcc, qemu-system-arm, numpy) say "skipped: …" when it is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { listBoards, runBoard } from '../src/costmodel/boards.js';
import { loadModel } from '../src/driver/load.js';
import { constantOf } from '../src/ir/infer.js';
import { kiln, tempDir } from './helpers/onnx-builder.js';

function installed(cmd: string, args = ['--version']): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== 'ENOENT' && (e as { status?: number }).status !== 1;
  }
}

const hasCc = installed('cc');
const hasGxx = installed('g++');
const hasMake = installed('make');
const hasArm = installed('arm-none-eabi-gcc') && installed('qemu-system-arm');
const hasNumpy = installed('python3', ['-c', 'import numpy']);
if (!hasCc) console.log('skipped: cc not installed');
if (!hasGxx) console.log('skipped: g++ not installed');
if (!hasMake) console.log('skipped: make not installed');
if (!hasArm) console.log('skipped: arm-none-eabi-gcc or qemu-system-arm not installed');
if (!hasNumpy) console.log('skipped: python3 numpy not installed');

const KWS = path.resolve('samples/kws-dscnn-int8');
const MLP = path.resolve('samples/mlp');

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

function compile(model: string, out: string, extra: string[] = []): void {
  const r = kiln(['compile', path.join(model, 'model.onnx'), '-o', out, ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/** input_0.pb of a sample as raw bytes (what the harness reads), via kiln convert. */
function rawInput(model: string, dir: string, name: string): string {
  const f = path.join(dir, name);
  const r = kiln(['convert', path.join(model, 'test_data_set_0', 'input_0.pb'), f]);
  expect(r.code).toBe(0);
  return f;
}

/** The same input with every byte changed, for a second instance with other data. */
function otherInput(file: string, dir: string, name: string, float: boolean): string {
  const b = Buffer.from(fs.readFileSync(file));
  if (float) {
    const f = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    for (let i = 0; i < f.length; i++) f[i] = f[i]! * 0.5 + 0.25;
  } else for (let i = 0; i < b.length; i++) b[i] = (b[i]! + 37) & 0xff;
  const out = path.join(dir, name);
  fs.writeFileSync(out, b);
  return out;
}

/** Outputs of the generated harness (built with its own Makefile) on one input. */
function harnessOutput(project: string, input: string, prefix: string): Buffer {
  sh('make', ['-s', '-C', project], project);
  sh(path.join(project, 'model'), [input, '-o', prefix], project);
  return fs.readFileSync(`${prefix}0.bin`);
}

describe.skipIf(!hasCc || !hasMake)('generated C embeds', () => {
  it('model.h: extern "C", dims, the int8 input scale/zero point from the graph, the API version', () => {
    const dir = tempDir();
    compile(KWS, path.join(dir, 'k'));
    const h = fs.readFileSync(path.join(dir, 'k', 'model.h'), 'utf8');
    expect(h).toMatch(/#ifdef __cplusplus\nextern "C" \{/);
    expect(h).toMatch(/Kiln C API version \d+/);
    // dims from the model's declared input
    const g = loadModel(path.join(KWS, 'model.onnx')).graph;
    const input = g.inputs.find((v) => !v.init)!;
    input.tensorType!.shape!.forEach((d, i) => expect(h).toContain(`#define KILN_KWS_DSCNN_INT8_INPUT0_DIM${i} ${d}\n`));
    // scale and zero point of the op that reads the input
    const reader = g.nodes.find((n) => n.inputs[0] === input)!;
    const scale = Number(constantOf(reader.inputs[1]!)!.get(0));
    const zp = Number(constantOf(reader.inputs[2]!)!.get(0));
    const m = /#define KILN_KWS_DSCNN_INT8_INPUT0_SCALE (\S+)/.exec(h);
    const z = /#define KILN_KWS_DSCNN_INT8_INPUT0_ZERO_POINT \(?(-?\d+)\)?/.exec(h);
    expect(m && z).toBeTruthy();
    // evaluate the C literal with the compiler
    fs.writeFileSync(path.join(dir, 'q.c'), '#include <stdio.h>\n#include "model.h"\nint main(void) { printf("%.9g %d\\n", (double)KILN_KWS_DSCNN_INT8_INPUT0_SCALE, KILN_KWS_DSCNN_INT8_INPUT0_ZERO_POINT); return 0; }\n');
    sh('cc', ['-std=c99', '-Wall', '-Werror', '-Ik', '-o', 'q', 'q.c'], dir);
    const [s, zz] = sh(path.join(dir, 'q'), [], dir).trim().split(' ').map(Number);
    expect(s).toBeCloseTo(scale, 12);
    expect(zz).toBe(zp);
    // f32 output: no quantization constants
    expect(h).not.toContain('OUTPUT0_SCALE');
  });

  it.skipIf(!hasGxx)('a C++ program links model.h/model.c with g++ and gets the harness outputs', () => {
    const dir = tempDir();
    const k = path.join(dir, 'k');
    compile(KWS, k, ['--weights', 'c-array']);
    const input = rawInput(KWS, dir, 'in.bin');
    const expected = harnessOutput(k, input, path.join(dir, 'h'));
    fs.writeFileSync(path.join(dir, 'app.cpp'), `#include <cstdio>
#include <vector>
#include "model.h"
alignas(KILN_KWS_DSCNN_INT8_ARENA_ALIGN) static unsigned char arena[KILN_KWS_DSCNN_INT8_ARENA_BYTES];
int main(int argc, char **argv) {
  std::vector<signed char> in(KILN_KWS_DSCNN_INT8_INPUT0_BYTES);
  std::vector<float> out(KILN_KWS_DSCNN_INT8_OUTPUT0_SIZE);
  std::FILE *f = std::fopen(argv[1], "rb");
  if (!f || std::fread(in.data(), 1, in.size(), f) != in.size()) return 2;
  std::fclose(f);
  if (kiln_kws_dscnn_int8_run_with_arena(reinterpret_cast<const int8_t *>(in.data()), out.data(), arena) != 0) return 3;
  f = std::fopen(argv[2], "wb");
  std::fwrite(out.data(), sizeof(float), out.size(), f);
  std::fclose(f);
  return argc == 3 ? 0 : 1;
}
`);
    sh('cc', ['-std=c99', '-O2', '-c', 'k/model.c', '-o', 'model.o'], dir);
    sh('cc', ['-std=c99', '-c', 'k/weights.c', '-o', 'weights.o'], dir);
    sh('g++', ['-std=c++17', '-Wall', '-Werror', '-Ik', '-o', 'app', 'app.cpp', 'model.o', 'weights.o', '-lm'], dir);
    sh(path.join(dir, 'app'), [input, path.join(dir, 'cpp.bin')], dir);
    expect(fs.readFileSync(path.join(dir, 'cpp.bin')).equals(expected)).toBe(true);
  });

  it('builds from a copy of the four files in another folder, with .incbin and with a C array', () => {
    const dir = tempDir();
    const input = rawInput(MLP, dir, 'in.bin');
    let reference: Buffer | null = null;
    for (const form of ['incbin', 'c-array'] as const) {
      const gen = path.join(dir, `gen-${form}`);
      compile(MLP, gen, ['--weights', form, '--weights-section', '.rodata.kiln']);
      const four = form === 'incbin' ? ['model.h', 'model.c', 'weights.s', 'weights.bin'] : ['model.h', 'model.c', 'weights.c'];
      expect(four.every((f) => fs.existsSync(path.join(gen, f)))).toBe(true);
      const proj = path.join(dir, `proj-${form}`);
      fs.mkdirSync(path.join(proj, 'vendor', 'kiln'), { recursive: true });
      for (const f of four) fs.copyFileSync(path.join(gen, f), path.join(proj, 'vendor', 'kiln', f));
      fs.copyFileSync(path.join(gen, 'main.c'), path.join(proj, 'app.c'));
      // built from the project's root, as a user's build would: .incbin needs the folder of weights.bin as -I (docs/embedding.md)
      const weights = form === 'incbin' ? ['vendor/kiln/weights.s', '-Wa,-Ivendor/kiln'] : ['vendor/kiln/weights.c'];
      sh('cc', ['-std=c99', '-O1', '-Wall', '-Wextra', '-Werror', '-pedantic', '-Ivendor/kiln', '-o', 'app', 'app.c', 'vendor/kiln/model.c', ...weights, '-lm'], proj);
      // the weights landed in the requested section
      const obj = path.join(proj, 'w.o');
      sh('cc', ['-c', '-o', obj, ...weights.filter((w) => !w.startsWith('-Wa')), ...weights.filter((w) => w.startsWith('-Wa'))], proj);
      expect(sh('objdump', ['-h', obj], proj)).toContain('.rodata.kiln');
      sh(path.join(proj, 'app'), [input, '-o', path.join(proj, 'out')], proj);
      const out = fs.readFileSync(path.join(proj, 'out0.bin'));
      const own = harnessOutput(gen, input, path.join(gen, 'ref'));
      expect(out.equals(own)).toBe(true);
      if (reference) expect(out.equals(reference)).toBe(true);
      reference = out;
    }
  });

  it('make run on the host runs the harness and prints the time per inference', () => {
    const dir = tempDir();
    const k = path.join(dir, 'k');
    compile(MLP, k);
    const input = rawInput(MLP, dir, 'in.bin');
    const stdout = sh('make', ['-s', 'run', `ARGS=${input} -n 5 -o ${path.join(dir, 'out')}`], k);
    expect(stdout).toMatch(/kiln: 5 run\(s\), \d+\.\d+ us per inference \(clock_gettime/);
    expect(fs.existsSync(path.join(dir, 'out0.bin'))).toBe(true);
  });

  it('two models and two arenas of one model in one binary give the outputs each gives alone', () => {
    const dir = tempDir();
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    compile(MLP, a);
    compile(KWS, b, ['--weights', 'c-array']);
    const inA = rawInput(MLP, dir, 'a.bin');
    const inB1 = rawInput(KWS, dir, 'b1.bin');
    const inB2 = otherInput(inB1, dir, 'b2.bin', false);
    const refA = harnessOutput(a, inA, path.join(dir, 'ra'));
    const refB1 = harnessOutput(b, inB1, path.join(dir, 'rb1'));
    const refB2 = harnessOutput(b, inB2, path.join(dir, 'rb2'));
    expect(refB1.equals(refB2)).toBe(false);
    // no mutable state in the model but the static arena (reentrancy): data/bss symbols of model.o
    sh('cc', ['-std=c99', '-O2', '-c', '-o', 'b.o', 'b/model.c'], dir);
    const mutable = sh('nm', ['b.o'], dir).split('\n').filter((l) => / [bBdDcC] /.test(l)).map((l) => l.trim().split(/\s+/).pop());
    expect(mutable).toEqual(['kiln_arena']);
    fs.writeFileSync(path.join(dir, 'two.c'), `#include <stdio.h>
#include <stdlib.h>
#include "a/model.h"
#include "b/model.h"
static unsigned char arena1[KILN_KWS_DSCNN_INT8_ARENA_BYTES] __attribute__((aligned(KILN_KWS_DSCNN_INT8_ARENA_ALIGN)));
static unsigned char arena2[KILN_KWS_DSCNN_INT8_ARENA_BYTES] __attribute__((aligned(KILN_KWS_DSCNN_INT8_ARENA_ALIGN)));
static void *load(const char *p, size_t n) {
  void *b = malloc(n);
  FILE *f = fopen(p, "rb");
  if (!b || !f || fread(b, 1, n, f) != n) exit(2);
  fclose(f);
  return b;
}
static void save(const char *p, const void *b, size_t n) {
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(b, 1, n, f) != n) exit(3);
  fclose(f);
}
int main(int argc, char **argv) {
  const float *ia = load(argv[1], KILN_MLP_INPUT0_BYTES);
  const int8_t *ib1 = load(argv[2], KILN_KWS_DSCNN_INT8_INPUT0_BYTES), *ib2 = load(argv[3], KILN_KWS_DSCNN_INT8_INPUT0_BYTES);
  static float oa[KILN_MLP_OUTPUT0_SIZE], ob1[KILN_KWS_DSCNN_INT8_OUTPUT0_SIZE], ob2[KILN_KWS_DSCNN_INT8_OUTPUT0_SIZE], ob3[KILN_KWS_DSCNN_INT8_OUTPUT0_SIZE];
  int i;
  /* interleaved: instance 1 and 2 of the same model on their own arenas, the other model in between */
  for (i = 0; i < 2; i++) {
    kiln_kws_dscnn_int8_run_with_arena(ib1, ob1, arena1);
    kiln_mlp_run(ia, oa);
    kiln_kws_dscnn_int8_run_with_arena(ib2, ob2, arena2);
  }
  kiln_kws_dscnn_int8_run(ib1, ob3);
  save("t_a.bin", oa, sizeof oa);
  save("t_b1.bin", ob1, sizeof ob1);
  save("t_b2.bin", ob2, sizeof ob2);
  save("t_b3.bin", ob3, sizeof ob3);
  return argc == 4 ? 0 : 1;
}
`);
    sh('cc', ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', '-o', 'two', 'two.c', 'a/model.c', 'a/weights.s', '-Wa,-Ia', 'b/model.c', 'b/weights.c', '-lm'], dir);
    sh(path.join(dir, 'two'), [inA, inB1, inB2], dir);
    expect(fs.readFileSync(path.join(dir, 't_a.bin')).equals(refA)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 't_b1.bin')).equals(refB1)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 't_b2.bin')).equals(refB2)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 't_b3.bin')).equals(refB1)).toBe(true);
  });
});

describe.skipIf(!hasArm || !hasMake || !hasCc)('make run on every board', () => {
  for (const board of listBoards()) {
    it(`${board.name}: make run ${runBoard(board) ? 'runs under QEMU' : 'says it cannot run'}`, () => {
      const dir = tempDir();
      const m = path.join(dir, 'm');
      const r = kiln(['compile', path.join(MLP, 'model.onnx'), '-t', 'mcu', '--board', board.name, '-o', m]);
      expect(r.code).toBe(0);
      const input = rawInput(MLP, dir, 'in.bin');
      fs.copyFileSync(input, path.join(m, 'in.bin'));
      if (!runBoard(board)) {
        expect(() => sh('make', ['-s', 'run', 'ARGS=in.bin -o out'], m)).toThrow(/cannot|no model/);
        return;
      }
      const stdout = sh('make', ['-s', 'run', 'ARGS=in.bin -n 2 -o out'], m);
      // QEMU does not count cycles: the harness says so rather than printing a figure
      expect(stdout).toMatch(/kiln: 2 run\(s\)(, \d+ cycles per inference|; cycle counter not counting|; no cycle counter)/);
      const host = path.join(dir, 'h');
      compile(MLP, host);
      const ref = new Float32Array(new Uint8Array(harnessOutput(host, input, path.join(dir, 'ref'))).buffer);
      const got = new Float32Array(new Uint8Array(fs.readFileSync(path.join(m, 'out0.bin'))).buffer);
      expect(got.length).toBe(ref.length);
      got.forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(ref[i]!))));
    }, 300_000);
  }
});

describe('kiln convert', () => {
  const pb = path.join(KWS, 'test_data_set_0', 'input_0.pb');

  it('.pb → .npy → .bin → .pb gives back the same tensor bytes', () => {
    const dir = tempDir();
    expect(kiln(['convert', pb, path.join(dir, 'x.npy')]).code).toBe(0);
    expect(kiln(['convert', path.join(dir, 'x.npy'), path.join(dir, 'x.bin')]).code).toBe(0);
    const g = loadModel(path.join(KWS, 'model.onnx')).graph.inputs[0]!.tensorType!;
    const r = kiln(['convert', path.join(dir, 'x.bin'), path.join(dir, 'x.pb'), '--dtype', g.dtype, '--shape', g.shape!.join('x'), '--name', 'input']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'x.pb')).equals(fs.readFileSync(pb))).toBe(true);
  });

  it('refuses raw input without --dtype/--shape, an existing output, fortran order and big-endian .npy with one line', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'r.bin'), Buffer.alloc(8));
    const noShape = kiln(['convert', path.join(dir, 'r.bin'), path.join(dir, 'r.npy')]);
    expect(noShape.code).toBe(1);
    expect(noShape.stderr).toMatch(/^kiln: error: .*--dtype and --shape\n$/);
    const wrong = kiln(['convert', path.join(dir, 'r.bin'), path.join(dir, 'r.npy'), '--dtype', 'f32', '--shape', '3']);
    expect(wrong.stderr).toMatch(/8 bytes, f32\[3\] needs 12/);
    fs.writeFileSync(path.join(dir, 'keep.npy'), 'mine');
    const exists = kiln(['convert', pb, path.join(dir, 'keep.npy')]);
    expect(exists.code).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'keep.npy'), 'utf8')).toBe('mine');
    const npy = (descr: string, fortran: string): Buffer => {
      const dict = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': (2,), }`.padEnd(117, ' ') + '\n';
      const h = Buffer.alloc(10);
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
      h.writeUInt16LE(dict.length, 8);
      return Buffer.concat([h, Buffer.from(dict, 'latin1'), Buffer.alloc(8)]);
    };
    fs.writeFileSync(path.join(dir, 'f.npy'), npy('<f4', 'True'));
    const fo = kiln(['convert', path.join(dir, 'f.npy'), path.join(dir, 'f.bin')]);
    expect(fo.code).toBe(1);
    expect(fo.stderr).toMatch(/^kiln: error: .*fortran_order[^\n]*\n$/);
    fs.writeFileSync(path.join(dir, 'b.npy'), npy('>f4', 'False'));
    expect(kiln(['convert', path.join(dir, 'b.npy'), path.join(dir, 'b.bin')]).stderr).toMatch(/big-endian/);
    fs.writeFileSync(path.join(dir, 'ok.npy'), npy('<f4', 'False'));
    expect(kiln(['convert', path.join(dir, 'ok.npy'), path.join(dir, 'ok.bin')]).code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'f.bin')) || fs.existsSync(path.join(dir, 'b.bin'))).toBe(false);
  });

  it.skipIf(!hasNumpy)('NumPy reads what Kiln writes and Kiln reads what NumPy writes (v1.0 and v2.0)', () => {
    const dir = tempDir();
    expect(kiln(['convert', pb, path.join(dir, 'k.npy')]).code).toBe(0);
    const py = `import numpy as np, sys
a = np.load(sys.argv[1])
np.save(sys.argv[2], a.astype('<f8') * 0.5)
with open(sys.argv[3], 'wb') as f:
    np.lib.format.write_array(f, np.arange(6, dtype='<i4').reshape(2, 3), version=(2, 0))
print(a.dtype, a.shape, int(a.astype(np.int64).sum()))
`;
    const out = sh('python3', ['-c', py, 'k.npy', 'p.npy', 'v2.npy'], dir).trim();
    const t = loadModel(path.join(KWS, 'model.onnx')).graph.inputs[0]!.tensorType!;
    expect(out.startsWith(`int8 (${t.shape!.join(', ')})`)).toBe(true);
    const n = t.shape!.reduce<number>((a, d) => a * Number(d), 1);
    const file = fs.readFileSync(path.join(dir, 'k.npy'));
    const raw = new Int8Array(new Uint8Array(file).buffer.slice(file.length - n));
    expect(Number(out.split(' ').pop())).toBe(raw.reduce((a, b) => a + b, 0));
    expect(kiln(['convert', path.join(dir, 'p.npy'), path.join(dir, 'p.bin')]).code).toBe(0);
    const half = new Float64Array(new Uint8Array(fs.readFileSync(path.join(dir, 'p.bin'))).buffer);
    half.forEach((v, i) => expect(v).toBe(raw[i]! * 0.5));
    expect(kiln(['convert', path.join(dir, 'v2.npy'), path.join(dir, 'v2.bin')]).code).toBe(0);
    expect([...new Int32Array(new Uint8Array(fs.readFileSync(path.join(dir, 'v2.bin'))).buffer)]).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
