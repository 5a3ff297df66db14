/**
 * A separate HTTP server for URL inputs, as a CDN or a bucket would serve them: files from a
 * folder, with or without CORS, and a log of who fetched what (by User-Agent), so a test can tell
 * the tabs' fetches from the coordinator's.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface ImageServer {
  origin: string;
  /** Every request: path and whether a browser (not Node) made it. */
  requests: { path: string; browser: boolean }[];
  close(): Promise<void>;
}

export async function startImageServer(dir: string, opts: { cors: boolean }): Promise<ImageServer> {
  const requests: ImageServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const browser = /Mozilla|Chrome/.test(req.headers['user-agent'] ?? '');
    requests.push({ path: url.pathname, browser });
    const headers: Record<string, string> = opts.cors ? { 'Access-Control-Allow-Origin': '*' } : {};
    const file = path.join(dir, path.posix.normalize(url.pathname).replace(/^\/+/, ''));
    fs.readFile(file).then(
      (bytes) => {
        res.writeHead(200, { ...headers, 'Content-Type': 'image/png', 'Content-Length': bytes.byteLength });
        res.end(bytes);
      },
      () => {
        res.writeHead(404, headers);
        res.end('not found');
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
