/** The progress line: drawn on a terminal only, silent in CI, on pipes and with --no-progress. */
import { describe, expect, it } from 'vitest';
import { ciFromEnv, createProgress, formatProgressLine, type ProgressStream } from '../src/driver/progress.js';

function fakeStream(isTTY: boolean, columns = 120): ProgressStream & { out: string[] } {
  const out: string[] = [];
  return { isTTY, columns, out, write: (s: string) => out.push(s) };
}

/** A clock the test moves by hand. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const base = { enabled: true, env: {}, heartbeatMs: 0 };

describe('createProgress', () => {
  it('draws one updating line on a TTY: bar, count, percent, elapsed, ETA, current item', () => {
    const s = fakeStream(true);
    const c = clock();
    const p = createProgress({ ...base, label: 'conformance', total: 10, stream: s, now: c.now });
    expect(p.active).toBe(true);
    c.advance(2000);
    p.tick(4, 'test_add');
    const last = s.out[s.out.length - 1]!;
    expect(last.startsWith('\r\x1b[K')).toBe(true);
    expect(last).not.toContain('\n');
    expect(last).toContain('conformance [');
    expect(last).toContain('4/10');
    expect(last).toContain('40%');
    expect(last).toContain('2.0s');
    // 4 steps in 2 s: 6 more take 3 s
    expect(last).toContain('ETA 3.0s');
    expect(last).toContain('test_add');
  });

  it('finishes by erasing its line and ignores ticks after done', () => {
    const s = fakeStream(true);
    const p = createProgress({ ...base, label: 'x', total: 2, stream: s });
    p.tick(2);
    p.done();
    expect(s.out[s.out.length - 1]).toBe('\r\x1b[K');
    const n = s.out.length;
    p.tick(1);
    p.done();
    expect(s.out.length).toBe(n);
  });

  it('writes nothing when CI is truthy', () => {
    for (const ci of ['true', '1', 'yes', 'TRUE']) {
      const s = fakeStream(true);
      const p = createProgress({ ...base, env: { CI: ci }, label: 'x', total: 3, stream: s });
      p.tick(1, 'a');
      p.tick(3);
      p.done();
      expect(p.active).toBe(false);
      expect(s.out).toEqual([]);
    }
  });

  it('writes nothing on a stream that is not a TTY', () => {
    const s = fakeStream(false);
    const p = createProgress({ ...base, label: 'x', total: 3, stream: s });
    p.tick(2);
    p.done();
    expect(s.out).toEqual([]);
  });

  it('writes nothing when turned off (--no-progress) or never turned on by the CLI', () => {
    const s = fakeStream(true);
    const off = createProgress({ label: 'x', total: 3, stream: s, env: {}, enabled: false });
    off.tick(1);
    off.done();
    // library callers and worker threads: the CLI never called setProgressEnabled(true)
    const lib = createProgress({ label: 'x', total: 3, stream: s, env: {} });
    lib.tick(1);
    lib.done();
    expect(s.out).toEqual([]);
  });

  it('throttles redraws but always draws the last step', () => {
    const s = fakeStream(true);
    const c = clock();
    const p = createProgress({ ...base, label: 'x', total: 1000, stream: s, now: c.now });
    for (let i = 1; i < 1000; i++) p.tick(i);
    // same instant: only the first draw
    expect(s.out.length).toBe(1);
    c.advance(150);
    p.tick(500);
    expect(s.out.length).toBe(2);
    p.tick(1000);
    expect(s.out.length).toBe(3);
    expect(s.out[2]).toContain('1000/1000 100%');
    p.done();
  });

  it('shows a spinner and elapsed time for a step without a total', () => {
    const s = fakeStream(true);
    const c = clock();
    const p = createProgress({ ...base, label: 'solving memory ILP', stream: s, now: c.now });
    c.advance(3400);
    p.tick(0);
    const last = s.out[s.out.length - 1]!;
    expect(last).toMatch(/solving memory ILP [|/\\-] 3\.4s/);
    expect(last).not.toContain('%');
    p.done();
  });

  it('lets a nested reporter take the line and gives it back', () => {
    const s = fakeStream(true);
    const outer = createProgress({ ...base, label: 'bench', total: 3, stream: s });
    const inner = createProgress({ ...base, label: 'solving memory ILP', stream: s });
    const before = s.out.length;
    outer.tick(1, 'resnet');
    // the outer reporter does not draw over the inner one
    expect(s.out.length).toBe(before);
    inner.done();
    expect(s.out[s.out.length - 2]).toBe('\r\x1b[K');
    expect(s.out[s.out.length - 1]).toContain('bench [');
    outer.done();
  });

  it('cuts the line to the terminal width', () => {
    const line = formatProgressLine({ label: 'conformance', total: 10, done: 3, elapsedMs: 1000, detail: 'x'.repeat(200), frame: 0, columns: 40 });
    expect(line.length).toBe(39);
  });
});

describe('ciFromEnv', () => {
  it('reads CI the way CI services set it', () => {
    expect(ciFromEnv({ CI: 'true' })).toBe(true);
    expect(ciFromEnv({ CI: '1' })).toBe(true);
    expect(ciFromEnv({})).toBe(false);
    expect(ciFromEnv({ CI: '' })).toBe(false);
    expect(ciFromEnv({ CI: 'false' })).toBe(false);
    expect(ciFromEnv({ CI: '0' })).toBe(false);
  });
});

describe('Progress.log', () => {
  it('erases the line, writes the text, and draws the line again', () => {
    const s = fakeStream(true);
    const other = fakeStream(true);
    const p = createProgress({ ...base, label: 'bench', total: 2, stream: s });
    p.log('row 1\n', other);
    expect(other.out).toEqual(['row 1\n']);
    expect(s.out[s.out.length - 2]).toBe('\r\x1b[K');
    expect(s.out[s.out.length - 1]).toContain('bench [');
    p.done();
  });

  it('only writes the text when the reporter is silent', () => {
    const s = fakeStream(false);
    const other = fakeStream(false);
    const p = createProgress({ ...base, label: 'bench', total: 2, stream: s });
    p.log('row 1\n', other);
    expect(other.out).toEqual(['row 1\n']);
    expect(s.out).toEqual([]);
  });
});
