/**
 * The page of `kiln serve`: drop an ONNX file (or pick a served sample), see its graph IR, kernel IR
 * and WGSL, run it on the browser's WebGPU with timings. The compiler runs in the page (/kiln.js,
 * src/browser/compiler.ts bundled by esbuild); every request goes to the serving origin. Plain
 * JavaScript: the project's TypeScript has no DOM types.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Kiln: ONNX to WebGPU</title>
<link rel="icon" href="data:,">
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; max-width: 80em; }
#drop { border: 2px dashed #888; padding: 1.5em; text-align: center; border-radius: 6px; }
#drop.over { background: #eef; }
pre { background: #f6f6f6; padding: .6em; overflow: auto; max-height: 24em; font-size: 12px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: right; }
#status.error { color: #b00; } #status.ok { color: #070; }
</style>
</head>
<body>
<h1>Kiln: ONNX → WGSL on WebGPU</h1>
<div id="drop">Drop an ONNX model here, or <input type="file" id="file" accept=".onnx">
  <p>or a sample: <select id="samples"><option value="">—</option></select></p></div>
<p><button id="run" disabled>Run on WebGPU</button> <span id="status">loading the compiler…</span></p>
<table id="timings"></table>
<h2>Graph IR</h2><pre id="graph"></pre>
<h2>Kernel IR</h2><pre id="kernels"></pre>
<h2>WGSL</h2><div id="wgsl"></div>
<script type="module" src="/app.js"></script>
</body>
</html>
`;

export const PAGE_JS = `import { compileOnnxForWebGpu, createModel, decodeTensorFile, inputBytes, outputTensor } from '/kiln.js';

const $ = (id) => document.getElementById(id);
let current = null;

function status(text, cls = '') {
  $('status').textContent = text;
  $('status').className = cls;
}

function timings(rows) {
  $('timings').innerHTML = '<tr><th>phase</th><th>ms</th></tr>' + rows.map(([k, v]) => '<tr><td style="text-align:left">' + k + '</td><td>' + v.toFixed(2) + '</td></tr>').join('');
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return new Uint8Array(await r.arrayBuffer());
}

// deterministic inputs for a dropped model: small values of each input's type
function syntheticInput(info) {
  const n = info.shape.reduce((a, b) => a * b, 1);
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296);
  if (info.dtype === 'f32' || info.dtype === 'f64') return Float32Array.from({ length: n }, () => next() * 2 - 1);
  return new Uint8Array(info.bytes).map(() => Math.floor(next() * 4));
}

function compile(bytes, inputs, expected, name) {
  const c = compileOnnxForWebGpu(bytes, inputs);
  current = { c, inputs, expected, name };
  $('graph').textContent = c.graph;
  $('kernels').textContent = c.kernelIr;
  $('wgsl').innerHTML = '';
  for (const k of c.manifest.kernels) {
    const d = document.createElement('details');
    const s = document.createElement('summary');
    s.textContent = k.name + ' (' + k.entries.length + ' dispatch' + (k.entries.length === 1 ? '' : 'es') + ')';
    const p = document.createElement('pre');
    p.textContent = k.code;
    d.append(s, p);
    $('wgsl').append(d);
  }
  timings([['import', c.ms.import], ['passes', c.ms.passes], ['WGSL', c.ms.emit]]);
  $('run').disabled = false;
  status('compiled ' + name + ': ' + c.manifest.kernels.length + ' kernels');
  return c;
}

function compare(got, want) {
  let worst = 0;
  const a = got.data, b = want.data;
  if (a.length !== b.length) return { ok: false, message: 'length ' + a.length + ' vs ' + b.length };
  for (let i = 0; i < b.length; i++) {
    const x = Number(a[i]), y = Number(b[i]);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    const err = Math.abs(x - y);
    if (!(err <= 1e-5 + 1e-3 * Math.abs(y))) return { ok: false, message: 'at ' + i + ': ' + x + ', expected ' + y };
    worst = Math.max(worst, err);
  }
  return { ok: true, maxAbsError: worst };
}

async function run(repeats = 5) {
  if (!current) throw new Error('no model compiled');
  if (!navigator.gpu) throw new Error('this browser has no WebGPU (navigator.gpu)');
  const { c, inputs, expected } = current;
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice();
  try {
    const t0 = performance.now();
    const model = await createModel(device, c.manifest, c.weights, true);
    const t1 = performance.now();
    const feeds = c.manifest.inputs.map((info, i) => (inputs[i] ? inputBytes(inputs[i]) : syntheticInput(info)));
    const times = [];
    let outs;
    for (let r = 0; r < repeats; r++) {
      const s = performance.now();
      outs = await model.run(feeds);
      times.push(performance.now() - s);
    }
    model.destroy();
    times.sort((a, b) => a - b);
    timings([['import', c.ms.import], ['passes', c.ms.passes], ['WGSL', c.ms.emit], ['pipelines', t1 - t0], ['first run', times[times.length - 1]], ['run (median of ' + repeats + ')', times[Math.floor(times.length / 2)]]]);
    const results = outs.map((o, i) => outputTensor(c.program, i, o));
    const checks = expected ? expected.map((e, i) => compare(results[i], e)) : [];
    const ok = checks.every((x) => x.ok);
    const median = times[Math.floor(times.length / 2)];
    status(expected ? (ok ? 'outputs equal the expected ones' : 'MISMATCH: ' + checks.find((x) => !x.ok).message) + ' (' + median.toFixed(2) + ' ms per run)' : 'ran in ' + median.toFixed(2) + ' ms (median)', expected && !ok ? 'error' : 'ok');
    return { ok, compared: checks.length, checks, medianMs: median, pipelineMs: t1 - t0, kernels: c.manifest.kernels.length };
  } finally {
    device.destroy();
  }
}

async function loadSample(name) {
  const base = '/samples/' + encodeURIComponent(name) + '/';
  const list = await (await fetch('/samples.json')).json();
  const s = list.find((x) => x.name === name);
  if (!s) throw new Error('no sample ' + name);
  const inputs = await Promise.all(s.inputs.map(async (f) => decodeTensorFile(await fetchBytes(base + f))));
  const expected = await Promise.all(s.outputs.map(async (f) => decodeTensorFile(await fetchBytes(base + f))));
  return compile(await fetchBytes(base + 'model.onnx'), inputs, expected, name);
}

async function guarded(f) {
  try {
    return await f();
  } catch (e) {
    status(String(e && e.message ? e.message : e), 'error');
    throw e;
  }
}

// for scripts driving the page (tests): compile a served sample in the page, run it, compare
window.kiln = {
  loadSample: (name) => guarded(() => loadSample(name)).then((c) => ({ kernels: c.manifest.kernels.length, wgslBytes: c.manifest.kernels.reduce((a, k) => a + k.code.length, 0) })),
  run: (repeats) => guarded(() => run(repeats)),
};

$('file').addEventListener('change', () => { const f = $('file').files[0]; if (f) f.arrayBuffer().then((b) => guarded(() => compile(new Uint8Array(b), [], null, f.name))); });
$('drop').addEventListener('dragover', (e) => { e.preventDefault(); $('drop').classList.add('over'); });
$('drop').addEventListener('dragleave', () => $('drop').classList.remove('over'));
$('drop').addEventListener('drop', (e) => {
  e.preventDefault();
  $('drop').classList.remove('over');
  const f = e.dataTransfer.files[0];
  if (f) f.arrayBuffer().then((b) => guarded(() => compile(new Uint8Array(b), [], null, f.name)));
});
$('samples').addEventListener('change', () => { if ($('samples').value) guarded(() => loadSample($('samples').value)); });
$('run').addEventListener('click', () => guarded(() => run()));
fetch('/samples.json').then((r) => r.json()).then((list) => {
  for (const s of list) {
    const o = document.createElement('option');
    o.value = o.textContent = s.name;
    $('samples').append(o);
  }
  status(navigator.gpu ? 'ready' : 'ready (no WebGPU in this browser: compiling only)');
  document.body.dataset.ready = '1';
});
`;

/** What the bundle gets for Node built-ins: each function says it is not there (none is called on the page's path). */
export const NODE_STUB_JS = `const missing = (name) => () => { throw new Error(name + ' is not available in the browser'); };
export const readFileSync = missing('fs.readFileSync');
export const existsSync = () => false;
export const readdirSync = missing('fs.readdirSync');
export const createRequire = missing('module.createRequire');
export const fileURLToPath = missing('url.fileURLToPath');
export const inflateSync = missing('zlib.inflateSync');
export const Worker = missing('worker_threads.Worker');
export const MessageChannel = missing('worker_threads.MessageChannel');
export const receiveMessageOnPort = missing('worker_threads.receiveMessageOnPort');
export const isMainThread = true;
export const join = (...p) => p.join('/');
export const dirname = (p) => p.replace(/\\/[^/]*$/, '');
export const resolve = (...p) => p.join('/');
export const basename = (p) => p.replace(/^.*\\//, '');
export default {};
`;
