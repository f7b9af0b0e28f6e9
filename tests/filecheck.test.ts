/** The FileCheck-style matcher (src/driver/filecheck.ts): passing and failing checks, with messages. */
import { describe, expect, it } from 'vitest';
import { fileCheck, parseDirectives } from '../src/driver/filecheck.js';
import { parseRunLines, splitWords } from '../src/driver/check.js';

const INPUT = [
  'kiln.module {',
  '  graph @main(%x: tensor<2xf32>) -> (%y) {',
  '    %a: tensor<2xf32> = "Relu"(%x) name "r1"',
  '    %b: tensor<2xf32> = "Neg"(%a) name "n1"',
  '    %y: tensor<2xf32> = "Add"(%a,   %b) name "add"',
  '',
  '  }',
  '}',
].join('\n');

const check = (checks: string, input = INPUT, prefixes?: string[]) => fileCheck(checks, input, { checkName: 't.kir', inputName: '<stdout>', ...(prefixes ? { prefixes } : {}) });

describe('directives', () => {
  it('parses directives from // comments only, with columns', () => {
    const ds = parseDirectives('%x = "Relu"(%y) // CHECK: Relu\n// CHECK-NEXT:   Neg\nCHECK: not a comment\n');
    expect(Array.isArray(ds)).toBe(true);
    const list = ds as Exclude<typeof ds, { error: string }>;
    expect(list.map((d) => [d.kind, d.pattern, d.line])).toEqual([['CHECK', 'Relu', 1], ['NEXT', 'Neg', 2]]);
    expect(list[1]!.col).toBe(18);
  });

  it('ignores other prefixes and words that merely end in the prefix', () => {
    const ds = parseDirectives('// FOO: a\n// XCHECK: b\n// CHECK: c\n', ['CHECK']) as { pattern: string }[];
    expect(ds.map((d) => d.pattern)).toEqual(['c']);
  });

  it('refuses unknown suffixes and empty patterns', () => {
    expect(parseDirectives('// CHECK-NXT: foo', ['CHECK'], 'f.kir')).toEqual({ error: expect.stringMatching(/^f\.kir:1:4: error: unknown directive 'CHECK-NXT:'/) });
    expect(parseDirectives('// CHECK:', ['CHECK'], 'f.kir')).toEqual({ error: expect.stringMatching(/found empty check string with prefix 'CHECK:'/) });
  });
});

