// Trains the `digits` sample: an MLP (64 → 64 → 32 → 10, ReLU) on scikit-learn's bundled 8×8
// handwritten digits (1797 images, UCI ML hand-written digits test set), deterministically (fixed
// seed, plain JS arithmetic, no threads), and writes the model and its data next to this script:
//
//   model.onnx                              Gemm/Relu graph, input [120, 64] f32 (pixels / 16), logits [120, 10]
//   test_data_set_{0,1,2}/input_0.pb        the held-out test split (360 images), 3 batches of 120
//   test_data_set_{0,1,2}/output_0.pb       the float model's logits from onnxruntime-node
//   calibration/test_data_set_{0,1,2}/input_0.pb   360 training images (3 batches) for `kiln quantize`
//   labels.json                             the true classes of the test split (and the calibration images)
//
// Needs `npm run build` (the model is written with Kiln's ONNX exporter from dist/) and the digits
// data file that scikit-learn ships (Debian: apt-get install python3-sklearn); `--csv <file>` names
// another copy. Nothing here is needed to use the committed files: CI reads them, it never trains.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Graph, Module, Node, Value, Tensor, tensorType, exportOnnx, encodeTensor } from '../../dist/index.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const args = process.argv.slice(2);
const csvArg = args.indexOf('--csv');
const CSV = csvArg >= 0 ? args[csvArg + 1] : '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz';

const SEED = 20261205;
const BATCH = 120; // the model's static batch: 3 test batches, 3 calibration batches
const TEST = 3 * BATCH;
const CALIB = 3 * BATCH;
const HIDDEN = [64, 32];
const EPOCHS = 60;
const LR = 0.05;
const MOMENTUM = 0.9;
const MINIBATCH = 32;
const WEIGHT_DECAY = 1e-4;

/** Deterministic numbers in [0, 1) (LCG; the high bits). */
function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const rand = lcg(SEED);

function loadDigits(file) {
  const text = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8');
  const rows = text.trim().split('\n').map((l) => l.split(',').map(Number));
  if (rows.length !== 1797 || rows.some((r) => r.length !== 65)) throw new Error(`${file}: expected 1797 rows of 64 pixels + label`);
  return { x: rows.map((r) => r.slice(0, 64).map((p) => p / 16)), y: rows.map((r) => r[64]) };
}

function shuffle(n) {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

// ---------------------------------------------------------------- the network (float64 while training)

const sizes = [64, ...HIDDEN, 10];
const layers = sizes.slice(1).map((out, l) => {
  const inp = sizes[l];
  const bound = Math.sqrt(6 / inp); // He uniform
  return {
    inp, out,
    w: Float64Array.from({ length: out * inp }, () => (2 * rand() - 1) * bound), // [out, in]
    b: new Float64Array(out),
    vw: new Float64Array(out * inp),
    vb: new Float64Array(out),
  };
});

function forward(x) {
  const acts = [x];
  let a = x;
  layers.forEach((L, l) => {
    const z = new Float64Array(L.out);
    for (let o = 0; o < L.out; o++) {
      let s = L.b[o];
      for (let i = 0; i < L.inp; i++) s += L.w[o * L.inp + i] * a[i];
      z[o] = l < layers.length - 1 ? Math.max(0, s) : s;
    }
    acts.push(z);
    a = z;
  });
  return acts;
}

function trainStep(batch, X, Y) {
  const gw = layers.map((L) => new Float64Array(L.w.length));
  const gb = layers.map((L) => new Float64Array(L.b.length));
  for (const k of batch) {
    const acts = forward(X[k]);
    const logits = acts[acts.length - 1];
    const m = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    let delta = e.map((v, c) => v / sum - (c === Y[k] ? 1 : 0));
    for (let l = layers.length - 1; l >= 0; l--) {
      const L = layers[l];
      const a = acts[l];
      const prev = new Float64Array(L.inp);
      for (let o = 0; o < L.out; o++) {
        gb[l][o] += delta[o];
        for (let i = 0; i < L.inp; i++) {
          gw[l][o * L.inp + i] += delta[o] * a[i];
          prev[i] += L.w[o * L.inp + i] * delta[o];
        }
      }
      if (l > 0) delta = prev.map((d, i) => (acts[l][i] > 0 ? d : 0));
    }
  }
  layers.forEach((L, l) => {
    for (let j = 0; j < L.w.length; j++) {
      L.vw[j] = MOMENTUM * L.vw[j] - LR * (gw[l][j] / batch.length + WEIGHT_DECAY * L.w[j]);
      L.w[j] += L.vw[j];
    }
    for (let j = 0; j < L.b.length; j++) {
      L.vb[j] = MOMENTUM * L.vb[j] - LR * (gb[l][j] / batch.length);
      L.b[j] += L.vb[j];
    }
  });
}

const argmax = (a) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);
const accuracy = (X, Y) => X.filter((x, k) => argmax(forward(x).at(-1)) === Y[k]).length / X.length;

