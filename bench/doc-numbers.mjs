#!/usr/bin/env node
/**
 * The numbers the docs quote come from Kiln's own commands, through this script, so they cannot
 * drift from what the commands print:
 *
 *   node bench/doc-numbers.mjs record   runs the commands (kiln inspect/compile --json) and writes bench/doc-numbers.json
 *   node bench/doc-numbers.mjs write    rewrites the marked tables in the docs from that file and the bench JSONs
 *   node bench/doc-numbers.mjs check    exits 1, naming the block, when a marked table differs from what `write` gives
 *   (--numbers FILE: another numbers file; --only a,b: record only these samples)
 *
 * A marked table sits between `<!-- numbers:NAME -->` and `<!-- /numbers -->`; everything else in
 * the docs is prose. tests/doc-numbers.test.ts runs `check`, and compares a fresh `record` with the
 * committed file where the tools it needs (arm-none-eabi-gcc) are installed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NUMBERS = path.join(root, 'bench/doc-numbers.json');
const BOARD = 'stm32f446';
/** Samples compiled for the board (int8 deployments first), and the f32 ones it must refuse. */
const MCU_SAMPLES = ['kws-dscnn-int8', 'resnet8-int8', 'vww-mobilenet-int8', 'ad-autoencoder-int8', 'kws-dscnn', 'transformer-block', 'mlp'];
const INT8_TWINS = { 'kws-dscnn-int8': 'kws-dscnn', 'resnet8-int8': 'resnet8', 'vww-mobilenet-int8': 'vww-mobilenet', 'ad-autoencoder-int8': 'ad-autoencoder' };

