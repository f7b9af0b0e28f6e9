/**
 * A one-line progress display for long steps (conformance, fuzz, bench, the memory ILP).
 *
 * It draws only where a person watches: the stream is a TTY, `CI` is not set to a truthy value,
 * and the CLI has turned progress on (it does unless `--no-progress`). Library callers and worker
 * threads never call `setProgressEnabled`, so they stay silent. Elsewhere nothing is written at
 * all, not even a trailing newline, so logs and parsed output stay clean.
 *
 * One line is drawn with `\r` and erased with `ESC [K`; redraws are throttled. Reporters nest: a
 * reporter started while another is drawing (the ILP spinner inside `kiln bench`) takes the line
 * and hands it back when done.
 */

/** The part of a stream the reporter uses (a fake one in tests). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  label: string;
  /** Number of steps; absent for an indeterminate step (a spinner with elapsed time). */
  total?: number;
  /** Default: process.stderr. */
  stream?: ProgressStream;
  /** Overrides the process-wide setting (tests); CI and non-TTY streams stay silent regardless. */
  enabled?: boolean;
  /** Environment to read CI from (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Least time between two redraws, ms (default 100: at most 10 per second). */
  minIntervalMs?: number;
  /** Redraw this often without ticks so elapsed time moves during slow steps, ms (default 1000; 0: never). */
  heartbeatMs?: number;
  /** Clock in ms (tests); default performance.now. */
  now?: () => number;
}

export interface Progress {
  /** Whether this reporter draws anything. */
  readonly active: boolean;
  /** Sets the count of finished steps (absolute, not an increment) and the current item. */
  tick(done: number, detail?: string): void;
  /** Erases the line. Further ticks are ignored. */
  done(): void;
  /** Writes text to another stream (default stdout) without mixing it into the progress line. */
  log(text: string, to?: ProgressStream): void;
}

let enabledByCli = false;

/** Called once by the CLI: progress on, unless `--no-progress`. */
export function setProgressEnabled(on: boolean): void {
  enabledByCli = on;
}

/** CI=true, CI=1, CI=yes… are truthy; unset, empty, 0, false, no, off are not. */
export function ciFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env.CI;
  return v !== undefined && !/^(|0|false|no|off)$/i.test(v.trim());
}

/** Whether a reporter on this stream would draw. */
export function progressWanted(stream: ProgressStream = process.stderr, opts: { enabled?: boolean; env?: Readonly<Record<string, string | undefined>> } = {}): boolean {
  return (opts.enabled ?? enabledByCli) && stream.isTTY === true && !ciFromEnv(opts.env);
}

const SILENT: Progress = { active: false, tick: () => {}, done: () => {}, log: (text, to = process.stdout) => void to.write(text) };
const SPINNER = ['|', '/', '-', '\\'];
const BAR_WIDTH = 24;
const ERASE = '\r\x1b[K';

/** Reporters currently drawing, innermost last; only the innermost owns the line. */
const stack: { redraw: () => void }[] = [];

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The text of one progress line (no `\r`), cut to `columns`. */
export function formatProgressLine(p: { label: string; total?: number; done: number; elapsedMs: number; detail?: string; frame: number; columns?: number }): string {
  const parts: string[] = [p.label];
  if (p.total === undefined) {
    parts.push(SPINNER[p.frame % SPINNER.length]!, formatSeconds(p.elapsedMs));
  } else {
    const total = Math.max(0, p.total);
    const frac = total === 0 ? 1 : Math.min(1, Math.max(0, p.done / total));
    const filled = Math.round(frac * BAR_WIDTH);
    parts.push(`[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`, `${p.done}/${total}`, `${Math.floor(frac * 100)}%`, formatSeconds(p.elapsedMs));
    // the ETA assumes the remaining steps take as long as the finished ones did on average
    if (p.done > 0 && p.done < total) parts.push(`ETA ${formatSeconds((p.elapsedMs / p.done) * (total - p.done))}`);
  }
  if (p.detail) parts.push(p.detail);
  const line = parts.join(' ');
  // one column short of the width: writing into the last column wraps on some terminals
  const max = p.columns && p.columns > 1 ? p.columns - 1 : Infinity;
  return line.length > max ? line.slice(0, max) : line;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!progressWanted(stream, opts)) return SILENT;
  const now = opts.now ?? (() => performance.now());
  const minInterval = opts.minIntervalMs ?? 100;
  const t0 = now();
  let count = 0;
  let detail: string | undefined;
  let frame = 0;
  let lastDraw = -Infinity;
  let finished = false;
  const draw = (): void => {
    lastDraw = now();
    stream.write(`${ERASE}${formatProgressLine({ label: opts.label, total: opts.total, done: count, elapsedMs: lastDraw - t0, detail, frame: frame++, columns: stream.columns })}`);
  };
  const self = { redraw: draw };
  stack.push(self);
  draw();
  const heartbeat = (opts.heartbeatMs ?? 1000) > 0 ? setInterval(() => stack[stack.length - 1] === self && draw(), opts.heartbeatMs ?? 1000) : null;
  // never keep the process alive for a progress line
  heartbeat?.unref();
  return {
    active: true,
    tick(n, d) {
      if (finished) return;
      count = n;
      if (d !== undefined) detail = d;
      const last = opts.total !== undefined && n >= opts.total;
      if (stack[stack.length - 1] === self && (last || now() - lastDraw >= minInterval)) draw();
    },
    log(text, to = process.stdout) {
      if (finished) {
        to.write(text);
        return;
      }
      stream.write(ERASE);
      to.write(text);
      if (stack[stack.length - 1] === self) draw();
    },
    done() {
      if (finished) return;
      finished = true;
      if (heartbeat) clearInterval(heartbeat);
      const i = stack.indexOf(self);
      if (i >= 0) stack.splice(i, 1);
      stream.write(ERASE);
      // the enclosing reporter takes the line back
      stack[stack.length - 1]?.redraw();
    },
  };
}
