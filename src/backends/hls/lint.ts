/**
 * Synthesizability checks of emitted HLS-C++ design files (model.cpp, model.h): what Vitis HLS
 * needs from C++ and Kiln's renderer promises. Returns one line per problem (empty: clean).
 *  - no dynamic memory (malloc/calloc/realloc/free/new/delete);
 *  - no recursion (call graph of the functions the file defines has no cycle);
 *  - no pointer declarations (ports are arrays or stream references);
 *  - every array statically sized (a literal size);
 *  - every loop with literal bounds or a LOOP_TRIPCOUNT pragma first in its body;
 *  - calls only to functions the file defines and an allowed set of math/library functions.
 * The testbench (tb.cpp) and the csim stream header are not design files and are not checked.
 */

/** Math functions Vitis HLS implements (hls_math) plus memcpy (bit casts). */
export const ALLOWED_CALLS = new Set([
  'sqrtf', 'sqrt', 'expf', 'exp', 'logf', 'log', 'sinf', 'sin', 'cosf', 'cos', 'tanf', 'tan', 'asinf', 'asin', 'acosf', 'acos', 'atanf', 'atan',
  'sinhf', 'sinh', 'coshf', 'cosh', 'tanhf', 'tanh', 'asinhf', 'asinh', 'acoshf', 'acosh', 'atanhf', 'atanh', 'erff', 'erf', 'floorf', 'floor',
  'ceilf', 'ceil', 'rintf', 'rint', 'truncf', 'trunc', 'fabsf', 'fabs', 'fmodf', 'fmod', 'powf', 'pow', 'atan2f', 'atan2', 'ldexpf', 'ldexp',
  'isinf', 'isnan', 'signbit', 'frexpf', 'frexp', 'lrintf', 'lrint', 'memcpy', 'read', 'write', 'INT64_C', 'UINT64_C',
]);

const KEYWORDS = new Set(['if', 'for', 'while', 'switch', 'return', 'sizeof', 'void', 'float', 'double', 'int', 'unsigned', 'char', 'int8_t', 'uint8_t', 'int16_t', 'uint16_t', 'int32_t', 'uint32_t', 'int64_t', 'uint64_t', 'defined', 'static_cast', 'stream']);

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

export function lintHls(file: string, text: string): string[] {
  const problems: string[] = [];
  const src = stripComments(text);
  const lines = src.split('\n');
  const at = (i: number, what: string): void => void problems.push(`${file}:${i + 1}: ${what}`);
  lines.forEach((l, i) => {
    if (/\b(malloc|calloc|realloc|free)\s*\(|\bnew\b|\bdelete\b/.test(l)) at(i, 'dynamic memory');
    if (/\b(float|double|char|void|int|u?int(8|16|32|64)_t)\s*\*/.test(l)) at(i, 'pointer declaration');
    for (const m of l.matchAll(/\b(?:float|double|u?int(?:8|16|32|64)_t|unsigned char)\s+(\w+)\s*\[([^\]]*)\]/g)) {
      if (!/^\s*\d+\s*$/.test(m[2]!)) at(i, `array ${m[1]} without a literal size`);
    }
    const f = /\bfor \((?:int32_t|int|long) (\w+) = ([^;]+); \1 < ([^;]+); \1\+\+\)/.exec(l);
    if (f) {
      const literal = /^\(?-?\d+\)?$/.test(f[2]!.trim()) && /^\(?-?\d+\)?$/.test(f[3]!.trim());
      let tripcount = false;
      for (let j = i + 1; j < lines.length && /^\s*#pragma/.test(lines[j]!); j++) if (/LOOP_TRIPCOUNT/.test(lines[j]!)) tripcount = true;
      if (!literal && !tripcount) at(i, `loop over ${f[1]} has a bound that is not a literal and no LOOP_TRIPCOUNT`);
    } else if (/\b(for|while)\s*\(/.test(l) && !/^\s*#/.test(l)) at(i, 'loop not in the form for (int32_t v = lo; v < hi; v++)');
  });
  // call graph over the functions defined here
  const defs = new Map<string, string>();
  const defRe = /^(?:static\s+)?(?:inline\s+)?(?:void|float|double|u?int(?:8|16|32|64)_t)\s+(\w+)\(([^)]*)\)\s*\{/gm;
  const starts: { name: string; index: number }[] = [];
  for (const m of src.matchAll(defRe)) starts.push({ name: m[1]!, index: m.index! });
  starts.forEach((s, k) => defs.set(s.name, src.slice(s.index, k + 1 < starts.length ? starts[k + 1]!.index : src.length)));
  const calls = new Map<string, Set<string>>();
  for (const [name, body] of defs) {
    const out = new Set<string>();
    // pragma lines are not code
    const inner = body.slice(body.indexOf('{')).replace(/^\s*#[^\n]*$/gm, '');
    for (const m of inner.matchAll(/\b([A-Za-z_]\w*)\s*\(/g)) {
      const callee = m[1]!;
      if (KEYWORDS.has(callee)) continue;
      if (defs.has(callee)) out.add(callee);
      else if (!ALLOWED_CALLS.has(callee)) problems.push(`${file}: ${name} calls ${callee}, which is not an allowed function`);
    }
    calls.set(name, out);
  }
  const state = new Map<string, number>();
  const visit = (n: string, stack: string[]): void => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) {
      problems.push(`${file}: recursion ${[...stack, n].join(' -> ')}`);
      return;
    }
    state.set(n, 1);
    for (const c of calls.get(n) ?? []) visit(c, [...stack, n]);
    state.set(n, 2);
  };
  for (const n of defs.keys()) visit(n, []);
  return problems;
}
