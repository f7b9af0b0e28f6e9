/**
 * The canonicalization passes (dce, eliminate-identity, cse) keep results identical: ONNX
 * conformance models are run through each pass (verifying the IR after it) and interpreted, and the
 * outputs must match the test data exactly as before the pass. Plus targeted unit cases.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/driver/load.js';
import { dataSets, readInputs } from '../src/driver/testcase.js';
import { compareValues, DEFAULT_TOLERANCE } from '../src/driver/compare.js';
import { readValueFile } from '../src/frontend/onnx/values.js';
import { interpret } from '../src/ir/interp/interpreter.js';
import { Graph, Module, Node, Value, allNodes } from '../src/ir/graph.js';
import { tensorType } from '../src/ir/types.js';
import { runPasses, type GraphPass } from '../src/passes/pass.js';
import { dcePass, eliminateDeadCode } from '../src/passes/dce.js';
import { eliminateIdentityPass } from '../src/passes/eliminate-identity.js';
import { csePass } from '../src/passes/cse.js';
import { ONNX_TESTS } from './helpers/onnx-builder.js';
import { parseModuleText } from '../src/frontend/text/parser.js';
import { inferModule } from '../src/ir/infer.js';

const NODE_DIR = path.join(ONNX_TESTS, 'node');
/**
 * Cases with the ops these passes touch, plus control flow (subgraphs) and multi-output ops;
 * KILN_CANON_ALL=1 runs every node case instead (about a minute).
 */
const FOCUS = /^test_(identity|dropout|cast_FLOAT_to_DOUBLE|castlike_FLOAT_to_DOUBLE|reshape|transpose|squeeze|unsqueeze|expand|flatten|if|loop|range|layer_normalization_2d|gelu|softmax_axis|split_equal|top_k|mvn|sequence_map_identity)/;

function numbered(dir: string, prefix: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)))
    .map((f) => path.join(dir, f));
}

/** null when every data set matches, else the first difference. */
function runAgainstData(module: Module, caseDir: string): string | null {
  for (const set of dataSets(caseDir)) {
    const inputs = readInputs(module, numbered(set, 'input_'));
    const outs = interpret(module, inputs);
    const expected = numbered(set, 'output_');
    if (outs.length !== expected.length) return `${outs.length} outputs, expected ${expected.length}`;
    for (let i = 0; i < outs.length; i++) {
      const diff = compareValues(outs[i]!, readValueFile(expected[i]!, module.graph.outputs[i]!.type), DEFAULT_TOLERANCE);
      if (diff) return `output ${i}: ${diff}`;
    }
  }
  return null;
}

const countNodes = (m: Module): number => [...allNodes(m.graph)].length;

describe('canonicalization keeps conformance results', () => {
  const have = fs.existsSync(NODE_DIR);
  const cases = have ? fs.readdirSync(NODE_DIR).filter((c) => process.env.KILN_CANON_ALL === '1' || FOCUS.test(c)).sort() : [];

  for (const pass of [dcePass, eliminateIdentityPass, csePass] as GraphPass[]) {
    it.skipIf(!have)(`${pass.name}: every case that passes before passes after`, () => {
      let compared = 0;
      let changed = 0;
      const broken: string[] = [];
      for (const c of cases) {
        const dir = path.join(NODE_DIR, c);
        let module: Module;
        try {
          module = loadModel(path.join(dir, 'model.onnx'));
          if (runAgainstData(module, dir) !== null) continue; // not a passing case to begin with
        } catch {
          continue; // unsupported here: nothing to compare
        }
        const before = countNodes(module);
        const initsBefore = module.graph.initializers.length;
        runPasses(module, [pass], { verifyEach: true });
        if (countNodes(module) !== before || module.graph.initializers.length !== initsBefore) changed++;
        const diff = runAgainstData(module, dir);
        if (diff !== null) broken.push(`${c}: ${diff}`);
        compared++;
      }
      expect(broken).toEqual([]);
      expect(compared).toBeGreaterThan(60);
      expect(changed).toBeGreaterThan(pass.name === 'eliminate-identity' ? 5 : 0);
    });
  }
});

describe('pass details', () => {
  const f32 = tensorType('f32', [2]);

  it('dce keeps custom-domain nodes (their effects are unknown) and removes dead standard ones', () => {
    const x = new Value('x', f32);
    const a = new Value('a', f32);
    const b = new Value('b', f32);
    const y = new Value('y', f32);
    const custom = new Node('Log', 'my.domain', 'custom', [x], [a]);
    const dead = new Node('Relu', '', 'dead', [x], [b]);
    const live = new Node('Neg', '', 'live', [x], [y]);
    for (const n of [custom, dead, live]) n.outputs.forEach((v) => v && (v.producer = n));
    const m = new Module(new Graph('g', [x], [y], [custom, dead, live]), new Map([['', 17], ['my.domain', 1]]));
    expect(eliminateDeadCode(m)).toBe(1);
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['custom', 'live']);
  });

  it('cse never merges Dropout or random ops, and merges equal Constants', () => {
    const m = loadText([
      'kiln.module opsets {"" = 17} {',
      '  graph @main(%x: tensor<2xf32>) -> (%o1, %o2, %o3) {',
      '    %c1 = "Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} name "c1"',
      '    %c2 = "Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} name "c2"',
      '    %c3 = "Constant"() {value = dense<[1.0, 3.0]> : tensor<2xf32>} name "c3"',
      '    %d1 = "Dropout"(%x) name "d1"',
      '    %d2 = "Dropout"(%x) name "d2"',
      '    %u1 = "RandomUniformLike"(%x) name "u1"',
      '    %u2 = "RandomUniformLike"(%x) name "u2"',
      '    %s1 = "Add"(%c1, %c2) name "s1"',
      '    %o1 = "Add"(%s1, %c3) name "o1"',
      '    %o2 = "Add"(%d1, %d2) name "o2"',
      '    %o3 = "Add"(%u1, %u2) name "o3"',
      '  }',
      '}',
    ]);
    runPasses(m, [csePass], { verifyEach: true });
    const names = m.graph.nodes.map((n) => n.name);
    expect(names).not.toContain('c2');
    expect(names).toEqual(expect.arrayContaining(['c1', 'c3', 'd1', 'd2', 'u1', 'u2']));
    const s1 = m.graph.nodes.find((n) => n.name === 's1')!;
    expect(s1.inputs.map((v) => v?.name)).toEqual(['c1', 'c1']);
  });

  it('eliminate-identity inside a subgraph rewires the branch output through the producer', () => {
    const m = loadText([
      'kiln.module opsets {"" = 17} {',
      '  graph @main(%x: tensor<2xf32>, %c: tensor<bool>) -> (%o) {',
      '    %o = "If"(%c) {then_branch = graph @t() -> (%r) {',
      '      %n = "Neg"(%x) name "neg"',
      '      %r = "Identity"(%n) name "id"',
      '    }, else_branch = graph @e() -> (%x) {',
      '    }} name "if"',
      '  }',
      '}',
    ]);
    runPasses(m, [eliminateIdentityPass], { verifyEach: true });
    const branch = m.graph.nodes[0]!.subgraphs()[0]!;
    expect(branch.nodes.map((n) => n.opType)).toEqual(['Neg']);
    expect(branch.outputs[0]!.name).toBe('r');
    expect(branch.nodes[0]!.outputs[0]).toBe(branch.outputs[0]);
  });
});

function loadText(lines: string[]): Module {
  const m = parseModuleText(lines.join('\n'), 'unit.kir');
  inferModule(m);
  return m;
}
