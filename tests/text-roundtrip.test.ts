import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOnnxFile } from '../src/frontend/onnx/import.js';
import { parseModuleText } from '../src/frontend/text/parser.js';
import { printModule, printType } from '../src/ir/print.js';
import { Graph, Module, Node, Value, type AttrValue } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { ALL_DTYPES, type DType } from '../src/ir/dtype.js';
import { tensorType, type ValueType } from '../src/ir/types.js';
import { KilnError } from '../src/ir/errors.js';

const dataRoot = fileURLToPath(new URL('../../shared/onnx-tests', import.meta.url));

const roundTrip = (m: Module): { text: string; again: string; parsed: Module } => {
  const text = printModule(m);
  const parsed = parseModuleText(text, 'rt.kir');
  return { text, again: printModule(parsed), parsed };
};

/** Bytes of a tensor's storage (bit-exact comparison, NaN payloads included), or its strings. */
function storage(t: Tensor): unknown {
  if (Array.isArray(t.data)) return t.data;
  const d = t.data;
  return Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

function expectParseError(text: string, where: RegExp): KilnError {
  let err: unknown;
  try {
    parseModuleText(text, 'bad.kir');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KilnError);
  expect((err as KilnError).code).toBe('parse');
  expect((err as KilnError).message).toMatch(where);
  return err as KilnError;
}

describe('textual IR round trip over the ONNX test models', () => {
  const cases: string[] = [];
  for (const folder of ['node', 'pytorch-operator', 'simple']) {
    const dir = path.join(dataRoot, folder);
    if (!fs.existsSync(dir)) continue;
    for (const c of fs.readdirSync(dir).sort()) {
      const file = path.join(dir, c, 'model.onnx');
      if (fs.existsSync(file)) cases.push(file);
    }
  }

  it('finds the test data', () => {
    expect(cases.length).toBeGreaterThan(1000);
  });

  it('print(parse(print(m))) === print(m) for every model that imports', () => {
    let ok = 0;
    const skipped: string[] = [];
    const failed: string[] = [];
    for (const file of cases) {
      let m: Module;
      try {
        m = readOnnxFile(file);
      } catch (e) {
        skipped.push(`${path.relative(dataRoot, file)}: ${(e as Error).message}`);
        continue;
      }
      try {
        const { text, again } = roundTrip(m);
        if (text === again) ok++;
        else failed.push(`${path.relative(dataRoot, file)}: printed text differs`);
      } catch (e) {
        failed.push(`${path.relative(dataRoot, file)}: ${(e as Error).message}`);
      }
    }
    console.log(`text round trip: ${ok} models ok, ${skipped.length} skipped (import failed), ${failed.length} failed`);
    for (const s of skipped) console.log(`  skipped ${s}`);
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(1000);
  });
});

describe('parsing rebuilds the same structure', () => {
  const text = [
    'kiln.module attributes {ir_version = 8, producer = "hand"} opsets {"" = 13, "ai.onnx.ml" = 3} metadata {"author" = "me"} {',
    '  // a comment',
    '  graph @main(%x: tensor<"N"x3xf32>, %w: tensor<3xf32> = dense<[1.0, 2.0, 3.0]>, %cond: tensor<bool>) -> (%y, %o) {',
    '    const %b: tensor<3xf32> = dense<0.5>',
    '    %t = "Add"(%x, %w) name "add"',
    '    %y: tensor<"N"x3xf32> = "Add"(%t, %b) name "add2"',
    '    %o = "If"(%cond) {then_branch = graph @then() -> (%r) {',
    '      %r = "Identity"(%t) name "id_then"',
    '    }, else_branch = graph @else() -> (%b) {',
    '    }} name "if0"',
    '    %z = "ai.onnx.ml"::"Normalizer"(%y) {norm = "MAX"} name "ml"',
    '  }',
    '}',
  ].join('\n');

  it('links producers, defaults, initializers, outer-scope values and domains', () => {
    const m = parseModuleText(text, 'hand.kir');
    expect(m.irVersion).toBe(8);
    expect(m.producer).toBe('hand');
    expect([...m.opsets]).toEqual([['', 13], ['ai.onnx.ml', 3]]);
    expect([...m.metadata]).toEqual([['author', 'me']]);
    const g = m.graph;
    expect(g.name).toBe('main');
    expect(g.inputs.map((v) => v.name)).toEqual(['x', 'w', 'cond']);
    expect(g.inputs[0]!.type).toEqual(tensorType('f32', ['N', 3]));
    expect(Array.from(g.inputs[1]!.init!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(g.initializers.map((v) => v.name)).toEqual(['b']);
    expect(Array.from(g.initializers[0]!.init!.data as Float32Array)).toEqual([0.5, 0.5, 0.5]);
    const [add, add2, ifn, ml] = g.nodes;
    expect(add!.outputs[0]!.producer).toBe(add);
    expect(add2!.inputs[0]).toBe(add!.outputs[0]);
    expect(add2!.inputs[1]).toBe(g.initializers[0]);
    expect(g.outputs[0]).toBe(add2!.outputs[0]);
    expect(g.outputs[1]).toBe(ifn!.outputs[0]);
    const thenG = (ifn!.attrs.get('then_branch') as { value: Graph }).value;
    const elseG = (ifn!.attrs.get('else_branch') as { value: Graph }).value;
    expect(thenG.nodes[0]!.inputs[0]).toBe(add!.outputs[0]);
    expect(elseG.outputs[0]).toBe(g.initializers[0]);
    expect(ml!.domain).toBe('ai.onnx.ml');
    expect(ml!.opType).toBe('Normalizer');
    expect(ml!.name).toBe('ml');
    const { text: t1, again } = roundTrip(m);
    expect(again).toBe(t1);
  });
});

describe('parse errors name line and column', () => {
  const head = 'kiln.module opsets {"" = 13} {\n  graph @g(%x: tensor<f32>) -> (%x) {\n';
  it('reports syntax errors', () => {
    expectParseError(`${head}    %y = "Relu"(%x name "r"\n  }\n}\n`, /^bad\.kir:3:\d+: /);
  });
  it('reports unexpected characters', () => {
    expectParseError(`${head}    %y = "Relu"(%x) $\n  }\n}\n`, /^bad\.kir:3:21: unexpected character "\$"/);
  });
  it('reports undefined values', () => {
    expectParseError(`${head}    %y = "Relu"(%foo) name "r"\n  }\n}\n`, /^bad\.kir:3:17: undefined value %foo/);
  });
  it('reports values defined twice', () => {
    expectParseError(`${head}    %x = "Relu"(%x) name "r"\n  }\n}\n`, /^bad\.kir:3:5: value %x is defined twice/);
  });
  it('reports unknown element types', () => {
    expectParseError(`${head}    %y: tensor<3xf33> = "Relu"(%x)\n  }\n}\n`, /^bad\.kir:3:9: unknown element type 'f33'/);
  });
  it('reports bad literals', () => {
    expectParseError(`${head}    const %c: tensor<2xi8> = dense<[1, 300]>\n  }\n}\n`, /^bad\.kir:3:40: 300 is out of range for i8/);
    expectParseError(`${head}    const %c: tensor<3xi8> = dense<[1, 2]>\n  }\n}\n`, /^bad\.kir:3:\d+: the literal has 2 elements/);
  });
  it('reports end of input', () => {
    expectParseError(`${head}    %y = "Relu"(%x)\n`, /^bad\.kir:\d+:\d+: /);
  });
});

/** A module that exercises names, types and attributes by hand. */
function handModule(attrs: Map<string, AttrValue>, inputs: Value[] = [], extra: Partial<{ types: (ValueType | null)[] }> = {}): Module {
  const x = new Value('x', tensorType('f32', [2]));
  const g = new Graph('main', [x, ...inputs]);
  const outs = (extra.types ?? [tensorType('f32', [2])]).map((t, i) => new Value(`out${i}`, t));
  const n = new Node('Custom', 'com.example', 'node', [x, null, ...inputs], [...outs, null], attrs);
  for (const o of outs) o.producer = n;
  g.nodes.push(n);
  g.outputs.push(...outs);
  return new Module(g, new Map([['', 21], ['com.example', 1]]));
}

describe('weird names and types', () => {
  it('round-trips arbitrary value, node, graph, attribute and dim names', () => {
    const names = ['weird name/0', 'onnx::Add_3', '', 'quote"back\\slash\nnewline\ttab', '%', '0', 'x.y_z', 'a-b-', '-1', 'ünï©ødé', 'lone\ud800surrogate', '_'];
    const inputs = names.map((n) => new Value(n, tensorType('f32', ['batch x', 'N', null, 3, ''])));
    const attrs = new Map<string, AttrValue>();
    for (const k of ['name', 'graph', 'nan', 'inf', 'true', '_', 'with space', 'x-y', '', 'ints', 'tensor']) attrs.set(k, { kind: 'string', value: k });
    const m = handModule(attrs, inputs);
    m.graph.name = 'graph name/with "quotes"';
    m.graph.nodes[0]!.name = 'node "name"\n2';
    m.graph.nodes[0]!.opType = 'Op "type"';
    m.producer = 'pro"ducer';
    m.metadata.set('k\n"', 'v\\');
    const { text, again, parsed } = roundTrip(m);
    expect(again).toBe(text);
    expect(parsed.graph.inputs.map((v) => v.name)).toEqual(['x', ...names]);
    expect(parsed.graph.inputs[1]!.type).toEqual(tensorType('f32', ['batch x', 'N', null, 3, '']));
    expect([...parsed.graph.nodes[0]!.attrs.keys()]).toEqual([...attrs.keys()]);
    expect(parsed.graph.name).toBe(m.graph.name);
    expect(parsed.graph.nodes[0]!.name).toBe('node "name"\n2');
    expect(parsed.graph.nodes[0]!.opType).toBe('Op "type"');
    expect(parsed.graph.nodes[0]!.inputs[1]).toBeNull();
    expect(parsed.graph.nodes[0]!.outputs.at(-1)).toBeNull();
    expect(parsed.metadata.get('k\n"')).toBe('v\\');
  });

  it('round-trips every kind of value type', () => {
    const types: (ValueType | null)[] = [
      null,
      tensorType('f32', null),
      tensorType('i64', []),
      tensorType('u8', [1, 'N', null], { quant: { scale: [0.5, 0.25], zeroPoint: [128, 3], axis: 1, storage: 'u8' } }),
      tensorType('i8', [4], { quant: { scale: [NaN], zeroPoint: [-0] }, space: 'dram "bank" 0' }),
      tensorType('f16', [2], { space: '' }),
      { kind: 'sequence', elem: tensorType('f32', [null]) },
      { kind: 'sequence', elem: null },
      { kind: 'optional', elem: { kind: 'sequence', elem: tensorType('string', null) } },
      { kind: 'optional', elem: null },
      { kind: 'map', key: 'i64', value: tensorType('f32', []) },
      { kind: 'map', key: 'string', value: { kind: 'sequence', elem: { kind: 'map', key: 'i64', value: tensorType('f64', [1]) } } },
    ];
    const m = handModule(new Map(), [], { types });
    const { text, again, parsed } = roundTrip(m);
    expect(again).toBe(text);
    parsed.graph.nodes[0]!.outputs.slice(0, types.length).forEach((v, i) => {
      expect(printType(v!.type)).toBe(printType(types[i]!));
      expect(v!.type).toEqual(types[i]);
    });
    for (const dt of ALL_DTYPES) {
      const t = tensorType(dt, [1]);
      expect(roundTrip(handModule(new Map(), [], { types: [t] })).parsed.graph.outputs[0]!.type).toEqual(t);
    }
  });
});

describe('attributes', () => {
  it('round-trips every AttrValue kind exactly', () => {
    const inner = new Graph('body', [new Value('i', tensorType('i64', []))]);
    const attrs = new Map<string, AttrValue>([
      ['i', { kind: 'int', value: -9007199254740991 }],
      ['i_big', { kind: 'int', value: 9223372036854775807 }],
      ['i0', { kind: 'int', value: 0 }],
      ['f', { kind: 'float', value: 0.1 }],
      ['f_nan', { kind: 'float', value: NaN }],
      ['f_inf', { kind: 'float', value: Infinity }],
      ['f_ninf', { kind: 'float', value: -Infinity }],
      ['f_negzero', { kind: 'float', value: -0 }],
      ['f_int', { kind: 'float', value: 3 }],
      ['f_tiny', { kind: 'float', value: 5e-324 }],
      ['f_huge', { kind: 'float', value: 1.7976931348623157e308 }],
      ['f_f32', { kind: 'float', value: Math.fround(0.1) }],
      ['s', { kind: 'string', value: 'a "quoted"\n\\ string\u0000\u2028 ✓ \udc00' }],
      ['s_empty', { kind: 'string', value: '' }],
      ['t', { kind: 'tensor', value: Tensor.from('i64', [2], [-9223372036854775808n, 9223372036854775807n]) }],
      ['g', { kind: 'graph', value: inner }],
      ['ty', { kind: 'type', value: { kind: 'sequence', elem: tensorType('f32', ['N']) } }],
      ['is', { kind: 'ints', value: [1, -2, 3] }],
      ['is_empty', { kind: 'ints', value: [] }],
      ['fs', { kind: 'floats', value: [1, -0, NaN, -Infinity, 2.5e-8] }],
      ['fs_empty', { kind: 'floats', value: [] }],
      ['ss', { kind: 'strings', value: ['a', '', 'b"c'] }],
      ['ss_empty', { kind: 'strings', value: [] }],
      ['ts', { kind: 'tensors', value: [Tensor.from('f32', [], [1.5]), Tensor.from('string', [2], ['x', 'y'])] }],
      ['ts_empty', { kind: 'tensors', value: [] }],
      ['gs', { kind: 'graphs', value: [new Graph('a'), new Graph('b')] }],
      ['gs_empty', { kind: 'graphs', value: [] }],
      ['tys', { kind: 'types', value: [tensorType('f32', null), { kind: 'optional', elem: null }] }],
      ['tys_empty', { kind: 'types', value: [] }],
    ]);
    const m = handModule(attrs);
    // The subgraph references an outer value (the main graph's input x).
    const outer = m.graph.inputs[0]!;
    const y = new Value('y', null);
    const id = new Node('Identity', '', 'inner_id', [outer], [y]);
    y.producer = id;
    inner.nodes.push(id);
    inner.outputs.push(y, inner.inputs[0]!);
    const { text, again, parsed } = roundTrip(m);
    expect(again).toBe(text);
    const pa = parsed.graph.nodes[0]!.attrs;
    expect([...pa.keys()]).toEqual([...attrs.keys()]);
    for (const [k, a] of attrs) {
      const b = pa.get(k)!;
      expect(b.kind).toBe(a.kind);
      if (a.kind === 'int' || a.kind === 'float') expect(Object.is(a.value, b.value)).toBe(true);
      if (a.kind === 'ints' || a.kind === 'floats' || a.kind === 'strings' || a.kind === 'string') expect(b.value).toEqual(a.value);
      if (a.kind === 'tensor') expect(storage((b as typeof a).value)).toEqual(storage(a.value));
      if (a.kind === 'tensors') expect((b as typeof a).value.map(storage)).toEqual(a.value.map(storage));
      if (a.kind === 'type' || a.kind === 'types') expect(b.value).toEqual(a.value);
    }
    const pg = (pa.get('g') as { value: Graph }).value;
    expect(pg.nodes[0]!.inputs[0]).toBe(parsed.graph.inputs[0]);
    expect(pg.outputs[1]).toBe(pg.inputs[0]);
    expect((pa.get('gs') as { value: Graph[] }).value.map((g) => g.name)).toEqual(['a', 'b']);
  });
});

describe('tensor literals', () => {
  const samples: Partial<Record<DType, (number | bigint | string | boolean)[]>> = {
    f32: [0, -0, 1, -1.5, 0.1, 1e-45, 3.4028234663852886e38, NaN, Infinity, -Infinity, 16777217, 1 / 3],
    f64: [0, -0, 0.1, 5e-324, 1.7976931348623157e308, NaN, -Infinity, 1 / 3, 1e21, 123456789012345680000],
    f16: [0, -0, 65504, 6e-8, 0.1, NaN, Infinity, -Infinity, 1 / 3],
    bf16: [0, -0, 0.1, 3.3895313892515355e38, NaN, -Infinity, 1e-40],
    f8e4m3fn: [0, -0, 448, -448, 0.1, NaN, 0.001953125],
    f8e4m3fnuz: [0, 240, -240, 0.1, NaN],
    f8e5m2: [0, -0, 57344, 0.1, NaN, Infinity, -Infinity],
    f8e5m2fnuz: [0, 57344, 0.1, NaN],
    f8e8m0: [2 ** -127, 2 ** 127, 1, 0.5, NaN],
    f4e2m1: [0, -0, 6, -6, 0.5, 1.5],
    i64: [-9223372036854775808n, 9223372036854775807n, 0n, -1n],
    u64: [18446744073709551615n, 0n, 9007199254740993n],
    i32: [-2147483648, 2147483647, 0],
    u32: [4294967295, 0, 1],
    i16: [-32768, 32767],
    u16: [65535, 0],
    i8: [-128, 127],
    u8: [255, 0],
    i4: [-8, 7, 0, -1],
    u4: [15, 0, 7],
    i2: [-2, 1, 0, -1],
    u2: [3, 0, 1, 2],
    bool: [true, false, true],
    string: ['', 'plain', 'with "quotes"', 'new\nline', 'tab\t', 'back\\slash', 'ünïcødé ✓', '\u0000\u001f', 'lone\ud83d', '0x12'],
    c64: [1, -0, NaN],
    c128: [1, -0, NaN],
  };

  it('covers every element type', () => {
    expect(ALL_DTYPES.filter((d) => samples[d] === undefined)).toEqual([]);
  });

  for (const dt of ALL_DTYPES) {
    it(`round-trips ${dt} small, large (hex), splat, scalar and empty tensors bit-exactly`, () => {
      const vals = samples[dt]!;
      const big = Array.from({ length: 131 }, (_, i) => vals[(i * 7) % vals.length]!);
      const tensors = [
        Tensor.from(dt, [vals.length], vals),
        Tensor.from(dt, [131], big),
        Tensor.from(dt, [1, 131], big),
        Tensor.from(dt, [2, 3], Array.from({ length: 6 }, () => vals[0]!)),
        Tensor.from(dt, [200], Array.from({ length: 200 }, () => vals[1]!)),
        Tensor.from(dt, [], [vals[vals.length - 1]!]),
        Tensor.from(dt, [1, 1], [vals[0]!]),
        Tensor.from(dt, [0], []),
        Tensor.from(dt, [2, 0, 3], []),
      ];
      const inputs = tensors.map((t, i) => {
        const v = new Value(`c${i}`, tensorType(dt, t.shape));
        v.init = t;
        return v;
      });
      // A default with a symbolic declared type carries its own literal type.
      const sym = new Value('sym', tensorType(dt, ['N']));
      sym.init = tensors[0]!;
      const m = handModule(new Map([['value', { kind: 'tensors', value: tensors }]]), [...inputs, sym]);
      m.graph.initializers.push(...inputs.map((v) => {
        const c = new Value(`k_${v.name}`, v.type);
        c.init = v.init;
        return c;
      }));
      const { text, again, parsed } = roundTrip(m);
      expect(again).toBe(text);
      parsed.graph.inputs.slice(1).forEach((v, i) => {
        const orig = i < tensors.length ? tensors[i]! : tensors[0]!;
        expect(v.init!.dtype).toBe(dt);
        expect(v.init!.shape).toEqual(orig.shape);
        expect(storage(v.init!)).toEqual(storage(orig));
      });
      parsed.graph.initializers.forEach((v, i) => expect(storage(v.init!)).toEqual(storage(tensors[i]!)));
      const pt = (parsed.graph.nodes[0]!.attrs.get('value') as { value: Tensor[] }).value;
      expect(pt.map(storage)).toEqual(tensors.map(storage));
    });
  }

  it('keeps NaN payloads of f32 and f64', () => {
    const f = Tensor.zeros('f32', [3]);
    new Uint32Array((f.data as Float32Array).buffer).set([0x7fc00001, 0xffc00000, 0x7f800001]);
    const d = Tensor.zeros('f64', [2]);
    new BigUint64Array((d.data as Float64Array).buffer).set([0x7ff8000000000001n, 0xfff8000000000000n]);
    const big = Tensor.zeros('f32', [100]);
    new Uint32Array((big.data as Float32Array).buffer).fill(0x7fc0beef);
    (big.data as Float32Array)[5] = 1;
    const m = handModule(new Map([['t', { kind: 'tensors', value: [f, d, big] }]]));
    const { text, again, parsed } = roundTrip(m);
    expect(text).toContain('nan:0x7fc00001');
    expect(again).toBe(text);
    const pt = (parsed.graph.nodes[0]!.attrs.get('t') as { value: Tensor[] }).value;
    expect(pt.map(storage)).toEqual([f, d, big].map(storage));
  });

  it('prints readable small literals', () => {
    const m = handModule(new Map<string, AttrValue>([
      ['a', { kind: 'tensor', value: Tensor.from('f32', [2, 2], [0.1, -0, NaN, 1]) }],
      ['b', { kind: 'tensor', value: Tensor.from('f16', [2], [0.1, 65504]) }],
      ['c', { kind: 'tensor', value: Tensor.from('string', [2], ['a"b', 'c\nd']) }],
    ]));
    const text = printModule(m);
    expect(text).toContain('a = dense<[[0.1, -0.0], [nan, 1.0]]> : tensor<2x2xf32>');
    expect(text).toContain('b = dense<[0.1, 65500.0]> : tensor<2xf16>');
    expect(text).toContain('c = dense<["a\\"b", "c\\nd"]> : tensor<2xstring>');
  });
});