function kiln(args) {
  try {
    return { code: 0, stdout: execFileSync(process.execPath, [path.join(root, 'bin/kiln.js'), ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (e) {
    return { code: e.status ?? 1, stdout: String(e.stdout ?? ''), stderr: String(e.stderr ?? '') };
  }
}

/** One sample on the board: what `kiln compile --target mcu --json` reports, or the numbers of its refusal. */
function mcuEntry(sample, tmp) {
  const model = path.join('samples', sample, 'model.onnx');
  const r = kiln(['compile', model, '--target', 'mcu', '--board', BOARD, '-o', path.join(tmp, sample), '--json']);
  const base = {};
  if (r.code === 0) {
    const rep = JSON.parse(r.stdout);
    return { ...base, fits: true, arenaBytes: rep.arenaBytes, weightBytes: rep.weightBytes, flashBytes: rep.flashBytes, ramNeededBytes: rep.ramNeededBytes };
  }
  const needs = (what) => {
    const m = new RegExp(`needs (\\d+) B of ${what}`).exec(r.stderr);
    return m ? Number(m[1]) : null;
  };
  if (needs('SRAM') === null && needs('flash') === null) throw new Error(`${sample}: kiln compile failed: ${r.stderr.trim()}`);
  return { ...base, fits: false, sramNeededBytes: needs('SRAM'), flashNeededBytes: needs('flash') };
}

/** Runs the commands for every sample the docs quote (or just `only`). */
export function record(only = null) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-doc-numbers-'));
  try {
    const mcu = {};
    const all = [...MCU_SAMPLES, ...Object.values(INT8_TWINS).filter((s) => !MCU_SAMPLES.includes(s))];
    for (const s of all) if (only === null || only.includes(s)) mcu[s] = mcuEntry(s, tmp);
    return { board: BOARD, mcu };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const bytes = (n) => `${n.toLocaleString('en-US')} B`;
/** Three significant digits, never 0.00 for a tiny model (as `kiln bench` prints). */
const ms = (x) => (x === null || x === undefined ? '—' : x >= 100 ? x.toFixed(1) : x.toPrecision(3));
const ratio = (x) => (x === null || x === undefined ? '—' : `${x >= 0.01 ? x.toFixed(2) : x.toPrecision(3)}×`);

function refusal(e) {
  const parts = [];
  if (e.sramNeededBytes !== null) parts.push(`${bytes(e.sramNeededBytes)} of SRAM`);
  if (e.flashNeededBytes !== null) parts.push(`${bytes(e.flashNeededBytes)} of flash`);
  return `refused: needs ${parts.join(', ')}`;
}

/** Each marked table, by name, as `write` renders it. */
export function renderBlocks(numbers) {
  const mcu = numbers.mcu;
  const label = (s) => (s.endsWith('-int8') ? `\`${s}\`` : `\`${s}\` (f32)`);
  const mcuRows = MCU_SAMPLES.map((s) => {
    const e = mcu[s];
    return `| ${label(s)} | ${bytes(e.arenaBytes)} | ${bytes(e.weightBytes)} | ${bytes(e.flashBytes)} | ${bytes(e.ramNeededBytes)} |`;
  });
  const int8Rows = Object.entries(INT8_TWINS).map(([q, f]) => {
    const e = mcu[q];
    const t = mcu[f];
    const twin = t.fits ? `fits (arena ${bytes(t.arenaBytes)}, flash ${bytes(t.flashBytes)})` : refusal(t);
    return `| \`${q}\` | ${bytes(e.arenaBytes)} | ${bytes(e.weightBytes)} | ${bytes(e.flashBytes)} | ${bytes(e.ramNeededBytes)} | ${twin} |`;
  });
  const benchTable = (file) => {
    const j = JSON.parse(fs.readFileSync(path.join(root, file), 'utf8'));
    const rows = j.rows.map((r) => (r.status === 'ok'
      ? `| ${r.model} | ${r.compileMs} | ${r.arenaBytes} | ${r.weightBytes} | ${ms(r.cMs)} | ${ms(r.ortMs)} | ${ratio(r.ratio)} |`
      : `| ${r.model} | ${r.status} | | | | | |`));
    return ['| model | compile ms | arena B | weights B | C ms | ORT ms | C/ORT |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |', ...rows].join('\n');
  };
  const wgslTable = (file) => {
    const j = JSON.parse(fs.readFileSync(path.join(root, file), 'utf8'));
    const err = (x) => (x === null || x === undefined ? '—' : x === 0 ? '0' : x.toExponential(1));
    const rows = j.rows.map((r) => (r.status === 'ok'
      ? `| ${r.model} | ${r.kernels} | ${ms(r.kilnMs)} | ${ms(r.ortMs)} | ${ratio(r.ratio)} | ${err(r.kilnMaxAbsError)} | ${err(r.ortMaxAbsError)} |`
      : `| ${r.model} | ${r.status} | | | | | |`));
    return [`Measured on ${j.adapter} in ${j.browser}; ${j.ort}.`, '', '| model | kernels | Kiln ms | ORT-web ms | Kiln/ORT | Kiln max err | ORT max err |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |', ...rows].join('\n');
  };
  const refused = Object.values(INT8_TWINS).filter((f) => !mcu[f].fits).map((f) => `\`${f}\` (${refusal(mcu[f]).slice('refused: '.length)})`);
  return {
    'mcu-samples': ['| sample | arena | weights | flash | SRAM needed |', '| --- | ---: | ---: | ---: | ---: |', ...mcuRows].join('\n'),
    'mcu-refused': `The f32 ${refused.join(', ')} do not fit ${numbers.board} and are refused in one line.`,
    'int8-samples': ['| sample | arena | weights | flash (measured) | SRAM needed | f32 sample on stm32f446 |', '| --- | ---: | ---: | ---: | ---: | --- |', ...int8Rows].join('\n'),
    'bench-f32': benchTable('bench/results.json'),
    'bench-int8': benchTable('bench/results-int8.json'),
    'bench-wgsl': wgslTable('bench/results-wgsl.json'),
  };
}

export const DOCS = ['README.md', 'samples/README.md', 'bench/README.md'];
const BLOCK = /<!-- numbers:([a-z0-9-]+) -->\n([\s\S]*?)\n?<!-- \/numbers -->/g;

/** The docs with every marked block replaced; unknown block names are an error. */
export function rewrite(text, blocks, file) {
  return text.replace(BLOCK, (_all, name) => {
    if (!(name in blocks)) throw new Error(`${file}: unknown numbers block '${name}' (known: ${Object.keys(blocks).join(', ')})`);
    return `<!-- numbers:${name} -->\n${blocks[name]}\n<!-- /numbers -->`;
  });
}

/** Names of the blocks that differ from what `write` would give, as `file: name`. */
export function stale(numbers) {
  const blocks = renderBlocks(numbers);
  const out = [];
  for (const f of DOCS) {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    for (const m of text.matchAll(BLOCK)) {
      if (!(m[1] in blocks) || rewrite(m[0], blocks, f) !== m[0]) out.push(`${f}: ${m[1]}`);
    }
  }
  return out;
}

/** `--name value` from the command line. */
function flag(name) {
  const i = process.argv.indexOf(name);
  return i < 0 ? null : process.argv[i + 1] ?? null;
}

function main() {
  const cmd = process.argv[2];
  // --numbers FILE reads (or, with record, writes) another numbers file; --only a,b records some samples
  const numbersFile = flag('--numbers') ?? NUMBERS;
  if (cmd === 'record') {
    fs.writeFileSync(numbersFile, `${JSON.stringify(record(flag('--only')?.split(',') ?? null), null, 2)}\n`);
    process.stdout.write(`wrote ${numbersFile}\n`);
    return;
  }
  const numbers = JSON.parse(fs.readFileSync(numbersFile, 'utf8'));
  if (cmd === 'write') {
    const blocks = renderBlocks(numbers);
    for (const f of DOCS) {
      const p = path.join(root, f);
      const text = fs.readFileSync(p, 'utf8');
      const next = rewrite(text, blocks, f);
      if (next !== text) fs.writeFileSync(p, next);
    }
    return;
  }
  if (cmd === 'check') {
    const bad = stale(numbers);
    if (bad.length > 0) {
      process.stderr.write(`stale numbers in ${bad.join(', ')}: run node bench/doc-numbers.mjs record, then write\n`);
      process.exit(1);
    }
    return;
  }
  process.stderr.write('usage: node bench/doc-numbers.mjs record|write|check [--numbers file] [--only sample,…]\n');
  process.exit(2);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
