#!/usr/bin/env node
// Builds the sample models with Kiln's own ONNX writer (deterministic weights, see samples/lib/)
// and their expected outputs with onnxruntime-node (one intra-op thread). Run after `npm run build`:
//
//   node samples/build-samples.mjs                    # committed samples → samples/<name>/
//   node samples/build-samples.mjs --only resnet8     # some of them
//   node samples/build-samples.mjs --large [--out d]  # ResNet-50, DenseNet-121, Inception-v1,
//                                                     # MobileNetV2 at 224×224 and a batch-450 MLP
//                                                     # → bench/models/<name>/ (git-ignored)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportOnnx, encodeTensor, Tensor } from '../dist/index.js';
import { SAMPLES, LARGE } from './lib/index.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.dirname(here);

function parseArgs(argv) {
  const opts = { large: false, out: null, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--large') opts.large = true;
    else if (a === '--out') opts.out = argv[++i];
    else if (a === '--only') opts.only = argv[++i].split(',');
    else if (a === '-h' || a === '--help') {
      console.log('usage: node samples/build-samples.mjs [--large] [--out dir] [--only name,...]');
      process.exit(0);
    } else {
      console.error(`build-samples: unknown argument '${a}'`);
      process.exit(2);
    }
  }
  return opts;
}

// Kiln element types the samples use as onnxruntime tensor types and typed arrays.
const ORT_TYPES = { f32: ['float32', Float32Array], i8: ['int8', Int8Array], u8: ['uint8', Uint8Array] };
const KILN_TYPES = { float32: 'f32', int8: 'i8', uint8: 'u8' };

async function expectedWithOnnxRuntime(modelPath, module, inputs) {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = {};
  module.graph.inputs.forEach((v, i) => {
    const [type, Arr] = ORT_TYPES[inputs[i].dtype];
    feeds[v.name] = new ort.Tensor(type, Arr.from(inputs[i].data), [...inputs[i].shape]);
  });
  const result = await session.run(feeds);
  return module.graph.outputs.map((v) => {
    const r = result[v.name];
    const dt = KILN_TYPES[r.type];
    return new Tensor(dt, [...r.dims], ORT_TYPES[dt][1].from(r.data));
  });
}

const kb = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

async function writeSample(build, outRoot) {
  const t0 = performance.now();
  const sample = build();
  const tBuild = performance.now();
  const dir = path.join(outRoot, sample.name);
  const data = path.join(dir, 'test_data_set_0');
  fs.mkdirSync(data, { recursive: true });
  const modelPath = path.join(dir, 'model.onnx');
  const bytes = exportOnnx(sample.module);
  fs.writeFileSync(modelPath, bytes);
  sample.inputs.forEach((t, i) => fs.writeFileSync(path.join(data, `input_${i}.pb`), encodeTensor(t, sample.module.graph.inputs[i].name)));
  const tWrite = performance.now();
  const outputs = await expectedWithOnnxRuntime(modelPath, sample.module, sample.inputs);
  const tOrt = performance.now();
  outputs.forEach((t, i) => fs.writeFileSync(path.join(data, `output_${i}.pb`), encodeTensor(t, sample.module.graph.outputs[i].name)));
  const nodes = sample.module.graph.nodes.length;
  const ms = (a, b) => `${((b - a) / 1000).toFixed(2)}s`;
  console.log(
    `${sample.name.padEnd(18)} ${String(sample.parameters).padStart(9)} params  ${String(nodes).padStart(4)} nodes  ` +
      `${kb(bytes.length).padStart(10)}  → ${path.relative(process.cwd(), dir) || '.'}  ` +
      `(build ${ms(t0, tBuild)}, write ${ms(tBuild, tWrite)}, onnxruntime ${ms(tWrite, tOrt)})`,
  );
}

const opts = parseArgs(process.argv.slice(2));
const registry = opts.large ? LARGE : SAMPLES;
const outRoot = path.resolve(opts.out ?? (opts.large ? path.join(repo, 'bench', 'models') : here));
const names = opts.only ?? Object.keys(registry);
for (const name of names) {
  const build = registry[name];
  if (!build) {
    console.error(`build-samples: unknown sample '${name}' (known: ${Object.keys(registry).join(', ')})`);
    process.exit(2);
  }
  await writeSample(build, outRoot);
}
