/**
 * The job pool in child-process mode (what `kiln fuzz` uses): a job that kills its process (V8 out
 * of memory, abort) or never answers is recorded as that job's crash or timeout, and the other
 * jobs still run, in a fresh process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runPool } from '../src/driver/pool.js';
import { tempDir } from './helpers/onnx-builder.js';

const WORKER = `
process.on('message', (j) => {
  if (j === 2) { const a = []; for (;;) a.push(new Array(1e6).fill(1.5)); }
  if (j === 4) process.abort();
  if (j === 5) for (;;);
  process.send(j * 10);
});
process.on('disconnect', () => process.exit(0));
`;

describe('runPool in process mode', () => {
  it('survives a job that runs out of memory, aborts or hangs', async () => {
    const file = path.join(tempDir(), 'worker.mjs');
    fs.writeFileSync(file, WORKER);
    const results = await runPool<number, string | number>(pathToFileURL(file), [0, 1, 2, 3, 4, 5, 6, 7], {
      workers: 2,
      mode: 'process',
      maxHeapMb: 64,
      timeoutMs: 3000,
      onTimeout: (j) => `timeout ${j}`,
      onCrash: (j, m) => `crash ${j}: ${m}`,
    });
    expect(results[0]).toBe(0);
    expect(results[1]).toBe(10);
    expect(results[2]).toMatch(/^crash 2: worker process died .*(heap|memory)/i);
    expect(results[3]).toBe(30);
    expect(results[4]).toMatch(/^crash 4: worker process died \(signal SIGABRT/);
    expect(results[5]).toBe('timeout 5');
    expect(results[6]).toBe(60);
    expect(results[7]).toBe(70);
  }, 30_000);
});
