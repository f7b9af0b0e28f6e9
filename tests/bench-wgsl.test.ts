/**
 * `kiln bench --target wgsl`: Kiln's WGSL and onnxruntime-web's WebGPU provider in one headless
 * Chromium page (SwiftShader here), both checked against the expected outputs; and the loopback
 * server the page is served from, which serves nothing outside its folders.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWgslBench } from '../src/driver/bench-wgsl.js';
import { startLoopbackServer } from '../src/driver/loopback-server.js';

const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = fs.existsSync(CHROMIUM);

describe('loopback server', () => {
  it('binds 127.0.0.1, serves its folders and pages, and nothing outside them', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-srv-'));
    fs.mkdirSync(path.join(root, 'pub'));
    fs.writeFileSync(path.join(root, 'pub', 'a.js'), 'export const a = 1;');
    fs.writeFileSync(path.join(root, 'secret.txt'), 'no');
    const s = await startLoopbackServer({ folders: new Map([['/p/', path.join(root, 'pub')]]), pages: new Map([['/', '<p>hi</p>']]) });
    try {
      expect(s.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const get = async (p: string) => {
        const r = await fetch(`${s.origin}${p}`);
        return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
      };
      expect(await get('/')).toMatchObject({ status: 200, text: '<p>hi</p>' });
      expect(await get('/p/a.js')).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8', text: 'export const a = 1;' });
      expect((await get('/p/../secret.txt')).status).toBe(404);
      expect((await get('/p/%2e%2e/secret.txt')).status).toBe(404);
      expect((await get('/p/')).status).toBe(404);
      expect((await fetch(`${s.origin}/p/a.js`, { method: 'POST' })).status).toBe(405);
      expect(s.requests).toContain('/p/a.js');
    } finally {
      await s.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!HAS_CHROMIUM)('kiln bench --target wgsl', () => {
  it('times Kiln and onnxruntime-web on one adapter, and both match the expected outputs', async () => {
    const r = await runWgslBench(['samples/mlp'], { repeats: 1, minBatchMs: 5 });
    expect(r.adapter.length).toBeGreaterThan(0);
    expect(r.ort).toMatch(/^onnxruntime-web \d+\.\d+\.\d+/);
    expect(r.rows).toHaveLength(1);
    const row = r.rows[0]!;
    expect(row.status, row.message).toBe('ok');
    expect(row.kilnMs).toBeGreaterThan(0);
    expect(row.ortMs, row.ortMessage).toBeGreaterThan(0);
    expect(row.ratio).toBeCloseTo(row.kilnMs! / row.ortMs!, 10);
    expect(row.kilnMaxAbsError).not.toBeNull();
    expect(row.kilnMaxAbsError!).toBeLessThan(1e-4);
    expect(row.ortMaxAbsError!).toBeLessThan(1e-4);
  });
});

if (!HAS_CHROMIUM) {
  describe('kiln bench --target wgsl', () => {
    it('skipped: chromium not installed', () => console.log('skipped: chromium not installed'));
  });
}
