/**
 * Kiln in the browser: `kiln serve`'s page in headless Chromium (WebGPU on SwiftShader) compiles a
 * sample in the page (import, passes, lowering, WGSL emission all run there, from the esbuild
 * bundle of src/browser/compiler.ts), runs it on WebGPU and
 * compares with the sample's expected output; no console errors, no request leaves loopback. The
 * server itself: loopback only, nothing outside its roots. Needs dist/ (npm test builds it first).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import { startServer, type Server } from '../src/driver/serve.js';

const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
const HAS_DIST = fs.existsSync(path.resolve('dist/browser/compiler.js'));
if (!HAS_CHROMIUM) console.log('skipped: chromium not installed');
if (!HAS_DIST) console.log('skipped: dist/ not built (npx tsc -p tsconfig.json)');

describe.skipIf(!HAS_DIST)('kiln serve', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('listens on loopback only and serves nothing outside its roots', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const get = async (p: string, init?: RequestInit): Promise<number> => (await fetch(server.url + p, init)).status;
    expect(await get('')).toBe(200);
    // the compiler core, bundled by esbuild: one module, no Node built-in left to import
    const bundle = await (await fetch(server.url + 'kiln.js')).text();
    expect(bundle).toContain('compileOnnxForWebGpu');
    expect(bundle).not.toMatch(/from\s*["']node:/);
    expect(await get('kiln/browser/compiler.js')).toBe(404);
    expect(await get('..%2Fpackage.json')).toBe(404);
    expect(await get('samples/mlp/..%2F..%2Fpackage.json')).toBe(404);
    expect(await get('samples/mlp/model.onnx')).toBe(200);
    expect(await get('', { method: 'POST' })).toBe(405);
    const samples = (await (await fetch(server.url + 'samples.json')).json()) as { name: string; inputs: string[] }[];
    expect(samples.find((s) => s.name === 'mlp')?.inputs).toEqual(['test_data_set_0/input_0.pb']);
  });

  describe.skipIf(!HAS_CHROMIUM)('in headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      const puppeteer = (await import('puppeteer-core')).default;
      browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--headless=new', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'],
      });
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    it('compiles the mlp sample in the page, runs it on WebGPU and matches its expected output', async () => {
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${(e as Error).message}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(server.url, { waitUntil: 'load' });
      await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
      const compiled = await page.evaluate(async () => (window as unknown as { kiln: { loadSample(n: string): Promise<{ kernels: number; wgslBytes: number }> } }).kiln.loadSample('mlp'));
      expect(compiled.kernels).toBeGreaterThan(0);
      // the page shows the graph and the generated WGSL
      expect(await page.$eval('#graph', (e) => e.textContent ?? '')).toMatch(/Gemm|MatMul/);
      expect(await page.$eval('#wgsl', (e) => e.textContent ?? '')).toContain('@compute');
      const run = await page.evaluate(async () => (window as unknown as { kiln: { run(n: number): Promise<{ ok: boolean; compared: number; medianMs: number }> } }).kiln.run(2));
      expect(run).toMatchObject({ ok: true, compared: 1 });
      expect(run.medianMs).toBeGreaterThan(0);
      expect(await page.$eval('#status', (e) => e.textContent ?? '')).toMatch(/^outputs equal the expected ones/);
      expect(await page.$eval('#timings', (e) => e.textContent ?? '')).toMatch(/run \(median of 2\)/);
      expect(problems).toEqual([]);
      const origins = new Set(requests.map((u) => new URL(u).origin));
      expect([...origins]).toEqual([new URL(server.url).origin]);
      await page.close();
    }, 120_000);

    // CI compiles one convolutional int8 sample besides mlp (conv, depthwise conv and integer
    // requantization as the GPU lowering shapes them); KILN_BROWSER_SAMPLES=all (or a comma list)
    // runs every sample the page lists, as the acceptance check does
    it('compiles and runs more samples in the page, each equal to its expected output', async () => {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${(e as Error).message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`error: ${m.text()}`);
      });
      await page.goto(server.url, { waitUntil: 'load' });
      await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
      const listed = ((await (await fetch(server.url + 'samples.json')).json()) as { name: string }[]).map((s) => s.name);
      const want = process.env.KILN_BROWSER_SAMPLES;
      const names = want === 'all' ? listed.filter((n) => n !== 'mlp') : want ? want.split(',') : ['kws-dscnn-int8'];
      const results: Record<string, boolean> = {};
      for (const name of names) {
        expect(listed).toContain(name);
        await page.evaluate(async (n) => (window as unknown as { kiln: { loadSample(n: string): Promise<unknown> } }).kiln.loadSample(n), name);
        const run = await page.evaluate(async () => (window as unknown as { kiln: { run(n: number): Promise<{ ok: boolean; compared: number }> } }).kiln.run(1));
        results[name] = run.ok && run.compared > 0;
      }
      expect(results).toEqual(Object.fromEntries(names.map((n) => [n, true])));
      expect(problems).toEqual([]);
      await page.close();
    }, 600_000);
  });
});
