/**
 * A static HTTP server bound to 127.0.0.1 only, for the pages Kiln serves (`kiln serve`) and drives
 * in a headless browser (`kiln bench --target wgsl`). It answers GET/HEAD for its pages (exact
 * paths) and the files of its folders (URL prefix → folder; a path that resolves outside its folder
 * is not found), nothing else, and records every request so callers can show nothing left loopback.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain; charset=utf-8',
};

/** A page's content. */
export type PageBody = string | Uint8Array;

export interface LoopbackOptions {
  /** Exact path → content; the type comes from the path's extension (no extension: HTML). */
  readonly pages?: ReadonlyMap<string, PageBody>;
  /** URL prefix ending in '/' → folder whose files it serves. */
  readonly folders?: ReadonlyMap<string, string>;
  /** Headers sent with every answer (e.g. a content security policy). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Port (0 or absent: any free one). */
  readonly port?: number;
}

export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Paths requested so far, in order. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

/** A file under root named by a path relative to it, or null when it leaves root or names no file. */
function fileInside(root: string, rel: string): string | null {
  const f = path.resolve(root, '.' + path.posix.normalize('/' + rel));
  if (f !== root && !f.startsWith(root + path.sep)) return null;
  return fs.existsSync(f) && fs.statSync(f).isFile() ? f : null;
}

function typeOf(p: string): string {
  const ext = path.extname(p);
  return ext === '' ? CONTENT_TYPES['.html']! : CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

export async function startLoopbackServer(opts: LoopbackOptions): Promise<LoopbackServer> {
  const requests: string[] = [];
  const folders = [...(opts.folders ?? new Map<string, string>())].map(([prefix, dir]) => [prefix, path.resolve(dir)] as const);
  const server = http.createServer((req, res) => {
    const send = (code: number, body: string | Uint8Array, type: string): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', ...opts.headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(url.pathname);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET only\n', 'text/plain; charset=utf-8');
    let p: string;
    try {
      p = decodeURIComponent(url.pathname);
    } catch {
      return send(400, 'bad path\n', 'text/plain; charset=utf-8');
    }
    const page = opts.pages?.get(p);
    if (page !== undefined) return send(200, page, typeOf(p));
    for (const [prefix, dir] of folders) {
      if (!p.startsWith(prefix)) continue;
      const file = fileInside(dir, p.slice(prefix.length));
      if (file) return send(200, fs.readFileSync(file), typeOf(file));
    }
    return send(404, 'not found\n', 'text/plain; charset=utf-8');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // loopback only: nothing off this machine can reach the server
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
