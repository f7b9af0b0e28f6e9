/**
 * `kiln check`: lit-style IR tests. A test file's `//` comments hold `RUN:` lines (a kiln command
 * line, `%s` standing for the file) and FileCheck directives; each RUN's output is matched against
 * the directives of its prefix. `not kiln …` expects a failing command and checks its stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KilnError, fsError } from '../ir/errors.js';
import { fileCheck } from './filecheck.js';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kiln <argv>` (in-process or as a child) and returns what it printed. */
export type KilnExec = (argv: readonly string[]) => Promise<ExecResult>;

export interface RunLine {
  /** 1-based line of the `RUN:` in the test file. */
  readonly line: number;
  /** The command as written (continuations joined). */
  readonly text: string;
  /** `not kiln …`: the command must fail; its stderr is checked. */
  readonly expectFailure: boolean;
  /** kiln arguments, after substitution. */
  readonly argv: readonly string[];
  readonly prefixes: readonly string[];
  readonly strictWhitespace: boolean;
}

export interface RunResult {
  readonly line: number;
  readonly command: string;
  readonly exitCode: number | null;
  readonly ok: boolean;
  /** Empty when ok; else the failure, FileCheck-style, over several lines. */
  readonly message: string;
}

export interface TestResult {
  readonly file: string;
  readonly ok: boolean;
  readonly runs: readonly RunResult[];
  /** A failure of the file itself (unreadable, no RUN lines, malformed RUN line). */
  readonly error?: string;
  readonly ms: number;
}

export interface CheckSummary {
  readonly passed: number;
  readonly failed: number;
  readonly tests: readonly TestResult[];
}

