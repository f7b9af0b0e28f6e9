/**
 * The (kernel, schedule) variants `kiln bench --validate-costmodel` measures: the same computations
 * (GEMM, 3×3 convolution, elementwise chains, row and column reductions, transpose) written as
 * kernel IR text under different loop orders, tiles and fusions. Each is a whole program (buffers,
 * inputs, outputs) the C backend renders as it is; nothing here is tuned to the cost model.
 */

export interface Variant {
  /** Computation and shape, e.g. `gemm 128x128x128`; variants of one family share it. */
  family: string;
  /** The schedule, e.g. `ikj`, `tiled ikj 32`, `fused`. */
  schedule: string;
  /** Kernel IR text (kiln.kernel). */
  kir: string;
}

const prog = (bufs: string[], ins: string[], outs: string[], kernels: string[]): string =>
  `kiln.kernel @main {\n${bufs.map((b) => `  buffer ${b}\n`).join('')}  inputs (${ins.join(', ')})\n  outputs (${outs.join(', ')})\n${kernels.join('')}}\n`;

const kernel = (name: string, op: string, body: string): string => `  kernel @${name} from "${name}" ("${op}") {\n${body}  }\n`;

/** Indents a block of lines by `n` levels (2 spaces each). */
const ind = (n: number, lines: string[]): string => lines.map((l) => `${'  '.repeat(n)}${l}\n`).join('');

function gemm(m: number, n: number, k: number, order: string, tile = 0): Variant {
  const a = (i: string, kk: string): string => `%a[${i} * ${k} + ${kk}]`;
  const b = (kk: string, j: string): string => `%b[${kk} * ${n} + ${j}]`;
  const c = (i: string, j: string): string => `%c[${i} * ${n} + ${j}]`;
  const zero = [`for %zi in 0 to ${m} {`, `  for %zj in 0 to ${n} {`, `    store ${c('%zi', '%zj')} = 0.0`, '  }', '}'];
  let body: string[];
  const acc = (i: string, j: string): string => `store ${c(i, j)} = ${c(i, j)} + ${a(i, '%k')} * ${b('%k', j)}`;
  const loops = (vars: [string, number][], inner: string[]): string[] => {
    const out: string[] = [];
    vars.forEach(([v, hi], d) => out.push(`${'  '.repeat(d)}for %${v} in 0 to ${hi} {`));
    for (const l of inner) out.push(`${'  '.repeat(vars.length)}${l}`);
    for (let d = vars.length - 1; d >= 0; d--) out.push(`${'  '.repeat(d)}}`);
    return out;
  };
  const ext: Record<string, number> = { i: m, j: n, k };
  switch (order) {
    case 'ijk-acc':
    case 'jik-acc': {
      const [o1, o2] = order === 'ijk-acc' ? ['i', 'j'] : ['j', 'i'];
      body = loops([[o1, ext[o1]!], [o2, ext[o2]!]], ['let %s: f32 = 0.0', ...loops([['k', k]], [`set %s = %s + ${a('%i', '%k')} * ${b('%k', '%j')}`]), `store ${c('%i', '%j')} = %s`]);
      break;
    }
    case 'tiled-ikj': {
      // k and j tiled by `tile`: a (tile x tile) block of b is reused across all rows i
      body = [...zero, ...loops([['kt', k / tile], ['jt', n / tile], ['i', m]], [
        ...loops([['kk', tile]], [`let %kx${''}: index = %kt * ${tile} + %kk`, ...loops([['jj', tile]], [`let %jx: index = %jt * ${tile} + %jj`, `store ${c('%i', '%jx')} = ${c('%i', '%jx')} + ${a('%i', '%kx')} * ${b('%kx', '%jx')}`])]),
      ])];
      break;
    }
    default: {
      const vars = order.split('').map((v) => [v, ext[v]!] as [string, number]);
      body = [...zero, ...loops(vars, [acc('%i', '%j')])];
    }
  }
  const kir = prog([`%a: input f32[${m}, ${k}]`, `%b: input f32[${k}, ${n}]`, `%c: output f32[${m}, ${n}]`], ['%a', '%b'], ['%c'], [kernel('mm', 'MatMul', ind(2, body))]);
  return { family: `gemm ${m}x${n}x${k}`, schedule: tile ? `${order} ${tile}` : order, kir };
}

