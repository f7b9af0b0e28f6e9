/** `kiln report`: one self-contained HTML page, checked in headless Chromium (skipped when it is not installed). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import '../src/index.js';
import { buildReport, writeReport } from '../src/driver/report.js';
import { plottable } from '../src/driver/report-charts.js';
import { kiln, node, tempDir, vi, writeModel } from './helpers/onnx-builder.js';

const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
const kws = path.resolve('samples/kws-dscnn/model.onnx');
const HOSTILE = '<img src=x onerror="window.pwned=1">&amp;\'"';

interface PageCheck {
  problems: string[];
  requests: string[];
  counts: Record<string, number>;
  boxes: Record<string, { w: number; h: number }>;
  text: string;
  sortedOps: string[];
  pwned: boolean;
}

async function openReport(browser: Browser, file: string): Promise<PageCheck> {
  const page = await browser.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  const result = await page.evaluate(() => {
    const count = (sel: string): number => document.querySelectorAll(sel).length;
    const box = (sel: string): { w: number; h: number } => {
      const r = document.querySelector(sel)?.getBoundingClientRect();
      return { w: r?.width ?? 0, h: r?.height ?? 0 };
    };
    return {
      counts: {
        passBars: count('#pass-chart rect.bar'),
        memoryRects: count('#memory-chart rect'),
        kernelDots: count('#roofline-chart circle.kernel'),
        roofs: count('#roofline-chart polyline.roof'),
        ridge: count('#roofline-chart circle.ridge'),
        tableRows: count('#kernel-table tbody tr'),
        summaryRows: count('#summary tr'),
        imgs: count('img'),
        scripts: count('script'),
      },
      boxes: { pass: box('#pass-chart'), memory: box('#memory-chart'), roofline: box('#roofline-chart'), roof: box('#roofline-chart polyline.roof'), table: box('#kernel-table'), dot: box('#roofline-chart circle.kernel') },
      text: document.body.innerText,
      pwned: (window as unknown as { pwned?: number }).pwned === 1,
    };
  });
  // sort by op (column 3) through the page's own script
  await page.click('#kernel-table th[data-col="3"]');
  const sortedOps = await page.evaluate(() => Array.from(document.querySelectorAll('#kernel-table tbody tr td:nth-child(4)')).map((td) => td.textContent ?? ''));
  await page.close();
  return { problems, requests, sortedOps, ...result };
}

describe('kiln report (HTML)', () => {
  it('escapes model text and keeps everything but timings deterministic', () => {
    const dir = tempDir();
    const file = writeModel(dir, { nodes: [node('Relu', ['x'], ['y'], { name: HOSTILE }), node('Neg', ['y'], ['z'], { name: 'neg' })], inputs: [vi('x', 1, [1, 8])], outputs: [vi('z', 1, [1, 8])] });
    const a = buildReport(file, { target: 'c' }).html;
    const b = buildReport(file, { target: 'c' }).html;
    expect(a).not.toContain('<img');
    const untimed = (h: string): string => h.replace(/<section id="passes">[\s\S]*?<\/section>/, '').replace(/compile time<\/th><td>\d+ ms/, '');
    expect(untimed(a)).toBe(untimed(b));
    // self-contained: no external references of any kind (SVG namespace names are not fetched)
    const escaped = '&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;&amp;amp;&#39;&quot;';
    expect(a).toContain(escaped);
    expect(a.split(escaped).join('')).not.toMatch(/\b(src|href)=|url\((?!#)|@import|(?<!xmlns=")https?:\/\//);
  });

  it('refuses unknown host profiles and non-HTML output names, with one line', () => {
    const r = kiln(['report', kws, '--host', 'nope', '-o', path.join(tempDir(), 'r.html')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln: error: unknown host profile 'nope' \(known: x86-64-avx2[^\n]*\n$/);
    const bad = kiln(['report', kws, '-o', path.join(tempDir(), 'r.txt')]);
    expect(bad.stderr).toMatch(/must name an \.html file/);
  });
});

describe.skipIf(!HAS_CHROMIUM)('kiln report in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--headless', '--disable-gpu'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('renders every chart of the kws-dscnn report without errors or network requests', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'report.html');
    const r = writeReport(kws, out, { target: 'c' });
    const check = await openReport(browser, out);
    expect(check.problems).toEqual([]);
    expect(check.requests).toEqual([pathToFileURL(out).href]);
    expect(check.counts.passBars).toBe(r.passes.length);
    expect(check.counts.passBars).toBeGreaterThan(2);
    expect(check.counts.memoryRects).toBeGreaterThan(r.report.memory.buffers);
    expect(check.counts.kernelDots).toBe(r.costs.filter(plottable).length);
    expect(check.counts.kernelDots).toBeGreaterThan(10);
    expect(check.counts.roofs).toBeGreaterThanOrEqual(1);
    expect(check.counts.ridge).toBe(1);
    expect(check.counts.tableRows).toBe(r.report.kernels);
    for (const [k, b] of Object.entries(check.boxes)) {
      expect(b.w, k).toBeGreaterThan(0);
      expect(b.h, k).toBeGreaterThan(0);
    }
    expect(check.text).toContain(`of the live-set lower bound`);
    expect(check.text).toContain(`${r.report.arenaBytes} B`);
    const ops = r.costs.map((c) => c.op);
    expect(check.sortedOps).toEqual([...ops].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it('shows hostile node names as text and runs none of them (mcu target, board figures)', async () => {
    const dir = tempDir();
    const file = writeModel(dir, { nodes: [node('Relu', ['x'], ['y'], { name: HOSTILE }), node('Neg', ['y'], ['z'], { name: 'neg' })], inputs: [vi('x', 1, [1, 8])], outputs: [vi('z', 1, [1, 8])] });
    const out = path.join(dir, 'report.html');
    const r = writeReport(file, out, { target: 'mcu', board: 'mps2-an386' });
    expect(r.roofline.name).toBe('mps2-an386');
    const check = await openReport(browser, out);
    expect(check.problems).toEqual([]);
    expect(check.pwned).toBe(false);
    expect(check.counts.imgs).toBe(0);
    expect(check.counts.scripts).toBe(1);
    expect(check.text).toContain(HOSTILE);
    // the Neg is fused into the Relu's kernel, which keeps the hostile name
    expect(check.counts.tableRows).toBe(1);
  });
});

if (!HAS_CHROMIUM) {
  describe('kiln report in headless Chromium', () => {
    it('skipped: chromium not installed', () => console.log('skipped: chromium not installed'));
  });
}
