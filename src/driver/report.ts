/**
 * `kiln report`: compiles a model and writes one self-contained HTML page (inline CSS, SVG and a
 * few lines of JS; no network, no other files) with a summary, the compile pass timeline, the arena
 * over time, a roofline chart of the kernels and a per-kernel table from the analytical cost model.
 * Everything but the timings is deterministic; all model text is HTML-escaped.
 */
import { modelName } from './model-name.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '../ir/errors.js';
import { loadModel } from './load.js';
import { compileModule, compileTarget, type CompileOptions, type CompileReport } from './compile.js';
import { checkOutputFile, writeFileAtomic } from './output.js';
import { formatBytesExact } from './units.js';
import { memoryPlotSvg } from '../passes/memory-plot.js';
import { cIdent } from '../backends/c/render.js';
import type { CReport } from '../backends/c/emit.js';
import type { Roofline } from '../costmodel/roofline.js';
import { costTotals, kernelCosts, type KernelCost } from '../costmodel/kernel-cost.js';
import { escapeXml, passTimelineSvg, plottable, rooflineSvg, si, type PassTiming } from './report-charts.js';

export interface ReportOptions extends Pick<CompileOptions, 'board' | 'targetOptions' | 'inputShapes' | 'name' | 'memory' | 'timeLimitMs' | 'schedule'> {
  target: string;
  /** Measured time of this model from a `kiln bench --json` (or `--validate-costmodel --json`) file. */
  bench?: string;
  /** Host profile (src/costmodel/boards/hosts/): the `host` option of targets that have one (c). */
  host?: string;
}

/** What the page reads: the report of a target whose pipeline planned memory. */
type PlannedReport = CompileReport & Pick<CReport, 'kernels' | 'arenaBytes' | 'weightBytes' | 'memory'>;

/** A measured time read from a bench JSON for the page. */
export interface MeasuredTime {
  ms: number;
  file: string;
  what: string;
}

/**
 * The measured time of `model` in a bench JSON: a `kiln bench` row (cMs) or a `--validate-costmodel`
 * model (measuredMs) whose name is the model's folder name (bench names rows so). Null when absent.
 */
