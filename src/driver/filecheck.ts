/**
 * A FileCheck-style matcher (after LLVM's FileCheck): directives written in `//` comments of a check
 * file are matched, in order, against an input text. Pure: text in, result with diagnostics out.
 *
 * Directives (with the default prefix CHECK): CHECK, CHECK-NEXT, CHECK-SAME, CHECK-NOT, CHECK-LABEL,
 * CHECK-EMPTY, CHECK-DAG, CHECK-COUNT-<n>. Patterns are substrings of one line; `{{re}}` is a regex,
 * `[[V:re]]` captures into V, `[[V]]` is the captured text. Runs of spaces/tabs match any run.
 */

export type DirectiveKind = 'CHECK' | 'NEXT' | 'SAME' | 'NOT' | 'LABEL' | 'EMPTY' | 'DAG' | 'COUNT';

export interface Directive {
  readonly kind: DirectiveKind;
  /** The spelling, e.g. `CHECK-NEXT` or `FOO-COUNT-3`. */
  readonly name: string;
  readonly pattern: string;
  /** 1-based line and column of the pattern in the check file. */
  readonly line: number;
  readonly col: number;
  /** Repetitions for COUNT (1 otherwise). */
  readonly count: number;
  /** The check-file line, for diagnostics. */
  readonly source: string;
}

export interface FileCheckOptions {
  /** Directive prefixes (default ['CHECK']). */
  readonly prefixes?: readonly string[];
  /** Name of the check file in messages. */
  readonly checkName?: string;
  /** Name of the input in messages (e.g. `<stdout>`). */
  readonly inputName?: string;
  /** Match whitespace exactly instead of any run matching any run. */
  readonly strictWhitespace?: boolean;
}

export interface FileCheckResult {
  readonly ok: boolean;
  /** Number of directives that took part. */
  readonly directives: number;
  /** The first error: FileCheck-style lines (`file:line:col: error: …`, notes, input excerpt). */
  readonly message: string;
  /** The first line of `message`, for summaries. */
  readonly summary: string;
}

const SUFFIXES: Record<string, DirectiveKind> = { '': 'CHECK', NEXT: 'NEXT', SAME: 'SAME', NOT: 'NOT', LABEL: 'LABEL', EMPTY: 'EMPTY', DAG: 'DAG' };

class CheckError extends Error {
  constructor(readonly lines: string[]) {
    super(lines[0]);
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Text after the first `//` that is outside a string literal, with its column offset; null if none. */
function commentOf(line: string): { text: string; offset: number } | null {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '/' && line[i + 1] === '/') return { text: line.slice(i + 2), offset: i + 2 };
  }
  return null;
}

/**
 * The directives of the given prefixes in `checkText`'s `//` comments. Throws CheckError for a
 * malformed directive (unknown suffix, empty pattern, bad COUNT).
 */
function parseDirectivesOrThrow(checkText: string, prefixes: readonly string[], checkName: string): Directive[] {
  for (const p of prefixes) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(p)) throw new CheckError([`error: invalid check prefix '${p}' (letters, digits, '_' and '-', starting with a letter)`]);
  }
  const alt = [...prefixes].sort((a, b) => b.length - a.length).map(escapeRegex).join('|');
  // a prefix not preceded by a word character, an optional -SUFFIX, then ':'
  const re = new RegExp(`(?<![A-Za-z0-9_-])(${alt})(-[A-Za-z]+(?:-\\d+)?)?:`, 'g');
  const out: Directive[] = [];
  const lines = checkText.split('\n');
  lines.forEach((raw, idx) => {
    const line = raw.replace(/\r$/, '');
    const comment = commentOf(line);
    if (!comment) return;
    re.lastIndex = 0;
    const m = re.exec(comment.text);
    if (!m) return;
    const prefix = m[1]!;
    const suffix = (m[2] ?? '').slice(1);
    const name = `${prefix}${m[2] ?? ''}`;
    const at = (col: number): string => `${checkName}:${idx + 1}:${col}`;
    const startCol = comment.offset + m.index + 1;
    let kind: DirectiveKind | undefined = SUFFIXES[suffix];
    let count = 1;
    const cm = /^COUNT-(\d+)$/.exec(suffix);
    if (cm) {
      kind = 'COUNT';
      count = Number(cm[1]);
      if (count < 1) throw new CheckError([`${at(startCol)}: error: invalid count in ${name}: must be at least 1`, line]);
    }
    if (kind === undefined) throw new CheckError([`${at(startCol)}: error: unknown directive '${name}:'`, line, `${' '.repeat(startCol - 1)}^`]);
    const rest = comment.text.slice(m.index + m[0].length);
    const lead = rest.length - rest.trimStart().length;
    const pattern = rest.trim();
    const col = comment.offset + m.index + m[0].length + lead + 1;
    if (pattern === '' && kind !== 'EMPTY') throw new CheckError([`${at(col)}: error: found empty check string with prefix '${name}:'`, line]);
    if (pattern !== '' && kind === 'EMPTY') throw new CheckError([`${at(col)}: error: found non-empty check string for empty check with prefix '${name}:'`, line]);
    if (kind === 'LABEL' && pattern.includes('[[')) throw new CheckError([`${at(col)}: error: ${name} cannot use or define variables`, line]);
    out.push({ kind, name, pattern, line: idx + 1, col, count, source: line });
  });
  return out;
}