// ---------------------------------------------------------------- data split and training

const { x, y } = loadDigits(CSV);
const perm = shuffle(x.length);
const testIdx = perm.slice(0, TEST);
const trainIdx = perm.slice(TEST);
const Xtr = trainIdx.map((i) => x[i]);
const Ytr = trainIdx.map((i) => y[i]);
const Xte = testIdx.map((i) => x[i]);
const Yte = testIdx.map((i) => y[i]);

for (let epoch = 0; epoch < EPOCHS; epoch++) {
  const order = shuffle(Xtr.length);
  for (let s = 0; s < order.length; s += MINIBATCH) trainStep(order.slice(s, s + MINIBATCH), Xtr, Ytr);
  if ((epoch + 1) % 10 === 0) console.log(`epoch ${epoch + 1}: train accuracy ${(100 * accuracy(Xtr, Ytr)).toFixed(2)}%, test ${(100 * accuracy(Xte, Yte)).toFixed(2)}%`);
}

// ---------------------------------------------------------------- ONNX model and data files

function buildModule() {
  const f32 = (name, shape, data) => {
    const v = new Value(name, tensorType('f32', shape));
    v.init = new Tensor('f32', shape, Float32Array.from(data));
    return v;
  };
  const input = new Value('pixels', tensorType('f32', [BATCH, 64]));
  const inits = [];
  const nodes = [];
  let h = input;
  layers.forEach((L, l) => {
    const name = `fc${l + 1}`;
    const w = f32(`${name}.weight`, [L.out, L.inp], L.w);
    const b = f32(`${name}.bias`, [L.out], L.b);
    inits.push(w, b);
    const last = l === layers.length - 1;
    const out = new Value(last ? 'logits' : `${name}.out`, last ? tensorType('f32', [BATCH, 10]) : null);
    const n = new Node('Gemm', '', name, [h, w, b], [out], new Map([['transB', { kind: 'int', value: 1 }]]));
    out.producer = n;
    nodes.push(n);
    h = out;
    if (!last) {
      const r = new Value(`relu${l + 1}.out`, null);
      const rn = new Node('Relu', '', `relu${l + 1}`, [h], [r]);
      r.producer = rn;
      nodes.push(rn);
      h = r;
    }
  });
  return new Module(new Graph('digits_mlp', [input], [h], nodes, inits), new Map([['', 13]]), 8, 'kiln-samples');
}

const batchTensor = (X, from) => new Tensor('f32', [BATCH, 64], Float32Array.from(X.slice(from, from + BATCH).flat()));

const module = buildModule();
const modelPath = path.join(here, 'model.onnx');
fs.writeFileSync(modelPath, exportOnnx(module));

const ort = await import('onnxruntime-node');
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
let correct = 0;
for (let k = 0; k < TEST / BATCH; k++) {
  const dir = path.join(here, `test_data_set_${k}`);
  fs.mkdirSync(dir, { recursive: true });
  const t = batchTensor(Xte, k * BATCH);
  fs.writeFileSync(path.join(dir, 'input_0.pb'), encodeTensor(t, 'pixels'));
  const r = (await session.run({ pixels: new ort.Tensor('float32', t.data, t.shape) })).logits;
  fs.writeFileSync(path.join(dir, 'output_0.pb'), encodeTensor(new Tensor('f32', [...r.dims], Float32Array.from(r.data)), 'logits'));
  for (let i = 0; i < BATCH; i++) if (argmax(Array.from(r.data.slice(i * 10, i * 10 + 10))) === Yte[k * BATCH + i]) correct++;
}
for (let k = 0; k < CALIB / BATCH; k++) {
  const dir = path.join(here, 'calibration', `test_data_set_${k}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'input_0.pb'), encodeTensor(batchTensor(Xtr, k * BATCH), 'pixels'));
}
fs.writeFileSync(path.join(here, 'labels.json'), `${JSON.stringify({ test: Yte, calibration: Ytr.slice(0, CALIB) })}\n`);
console.log(`float model (onnxruntime, f32): test accuracy ${((100 * correct) / TEST).toFixed(2)}% on ${TEST} images`);
