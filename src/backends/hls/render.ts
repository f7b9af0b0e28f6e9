/**
 * Renders a kernel program as HLS-C++ for Vitis-HLS-style synthesis, with the C renderer's
 * statements and expressions (src/backends/c/render.ts) and HLS pragmas from the loop annotations
 * the hls-fold pass chose:
 *  - one top function `kiln_<name>` whose ports are the program's inputs/outputs: m_axi arrays (one
 *    bundle each) with s_axilite control, or, with io=stream, hls::stream ports (axis) copied into
 *    on-chip arrays at the start and out at the end;
 *  - each kernel a static function over statically sized arrays; a `pipeline` loop gets
 *    `#pragma HLS PIPELINE II=…`, an `unroll U` loop `#pragma HLS UNROLL factor=U`, a loop whose
 *    bounds are not literals `#pragma HLS LOOP_TRIPCOUNT max=…` (from interval bounds);
 *  - constants as static const arrays (ROMs), intermediate tensors as static arrays in the top
 *    function (ping-pong buffers under `#pragma HLS DATAFLOW`), each cyclically partitioned by the
 *    largest unroll that indexes it, or bound to UltraRAM; a sequential design (no DATAFLOW) stores
 *    tensors whose kernels do not overlap in one array.
 * No dynamic memory, no recursion, no pointers (ports are arrays or stream references).
 */
import { KilnError } from '../../ir/errors.js';
import { tensorToBytes } from '../../ir/rawdata.js';
import { bufferSize, storageOf, type KBuffer, type Program, type Stmt } from '../../ir/kernel/types.js';
import { maxTrips, partitionFactors, type For } from '../../costmodel/hls-cost.js';
import { indexInterval as interval } from '../../ir/kernel/parallel.js';
import { cIdent, commentText, floatLiteral, intLiteral, kernelBuffers, Renderer } from '../c/render.js';
import { renderHelpers } from '../c/helpers.js';
import { storageCType } from '../c/ctypes.js';

export type HlsIo = 'm_axi' | 'stream';

export interface HlsSource {
  /** model.h: the top function's declaration and sizes. */
  header: string;
  /** model.cpp: the design. */
  source: string;
  top: string;
}

const arraySize = (b: KBuffer): number => Math.max(1, bufferSize(b));

/** The constant's elements as C literals of its storage type. */
function constInitializer(b: KBuffer): string {
  if (!b.data) throw new KilnError('invalid-model', `constant ${b.name} has no data`);
  const bytes = tensorToBytes(b.data, false);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ct = storageCType(b.dtype);
  const n = bufferSize(b);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    switch (ct) {
      case 'float': out.push(floatLiteral(view.getFloat32(i * 4, true), 'float')); break;
      case 'double': out.push(floatLiteral(view.getFloat64(i * 8, true), 'double')); break;
      case 'int8_t': out.push(intLiteral(view.getInt8(i), 'i8')); break;
      case 'uint8_t': out.push(intLiteral(view.getUint8(i), 'u8')); break;
      case 'int16_t': out.push(intLiteral(view.getInt16(i * 2, true), 'i16')); break;
      case 'uint16_t': out.push(intLiteral(view.getUint16(i * 2, true), 'u16')); break;
      case 'int32_t': out.push(intLiteral(view.getInt32(i * 4, true), 'i32')); break;
      case 'uint32_t': out.push(intLiteral(view.getUint32(i * 4, true), 'u32')); break;
      case 'int64_t': out.push(intLiteral(view.getBigInt64(i * 8, true), 'i64')); break;
      case 'uint64_t': out.push(intLiteral(view.getBigUint64(i * 8, true), 'u64')); break;
      default: throw new KilnError('unsupported', `constant of type ${b.dtype}`);
    }
  }
  if (n === 0) out.push('0');
  const rows: string[] = [];
  for (let i = 0; i < out.length; i += 16) rows.push(`  ${out.slice(i, i + 16).join(', ')},`);
  return rows.join('\n');
}

/** Pragmas opening a loop body: PIPELINE (II from `pipeline <ii>`), UNROLL, LOOP_TRIPCOUNT. */
function loopPragmas(ranges: Map<For, { lo: number; hi: number } | null>) {
  return (s: For, ind: string): string[] => {
    const out: string[] = [];
    if (!(s.lo.k === 'const' && s.hi.k === 'const')) {
      const r = ranges.get(s);
      out.push(`${ind}#pragma HLS LOOP_TRIPCOUNT min=0 max=${r ? r.hi : 1}`);
    }
    if (s.ann.pipeline) out.push(`${ind}#pragma HLS PIPELINE II=${s.ann.ii ?? 1}`);
    if (s.ann.unroll !== undefined && s.ann.unroll > 1) out.push(`${ind}#pragma HLS UNROLL factor=${s.ann.unroll}`);
    return out;
  };
}