describe('matching', () => {
  it('passes for substrings in order, NEXT, SAME, NOT, EMPTY', () => {
    const r = check(['// CHECK: graph @main', '// CHECK-NEXT: "Relu"(%x)', '// CHECK-SAME: name "r1"', '// CHECK-NOT: Sub', '// CHECK: "Add"', '// CHECK-EMPTY:', '// CHECK-NEXT: }'].join('\n'));
    expect(r.message).toBe('');
    expect(r.ok).toBe(true);
  });

  it('a run of blanks in the pattern matches any run in the input, and vice versa', () => {
    expect(check('// CHECK: "Add"(%a, %b)').ok).toBe(true);
    expect(check('// CHECK: "Neg"(%a)    name').ok).toBe(true);
    expect(check('// CHECK: "Add"(%a,%b)').ok).toBe(false);
  });

  it('fails a missing string with file:line:col, the pattern, a caret and the scanned input', () => {
    const r = check('// CHECK: "Relu"\n// CHECK: "Sigmoid"(%a)');
    expect(r.ok).toBe(false);
    const lines = r.message.split('\n');
    expect(lines[0]).toBe('t.kir:2:11: error: CHECK: expected string not found in input');
    expect(lines[1]).toBe('// CHECK: "Sigmoid"(%a)');
    expect(lines[2]).toBe('          ^');
    expect(lines[3]).toMatch(/^<stdout>:3:\d+: note: scanning from here$/);
    expect(r.message).toMatch(/> +4 \| +%b: tensor<2xf32> = "Neg"/);
  });

  it('points at a near miss as the possible intended match', () => {
    const r = check('// CHECK: "Neg"(%b)');
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/<stdout>:4:\d+: note: possible intended match here\n {4}%b: tensor<2xf32> = "Neg"\(%a\)/);
  });

  it('CHECK-NEXT fails when the match is not on the next line', () => {
    const r = check('// CHECK: graph @main\n// CHECK-NEXT: "Neg"');
    expect(r.ok).toBe(false);
    expect(r.summary).toBe('t.kir:2:16: error: CHECK-NEXT: is not on the line after the previous match');
    expect(r.message).toMatch(/<stdout>:4:\d+: note: 'next' match was here/);
  });

  it('CHECK-NEXT on the same line fails too, and NEXT without a previous match is an error', () => {
    expect(check('// CHECK: "Relu"\n// CHECK-NEXT: name "r1"').summary).toMatch(/CHECK-NEXT: is on the same line as previous match/);
    expect(check('// CHECK-NEXT: kiln.module').summary).toMatch(/found 'CHECK-NEXT' without a previous match/);
  });

  it('CHECK-SAME must stay on the line', () => {
    expect(check('// CHECK: "Relu"\n// CHECK-SAME: "Neg"').summary).toMatch(/CHECK-SAME: is not on the same line as the previous match/);
  });

  it('CHECK-NOT fails when the excluded string is between the surrounding matches', () => {
    const r = check('// CHECK: "Relu"\n// CHECK-NOT: "Neg"\n// CHECK: "Add"');
    expect(r.ok).toBe(false);
    expect(r.summary).toBe('t.kir:2:15: error: CHECK-NOT: excluded string found in input');
    expect(r.message).toMatch(/<stdout>:4:\d+: note: found here/);
    // outside the window it is fine
    expect(check('// CHECK: "Neg"\n// CHECK-NOT: "Relu"\n// CHECK: "Add"').ok).toBe(true);
  });

  it('a trailing CHECK-NOT covers the rest of the input', () => {
    expect(check('// CHECK: "Relu"\n// CHECK-NOT: "Add"').ok).toBe(false);
    expect(check('// CHECK-NOT: "Sub"').ok).toBe(true);
  });

  it('regex blocks and variables', () => {
    expect(check('// CHECK: %{{[a-z]+}}: tensor<{{[0-9]+}}xf32> = "Neg"').ok).toBe(true);
    expect(check('// CHECK: [[R:%[a-z]+]]: tensor<2xf32> = "Relu"\n// CHECK: "Add"([[R]],').ok).toBe(true);
    const bad = check('// CHECK: [[R:%[a-z]+]]: tensor<2xf32> = "Relu"\n// CHECK: "Add"([[R]], [[R]])');
    expect(bad.ok).toBe(false);
    expect(bad.summary).toMatch(/^t\.kir:2:\d+: error: CHECK: expected string not found/);
    expect(check('// CHECK: "Add"([[NOPE]]').summary).toMatch(/use of undefined variable 'NOPE'/);
    expect(check('// CHECK: {{[unclosed}}').summary).toMatch(/invalid regex/);
  });

  it('a variable can be used later in the pattern that defines it', () => {
    expect(check('// CHECK: name "[[N:[a-z]]]1"', 'name "r1" name "r2"').ok).toBe(true);
    expect(check('// CHECK: "[[N:[a-z]+]]" "[[N]]"', '"ab" "ab"').ok).toBe(true);
    expect(check('// CHECK: "[[N:[a-z]+]]" "[[N]]"', '"ab" "cd"').ok).toBe(false);
  });

  it('CHECK-LABEL splits the input into blocks', () => {
    const input = 'func @a\n  x = 1\nfunc @b\n  y = 2\n';
    expect(check('// CHECK-LABEL: func @a\n// CHECK: x = 1\n// CHECK-LABEL: func @b\n// CHECK: y = 2', input).ok).toBe(true);
    // y = 2 is in block b, not in block a
    const r = check('// CHECK-LABEL: func @a\n// CHECK: y = 2\n// CHECK-LABEL: func @b', input);
    expect(r.ok).toBe(false);
    expect(r.summary).toMatch(/^t\.kir:2:\d+: error: CHECK: expected string not found/);
    // a CHECK-NOT in block a does not see block b
    expect(check('// CHECK-LABEL: func @a\n// CHECK-NOT: y = 2\n// CHECK-LABEL: func @b', input).ok).toBe(true);
    expect(check('// CHECK-LABEL: func @c', input).summary).toMatch(/CHECK-LABEL: expected string not found/);
  });

  it('CHECK-DAG matches in any order; CHECK-COUNT repeats', () => {
    expect(check('// CHECK-DAG: "Neg"\n// CHECK-DAG: "Relu"\n// CHECK: "Add"').ok).toBe(true);
    expect(check('// CHECK-DAG: "Add"\n// CHECK-DAG: "Relu"\n// CHECK: "Neg"').ok).toBe(false);
    expect(check('// CHECK-COUNT-3: tensor<2xf32> =').ok).toBe(true);
    expect(check('// CHECK-COUNT-4: tensor<2xf32> =').ok).toBe(false);
  });

  it('prefixes select the directives; none found is an error', () => {
    expect(check('// FOO: "Relu"\n// CHECK: "Nope"', INPUT, ['FOO']).ok).toBe(true);
    expect(check('// CHECK: "Relu"', INPUT, ['FOO']).summary).toMatch(/no check strings found with prefix 'FOO:'/);
  });
});