export function benchTime(file: string, model: string): MeasuredTime | null {
  let j: unknown;
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KilnError('io', `--bench ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const folder = path.basename(path.dirname(path.resolve(model)));
  const o = (typeof j === 'object' && j !== null ? j : {}) as { rows?: unknown; models?: unknown };
  const list = (x: unknown): Record<string, unknown>[] => (Array.isArray(x) ? x.filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null) : []);
  for (const r of list(o.models)) if (r.model === folder && typeof r.measuredMs === 'number') return { ms: r.measuredMs, file, what: 'kiln bench --validate-costmodel' };
  for (const r of list(o.rows)) if (r.model === folder && typeof r.cMs === 'number') return { ms: r.cMs, file, what: 'kiln bench (generated C)' };
  return null;
}

export interface ReportResult {
  html: string;
  measured: MeasuredTime | null;
  report: PlannedReport;
  costs: KernelCost[];
  roofline: Roofline;
  passes: PassTiming[];
  /** The target's own lines about the design (hls: folding table). */
  targetLines: string[];
}

/** report.passes when the compiler recorded it and it has the expected shape. */
function recordedPasses(report: CompileReport): PassTiming[] | null {
  const p = report.passes;
  if (!Array.isArray(p)) return null;
  const ok = p.every((x: unknown) => {
    const r = x as Record<string, unknown> | null;
    return typeof r === 'object' && r !== null && typeof r.name === 'string' && typeof r.ms === 'number' && (typeof r.level === 'string' || typeof r.level === 'number');
  });
  return ok ? (p as { name: string; level: string | number; ms: number }[]).map((r) => ({ name: r.name, level: String(r.level), ms: r.ms })) : null;
}

const timed = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const v = fn();
  return [v, performance.now() - t0];
};

export function buildReport(model: string, opts: ReportOptions): ReportResult {
  const copts = { ...opts, targetOptions: { ...opts.targetOptions, ...(opts.host !== undefined ? { host: opts.host } : {}) } };
  const target = compileTarget(copts);
  if (target.def.level !== 'kernel' || !target.def.roofline) throw new KilnError('unsupported', `target '${target.def.name}' has no device figures for a report (no roofline)`);
  const roofline = target.def.roofline(target.options);
  const [module, loadMs] = timed(() => loadModel(model));
  const [compiled, compileMs] = timed(() => compileModule(module, model, { ...copts, allowOverflow: true }));
  // a target without a memory plan (hls) reports its own design instead of the arena
  const targetLines = target.def.describe?.(compiled.report) ?? [];
  if ((!compiled.plan || !compiled.report.memory) && targetLines.length === 0) throw new KilnError('unsupported', `target '${target.def.name}' made no memory plan to report`);
  const report = compiled.report as PlannedReport;
  const program = compiled.program;
  const [costs, costMs] = timed(() => kernelCosts(program, roofline));
  const passes: PassTiming[] = [{ name: 'load', level: 'frontend', ms: loadMs }];
  const recorded = recordedPasses(report);
  if (recorded) passes.push(...recorded);
  else passes.push({ name: 'compile', level: 'compile', ms: compileMs });
  passes.push({ name: 'kernel cost', level: 'report', ms: costMs });
  const name = cIdent(opts.name ?? modelName(module.graph.name, model));
  const memorySvg = compiled.plan
    ? memoryPlotSvg(compiled.plan, { title: name })
        .replace(/^<\?xml[^>]*>\s*/, '')
        .replace('<svg ', '<svg id="memory-chart" class="chart" ')
    : '';
  const options = Object.entries(target.options).map(([k, v]) => `${k} ${v}`).join(', ');
  const measured = opts.bench !== undefined ? benchTime(opts.bench, model) : null;
  if (opts.bench !== undefined && !measured) throw new KilnError('usage', `--bench ${opts.bench}: no measured time for '${path.basename(path.dirname(path.resolve(model)))}' (rows are named by model folder)`);
  const html = renderHtml({ name, model: path.basename(model), report, costs, roofline, passes, memorySvg, targetLines, options: options || null, measured });
  return { html, report, costs, roofline, passes, targetLines, measured };
}

export function writeReport(model: string, out: string, opts: ReportOptions): ReportResult {
  checkOutputFile(out, { models: [model] });
  const r = buildReport(model, opts);
  writeFileAtomic(out, r.html, { models: [model] });
  return r;
}

interface Page {
  name: string;
  model: string;
  report: PlannedReport;
  costs: KernelCost[];
  roofline: Roofline;
  passes: PassTiming[];
  memorySvg: string;
  /** The target's own lines about the design (KernelTarget.describe), shown as a section. */
  targetLines: string[];
  /** The target's option values, e.g. 'board mps2-an386'. */
  options: string | null;
  measured: MeasuredTime | null;
}

const bytes = formatBytesExact;
const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '-');

/** The board rows of an mcu report, with the overflow marked: a report is most useful when it does not fit. */
function boardFit(r: PlannedReport): [string, string][] {
  const f = r as unknown as { fits?: { flash: boolean; sram: boolean }; flashBytes?: number; ramNeededBytes?: number; sizes?: string };
  if (!f.fits || f.flashBytes === undefined || f.ramNeededBytes === undefined) return [];
  const mark = (ok: boolean): string => (ok ? 'fits' : 'DOES NOT FIT');
  return [
    ['flash', `${bytes(f.flashBytes)}: ${mark(f.fits.flash)}`],
    ['SRAM needed', `${bytes(f.ramNeededBytes)}: ${mark(f.fits.sram)}`],
    ['sizes', (r as unknown as { sizeSummary?: string }).sizeSummary ?? f.sizes ?? '-'],
  ];
}

function summaryRows(p: Page): [string, string][] {
  const r = p.report;
  const m = r.memory as PlannedReport['memory'] | undefined;
  const t = costTotals(p.costs);
  const solver = m?.solver as { status?: unknown; gap?: unknown; message?: unknown } | undefined;
  const solverText = solver ? `${String(solver.status)}${typeof solver.gap === 'number' ? `, gap ${(100 * solver.gap).toFixed(2)}%` : ''}${typeof solver.message === 'string' ? ` (${solver.message})` : ''}` : '-';
  const strategies = Object.entries((m?.strategies ?? {}) as Record<string, unknown>).map(([k, v]) => `${k} ${typeof v === 'number' ? bytes(v) : String(v)}`).join(', ');
  const rows: [string, string][] = [
    ['model', p.model],
    ['target', `${r.target}${p.options ? ` (${p.options})` : ''}`],
    ['kernels', String(r.kernels ?? p.costs.length)],
  ];
  if (m) rows.push(
    ['arena', `${bytes(r.arenaBytes)}: ${pct(r.arenaBytes, m.lowerBoundBytes)} of the live-set lower bound ${bytes(m.lowerBoundBytes)}`],
    ['weights', bytes(r.weightBytes)],
    ...boardFit(r),
    ['memory strategy', `${m.strategy} (order: ${m.order})`],
    ['strategies tried', strategies || '-'],
    ['memory ILP solver', solverText],
  );
  rows.push(
    ['operations', `${si(t.ops, 'ops')} (${t.flops} flop, ${t.intOps} integer)`],
    ['bytes loaded and stored', bytes(t.bytes)],
    ['estimated time (roofline bound)', `${si(t.estSeconds, 's')} (${si(t.estCycles, 'cycles')}); ${t.computeBound} kernels compute bound, ${t.memoryBound} memory bound${t.exact ? '' : '; some counts are estimates'}`],
    ...(p.measured
      ? [['measured', `${si(p.measured.ms / 1000, 's')} per inference (${p.measured.what}, ${p.measured.file}); predicted/measured: roofline ${(t.estSeconds / (p.measured.ms / 1000)).toFixed(2)}${t.reuseSeconds !== null ? `, reuse-aware ${(t.reuseSeconds / (p.measured.ms / 1000)).toFixed(2)}` : ''}`] as [string, string]]
      : []),
    ...(t.reuseSeconds !== null ? [['reuse-aware estimate', `${si(t.reuseSeconds, 's')} (bytes per cache level from the loop nests' footprints, vector width, lower bounds: docs/costmodel.md)`] as [string, string]] : []),
    ['roofline figures', `${p.roofline.name}: ${si(p.roofline.clockHz, 'Hz')}, ${p.roofline.flopsPerCycle} flop/cycle, ${p.roofline.intOpsPerCycle} int op/cycle, ${p.roofline.bytesPerCycle} B/cycle`],
    ['figures from', p.roofline.source],
  );
  if (typeof r.compileMs === 'number') rows.push(['compile time', `${r.compileMs} ms`]);
  return rows;
}

/** The reuse-aware model's cells (memory-model.ts): estimate, what bounds it, traffic past L1, the kernel's lower bound and the distance from it. */
function reuseCells(c: KernelCost): [string, number | string][] {
  const r = c.reuse;
  if (!r) return [['-', -1], ['-', ''], ['-', -1], ['-', ''], ['-', -1]];
  const past = r.levels.slice(1).map((l) => `${l.name} ${l.bytes.toFixed(0)}`).join(', ');
  const bound = r.lowerBound.kind === 'contraction' ? `contraction, ${r.lowerBound.macs} MACs` : `compulsory ${r.lowerBound.compulsoryBytes} B`;
  return [[si(r.estSeconds, 's'), r.estSeconds], [r.bound, r.bound], [past, r.levels.slice(1).reduce((a, l) => a + l.bytes, 0)], [bound, r.lowerBound.cycles], [`${r.boundDistance.toFixed(2)}x`, r.boundDistance]];
}

function kernelTable(costs: readonly KernelCost[]): string {
  const head = ['#', 'kernel', 'node', 'op', 'ops', 'flop', 'int ops', 'bytes', 'intensity (ops/B)', 'est. time', 'bound', 'buffer bytes', 'reuse est.', 'reuse bound', 'bytes past L1', 'lower bound', 'x own bound'];
  const rows = costs.map((c, i) => {
    const cells: [string, number | string][] = [
      [String(i), i],
      [c.name, c.name],
      [c.node, c.node],
      [c.op, c.op],
      [String(c.ops), c.ops],
      [String(c.flops), c.flops],
      [String(c.intOps), c.intOps],
      [String(c.bytes), c.bytes],
      [c.intensity === null ? '-' : c.intensity.toFixed(3), c.intensity ?? -1],
      [si(c.estSeconds, 's'), c.estSeconds],
      [c.exact ? c.bound : `${c.bound}*`, c.bound],
      [String(c.bufferBytes), c.bufferBytes],
      ...reuseCells(c),
    ];
    const title = c.exact ? '' : ` title="${escapeXml(`estimated: ${c.estimates.join('; ')}`)}"`;
    return `<tr${title}>${cells.map(([text, key]) => `<td data-key="${escapeXml(String(key))}">${escapeXml(text)}</td>`).join('')}</tr>`;
  });
  return `<table id="kernel-table" class="data"><thead><tr>${head.map((h, i) => `<th data-col="${i}" data-num="${[1, 2, 3, 10, 13, 15].includes(i) ? '0' : '1'}">${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#111827}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
table.data{border-collapse:collapse;font-size:12px}
table.data td,table.data th{border:1px solid #e5e7eb;padding:3px 6px;text-align:right}
table.data td:nth-child(-n+4),table.data th:nth-child(-n+4){text-align:left}
table.data th{background:#f3f4f6;cursor:pointer;user-select:none}
table.summary th{text-align:left;padding:2px 12px 2px 0;vertical-align:top;white-space:nowrap}
table.summary td{padding:2px 0}
svg.chart{max-width:100%;height:auto;display:block}
p.note{color:#4b5563;font-size:12px}
`;

// sorts the kernel table by a clicked column (numeric columns by their data-key)
const JS = `
(function(){
  var t=document.getElementById('kernel-table');if(!t)return;
  var dir={};
  t.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){
    var col=+th.getAttribute('data-col'),num=th.getAttribute('data-num')==='1';
    dir[col]=-(dir[col]||-1);
    var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[col].getAttribute('data-key'),y=b.cells[col].getAttribute('data-key');
      var c=num?(+x)-(+y):(x<y?-1:x>y?1:0);return c*dir[col];
    });
    rows.forEach(function(r){body.appendChild(r);});
  });});
})();
`;

function renderHtml(p: Page): string {
  const plotted = p.costs.filter(plottable).length;
  const unplotted = p.costs.length - plotted;
  const summary = summaryRows(p).map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kiln report: ${escapeXml(p.name)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>Kiln report: ${escapeXml(p.name)}</h1>
<section id="summary">
<h2>Summary</h2>
<table class="summary">
${summary}
</table>
</section>
<section id="passes">
<h2>Compile passes</h2>
${passTimelineSvg(p.passes)}
<p class="note">Wall-clock time of each compile pass in pipeline order (timings vary from run to run).</p>
</section>
${p.targetLines.length ? `<section id="design">
<h2>Design (${escapeXml(p.report.target)})</h2>
<pre>${escapeXml(p.targetLines.join('\n'))}</pre>
</section>` : ''}
${p.memorySvg ? `<section id="memory">
<h2>Memory: the arena over time</h2>
${p.memorySvg}
<p class="note">x: kernel step, y: byte offset in the arena; one rectangle per buffer while it is live (hover for name, size, offset and lifetime).</p>
</section>` : ''}
<section id="roofline">
<h2>Roofline</h2>
${rooflineSvg(p.costs, p.roofline)}
<p class="note">One dot per kernel at (operations per byte, operations per estimated second); hover for details. ${plotted} kernels plotted${unplotted > 0 ? `; ${unplotted} without arithmetic or without memory traffic are in the table only` : ''}. Estimated time per kernel = max(compute cycles, bytes / bandwidth) from the peak figures of ${escapeXml(p.roofline.name)}, a lower bound on the real time, so every dot sits on its roof; what the chart shows is where each kernel sits against the ridge. Bytes count every scalar load and store (no caches).</p>
</section>
<section id="kernels">
<h2>Kernels</h2>
${kernelTable(p.costs)}
<p class="note">Click a column to sort. A bound marked * rests on estimated counts (hover the row for the rule used). Buffer bytes: the distinct buffers the kernel reads or writes.</p>
</section>
<script>${JS}</script>
</body>
</html>
`;
}
