#!/usr/bin/env node
/**
 * The transformer-block sample in decode mode on the pim target (issue 15, item 5): one new token
 * (batch 1, sequence 1) attending to a KV cache of --tokens past tokens, with the sample's own
 * weights. The sample is a prefill graph (16 tokens, causal mask, no cache), so this script writes
 * its decode-mode twin as .kir: the same LayerNorm / projection / MLP weights, K and V caches as
 * inputs, the new k and v concatenated to them. It then runs that program on the pim target
 * (--pim-precision fp16: the sample is f32) and prints the simulated cycles and energy with PIM
 * offload and host-only, and the internal/bus bandwidth ratio that bounds the speed-up.
 * Usage: node bench/pim-decode-sample.mjs [--tokens 256] [--device hbm2-pim] [--json out.json]
 * (run `npx tsc` first; it imports dist/).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const T = Number(arg('tokens', '256'));
const device = arg('device', 'hbm2-pim');
const jsonOut = arg('json', undefined);

const { loadModel } = await dist('driver/load.js');
const { printModule } = await dist('ir/print.js');
const { parseModuleText } = await dist('frontend/text/parser.js');
const { runPipeline } = await dist('passes/pipeline.js');
const { lowerPass } = await dist('passes/lower-pass.js');
await dist('passes/builtin.js');
await dist('ir/ops/index.js');
const { inferModule } = await dist('ir/infer.js');
const { Tensor } = await dist('ir/tensor.js');
const { runProgram } = await dist('ir/kernel/interp.js');
const { runPim } = await dist('backends/pim/target.js');
const { planProgram, hostKernelCost } = await dist('backends/pim/plan.js');
const { loadPimDevice, peakInternalBytesPerCycle } = await dist('backends/pim/device.js');

const sample = path.join(root, 'samples/transformer-block/model.onnx');
const text = printModule(loadModel(sample));
// The sample's weights and scalar constants, as printed (shape and mask constants are replaced).
const keep = text.split('\n').filter((l) => /^\s*const %(ln[12]|attn\.(q|k|v|out)|mlp\.fc[12])\.(weight|bias)|^\s*const %(attn\.scale|const[123]):/.test(l));
if (keep.length !== 20) throw new Error(`expected 20 weight/scalar constants in the sample, found ${keep.length}`);
const q = (n) => `%"${n}"`;
const decode = `kiln.module opsets {"" = 17} {
  graph @transformer_block_decode(%x: tensor<1x1x64xf32>, %kc: tensor<1x4x16x${T}xf32>, %vc: tensor<1x4x${T}x16xf32>) -> (%output) {
${keep.join('\n')}
    const %s4: tensor<4xi64> = dense<[1, 1, 4, 16]>
    const %s3: tensor<3xi64> = dense<[1, 1, 64]>
    %ln1 = "LayerNormalization"(%x, %ln1.weight, %ln1.bias) {axis = -1, epsilon = 0.000009999999747378752} name "ln1"
    ${q('qm')} = "MatMul"(%ln1, %attn.q.weight) name "attn.q/matmul"
    ${q('qa')} = "Add"(${q('qm')}, %attn.q.bias) name "attn.q/add"
    %qr = "Reshape"(${q('qa')}, %s4) name "reshape1"
    %qt = "Transpose"(%qr) {perm = ints[0, 2, 1, 3]} name "transpose1"
    ${q('km')} = "MatMul"(%ln1, %attn.k.weight) name "attn.k/matmul"
    ${q('ka')} = "Add"(${q('km')}, %attn.k.bias) name "attn.k/add"
    %kr = "Reshape"(${q('ka')}, %s4) name "reshape2"
    %kt = "Transpose"(%kr) {perm = ints[0, 2, 3, 1]} name "transpose2"
    ${q('vm')} = "MatMul"(%ln1, %attn.v.weight) name "attn.v/matmul"
    ${q('va')} = "Add"(${q('vm')}, %attn.v.bias) name "attn.v/add"
    %vr = "Reshape"(${q('va')}, %s4) name "reshape3"
    %vt = "Transpose"(%vr) {perm = ints[0, 2, 1, 3]} name "transpose3"
    %kall = "Concat"(%kc, %kt) {axis = 3} name "kcache_append"
    %vall = "Concat"(%vc, %vt) {axis = 2} name "vcache_append"
    %sc = "MatMul"(%qt, %kall) name "matmul1"
    %scs = "Mul"(%sc, %attn.scale) name "mul1"
    %p = "Softmax"(%scs) {axis = -1} name "softmax1"
    %o = "MatMul"(%p, %vall) name "matmul2"
    %ot = "Transpose"(%o) {perm = ints[0, 2, 1, 3]} name "transpose4"
    %or = "Reshape"(%ot, %s3) name "reshape4"
    ${q('om')} = "MatMul"(%or, %attn.out.weight) name "attn.out/matmul"
    ${q('oa')} = "Add"(${q('om')}, %attn.out.bias) name "attn.out/add"
    %add2 = "Add"(%x, ${q('oa')}) name "add2"
    %ln2 = "LayerNormalization"(%add2, %ln2.weight, %ln2.bias) {axis = -1, epsilon = 0.000009999999747378752} name "ln2"
    ${q('f1m')} = "MatMul"(%ln2, %mlp.fc1.weight) name "mlp.fc1/matmul"
    ${q('f1a')} = "Add"(${q('f1m')}, %mlp.fc1.bias) name "mlp.fc1/add"
    %d1 = "Div"(${q('f1a')}, %const1) name "div1"
    %e1 = "Erf"(%d1) name "erf1"
    %a3 = "Add"(%e1, %const2) name "add3"
    %m2 = "Mul"(${q('f1a')}, %a3) name "mul2"
    %m3 = "Mul"(%m2, %const3) name "mul3"
    ${q('f2m')} = "MatMul"(%m3, %mlp.fc2.weight) name "mlp.fc2/matmul"
    ${q('f2a')} = "Add"(${q('f2m')}, %mlp.fc2.bias) name "mlp.fc2/add"
    %output = "Add"(%add2, ${q('f2a')}) name "add4"
  }
}
`;
const module = parseModuleText(decode);
inferModule(module);
const program = runPipeline({ level: 'graph', module }, [{ pass: lowerPass, options: { schedule: 'memory' } }]).state.program;
const dev = loadPimDevice(device);
const settings = { dev, channels: 1, precision: 'fp16' };
const decisions = planProgram(program, dev, 1, 'fp16');
const vals = (shape, seed) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor('f32', shape, Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.71 + seed) * 0.5)));
};
const inputs = [vals([1, 1, 64], 1), vals([1, 4, 16, T], 2), vals([1, 4, T, 16], 3)];
const r = runPim(program, inputs, settings, decisions);
const ref = runProgram(program, inputs)[0].data;
let maxErr = 0;
r.outputs[0].data.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - ref[i]))));
// Host-only: every kernel on the host model (the offload candidates at their simulated host baseline).
const hostOnlyCycles = decisions.reduce((a, d) => a + d.hostCycles, 0);
const hostOnlyEnergy = program.kernels.reduce((a, k) => a + hostKernelCost(k, dev, 1).energyPj, 0);
const kernels = decisions.map((d) => ({ kernel: d.kernel, shape: d.shape, offload: d.offload, why: d.why, ...(d.pimCycles !== undefined ? { pimCycles: d.pimCycles } : {}), hostCycles: d.hostCycles }));
const out = {
  sample: 'transformer-block', mode: 'decode', tokens: T, device: dev.name, channels: 1, precision: 'fp16',
  pimConfig: { cycles: r.report.cycles, pimCycles: r.report.pimCycles, hostCycles: r.report.hostCycles, energyPj: r.report.energyPj, seconds: r.report.seconds },
  hostOnly: { cycles: hostOnlyCycles, energyPj: Math.round(hostOnlyEnergy), seconds: (hostOnlyCycles * dev.tCKns) / 1e9 },
  speedup: hostOnlyCycles / r.report.cycles,
  bandwidthRatio: peakInternalBytesPerCycle(dev) / dev.ioBytesPerCycle,
  maxAbsErrVsInterpreter: maxErr, offloaded: r.report.offloaded, kernels,
};
if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify(out, null, 2)}\n`);
console.log(`transformer-block decode (1 token, KV cache ${T}) on ${dev.name} x1, --pim-precision fp16`);
for (const k of kernels) console.log(`  ${k.kernel.padEnd(18)} ${k.shape.padEnd(34)} ${k.offload ? 'PIM ' : 'host'} ${k.why}`);
console.log(`  with PIM: ${out.pimConfig.cycles} cycles (${out.pimConfig.pimCycles} PIM + ${out.pimConfig.hostCycles} host), ${(out.pimConfig.energyPj / 1e6).toFixed(3)} uJ`);
console.log(`  host-only: ${out.hostOnly.cycles} cycles, ${(out.hostOnly.energyPj / 1e6).toFixed(3)} uJ`);
console.log(`  speed-up ${out.speedup.toFixed(2)}x (bound: internal/bus bandwidth ratio ${out.bandwidthRatio}x); max |error| vs the interpreter ${maxErr.toExponential(2)}`);
