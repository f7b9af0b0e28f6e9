/** `kiln graph`: dot text of the graph IR, escaping of model text, clusters for subgraphs, SVG through Graphviz. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import '../src/index.js';
import { graphToDot, dotString } from '../src/driver/graph.js';
import { parseModuleText } from '../src/frontend/text/parser.js';
import { inferModule } from '../src/ir/infer.js';
import { hasTool, KILN, kiln, node, tempDir, vi, writeModel } from './helpers/onnx-builder.js';

const mlp = path.resolve('samples/mlp/model.onnx');
const HAS_DOT = hasTool('dot', ['-V']);

/** Every quoted string in dot text, unescaped; throws on an unterminated one. */
function dotStrings(dot: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < dot.length; i++) {
    if (dot[i] !== '"') continue;
    let s = '';
    for (i++; dot[i] !== '"'; i++) {
      if (i >= dot.length) throw new Error('unterminated string');
      if (dot[i] === '\n') throw new Error('raw newline in a string');
      if (dot[i] === '\\') s += dot[++i] === 'n' ? '\n' : dot[i];
      else s += dot[i];
    }
    out.push(s);
  }
  return out;
}

const HOSTILE = 'evil"name\\N\\G <script>alert(1)</script>\nline2';

function hostileModel(dir: string): string {
  return writeModel(dir, {
    nodes: [node('Relu', [HOSTILE], ['y"out\\'], { name: HOSTILE }), node('Neg', ['y"out\\'], ['z'], { name: 'neg"}; x -> y [label="pwn' })],
    inputs: [vi(HOSTILE, 1, ['batch"\\', 4])],
    outputs: [vi('z', 1, ['batch"\\', 4])],
  });
}