function conv(c: number, h: number, f: number, order: 'fhw-kk' | 'kk-fhw' | 'acc'): Variant {
  const o = h - 2;
  const x = (ci: string, y: string, xx: string): string => `%x[${ci} * ${h * h} + (${y}) * ${h} + ${xx}]`;
  const w = `%w[%f * ${c * 9} + %ci * 9 + %ky * 3 + %kx]`;
  const y = `%y[%f * ${o * o} + %oy * ${o} + %ox]`;
  let body: string[];
  if (order === 'acc') {
    body = [`for %f in 0 to ${f} {`, `  for %oy in 0 to ${o} {`, `    for %ox in 0 to ${o} {`, '      let %s: f32 = 0.0', `      for %ci in 0 to ${c} {`, '        for %ky in 0 to 3 {', '          for %kx in 0 to 3 {', `            set %s = %s + ${x('%ci', '%oy + %ky', '%ox + %kx')} * ${w}`, '          }', '        }', '      }', `      store ${y} = %s`, '    }', '  }', '}'];
  } else {
    const zero = [`for %zf in 0 to ${f} {`, `  for %zp in 0 to ${o * o} {`, `    store %y[%zf * ${o * o} + %zp] = 0.0`, '  }', '}'];
    const upd = `store ${y} = ${y} + ${x('%ci', '%oy + %ky', '%ox + %kx')} * ${w}`;
    const outer = order === 'fhw-kk' ? [['f', f], ['oy', o], ['ox', o], ['ci', c], ['ky', 3], ['kx', 3]] : [['f', f], ['ci', c], ['ky', 3], ['kx', 3], ['oy', o], ['ox', o]];
    const lines: string[] = [];
    outer.forEach(([v, hi], d) => lines.push(`${'  '.repeat(d)}for %${v} in 0 to ${hi} {`));
    lines.push(`${'  '.repeat(outer.length)}${upd}`);
    for (let d = outer.length - 1; d >= 0; d--) lines.push(`${'  '.repeat(d)}}`);
    body = [...zero, ...lines];
  }
  const kir = prog([`%x: input f32[${c}, ${h}, ${h}]`, `%w: input f32[${f}, ${c}, 3, 3]`, `%y: output f32[${f}, ${o}, ${o}]`], ['%x', '%w'], ['%y'], [kernel('conv', 'Conv', ind(2, body))]);
  return { family: `conv3x3 ${c}x${h}x${h}->${f}`, schedule: order, kir };
}

/** y = relu(x * 0.5 + 1) ... `len` elementwise ops, as one loop (fused) or one kernel per op. */
function chain(n: number, len: number, fused: boolean): Variant {
  const ops = [(v: string) => `${v} * 0.5`, (v: string) => `${v} + 1.0`, (v: string) => `max(${v}, 0.0)`, (v: string) => `${v} * ${v}`];
  const bufs = [`%x: input f32[${n}]`, `%y: output f32[${n}]`];
  const kernels: string[] = [];
  if (fused) {
    let v = '%x[%i]';
    for (let s = 0; s < len; s++) v = ops[s % ops.length]!(`(${v})`);
    kernels.push(kernel('chain', 'Mul', ind(2, [`for %i in 0 to ${n} {`, `  store %y[%i] = ${v}`, '}'])));
  } else {
    for (let s = 0; s < len; s++) {
      const src = s === 0 ? '%x' : `%t${s - 1}`;
      const dst = s === len - 1 ? '%y' : `%t${s}`;
      if (s < len - 1) bufs.push(`%t${s}: temp f32[${n}]`);
      kernels.push(kernel(`op${s}`, 'Mul', ind(2, [`for %i in 0 to ${n} {`, `  store ${dst}[%i] = ${ops[s % ops.length]!(`${src}[%i]`)}`, '}'])));
    }
  }
  return { family: `chain${len} ${n}`, schedule: fused ? 'fused' : 'unfused', kir: prog(bufs, ['%x'], ['%y'], kernels) };
}

