/** String ops: StringNormalizer, StringSplit, StringConcat, RegexFullMatch. */
import { KilnError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { tensorType, type Dim } from '../types.js';
import { registerOp } from './registry.js';
import { broadcastInfer, broadcastShapes, forEachBroadcast, requireTensorType } from './util.js';

function requireString(t: Tensor, what: string): string[] {
  if (t.dtype !== 'string') throw new KilnError('type', `${what} must be a string tensor, got ${t.dtype}`);
  return t.data as string[];
}

// ---------- StringNormalizer ----------

function stripAccents(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) return s;
  return s.normalize('NFKD').replace(/\p{M}/gu, '');
}

function removeStopwords(text: string, stops: Set<string>): string {
  return text
    .split(' ')
    .filter((w) => !stops.has(w))
    .join(' ');
}

registerOp({
  opType: 'StringNormalizer',
  since: 10,
  attrs: { case_change_action: 'string', is_case_sensitive: 'int', locale: 'string', stopwords: 'strings' },
  infer: (ctx) => {
    const t = requireTensorType(ctx, 0);
    if (t.dtype !== 'string') throw new KilnError('type', 'StringNormalizer input must be a string tensor');
    if (t.shape === null) return [tensorType('string', null)];
    if (t.shape.length === 1) return [tensorType('string', [null])];
    if (t.shape.length === 2) return [tensorType('string', [t.shape[0]!, null])];
    throw new KilnError('type', 'StringNormalizer input must be 1-D or 2-D');
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const data = requireString(x, 'StringNormalizer input');
    const action = ctx.attrs.string('case_change_action', 'NONE');
    const cs = ctx.attrs.int('is_case_sensitive', 0) !== 0;
    const stopwords = ctx.attrs.strings('stopwords', []);
    if (x.rank !== 1 && x.rank !== 2) throw new KilnError('runtime', 'StringNormalizer input must be 1-D or 2-D');
    if (action !== 'LOWER' && action !== 'UPPER' && action !== 'NONE') throw new KilnError('type', `unknown case_change_action '${action}'`);
    const rawStops = new Set(stopwords);
    const stops = new Set(stopwords.map((w) => (action === 'LOWER' ? w.toLowerCase() : action === 'UPPER' ? w.toUpperCase() : w)));
    const out = data.map((s) => {
      let v = stripAccents(s);
      if (cs && rawStops.size > 0) v = removeStopwords(v, rawStops);
      if (action === 'LOWER') v = v.toLowerCase();
      else if (action === 'UPPER') v = v.toUpperCase();
      if (!cs && stops.size > 0) v = removeStopwords(v, stops);
      return v;
    });
    if (x.rank === 1 || x.shape[0] === 1) {
      let kept = out.filter((w) => w.length > 0);
      if (kept.length === 0) kept = [''];
      return [Tensor.from('string', x.rank === 1 ? [kept.length] : [1, kept.length], kept)];
    }
    return [Tensor.from('string', x.shape, out)];
  },
});

// ---------- StringSplit ----------

function pySplit(s: string, sep: string | null, maxsplit: number): string[] {
  const unlimited = maxsplit < 0;
  if (sep === null) {
    const out: string[] = [];
    let i = 0;
    const n = s.length;
    const ws = (c: string): boolean => /\s/u.test(c);
    while (true) {
      while (i < n && ws(s[i]!)) i++;
      if (i >= n) break;
      if (!unlimited && out.length >= maxsplit) {
        out.push(s.slice(i).replace(/\s+$/u, ''));
        break;
      }
      let j = i;
      while (j < n && !ws(s[j]!)) j++;
      out.push(s.slice(i, j));
      i = j;
    }
    return out;
  }
  const out: string[] = [];
  let start = 0;
  while (unlimited || out.length < maxsplit) {
    const k = s.indexOf(sep, start);
    if (k < 0) break;
    out.push(s.slice(start, k));
    start = k + sep.length;
  }
  out.push(s.slice(start));
  return out;
}

registerOp({
  opType: 'StringSplit',
  since: 20,
  attrs: { delimiter: 'string', maxsplit: 'int' },
  infer: (ctx) => {
    const t = requireTensorType(ctx, 0);
    if (t.dtype !== 'string') throw new KilnError('type', 'StringSplit input must be a string tensor');
    return [tensorType('string', t.shape === null ? null : [...t.shape, null]), tensorType('i64', t.shape)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const data = requireString(x, 'StringSplit input');
    const d = ctx.attrs.optString('delimiter');
    const sep = d === undefined || d === '' ? null : d;
    const maxsplit = ctx.attrs.optInt('maxsplit') ?? -1;
    const parts = data.map((s) => pySplit(s, sep, maxsplit));
    const width = parts.reduce((m, p) => Math.max(m, p.length), 0);
    const y: string[] = [];
    for (const p of parts) for (let k = 0; k < width; k++) y.push(p[k] ?? '');
    const z = Tensor.zeros('i64', x.shape);
    parts.forEach((p, i) => ((z.data as BigInt64Array)[i] = BigInt(p.length)));
    return [Tensor.from('string', [...x.shape, width], y), z];
  },
});

// ---------- StringConcat ----------

registerOp({
  opType: 'StringConcat',
  since: 20,
  infer: (ctx) => broadcastInfer(ctx, 'string'),
  interp: (ctx) => {
    const a = ctx.tensor(0);
    const b = ctx.tensor(1);
    const A = requireString(a, 'StringConcat input');
    const B = requireString(b, 'StringConcat input');
    const shape = broadcastShapes(a.shape, b.shape);
    const out = Tensor.zeros('string', shape);
    const O = out.data as string[];
    forEachBroadcast(shape, [a.shape, b.shape], (o, [i, j]) => {
      O[o] = A[i!]! + B[j!]!;
    });
    return [out];
  },
});

// ---------- RegexFullMatch ----------

/**
 * Translates an RE2 pattern to an equivalent JS RegExp source (unicode mode), or throws
 * 'unsupported' for RE2 constructs without a faithful JS equivalent.
 */
export function re2ToJs(p: string): string {
  if (/\(\?[imsU-]+\)/.test(p) || /\(\?[imsU-]+:/.test(p)) throw new KilnError('unsupported', `unsupported RE2 flag group in pattern '${p}'`);
  if (/\\[CzQE]|\\p[A-Z]|\[\[:/.test(p)) throw new KilnError('unsupported', `unsupported RE2 construct in pattern '${p}'`);
  // RE2 named groups (?P<name>...) are (?<name>...) in JS
  return p.replace(/\(\?P</g, '(?<');
}

function compileRegex(p: string): RegExp {
  const src = re2ToJs(p);
  try {
    return new RegExp(`^(?:${src})$`, 'u');
  } catch {
    try {
      return new RegExp(`^(?:${src})$`);
    } catch (e) {
      throw new KilnError('unsupported', `unsupported regular expression '${p}': ${(e as Error).message}`);
    }
  }
}

registerOp({
  opType: 'RegexFullMatch',
  since: 20,
  attrs: { pattern: 'string' },
  infer: (ctx) => {
    const t = requireTensorType(ctx, 0);
    if (t.dtype !== 'string') throw new KilnError('type', 'RegexFullMatch input must be a string tensor');
    compileRegex(ctx.attrs.string('pattern'));
    return [tensorType('bool', t.shape as Dim[] | null)];
  },
  interp: (ctx) => {
    const x = ctx.tensor(0);
    const data = requireString(x, 'RegexFullMatch input');
    const re = compileRegex(ctx.attrs.string('pattern'));
    return [Tensor.from('bool', x.shape, data.map((s) => re.test(s)))];
  },
});
