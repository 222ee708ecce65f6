// A static server for the demo page's production build (packages/demo/dist) on a free localhost
// port, for the e2e tests (demo, sweep) and bench/demo_threads.mjs. Every response carries the cross-origin
// isolation headers the page's threaded wasm module needs (packages/demo/vite.config.ts), except
// under /plain/ (the same files without them: the single-threaded fallback).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** Serve `dist`: resolves to `{ base, served, close }` (`served`: the paths asked for, in order). */
export async function serveDist(dist) {
  const served = [];
  const server = createServer(async (req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const plain = path.startsWith('/plain/');
    if (plain) path = path.slice('/plain'.length);
    const file = normalize(join(dist, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(dist + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      served.push(path);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...(plain ? {} : ISOLATION) }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { base: `http://127.0.0.1:${server.address().port}/`, served, close: () => server.close() };
}
