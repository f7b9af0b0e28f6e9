/**
 * `kiln serve [dir]`: an HTTP server on the loopback interface only, serving the page of
 * src/browser/page.ts, the compiler core bundled for the browser by esbuild (from
 * dist/browser/compiler.js at start; Node built-ins, which only other commands' code calls, get an
 * inert stand-in), and the model folders of `dir` (each with model.onnx and test_data_set_0) as
 * samples. It serves nothing else: no path outside those roots, GET/HEAD only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../ir/errors.js';
import { NODE_STUB_JS, PAGE_HTML, PAGE_JS } from '../browser/page.js';
import { startLoopbackServer, type PageBody } from './loopback-server.js';

export interface ServeOptions {
  /** Folder of model folders offered as samples (default: the package's samples/). */
  readonly dir?: string;
  /** Port (0: any free one). */
  readonly port?: number;
}

export interface Server {
  readonly url: string;
  close(): Promise<void>;
}

interface Sample {
  readonly name: string;
  readonly inputs: string[];
  readonly outputs: string[];
}

/** The package root (where package.json is), from this module's place in src/ or dist/. */
function packageRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(d, 'package.json'))) {
    const up = path.dirname(d);
    if (up === d) throw new KilnError('runtime', 'kiln serve: cannot find the package root');
    d = up;
  }
  return d;
}

/** Model folders of dir (or dir itself) with model.onnx; inputs/outputs of test_data_set_0 when present. */
export function listSamples(dir: string): Sample[] {
  const one = (folder: string, name: string): Sample | null => {
    if (!fs.existsSync(path.join(folder, 'model.onnx'))) return null;
    const set = path.join(folder, 'test_data_set_0');
    const pbs = fs.existsSync(set) ? fs.readdirSync(set).filter((f) => f.endsWith('.pb')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })) : [];
    return { name, inputs: pbs.filter((f) => f.startsWith('input_')).map((f) => `test_data_set_0/${f}`), outputs: pbs.filter((f) => f.startsWith('output_')).map((f) => `test_data_set_0/${f}`) };
  };
  const self = one(dir, path.basename(dir));
  if (self) return [self];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => one(path.join(dir, e.name), e.name))
    .filter((s): s is Sample => s !== null)
    .sort((a, b) => a.name.localeCompare(b.name));
}

interface Esbuild {
  build(o: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
}

/** The compiler core as one ES module for the browser (esbuild, a dev dependency). */
export async function bundleCompiler(entry: string): Promise<string> {
  let esbuild: Esbuild;
  try {
    esbuild = (await import('esbuild' as string)) as Esbuild;
  } catch {
    throw new KilnError('unsupported', 'kiln serve needs esbuild to bundle the compiler for the browser: npm install esbuild');
  }
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'node-builtins',
        setup(b: { onResolve: (o: object, f: (a: { path: string }) => object) => void; onLoad: (o: object, f: () => object) => void }): void {
          b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
          b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: NODE_STUB_JS, loader: 'js' }));
        },
      },
    ],
  });
  return r.outputFiles[0]!.text;
}

export async function startServer(opts: ServeOptions = {}): Promise<Server> {
  const root = packageRoot();
  const dist = path.join(root, 'dist');
  if (!fs.existsSync(path.join(dist, 'browser', 'compiler.js'))) throw new KilnError('runtime', `kiln serve: ${dist}/browser/compiler.js is missing (build with npx tsc -p tsconfig.json)`);
  const dir = path.resolve(opts.dir ?? path.join(root, 'samples'));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new KilnError('usage', `kiln serve: '${dir}' is not a folder`);
  const samples = listSamples(dir);
  const single = samples.length === 1 && fs.existsSync(path.join(dir, 'model.onnx'));
  const bundle = await bundleCompiler(path.join(dist, 'browser', 'compiler.js'));
  const pages = new Map<string, PageBody>([
    ['/', PAGE_HTML],
    ['/index.html', PAGE_HTML],
    ['/kiln.js', bundle],
    ['/app.js', PAGE_JS],
    ['/samples.json', JSON.stringify(samples)],
  ]);
  const folders = new Map(samples.map((s) => [`/samples/${s.name}/`, single ? dir : path.join(dir, s.name)]));
  const server = await startLoopbackServer({
    pages,
    folders,
    port: opts.port ?? 0,
    // the page may only talk to this server (protobuf.js builds its decoders with Function: unsafe-eval)
    headers: { 'content-security-policy': "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:" },
  });
  return { url: `${server.origin}/`, close: () => server.close() };
}