describe('kiln graph (dot text)', () => {
  it('draws every node with op and name, and every edge with dtype and shape', () => {
    const r = kiln(['graph', mlp]);
    expect(r.code).toBe(0);
    const dot = r.stdout;
    expect(dot).toMatch(/^digraph kiln \{/);
    const nodes = [...dot.matchAll(/^\s*n\d+ \[shape=box.*label="([^"]*)"/gm)].map((m) => m[1]!.split('\\n').slice(0, 2).join(' '));
    expect(nodes).toEqual(['MatMul fc1/matmul', 'Add fc1/add', 'Relu relu1', 'MatMul fc2/matmul', 'Add fc2/add', 'Softmax softmax']);
    // 1 input edge, 5 node-to-node edges, 1 output edge, each labelled with its tensor type
    const edges = [...dot.matchAll(/^\s*\w+ -> \w+ \[label="([^"]*)"\]/gm)].map((m) => m[1]);
    expect(edges).toEqual(['f32[1,16]', 'f32[1,32]', 'f32[1,32]', 'f32[1,32]', 'f32[1,10]', 'f32[1,10]', 'f32[1,10]']);
    expect(dot).toContain('fc1.weight: f32[16,32]');
  });

  it('shows initializers inline, as their own nodes, or not at all', () => {
    const nodes = kiln(['graph', mlp, '--constants', 'nodes']);
    expect(nodes.code).toBe(0);
    expect([...nodes.stdout.matchAll(/shape=note/g)].length).toBe(4);
    expect(nodes.stdout).toMatch(/c\d+ -> n\d+ \[label="f32\[16,32\]"\]/);
    const none = kiln(['graph', mlp, '--no-constants']);
    expect(none.code).toBe(0);
    expect(none.stdout).not.toContain('fc1.weight');
    expect(kiln(['graph', mlp, '--constants', 'bogus']).stderr).toMatch(/^kiln: error: unknown --constants 'bogus'/);
  });

  it('draws If branches as clusters, with edges from outer-scope values into them', () => {
    const m = parseModuleText(
      [
        'kiln.module attributes {ir_version = 8} opsets {"" = 13} {',
        '  graph @main(%x: tensor<3xf32>, %cond: tensor<bool>) -> (%o) {',
        '    %t = "Neg"(%x) name "neg"',
        '    %o = "If"(%cond) {then_branch = graph @then() -> (%r) {',
        '      %r = "Identity"(%t) name "id_then"',
        '    }, else_branch = graph @else() -> (%s) {',
        '      %s = "Abs"(%t) name "abs_else"',
        '    }} name "if0"',
        '  }',
        '}',
      ].join('\n'),
      'if.kir',
    );
    inferModule(m);
    const dot = graphToDot(m);
    expect(dot).toContain('subgraph cluster_0 {');
    expect(dot).toContain('subgraph cluster_1 {');
    expect(dot).toContain('label="If if0: then_branch"');
    expect(dot).toContain('label="If if0: else_branch"');
    const neg = /(n\d+) \[[^\n]*label="Neg\\nneg"/.exec(dot)![1];
    const idThen = /(n\d+) \[[^\n]*label="Identity\\nid_then"/.exec(dot)![1];
    expect(dot).toContain(`${neg} -> ${idThen} [label="f32[3]"]`);
    expect(dot).toMatch(/n\d+ -> n\d+ \[style=dotted, arrowhead=odot, lhead=cluster_0\]/);
    expect(HAS_DOT ? execFileSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' }) : '<svg').toContain('<svg');
  });

  it('escapes hostile names so they stay text inside quoted strings', () => {
    const file = hostileModel(tempDir());
    const r = kiln(['graph', file]);
    expect(r.code).toBe(0);
    const dot = r.stdout;
    // no statement was injected: every line is a known statement shape
    for (const line of dot.split('\n').filter((l) => l.trim() !== '' && l.trim() !== '}')) {
      expect(line, line).toMatch(/^(digraph kiln \{|\s+(graph|node|edge) \[|\s+[a-z]\d+ \[|\s+[a-z]\d+ -> [a-z]\d+ \[|\s+subgraph cluster_\d+ \{|\s+label=)/);
    }
    const strings = dotStrings(dot);
    // the node name comes back literally (control characters become spaces), never as dot escapes
    expect(strings.some((s) => s.includes('evil"name\\N\\G <script>alert(1)</script> line2'))).toBe(true);
    expect(strings.some((s) => s.includes('neg"}; x -> y [label="pwn'))).toBe(true);
    expect(dotString('a"b\\c\nd')).toBe('"a\\"b\\\\c d"');
    expect(dotString('x'.repeat(100))).toBe(`"${'x'.repeat(63)}…"`);
  });
});

describe('kiln graph (SVG)', () => {
  it.skipIf(!HAS_DOT)('writes SVG through Graphviz dot, with hostile names as escaped text', () => {
    const dir = tempDir();
    const out = path.join(dir, 'g.svg');
    const r = kiln(['graph', hostileModel(dir), '-o', out]);
    expect(r.code).toBe(0);
    const svg = fs.readFileSync(out, 'utf8');
    expect(svg).toMatch(/<svg[\s>]/);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;');
    expect((svg.match(/<g id="node\d+" class="node">/g) ?? []).length).toBe(4);
  });
  if (!HAS_DOT) it('skipped: dot not installed', () => console.log('skipped: dot not installed'));

  it('refuses .svg with one line and writes nothing when dot is not on PATH', () => {
    const dir = tempDir();
    const out = path.join(dir, 'g.svg');
    let stderr = '';
    let code = 0;
    try {
      execFileSync(process.execPath, [KILN, 'graph', mlp, '-o', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: dir } });
    } catch (e) {
      const err = e as { status: number; stderr: string };
      code = err.status;
      stderr = err.stderr;
    }
    expect(code).toBe(1);
    expect(stderr).toBe("kiln: error: writing SVG needs Graphviz 'dot', which is not installed; write .dot instead\n");
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses an output name it cannot tell the format of', () => {
    const r = kiln(['graph', mlp, '-o', path.join(tempDir(), 'g.png')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/name it \.dot, \.gv or \.svg/);
  });
});