/** Splits a command line into words: whitespace separates, '…' and "…" quote, `|` stands alone. */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) throw new KilnError('parse', `unterminated ${c} quote`);
      cur += s.slice(i + 1, end);
      has = true;
      i = end;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else if (c === '|') {
      if (has) out.push(cur);
      out.push('|');
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

export interface Substitutions {
  /** %s: the test file. */
  readonly file: string;
  /** %t: a scratch path private to this test file. */
  readonly temp: string;
}

function substitute(word: string, sub: Substitutions): string {
  return word.replace(/%[%sSt]/g, (m) => {
    switch (m) {
      case '%s':
        return sub.file;
      case '%S':
        return path.dirname(sub.file);
      case '%t':
        return sub.temp;
      default:
        return '%';
    }
  });
}

/** The `RUN:` lines of a test file (lines ending in `\` continue on the next RUN: line). */
export function parseRunLines(text: string, sub: Substitutions): RunLine[] {
  const out: RunLine[] = [];
  const lines = text.split('\n');
  let pending: { line: number; text: string } | null = null;
  lines.forEach((raw, i) => {
    const m = /\/\/\s*RUN:(.*)$/.exec(raw.replace(/\r$/, ''));
    if (!m) {
      if (pending) throw new KilnError('parse', `${sub.file}:${pending.line}: RUN line ends in '\\' but the next line is not a RUN: line`);
      return;
    }
    let body = m[1]!.trim();
    const cont = body.endsWith('\\');
    if (cont) body = body.slice(0, -1).trim();
    pending = pending ? { line: pending.line, text: `${pending.text} ${body}` } : { line: i + 1, text: body };
    if (cont) return;
    out.push(parseRun(pending.text, pending.line, sub));
    pending = null;
  });
  if (pending !== null) throw new KilnError('parse', `${sub.file}:${(pending as { line: number }).line}: RUN line ends in '\\' at the end of the file`);
  return out;
}

function parseRun(text: string, line: number, sub: Substitutions): RunLine {
  const where = `${sub.file}:${line}`;
  let words: string[];
  try {
    words = splitWords(text);
  } catch (e) {
    throw new KilnError('parse', `${where}: ${(e as Error).message}`);
  }
  let expectFailure = false;
  if (words[0] === 'not') {
    expectFailure = true;
    words.shift();
  }
  if (words[0] !== 'kiln') throw new KilnError('parse', `${where}: a RUN line runs 'kiln …' or 'not kiln …', got '${words[0] ?? ''}'`);
  const bar = words.indexOf('|');
  const cmd = (bar < 0 ? words.slice(1) : words.slice(1, bar)).map((w) => substitute(w, sub));
  const prefixes: string[] = [];
  let strictWhitespace = false;
  if (bar >= 0) {
    const checkWords = words.slice(bar + 1);
    if (checkWords[0] !== 'check') throw new KilnError('parse', `${where}: only '| check [--check-prefix=P]' may follow the command, got '| ${checkWords[0] ?? ''}'`);
    for (let k = 1; k < checkWords.length; k++) {
      const w = checkWords[k]!;
      const eq = /^--(check-prefix|prefix|check-prefixes)(?:=(.*))?$/.exec(w);
      if (eq) {
        const v = eq[2] ?? checkWords[++k];
        if (v === undefined || v === '') throw new KilnError('parse', `${where}: --${eq[1]} needs a value`);
        prefixes.push(...(eq[1] === 'check-prefixes' ? v.split(',') : [v]));
      } else if (w === '--strict-whitespace') strictWhitespace = true;
      else throw new KilnError('parse', `${where}: unknown check option '${w}' (known: --check-prefix=P, --check-prefixes=A,B, --strict-whitespace)`);
    }
  }
  return { line, text, expectFailure, argv: cmd, prefixes: prefixes.length > 0 ? prefixes : ['CHECK'], strictWhitespace };
}

/** Runs every RUN line of one test file. */
export async function checkFile(file: string, exec: KilnExec): Promise<TestResult> {
  const t0 = performance.now();
  const done = (runs: RunResult[], error?: string): TestResult => ({
    file,
    ok: error === undefined && runs.every((r) => r.ok),
    runs,
    ...(error === undefined ? {} : { error }),
    ms: Math.round(performance.now() - t0),
  });
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return done([], fsError(e, 'read', file).message);
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-check-'));
  try {
    let runLines: RunLine[];
    try {
      runLines = parseRunLines(text, { file, temp: path.join(scratch, 't') });
    } catch (e) {
      return done([], e instanceof KilnError ? e.message : String(e));
    }
    if (runLines.length === 0) return done([], `${file}: no RUN: lines`);
    const runs: RunResult[] = [];
    for (const r of runLines) runs.push(await runOne(file, text, r, exec));
    return done(runs);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function runOne(file: string, text: string, r: RunLine, exec: KilnExec): Promise<RunResult> {
  const res = await exec(r.argv);
  const base = { line: r.line, command: r.text, exitCode: res.code };
  const failed = res.code !== 0;
  if (failed !== r.expectFailure) {
    const what = r.expectFailure ? 'the command succeeded but the RUN line expects a failure (not)' : `the command failed with exit code ${res.code}`;
    const tail = (r.expectFailure ? res.stdout : res.stderr).trimEnd().split('\n').slice(-10);
    return { ...base, ok: false, message: [`${file}:${r.line}: error: ${what}`, `  RUN: ${r.text}`, ...tail.map((l) => `  | ${l}`)].join('\n') };
  }
  const input = r.expectFailure ? res.stderr : res.stdout;
  const fc = fileCheck(text, input, { prefixes: r.prefixes, checkName: file, inputName: r.expectFailure ? '<stderr>' : '<stdout>', strictWhitespace: r.strictWhitespace });
  return { ...base, ok: fc.ok, message: fc.ok ? '' : `${fc.message}\n  (RUN at ${file}:${r.line}: ${r.text})` };
}

/** Test files named by `args`: files as given, folders searched (recursively) for *.kir. */
export function collectTestFiles(args: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.kir')) out.push(p);
    }
  };
  for (const a of args) {
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(a);
    } catch {
      st = null;
    }
    if (st?.isDirectory()) walk(a);
    else out.push(a); // a missing file is reported as a failed test
  }
  return out;
}

export async function checkFiles(files: readonly string[], exec: KilnExec, onResult?: (r: TestResult) => void): Promise<CheckSummary> {
  const tests: TestResult[] = [];
  for (const f of files) {
    const r = await checkFile(f, exec);
    tests.push(r);
    onResult?.(r);
  }
  const passed = tests.filter((t) => t.ok).length;
  return { passed, failed: tests.length - passed, tests };
}

/** Human-readable lines for one test: `PASS: file` or `FAIL: file` with the messages. */
export function formatTestResult(t: TestResult): string {
  if (t.ok) return `PASS: ${t.file} (${t.runs.length} RUN${t.runs.length === 1 ? '' : 's'})\n`;
  const lines = [`FAIL: ${t.file}`];
  if (t.error !== undefined) lines.push(`  ${t.error}`);
  for (const r of t.runs) if (!r.ok) lines.push(...r.message.split('\n').map((l) => `  ${l}`));
  return `${lines.join('\n')}\n`;
}
