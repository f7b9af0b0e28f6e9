/**
 * Kernel-level text (`kiln.kernel`): print → parse → print is byte-identical for every conformance
 * model that lowers (before and after memory planning), parsed programs verify and compute exactly
 * what the originals compute, and malformed text fails with one-line `file:line:col` errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/driver/load.js';
import { dataSets, readInputs } from '../src/driver/testcase.js';
import { specializeInputs } from '../src/passes/specialize.js';
import { lowerModule } from '../src/passes/lower.js';
import { planMemory } from '../src/passes/plan-memory.js';
import { printProgram } from '../src/ir/kernel/print.js';
import { verifyProgram } from '../src/ir/kernel/verify.js';
import { runProgram } from '../src/ir/kernel/interp.js';
import { irTextLevel, parseIrText, parseProgramText } from '../src/frontend/text/kernel-parser.js';
import { KernelBuilder, bin, cast, idx, lit, load, select, un } from '../src/ir/kernel/builder.js';
import type { Expr, KBuffer, Program, Stmt } from '../src/ir/kernel/types.js';
import { Tensor } from '../src/ir/tensor.js';
import { KilnError } from '../src/ir/errors.js';
import { kiln, ONNX_TESTS, tempDir } from './helpers/onnx-builder.js';

const nodeDir = path.join(ONNX_TESTS, 'node');
const haveData = fs.existsSync(nodeDir);
if (!haveData) console.log('skipped: ../shared/onnx-tests not present');

/** Bytes of a tensor's storage, for bit-exact comparison (NaN payloads included). */
function bytesOf(t: Tensor): number[] {
  const d = t.data;
  if (Array.isArray(d)) return d.map((s) => s.length);
  return Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

function inputFiles(set: string): string[] {
  const files = fs.readdirSync(set).filter((f) => f.startsWith('input_') && f.endsWith('.pb'));
  return files.sort((a, b) => Number(a.slice(6, -3)) - Number(b.slice(6, -3))).map((f) => path.join(set, f));
}

interface Lowered {
  name: string;
  program: Program;
  feeds: Tensor[];
}

/** Every node case that loads, specializes to its first data set and lowers (the kernel target's path). */
function lowerCorpus(): { lowered: Lowered[]; refused: number; ms: number } {
  const t0 = performance.now();
  const lowered: Lowered[] = [];
  let refused = 0;
  for (const name of fs.readdirSync(nodeDir).sort()) {
    const dir = path.join(nodeDir, name);
    try {
      const module = loadModel(path.join(dir, 'model.onnx'));
      const set = dataSets(dir)[0];
      if (!set) throw new Error('no data set');
      const inputs = readInputs(module, inputFiles(set));
      specializeInputs(module, inputs);
      const program = lowerModule(module);
      const feeds = module.graph.inputs.flatMap((v, i) => (v.init ? [] : [inputs[i] as Tensor]));
      lowered.push({ name, program, feeds });
    } catch {
      refused++;
    }
  }
  return { lowered, refused, ms: performance.now() - t0 };
}

/** Places arena buffers ('sram') and constants ('flash') as a memory plan says. */
function applyPlan(p: Program): void {
  const plan = planMemory(p, { timeLimitMs: 0 });
  for (const [b, off] of plan.arenaOffset) {
    b.level = 'sram';
    b.offset = off;
  }
  for (const [b, off] of plan.blobOffset) {
    b.level = 'flash';
    b.offset = off;
  }
}

describe.skipIf(!haveData)('kernel text over the conformance models', () => {
  const corpus = haveData ? lowerCorpus() : { lowered: [], refused: 0, ms: 0 };

  it('print(parse(print(p))) === print(p), the parsed program verifies, and a sample computes the same', () => {
    const { lowered, refused, ms } = corpus;
    const t0 = performance.now();
    const failed: string[] = [];
    let ran = 0;
    lowered.forEach(({ name, program, feeds }, i) => {
      try {
        verifyProgram(program);
        const text = printProgram(program);
        const parsed = parseProgramText(text, `${name}.kir`);
        const again = printProgram(parsed);
        if (again !== text) {
          const a = text.split('\n');
          const b = again.split('\n');
          const line = a.findIndex((l, j) => l !== b[j]);
          failed.push(`${name}: text differs at line ${line + 1}: ${a[line]?.slice(0, 200)} | ${b[line]?.slice(0, 200)}`);
          return;
        }
        verifyProgram(parsed);
        if (i % 10 === 0) {
          const want = runProgram(program, feeds);
          const got = runProgram(parsed, feeds);
          ran++;
          if (got.length !== want.length || got.some((t, k) => t.dtype !== want[k]!.dtype || JSON.stringify(bytesOf(t)) !== JSON.stringify(bytesOf(want[k]!)))) {
            failed.push(`${name}: outputs of the parsed program differ`);
          }
        }
      } catch (e) {
        failed.push(`${name}: ${(e as Error).message}`);
      }
    });
    console.log(`kernel text: ${lowered.length} programs (${refused} cases do not lower) in ${(ms / 1000).toFixed(1)} s; round trip + verify ${((performance.now() - t0) / 1000).toFixed(1)} s, ${ran} interpreted twice`);
    expect(failed).toEqual([]);
    expect(lowered.length).toBeGreaterThan(1500);
    expect(ran).toBeGreaterThan(150);
  });

  it('programs after memory planning (levels and offsets set) round-trip and verify', () => {
    const t0 = performance.now();
    const failed: string[] = [];
    let placed = 0;
    for (const { name, program } of corpus.lowered) {
      try {
        applyPlan(program);
        if (program.buffers.some((b) => b.offset !== undefined && b.level === 'sram')) placed++;
        verifyProgram(program);
        const text = printProgram(program);
        const parsed = parseProgramText(text);
        expect(parsed.buffers.map((b) => [b.level, b.offset])).toEqual(program.buffers.map((b) => [b.level, b.offset]));
        if (printProgram(parsed) !== text) failed.push(`${name}: text differs`);
        verifyProgram(parsed);
      } catch (e) {
        failed.push(`${name}: ${(e as Error).message}`);
      }
    }
    console.log(`kernel text after planning: ${corpus.lowered.length} programs, ${placed} with arena offsets, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(failed).toEqual([]);
    expect(placed).toBeGreaterThan(100);
  });
});

// ---------- hand-built programs ----------

function buf(id: number, name: string, dtype: KBuffer['dtype'], shape: number[], role: KBuffer['role'], data?: Tensor): KBuffer {
  const b: KBuffer = { id, name, dtype, shape, role };
  if (data) b.data = data;
  return b;
}

/** A program exercising every statement and expression form, odd constants and names. */
function sampleProgram(): Program {
  const x = buf(0, 'x', 'f32', [2, 3], 'input');
  const n = buf(1, 'n', 'i64', [2], 'input');
  const w = buf(2, 'w.weights/0', 'f32', [3], 'const', Tensor.from('f32', [3], [0.1, -0, NaN]));
  const wv = buf(3, 'wv', 'f32', [1, 3], 'const');
  wv.viewOf = w;
  wv.data = w.data!.reshape([1, 3]);
  const big = buf(4, 'big', 'u64', [2], 'const', Tensor.from('u64', [2], [18446744073709551615n, 0n]));
  const t = buf(9, 'for', 'f32', [6], 'temp');
  t.level = 'sram';
  t.offset = 64;
  const tv = buf(5, 'tv', 'f32', [2, 3], 'temp');
  tv.viewOf = t;
  tv.level = 'sram';
  tv.offset = 64;
  const y = buf(6, 'y', 'f32', [2, 3], 'output');
  const m = buf(7, 'm', 'i64', [2], 'output');
  const f = buf(8, 'flags', 'bool', [2], 'output');

  const kb = new KernelBuilder();
  kb.for(0, 2, (i) => {
    kb.for(0, 3, (j) => {
      const k = bin('add', bin('mul', i, idx(3)), j);
      const acc = kb.let('f32', lit('f32', 0.1));
      kb.set(acc, bin('add', acc, bin('mul', load(x, k), load(wv, j))));
      kb.set(acc, bin('sub', acc, bin('sub', load(w, j), lit('f32', -1.5e-7))));
      kb.set(acc, select(bin('lt', acc, lit('f32', 0)), un('neg', acc), bin('max', acc, lit('f32', Infinity))));
      kb.store(t, bin('sub', k, bin('sub', j, j)), acc);
      kb.if(bin('and', bin('ge', j, idx(1)), bin('ne', i, j)), () => kb.store(t, k, bin('add', lit('f32', 1), lit('f32', 2))), () => kb.store(t, k, cast(bin('div', bin('mod', k, idx(4)), bin('add', j, idx(1))), 'f32')));
    }, { parallel: true, vectorize: 4 });
  }, { unroll: 2, pipeline: true });
  const k0 = { name: 'main', origin: { node: 'conv "0"', op: 'Conv' }, body: kb.body };

  const kb2 = new KernelBuilder();
  kb2.for(0, 2, (i) => {
    kb2.store(y, i, load(tv, i));
    const v = kb2.let('i64', bin('add', load(n, i), lit('i64', -9223372036854775808n)));
    kb2.set(v, bin('bitxor', bin('shl', v, lit('i64', 3)), cast(load(big, i), 'i64')));
    kb2.store(m, i, bin('add', lit('i64', 1), lit('i64', 2)));
    kb2.store(m, i, bin('sub', v, bin('sub', lit('i64', 7), v)));
    kb2.store(f, i, un('isnan', load(y, i)));
    kb2.store(f, i, bin('eq', bin('lt', load(y, i), lit('f32', 1)), lit('bool', 1)));
    kb2.store(f, i, bin('lt', cast(lit('i32', 5), 'f32'), lit('f32', 2)));
  });
  const k1 = { name: 'tail.1', origin: { node: '', op: 'Identity' }, body: kb2.body };
  const odd = buf(10, 'odd', 'i8', [3], 'const', Tensor.from('i8', [3, 1], [1, -2, 3]));
  return { name: 'sample model', buffers: [x, n, w, wv, big, t, tv, y, m, f, odd], inputs: [x, n], outputs: [y, m, f], kernels: [k0, k1] };
}

describe('kernel text by hand', () => {
  it('round-trips every statement and expression form exactly', () => {
    const p = sampleProgram();
    verifyProgram(p);
    const text = printProgram(p);
    const q = parseProgramText(text, 'sample.kir');
    expect(printProgram(q)).toBe(text);
    verifyProgram(q);
    // structure survives, not only the text
    const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k, v) => (k === 'buf' || k === 'viewOf' ? (v as KBuffer).name : k === 'data' ? undefined : typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
    expect(strip(q.kernels)).toEqual(strip(p.kernels));
    expect(q.buffers.map((b) => [b.id, b.name, b.role, b.dtype, b.shape, b.level, b.offset, b.viewOf?.name])).toEqual(p.buffers.map((b) => [b.id, b.name, b.role, b.dtype, b.shape, b.level, b.offset, b.viewOf?.name]));
    expect(bytesOf(q.buffers[2]!.data!)).toEqual(bytesOf(p.buffers[2]!.data!));
    expect(q.buffers[4]!.data!.data[0]).toBe(18446744073709551615n);
    const feeds = [Tensor.from('f32', [2, 3], [1, -2, 3, 4.5, -5, 6]), Tensor.from('i64', [2], [5n, -7n])];
    const want = runProgram(p, feeds);
    const got = runProgram(q, feeds);
    expect(got.map(bytesOf)).toEqual(want.map(bytesOf));
  });

  it('writes the forms documented in docs/kernel-ir.md', () => {
    const text = printProgram(sampleProgram());
    expect(text.startsWith('kiln.kernel @"sample model" {\n')).toBe(true);
    expect(text).toContain('buffer %"w.weights/0": const f32[3] = dense<[0.1, -0.0, nan]>\n');
    expect(text).toContain('buffer %odd: const i8[3] = dense<[[1], [-2], [3]]> : tensor<3x1xi8>\n');
    expect(text).toContain('store %for[%i0 * 3 + %i1 - (%i1 - %i1)] = %v2\n');
    expect(text).toContain('buffer %wv: const f32[1,3] view %"w.weights/0"\n');
    expect(text).toContain('buffer %for: temp f32[6] level "sram" offset 64 id 9\n');
    expect(text).toContain('inputs (%x, %n)\n  outputs (%y, %m, %flags)\n');
    expect(text).toContain('kernel @main from "conv \\"0\\"" ("Conv") {');
    expect(text).toMatch(/for %i0 in 0 to 2 unroll 2 pipeline \{\n {6}for %i1 in 0 to 3 parallel vectorize 4 \{/);
    expect(text).toContain('let %v2: f32 = 0.1\n');
    expect(text).toContain('set %v2 = %v2 - (%"w.weights/0"[%i1] - -1.5e-7)');
    expect(text).toContain('%x[%i0 * 3 + %i1]');
    expect(text).toContain('store %m[%i0] = 1 + 2\n');
    expect(text).toContain('set %v1 = bitxor(shl(%v1, 3), cast<i64>(%big[%i0]))');
    expect(text).toContain('store %flags[%i0] = (%y[%i0] < 1.0) == true');
    expect(text).toContain('cast<f32>(5:i32) < 2.0');
    expect(text).toContain('} else {');
  });

  it('the example in docs/kernel-ir.md parses, verifies, runs and prints back as written', () => {
    const doc = fs.readFileSync(new URL('../docs/kernel-ir.md', import.meta.url), 'utf8');
    const example = /```\n(kiln\.kernel[^`]*)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const p = parseProgramText(example!, 'kernel-ir.md');
    verifyProgram(p);
    expect(printProgram(p)).toBe(example!.replace(/ *\/\/[^\n]*/g, ''));
    const y = runProgram(p, [Tensor.from('f32', [2, 3], [1, 2, 3, 4, 5, 6])])[0]!;
    expect(Array.from(y.data)).toEqual([1 * 0.5 - 2 + 3 * 2, 4 * 0.5 - 5 + 6 * 2]);
  });

  it('dispatches on the header keyword', () => {
    const text = `// a comment\n${printProgram(sampleProgram())}`;
    expect(irTextLevel(text)).toBe('kernel');
    const r = parseIrText(text, 'k.kir');
    expect(r.level).toBe('kernel');
    const g = parseIrText('kiln.module {\n  graph @g(%x: tensor<f32>) -> (%x) {\n  }\n}\n', 'g.kir');
    expect(g.level).toBe('graph');
    expect(irTextLevel('kiln.kernelx @a {}')).toBe('graph');
  });

  it('parses hand-written text with default-typed constants and prefix forms', () => {
    const p = parseProgramText(`kiln.kernel @t {
  buffer %a: input i32[4]
  buffer %b: output i32[4]
  inputs (%a)
  outputs (%b)
  kernel @k from "n" ("Add") {
    for %i in 0 to 4 {
      store %b[%i] = add(%a[%i], 1) * 2   // constants take the type of the other operand
    }
  }
}`);
    verifyProgram(p);
    expect(Array.from(runProgram(p, [Tensor.from('i32', [4], [1, 2, 3, -4])])[0]!.data)).toEqual([4, 6, 8, -6]);
    expect(printProgram(p)).toContain('store %b[%i] = (%a[%i] + 1) * 2\n');
  });

  it('rounds every f32 step as C and WGSL do (an f64 intermediate would keep the small term)', () => {
    const p = parseProgramText(`kiln.kernel @t {
  buffer %a: input f32[2]
  buffer %b: output f32[1]
  inputs (%a)
  outputs (%b)
  kernel @k from "n" ("Sub") {
    store %b[0] = (%a[0] + %a[1]) - %a[0]
  }
}`);
    // 1 + 2^-30 is 1 in f32: the sum rounds before the subtraction
    expect(Array.from(runProgram(p, [Tensor.from('f32', [2], [1, 2 ** -30])])[0]!.data)).toEqual([0]);
  });
});

// ---------- errors ----------

function parseError(text: string): KilnError {
  try {
    parseProgramText(text, 'bad.kir');
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    expect((e as KilnError).code).toBe('parse');
    expect((e as KilnError).oneLine()).not.toContain('\n');
    return e as KilnError;
  }
  throw new Error('no parse error');
}

const wrap = (body: string, bufs = 'buffer %a: input f32[4]\n  buffer %b: output f32[4]'): string =>
  `kiln.kernel @t {\n  ${bufs}\n  inputs (%a)\n  outputs (%b)\n  kernel @k from "n" ("Op") {\n${body}\n  }\n}\n`;

describe('kernel text errors', () => {
  it('syntax errors name line and column', () => {
    expect(parseError(wrap('    for %i in 0 to 4 {\n      store %b[%i] = %a[%i] +\n    }')).message).toMatch(/^bad\.kir:9:5: Expecting: one of these possible Token sequences: .* but found: '}'$/);
    expect(parseError('kiln.kernel @t {\n  buffer %a input f32[4]\n}').message).toMatch(/^bad\.kir:2:13: .*':'/);
    expect(parseError('kiln.kernel @t {\n  inputs ()\n  outputs ()\n').message).toMatch(/^bad\.kir:3:13: unexpected end of input/);
    expect(parseError('kiln.kernel @t {\n  buffer %a: input f32[4] $\n}').message).toBe('bad.kir:2:27: unexpected character "$"');
  });

  it('name errors name line and column', () => {
    expect(parseError(wrap('    store %b[0] = %c[0]')).message).toBe('bad.kir:7:19: undefined buffer %c');
    expect(parseError(wrap('    store %b[0] = %i')).message).toBe('bad.kir:7:19: undefined variable %i');
    expect(parseError(wrap('    store %b[0] = %a')).message).toMatch(/^bad\.kir:7:19: %a is a buffer/);
    expect(parseError(wrap('    store %b[0] = frob(1.0)')).message).toBe("bad.kir:7:19: unknown operation 'frob'");
    expect(parseError(wrap('    store %b[0] = max(1.0)')).message).toBe('bad.kir:7:19: max takes 2 operands, 1 given');
    expect(parseError(wrap('', 'buffer %a: input f32[4]\n  buffer %a: output f32[4]')).message).toBe('bad.kir:3:10: buffer %a is declared twice');
    expect(parseError(wrap('', 'buffer %a: input q7[4]\n  buffer %b: output f32[4]')).message).toBe("bad.kir:2:20: unknown scalar type 'q7'");
    expect(parseError(wrap('', 'buffer %a: scratch f32[4]\n  buffer %b: output f32[4]')).message).toMatch(/^bad\.kir:2:14: unknown buffer role 'scratch'/);
  });

  it('constant and data errors name line and column', () => {
    expect(parseError(wrap('    store %b[1.5] = 0.0')).message).toBe("bad.kir:7:14: '1.5' is not a index value (an integer is expected)");
    expect(parseError(wrap('    store %b[0] = true')).message).toMatch(/^bad\.kir:7:19: 'true' is not a f32 value/);
    expect(parseError(wrap('', 'buffer %a: input f32[4]\n  buffer %b: output f32[4]\n  buffer %c: const f32[2] = dense<[1.0]>')).message).toBe('bad.kir:4:35: the literal has 1 elements, shape [2] needs 2');
  });
});

describe('verifyProgram', () => {
  const expectType = (p: Program, msg: RegExp): void => {
    let err: unknown;
    try {
      verifyProgram(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('type');
    expect((err as KilnError).oneLine()).toMatch(msg);
  };
  const prog = (body: Stmt[], extra: KBuffer[] = []): Program => {
    const a = buf(0, 'a', 'f32', [4], 'input');
    const b = buf(1, 'b', 'f32', [4], 'output');
    return { name: 'p', buffers: [a, b, ...extra], inputs: [a], outputs: [b], kernels: [{ name: 'k', origin: { node: 'n1', op: 'Relu' }, body }] };
  };
  const v = (name: string, t: Expr['t'] = 'index'): Expr => ({ k: 'var', t, name });

  it('accepts a well-formed program', () => {
    const p = prog([]);
    p.kernels[0]!.body.push({ k: 'for', v: 'i', lo: idx(0), hi: idx(4), ann: {}, body: [{ k: 'store', buf: p.outputs[0]!, idx: v('i'), val: load(p.inputs[0]!, v('i')) }] });
    verifyProgram(p);
  });

  it('rejects foreign buffers, stores to inputs, consts and views', () => {
    const stranger = buf(5, 's', 'f32', [4], 'temp');
    let p = prog([]);
    p.kernels[0]!.body.push({ k: 'store', buf: stranger, idx: idx(0), val: lit('f32', 1) });
    expectType(p, /kernel k: stores to buffer 's', which is not a buffer of the program, at node n1 \(Relu\)/);
    p = prog([]);
    p.kernels[0]!.body.push({ k: 'store', buf: p.inputs[0]!, idx: idx(0), val: lit('f32', 1) });
    expectType(p, /stores to input buffer 'a'/);
    const c = buf(2, 'c', 'f32', [4], 'const', Tensor.zeros('f32', [4]));
    p = prog([], [c]);
    p.kernels[0]!.body.push({ k: 'store', buf: c, idx: idx(0), val: lit('f32', 1) });
    expectType(p, /stores to const buffer 'c'/);
    const t = buf(2, 't', 'f32', [4], 'temp');
    const tv = buf(3, 'tv', 'f32', [2, 2], 'temp');
    tv.viewOf = t;
    p = prog([], [t, tv]);
    p.kernels[0]!.body.push({ k: 'store', buf: tv, idx: idx(0), val: lit('f32', 1) });
    expectType(p, /stores through view 'tv'/);
  });

  it('rejects unbound, shadowed and assigned loop variables', () => {
    expectType(prog([{ k: 'store', buf: buf(1, 'b', 'f32', [4], 'output'), idx: v('i'), val: lit('f32', 1) }]), /not a buffer|outside its scope/);
    const p = prog([]);
    const b = p.outputs[0]!;
    p.kernels[0]!.body.push({ k: 'for', v: 'i', lo: idx(0), hi: idx(4), ann: {}, body: [] }, { k: 'store', buf: b, idx: v('i'), val: lit('f32', 1) });
    expectType(p, /variable %i is used outside its scope/);
    const q = prog([]);
    q.kernels[0]!.body.push({ k: 'for', v: 'i', lo: idx(0), hi: idx(4), ann: {}, body: [{ k: 'for', v: 'i', lo: idx(0), hi: idx(4), ann: {}, body: [] }] });
    expectType(q, /variable %i is bound again while in scope/);
    const r = prog([]);
    r.kernels[0]!.body.push({ k: 'for', v: 'i', lo: idx(0), hi: idx(4), ann: {}, body: [{ k: 'set', name: 'i', val: idx(0) }] });
    expectType(r, /assigns loop variable %i/);
    // sibling scopes may reuse a name
    const s = prog([]);
    s.kernels[0]!.body.push({ k: 'for', v: 'i', lo: idx(0), hi: idx(4), ann: {}, body: [] }, { k: 'for', v: 'i', lo: idx(0), hi: idx(4), ann: {}, body: [{ k: 'let', name: 'x', t: 'f32', init: lit('f32', 0) }] }, { k: 'let', name: 'x', t: 'i32', init: lit('i32', 0) });
    verifyProgram(s);
  });

  it('rejects inconsistent types', () => {
    const p = () => prog([]);
    const withStmt = (s: Stmt): Program => {
      const q = p();
      q.kernels[0]!.body.push(s);
      return q;
    };
    const out = buf(1, 'b', 'f32', [4], 'output');
    const fix = (q: Program, s: Stmt & { k: 'store' }): Program => {
      q.kernels[0]!.body[0] = { ...s, buf: q.outputs[0]! };
      return q;
    };
    expectType(fix(withStmt({ k: 'store', buf: out, idx: idx(0), val: lit('f32', 0) }), { k: 'store', buf: out, idx: idx(0), val: { k: 'bin', t: 'f32', op: 'add', a: lit('f32', 1), b: lit('f64', 1) } }), /add mixes f32 and f64/);
    expectType(fix(p(), { k: 'store', buf: out, idx: idx(0), val: { k: 'bin', t: 'f32', op: 'lt', a: lit('f32', 1), b: lit('f32', 1) } }), /lt of f32 gives bool, typed f32/);
    expectType(fix(p(), { k: 'store', buf: out, idx: idx(0), val: lit('i32', 1) }), /value stored to 'b' must be f32, got i32/);
    expectType(fix(p(), { k: 'store', buf: out, idx: lit('i32', 0), val: lit('f32', 1) }), /index of a store to 'b' must be index/);
    const q = p();
    q.kernels[0]!.body[0] = { k: 'store', buf: q.outputs[0]!, idx: idx(0), val: { k: 'load', t: 'i32', buf: q.inputs[0]!, idx: idx(0) } };
    expectType(q, /load from f32 buffer 'a' typed i32/);
    expectType(withStmt({ k: 'if', c: lit('i32', 1), then: [], else: [] }), /if condition must be bool/);
    expectType(withStmt({ k: 'let', name: 'x', t: 'f32', init: lit('f64', 0) }), /initial value of %x must be f32/);
    expectType(fix(p(), { k: 'store', buf: out, idx: idx(0), val: { k: 'bin', t: 'f32', op: 'shl', a: lit('f32', 1), b: lit('f32', 1) } }), /shl on f32/);
  });

  it('rejects inconsistent buffers and placement', () => {
    const t = buf(2, 't', 'f32', [4], 'temp');
    t.offset = 6;
    t.level = 'sram';
    expectType(prog([], [t]), /buffer 't': offset 6 is not aligned to its 4-byte elements, at tensor t/);
    const u = buf(2, 'u', 'f32', [4], 'temp');
    const uv = buf(3, 'uv', 'f32', [4], 'temp');
    uv.viewOf = u;
    uv.offset = 16;
    uv.level = 'sram';
    expectType(prog([], [u, uv]), /placed .* apart from the buffer it views/);
    const w = buf(2, 'w', 'f32', [3], 'temp');
    const wv = buf(3, 'wv', 'f32', [4], 'temp');
    wv.viewOf = w;
    expectType(prog([], [w, wv]), /has 4 elements but views 'w' of 3/);
    const c = buf(2, 'c', 'f32', [4], 'const', Tensor.zeros('f64', [4]));
    expectType(prog([], [c]), /holds f64 data but is f32/);
    const dup = buf(1, 'dup', 'f32', [4], 'temp');
    expectType(prog([], [dup]), /another buffer has id 1/);
    const extra = buf(2, 'in2', 'f32', [4], 'input');
    expectType(prog([], [extra]), /has role input but is not a program input/);
  });
});

describe.skipIf(!haveData)('kiln print --level kernel', () => {
  it('prints the lowered program, reads it back, and refuses it where a graph is needed', () => {
    const model = path.join(nodeDir, 'test_conv_with_strides_padding', 'model.onnx');
    const r = kiln(['print', model, '--level', 'kernel']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kiln\.kernel @test_conv_with_strides_padding \{\n {2}buffer %x: input f32\[1,1,7,5\]\n/);
    const program = parseProgramText(r.stdout, 'conv.kir');
    verifyProgram(program);
    const file = path.join(tempDir(), 'conv.kir');
    fs.writeFileSync(file, r.stdout);
    const again = kiln(['print', file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(r.stdout);
    const refused = kiln(['inspect', file]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('is kernel-level IR (kiln.kernel)');
    const bad = kiln(['print', model, '--level', 'loops']);
    expect(bad.stderr.trim()).toBe("kiln: error: unknown --level 'loops' (known: graph, kernel)");
  });
});