/** Largest trip count of every loop of a kernel (interval bounds; null: unbounded). */
function loopRanges(body: readonly Stmt[], fallback: number): Map<For, { lo: number; hi: number } | null> {
  const out = new Map<For, { lo: number; hi: number } | null>();
  const walk = (ss: readonly Stmt[], env: Map<string, { lo: number; hi: number }>): void => {
    for (const s of ss) {
      if (s.k === 'for') {
        const n = maxTrips(s, env);
        out.set(s, { lo: 0, hi: n ?? fallback });
        const inner = new Map(env);
        inner.set(s.v, { lo: interval(s.lo, env).lo, hi: interval(s.hi, env).hi - 1 });
        walk(s.body, inner);
      } else if (s.k === 'if') {
        walk(s.then, env);
        walk(s.else, env);
      } else if (s.k === 'let' && s.t === 'index') env.set(s.name, interval(s.init, env));
    }
  };
  walk(body, new Map());
  return out;
}

export function renderHls(program: Program, name: string, io: HlsIo, uram: ReadonlySet<string> = new Set(), dataflow = true, shared: Readonly<Record<string, string>> = {}): HlsSource {
  if (program.param) throw new KilnError('unsupported', 'the hls target has no run-time sizes (--dynamic)');
  const id = cIdent(name);
  const top = `kiln_${id}`;
  const ioName = new Map<KBuffer, string>();
  program.inputs.forEach((b, i) => ioName.set(storageOf(b), `in${i}`));
  program.outputs.forEach((b, i) => ioName.set(storageOf(b), `out${i}`));
  // a sequential design stores tensors whose kernels do not overlap in one array (hls-fold's `shared`)
  const byName = new Map(program.buffers.map((b) => [b.name, storageOf(b)]));
  const hostOf = (b: KBuffer): KBuffer => {
    const r = storageOf(b);
    const h = Object.prototype.hasOwnProperty.call(shared, r.name) ? byName.get(shared[r.name]!) : undefined;
    return h ?? r;
  };
  const hostSize = new Map<KBuffer, number>();
  for (const b of new Set(program.buffers.map(storageOf))) hostSize.set(hostOf(b), Math.max(hostSize.get(hostOf(b)) ?? 1, arraySize(b)));
  const sizeOf = (b: KBuffer): number => hostSize.get(hostOf(b)) ?? arraySize(b);
  // in stream mode the kernels work on on-chip copies of the ports
  const arrayOf = (b: KBuffer): string => {
    const r = hostOf(b);
    const p = ioName.get(r);
    if (p) return io === 'stream' ? `kiln_${p}` : p;
    return r.role === 'const' ? `kiln_w${r.id}` : `kiln_t${r.id}`;
  };
  const portType = (b: KBuffer, out: boolean, n: string): string => (io === 'stream' ? `hls::stream<${storageCType(b.dtype)}> &${n}` : `${out ? '' : 'const '}${storageCType(b.dtype)} ${n}[${arraySize(b)}]`);
  const params = [...program.inputs.map((b, i) => portType(b, false, `in${i}`)), ...program.outputs.map((b, i) => portType(b, true, `out${i}`))];
  const up = id.toUpperCase();

  const h: string[] = [`/* Generated by Kiln from model '${commentText(name)}' for HLS (Vitis HLS C++). Do not edit. */`, `#ifndef KILN_HLS_${up}_H`, `#define KILN_HLS_${up}_H`, '#include <stdint.h>'];
  if (io === 'stream') h.push('#include "kiln_hls_stream.h"');
  h.push('');
  const describe = (b: KBuffer, kind: string, i: number): void => {
    h.push(`/* ${kind.toLowerCase()} ${i}: '${commentText(b.name)}' ${b.dtype}[${b.shape.join('][')}] */`, `#define KILN_${up}_${kind}${i}_SIZE ${bufferSize(b)}`);
  };
  program.inputs.forEach((b, i) => describe(b, 'INPUT', i));
  program.outputs.forEach((b, i) => describe(b, 'OUTPUT', i));
  h.push('', `/* The design's top function: one inference. */`, `void ${top}(${params.join(', ') || 'void'});`, '', `#endif`, '');

  const partitions = partitionFactors(program);
  const usedHelpers = new Set<string>();
  const bodies: string[] = [];
  const calls: string[] = [];
  const used = new Set<KBuffer>();
  const fallback = Math.max(1, ...program.buffers.map(bufferSize));
  for (const k of program.kernels) {
    const { reads, writes } = kernelBuffers(k);
    const names = new Map<KBuffer, string>();
    const kparams: string[] = [];
    const args: string[] = [];
    for (const [b, ro] of [...reads.map((b) => [b, true] as const), ...writes.map((b) => [b, false] as const)]) {
      used.add(b);
      const pn = `p_${cIdent(b.name)}`;
      names.set(b, pn);
      kparams.push(`${ro ? 'const ' : ''}${storageCType(b.dtype)} ${pn}[${sizeOf(b)}]`);
      args.push(arrayOf(b));
    }
    const r = new Renderer(names, { loopPrologue: loopPragmas(loopRanges(k.body, fallback)) });
    const lines = r.stmts(k.body, '  ');
    r.helpers.forEach((x) => usedHelpers.add(x));
    const kname = `k_${cIdent(k.name)}`;
    bodies.push(`/* ${commentText(k.origin.op)} '${commentText(k.origin.node)}' */`, `static void ${kname}(${kparams.join(', ') || 'void'}) {`);
    for (const line of lines) bodies.push(line);
    bodies.push('}', '');
    calls.push(`  ${kname}(${args.join(', ')});`);
  }

  const c: string[] = [`/* Generated by Kiln from model '${commentText(name)}' for HLS (Vitis HLS C++). Do not edit. */`, '#include <math.h>', '#include <stdint.h>', '#include <string.h>', '#include "model.h"', ''];
  // the C helpers' square-and-multiply loop runs while the exponent has bits: HLS wants a static
  // bound, and 64 rounds give the same result (a zero exponent leaves the product alone)
  const helperText = renderHelpers(usedHelpers).replace(/while \(b\) \{/g, 'for (int32_t k = 0; k < 64; k++) {');
  if (helperText) c.push(helperText, '');
  const roots = [...new Set(program.buffers.map(storageOf))];
  for (const b of roots) {
    if (b.role !== 'const' || !used.has(b) || ioName.has(b)) continue;
    c.push(`/* '${commentText(b.name)}' ${b.dtype}[${b.shape.join('][')}] */`, `static const ${storageCType(b.dtype)} ${arrayOf(b)}[${arraySize(b)}] = {`, constInitializer(b), '};');
  }
  c.push('');
  for (const line of bodies) c.push(line);

  const t: string[] = [`void ${top}(${params.join(', ') || 'void'}) {`];
  [...program.inputs, ...program.outputs].forEach((b) => {
    const p = ioName.get(storageOf(b))!;
    if (io === 'stream') t.push(`#pragma HLS INTERFACE axis port=${p}`);
    else t.push(`#pragma HLS INTERFACE m_axi port=${p} offset=slave bundle=gmem_${p} depth=${arraySize(b)}`, `#pragma HLS INTERFACE s_axilite port=${p} bundle=control`);
  });
  t.push('#pragma HLS INTERFACE s_axilite port=return bundle=control');
  const factorOf = new Map<KBuffer, number>();
  for (const [b, f] of partitions) factorOf.set(hostOf(b), Math.max(factorOf.get(hostOf(b)) ?? 1, f));
  const partition = (b: KBuffer): string[] => {
    if (uram.has(b.name)) return [`#pragma HLS BIND_STORAGE variable=${arrayOf(b)} type=ram_2p impl=uram`];
    const f = factorOf.get(b);
    return f && f > 1 ? [`#pragma HLS ARRAY_PARTITION variable=${arrayOf(b)} cyclic factor=${f} dim=1`] : [];
  };
  for (const b of roots) {
    if (b.role === 'const' && used.has(b) && !ioName.has(b)) t.push(...partition(b));
  }
  const hosts = new Set([...used].map(hostOf));
  for (const b of roots) {
    if (b.role === 'const' || !hosts.has(b) || hostOf(b) !== b) continue;
    if (ioName.has(b) && io !== 'stream') continue;
    t.push(`  static ${storageCType(b.dtype)} ${arrayOf(b)}[${sizeOf(b)}];`, ...partition(b));
  }
  if (dataflow) t.push('#pragma HLS DATAFLOW');
  if (io === 'stream') {
    program.inputs.forEach((b, i) => {
      if (used.has(storageOf(b))) t.push(`  for (int32_t i = 0; i < ${bufferSize(b)}; i++) {`, '#pragma HLS PIPELINE II=1', `    kiln_in${i}[i] = in${i}.read();`, '  }');
      else t.push(`  for (int32_t i = 0; i < ${bufferSize(b)}; i++) {`, '#pragma HLS PIPELINE II=1', `    (void)in${i}.read();`, '  }');
    });
  } else {
    [...program.inputs, ...program.outputs].forEach((b) => {
      if (!used.has(storageOf(b))) t.push(`  (void)${ioName.get(storageOf(b))};`);
    });
  }
  t.push(...calls);
  if (io === 'stream') {
    program.outputs.forEach((b, i) => {
      const src = used.has(storageOf(b)) ? `kiln_out${i}[i]` : '0';
      t.push(`  for (int32_t i = 0; i < ${bufferSize(b)}; i++) {`, '#pragma HLS PIPELINE II=1', `    out${i}.write(${src});`, '  }');
    });
  }
  t.push('}', '');
  c.push(...t);
  return { header: h.join('\n'), source: c.join('\n'), top };
}