/** Parses the directives; malformed ones are reported as `{ error }`. */
export function parseDirectives(checkText: string, prefixes: readonly string[] = ['CHECK'], checkName = '<check>'): Directive[] | { error: string } {
  try {
    return parseDirectivesOrThrow(checkText, prefixes, checkName);
  } catch (e) {
    if (e instanceof CheckError) return { error: e.lines.join('\n') };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Patterns

type Segment =
  | { kind: 'text'; text: string }
  | { kind: 'regex'; re: string }
  | { kind: 'def'; name: string; re: string }
  | { kind: 'use'; name: string };

/** Index of the `]]` closing a variable block, skipping bracket expressions like `[a-z]` in its regex. */
function variableEnd(p: string, from: number): number {
  let depth = 0;
  for (let i = from; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (c === '[') depth++;
    else if (c === ']') {
      if (depth > 0) depth--;
      else if (p[i + 1] === ']') return i;
    }
  }
  return -1;
}

function splitPattern(p: string): Segment[] {
  const out: Segment[] = [];
  let text = '';
  let i = 0;
  const flush = (): void => {
    if (text !== '') out.push({ kind: 'text', text });
    text = '';
  };
  while (i < p.length) {
    if (p.startsWith('{{', i)) {
      const end = p.indexOf('}}', i + 2);
      if (end < 0) throw new Error(`unterminated regex '{{' in '${p}'`);
      flush();
      const re = p.slice(i + 2, end);
      if (re === '') throw new Error('empty regex block {{}}');
      out.push({ kind: 'regex', re });
      i = end + 2;
    } else if (p.startsWith('[[[', i)) {
      text += '['; // `[[[V]]]`: a literal '[' before a variable block
      i++;
    } else if (p.startsWith('[[', i)) {
      const end = variableEnd(p, i + 2);
      if (end < 0) throw new Error(`unterminated variable '[[' in '${p}'`);
      const body = p.slice(i + 2, end);
      if (body.startsWith('#')) throw new Error(`numeric substitution [[${body}]] is not supported`);
      const m = /^(\$?[A-Za-z_][A-Za-z0-9_]*)(?::([\s\S]*))?$/.exec(body);
      if (!m) throw new Error(`invalid variable block [[${body}]]`);
      flush();
      if (m[2] === undefined) out.push({ kind: 'use', name: m[1]! });
      else {
        if (m[2] === '') throw new Error(`variable '${m[1]}' is defined with an empty regex`);
        out.push({ kind: 'def', name: m[1]!, re: m[2] });
      }
      i = end + 2;
    } else {
      text += p[i];
      i++;
    }
  }
  flush();
  return out;
}

interface Compiled {
  readonly re: RegExp;
  /** Group name → variable name, for captures. */
  readonly defs: ReadonlyMap<string, string>;
}

/** Compiles a pattern with the current variable values; throws Error for undefined variables or bad regexes. */
function compilePattern(pattern: string, vars: ReadonlyMap<string, string>, strictWs: boolean): Compiled {
  const defs = new Map<string, string>();
  const local = new Map<string, string>(); // variable → group defined earlier in this pattern
  let src = '';
  for (const s of splitPattern(pattern)) {
    if (s.kind === 'text') src += strictWs ? escapeRegex(s.text) : s.text.split(/[ \t]+/).map(escapeRegex).join('[ \\t]+');
    else if (s.kind === 'regex') src += `(?:${s.re})`;
    else if (s.kind === 'def') {
      const g = `v${defs.size}`;
      defs.set(g, s.name);
      local.set(s.name, g);
      src += `(?<${g}>${s.re})`;
    } else {
      const g = local.get(s.name);
      if (g !== undefined) src += `\\k<${g}>`;
      else {
        const v = vars.get(s.name);
        if (v === undefined) throw new Error(`use of undefined variable '${s.name}'`);
        src += escapeRegex(v);
      }
    }
  }
  try {
    return { re: new RegExp(src, 'gm'), defs }; // m: ^ and $ anchor at line boundaries
  } catch (e) {
    throw new Error(`invalid regex: ${(e as Error).message}`);
  }
}

/** The pattern with regex blocks dropped and variables substituted: what a near miss is compared with. */
function literalOf(pattern: string, vars: ReadonlyMap<string, string>): string {
  try {
    return splitPattern(pattern)
      .map((s) => (s.kind === 'text' ? s.text : s.kind === 'use' ? (vars.get(s.name) ?? '') : ''))
      .join('');
  } catch {
    return pattern;
  }
}

// ---------------------------------------------------------------------------------------------
// Matching

interface Match {
  start: number;
  end: number;
}

class Input {
  readonly lineStarts: number[] = [0];
  constructor(readonly text: string, readonly name: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** 0-based line of an offset. */
  lineOf(pos: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  lineText(line: number): string {
    const s = this.lineStarts[line]!;
    const e = line + 1 < this.lineStarts.length ? this.lineStarts[line + 1]! - 1 : this.text.length;
    return this.text.slice(s, e).replace(/\r$/, '');
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  /** `name:line:col: note: what`, the line and a caret. */
  note(pos: number, what: string): string[] {
    const l = this.lineOf(pos);
    const col = pos - this.lineStarts[l]! + 1;
    return [`${this.name}:${l + 1}:${col}: note: ${what}`, this.lineText(l), `${' '.repeat(col - 1)}^`];
  }

  /** A few numbered lines around `line`, the line itself marked with '>'. */
  excerpt(line: number, around = 2): string[] {
    const out = [`${this.name} around line ${line + 1}:`];
    const from = Math.max(0, line - around);
    const to = Math.min(this.lineCount - 1, line + around);
    const w = String(to + 1).length;
    for (let l = from; l <= to; l++) out.push(`${l === line ? '>' : ' '} ${String(l + 1).padStart(w)} | ${this.lineText(l)}`);
    return out;
  }
}

/** Lowest edit distance of `pat` to any substring of `text`, with that substring's start. */
function substringDistance(pat: string, text: string): { dist: number; start: number } {
  const n = text.length;
  let prev = new Array<number>(n + 1).fill(0);
  let prevStart = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= pat.length; i++) {
    const cur = new Array<number>(n + 1);
    const curStart = new Array<number>(n + 1);
    cur[0] = i;
    curStart[0] = 0;
    for (let j = 1; j <= n; j++) {
      const sub = prev[j - 1]! + (pat[i - 1] === text[j - 1] ? 0 : 1);
      const del = prev[j]! + 1;
      const ins = cur[j - 1]! + 1;
      if (sub <= del && sub <= ins) {
        cur[j] = sub;
        curStart[j] = prevStart[j - 1]!;
      } else if (del <= ins) {
        cur[j] = del;
        curStart[j] = prevStart[j]!;
      } else {
        cur[j] = ins;
        curStart[j] = curStart[j - 1]!;
      }
    }
    prev = cur;
    prevStart = curStart;
  }
  let best = { dist: Infinity, start: 0 };
  for (let j = 0; j <= n; j++) if (prev[j]! < best.dist) best = { dist: prev[j]!, start: prevStart[j]! };
  return best;
}

const FUZZY_MAX_LINES = 400;
const FUZZY_MAX_CHARS = 240;

/** The input position of the most similar line in [from, to), when it is close enough to be a likely typo. */
function possibleMatch(input: Input, literal: string, from: number, to: number): number | null {
  const lit = literal.trim().replace(/[ \t]+/g, ' ').slice(0, FUZZY_MAX_CHARS);
  if (lit.length < 3) return null;
  const first = input.lineOf(from);
  const last = Math.min(input.lineOf(Math.max(from, to - 1)), first + FUZZY_MAX_LINES);
  let best: { dist: number; pos: number } | null = null;
  for (let l = first; l <= last; l++) {
    const s = input.lineStarts[l]!;
    const lineFrom = Math.max(0, from - s);
    const text = input.lineText(l).slice(lineFrom, lineFrom + FUZZY_MAX_CHARS * 2);
    const d = substringDistance(lit, text);
    if (best === null || d.dist < best.dist) best = { dist: d.dist, pos: s + lineFrom + d.start };
  }
  return best !== null && best.dist > 0 && best.dist <= Math.max(2, Math.floor(lit.length / 2)) ? best.pos : null;
}

class Matcher {
  readonly vars = new Map<string, string>();
  constructor(readonly input: Input, readonly checkName: string, readonly strictWs: boolean) {}

  compile(d: Directive): Compiled {
    try {
      return compilePattern(d.pattern, this.vars, this.strictWs);
    } catch (e) {
      throw new CheckError([...this.header(d, (e as Error).message)]);
    }
  }

  header(d: Directive, what: string): string[] {
    return [`${this.checkName}:${d.line}:${d.col}: error: ${d.name}: ${what}`, d.source, `${' '.repeat(d.col - 1)}^`];
  }

  /** First match of `d` in [from, to), or null. Captures are recorded when `record` is set. */
  search(d: Directive, from: number, to: number, record = true): Match | null {
    const c = this.compile(d);
    const hay = this.input.text.slice(0, to);
    c.re.lastIndex = from;
    const m = c.re.exec(hay);
    if (!m) return null;
    if (record) for (const [g, name] of c.defs) this.vars.set(name, m.groups?.[g] ?? '');
    return { start: m.index, end: m.index + m[0].length };
  }

  notFound(d: Directive, from: number, to: number, what = 'expected string not found in input'): CheckError {
    const lines = [...this.header(d, what), ...this.input.note(from, 'scanning from here')];
    const near = possibleMatch(this.input, literalOf(d.pattern, this.vars), from, to);
    if (near !== null) lines.push(...this.input.note(near, 'possible intended match here'));
    lines.push(...this.input.excerpt(this.input.lineOf(near ?? from)));
    return new CheckError(lines);
  }

  newlinesBetween(a: number, b: number): number {
    return this.input.lineOf(b) - this.input.lineOf(a);
  }

  /** Matches the positive directive `d` after `prev`; returns the match (throws on failure). */
  positive(d: Directive, prev: Match | null, to: number): Match {
    const from = prev?.end ?? 0;
    if ((d.kind === 'NEXT' || d.kind === 'SAME' || d.kind === 'EMPTY') && prev === null) {
      throw new CheckError(this.header(d, `found '${d.name}' without a previous match to follow`));
    }
    if (d.kind === 'EMPTY') {
      const line = this.input.lineOf(from) + 1;
      if (line >= this.input.lineCount || this.input.lineStarts[line]! > to || this.input.lineText(line) !== '') {
        throw new CheckError([...this.header(d, 'expected an empty line after the previous match'), ...this.input.note(from, 'previous match ended here'), ...this.input.excerpt(Math.min(line, this.input.lineCount - 1))]);
      }
      const s = this.input.lineStarts[line]!;
      return { start: s, end: s };
    }
    const m = this.search(d, from, to);
    if (!m) throw this.notFound(d, from, to);
    if (d.kind === 'NEXT') {
      const n = this.newlinesBetween(from, m.start);
      if (n !== 1) {
        const what = n === 0 ? 'is on the same line as previous match' : 'is not on the line after the previous match';
        throw new CheckError([...this.header(d, what), ...this.input.note(m.start, "'next' match was here"), ...this.input.note(from, 'previous match ended here'), ...this.input.excerpt(this.input.lineOf(from) + 1)]);
      }
    }
    if (d.kind === 'SAME' && this.newlinesBetween(from, m.start) !== 0) {
      throw new CheckError([...this.header(d, 'is not on the same line as the previous match'), ...this.input.note(m.start, "'same' match was here"), ...this.input.note(from, 'previous match ended here')]);
    }
    return m;
  }

  /** CHECK-NOT patterns must not match in [from, to). */
  checkNots(nots: readonly Directive[], from: number, to: number): void {
    for (const d of nots) {
      const m = this.search(d, from, to, false);
      if (m) throw new CheckError([...this.header(d, 'excluded string found in input'), ...this.input.note(m.start, 'found here'), ...this.input.excerpt(this.input.lineOf(m.start))]);
    }
  }

  /** A group of CHECK-DAGs: each matches somewhere after `from`, in any order, without overlapping. */
  dagGroup(dags: readonly Directive[], from: number, to: number): Match[] {
    const found: Match[] = [];
    for (const d of dags) {
      let pos = from;
      for (;;) {
        const m = this.search(d, pos, to);
        if (!m) throw this.notFound(d, from, to);
        const clash = found.find((f) => m.start < f.end && f.start < m.end);
        if (!clash) {
          found.push(m);
          break;
        }
        pos = Math.max(clash.end, m.start + 1);
      }
    }
    return found;
  }

  /** Matches one block's directives in [from, to), following `prev` (a label match or null). */
  block(ds: readonly Directive[], prev: Match | null, from: number, to: number): void {
    let nots: Directive[] = [];
    let dags: Directive[] = [];
    let last = prev;
    let pos = from;
    const flushDags = (): void => {
      if (dags.length === 0) return;
      const found = this.dagGroup(dags, pos, to);
      const start = Math.min(...found.map((f) => f.start));
      this.checkNots(nots, pos, start);
      nots = [];
      dags = [];
      last = found.reduce((a, b) => (b.end > a.end ? b : a));
      pos = last.end;
    };
    for (const d of ds) {
      if (d.kind === 'NOT') {
        if (dags.length > 0) flushDags();
        nots.push(d);
        continue;
      }
      if (d.kind === 'DAG') {
        dags.push(d);
        continue;
      }
      flushDags();
      for (let i = 0; i < d.count; i++) {
        const m = this.positive(d, last === null ? null : { start: last.start, end: pos }, to);
        this.checkNots(nots, pos, m.start);
        nots = [];
        last = m;
        pos = m.end;
      }
    }
    flushDags();
    this.checkNots(nots, pos, to);
  }
}

/** Runs the directives of `checkText` (for the given prefixes) against `input`. */
export function fileCheck(checkText: string, input: string, opts: FileCheckOptions = {}): FileCheckResult {
  const prefixes = opts.prefixes && opts.prefixes.length > 0 ? opts.prefixes : ['CHECK'];
  const checkName = opts.checkName ?? '<check>';
  let count = 0;
  const fail = (lines: string[]): FileCheckResult => ({ ok: false, directives: count, message: lines.join('\n'), summary: lines[0] ?? '' });
  try {
    const directives = parseDirectivesOrThrow(checkText, prefixes, checkName);
    count = directives.length;
    if (directives.length === 0) {
      throw new CheckError([`${checkName}: error: no check strings found with prefix${prefixes.length > 1 ? 'es' : ''} ${prefixes.map((p) => `'${p}:'`).join(', ')}`]);
    }
    const inp = new Input(input, opts.inputName ?? '<input>');
    const matcher = new Matcher(inp, checkName, opts.strictWhitespace ?? false);
    // labels first: they cut the input into blocks that are then checked independently
    const labels: { index: number; match: Match }[] = [];
    let pos = 0;
    directives.forEach((d, index) => {
      if (d.kind !== 'LABEL') return;
      const m = matcher.search(d, pos, input.length);
      if (!m) throw matcher.notFound(d, pos, input.length);
      labels.push({ index, match: m });
      pos = m.end;
    });
    const firstLabel = labels[0]?.index ?? directives.length;
    matcher.block(directives.slice(0, firstLabel), null, 0, labels[0]?.match.start ?? input.length);
    labels.forEach((l, k) => {
      const next = labels[k + 1];
      matcher.block(directives.slice(l.index + 1, next?.index ?? directives.length), l.match, l.match.end, next?.match.start ?? input.length);
    });
    return { ok: true, directives: count, message: '', summary: '' };
  } catch (e) {
    if (e instanceof CheckError) return fail(e.lines);
    throw e;
  }
}