/** Sum over the columns of an r x c matrix: row order with an accumulator, or column order into the output. */
function rowsum(r: number, c: number, order: 'acc' | 'cols'): Variant {
  const body =
    order === 'acc'
      ? [`for %i in 0 to ${r} {`, '  let %s: f32 = 0.0', `  for %j in 0 to ${c} {`, `    set %s = %s + %x[%i * ${c} + %j]`, '  }', '  store %y[%i] = %s', '}']
      : [`for %zi in 0 to ${r} {`, '  store %y[%zi] = 0.0', '}', `for %j in 0 to ${c} {`, `  for %i in 0 to ${r} {`, `    store %y[%i] = %y[%i] + %x[%i * ${c} + %j]`, '  }', '}'];
  return { family: `rowsum ${r}x${c}`, schedule: order, kir: prog([`%x: input f32[${r}, ${c}]`, `%y: output f32[${r}]`], ['%x'], ['%y'], [kernel('sum', 'ReduceSum', ind(2, body))]) };
}

function transpose(n: number, tile: number): Variant {
  const body =
    tile === 0
      ? [`for %i in 0 to ${n} {`, `  for %j in 0 to ${n} {`, `    store %y[%j * ${n} + %i] = %x[%i * ${n} + %j]`, '  }', '}']
      : [`for %it in 0 to ${n / tile} {`, `  for %jt in 0 to ${n / tile} {`, `    for %ii in 0 to ${tile} {`, `      for %jj in 0 to ${tile} {`, `        store %y[(%jt * ${tile} + %jj) * ${n} + %it * ${tile} + %ii] = %x[(%it * ${tile} + %ii) * ${n} + %jt * ${tile} + %jj]`, '      }', '    }', '  }', '}'];
  return { family: `transpose ${n}`, schedule: tile ? `tiled ${tile}` : 'naive', kir: prog([`%x: input f32[${n}, ${n}]`, `%y: output f32[${n}, ${n}]`], ['%x'], ['%y'], [kernel('tr', 'Transpose', ind(2, body))]) };
}

/** The variant set: `small` keeps a handful of tiny ones (tests). */
export function costModelVariants(small = false): Variant[] {
  if (small) return [gemm(16, 16, 16, 'ikj'), gemm(16, 16, 16, 'ijk-acc'), chain(256, 2, true), chain(256, 2, false)];
  const out: Variant[] = [];
  for (const [m, n, k] of [[64, 64, 64], [128, 128, 128], [256, 256, 256], [64, 512, 256]] as const) {
    for (const o of ['ijk-acc', 'jik-acc', 'ikj', 'kij', 'jki']) out.push(gemm(m, n, k, o));
    if (k % 32 === 0 && n % 32 === 0) out.push(gemm(m, n, k, 'tiled-ikj', 32));
  }
  for (const [c, h, f] of [[16, 34, 16], [32, 18, 64]] as const) for (const o of ['acc', 'fhw-kk', 'kk-fhw'] as const) out.push(conv(c, h, f, o));
  for (const n of [1 << 14, 1 << 18, 1 << 22]) for (const len of [2, 4]) for (const fused of [true, false]) out.push(chain(n, len, fused));
  for (const [r, c] of [[256, 256], [2048, 1024]] as const) for (const o of ['acc', 'cols'] as const) out.push(rowsum(r, c, o));
  for (const n of [256, 2048]) for (const t of [0, 16]) out.push(transpose(n, t));
  return out;
}