describe('RUN lines', () => {
  const sub = { file: 'dir/t.kir', temp: '/tmp/x/t' };
  it('splits words with quotes and a pipe', () => {
    expect(splitWords(`kiln opt %s --passes 'a,b{k=v}' | check --check-prefix=FOO`)).toEqual(['kiln', 'opt', '%s', '--passes', 'a,b{k=v}', '|', 'check', '--check-prefix=FOO']);
  });

  it('substitutes %s, %S and %t; reads not and check prefixes; joins continuations', () => {
    const runs = parseRunLines(['// RUN: kiln opt %s --passes dce \\', '// RUN:   --dump-dir %t | check --check-prefixes=A,B', '// RUN: not kiln opt %S/missing.kir'].join('\n'), sub);
    expect(runs).toHaveLength(2);
    expect(runs[0]!.argv).toEqual(['opt', 'dir/t.kir', '--passes', 'dce', '--dump-dir', '/tmp/x/t']);
    expect(runs[0]!.prefixes).toEqual(['A', 'B']);
    expect(runs[0]!.line).toBe(1);
    expect(runs[1]!.expectFailure).toBe(true);
    expect(runs[1]!.argv).toEqual(['opt', 'dir/missing.kir']);
    expect(runs[1]!.prefixes).toEqual(['CHECK']);
  });

  it('refuses commands other than kiln and unknown check options', () => {
    expect(() => parseRunLines('// RUN: cat %s', sub)).toThrow(/dir\/t\.kir:1: a RUN line runs 'kiln …'/);
    expect(() => parseRunLines('// RUN: kiln print %s | check --bogus', sub)).toThrow(/unknown check option '--bogus'/);
    expect(() => parseRunLines('// RUN: kiln print %s | grep x', sub)).toThrow(/only '\| check/);
  });
});

describe('anchors and brackets', () => {
  it('{{^}} and {{$}} anchor at line boundaries', () => {
    expect(check('// CHECK: {{^}}kiln.module {{{$}}').ok).toBe(true);
    expect(check('// CHECK: {{^}}graph @main').ok).toBe(false);
    expect(check('// CHECK: "Relu"(%x){{$}}').ok).toBe(false);
  });

  it('[[[V]]] is a literal [ before a variable use', () => {
    const input = 'for %i3 in 0 to 4 {\n  store %y[%i3] = %x[%i3]\n';
    expect(check('// CHECK: for [[I:%i[0-9]+]] in\n// CHECK-NEXT: store %y[[[I]]] = %x[[[I]]]', input).ok).toBe(true);
    expect(check('// CHECK: for [[I:%i[0-9]+]] in\n// CHECK-NEXT: store %y[[[I]]] = %x[%i4]', input).ok).toBe(false);
  });
});
