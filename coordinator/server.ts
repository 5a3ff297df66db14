/**
 * The coordinator's HTTP side: the worker page (the Vite build), the model file, the status API,
 * and the WebSocket upgrade, which is refused at the HTTP layer without the job's token or from a
 * foreign Origin. Every response carries the cross-origin-isolation headers wasm threads need.
 */
import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';

export interface ServerOptions {
  host: string;
  port: number;
  token: string;
  webRoot: string;
  tls: { cert: Buffer; key: Buffer } | null;
  /** Largest message accepted from a client, in bytes. */
  maxPayload: number;
  model: { sha256: string; bytes: Uint8Array };
  status(): unknown;
  statusPage(): string;
  onSocket(ws: WebSocket, remote: string): void;
  log(line: string): void;
}

export interface CoordinatorServer {
  url: string;
  workerUrl: string;
  port: number;
  close(): Promise<void>;
}

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

async function serveStatic(res: http.ServerResponse, root: string, rel: string): Promise<void> {
  const file = path.resolve(root, `.${path.posix.normalize(`/${rel}`)}`);
  if (!file.startsWith(path.resolve(root) + path.sep)) return send(res, 404, 'not found');
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    return send(res, 404, 'not found');
  }
  if (!stat.isFile()) return send(res, 404, 'not found');
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': stat.size,
    // Hashed asset names never change; the HTML must be revalidated.
    'Cache-Control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  createReadStream(file).pipe(res);
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  socket.destroy();
}

/** The Origin a browser sends must name this server (same host:port as the Host header). */
function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true; // Non-browser clients (Node, curl) send none; the token still applies.
  if (!hostHeader) return false;
  try {
    return new URL(origin).host === hostHeader;
  } catch {
    return false;
  }
}

export async function startServer(opts: ServerOptions): Promise<CoordinatorServer> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false });
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const token = url.searchParams.get('token');
    const route = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
    if (route === '/' || route === '/index.html') {
      if (!tokenMatches(token, opts.token)) return send(res, 401, 'tabpool: this page needs the job token; open the URL the coordinator printed');
      return send(res, 200, opts.statusPage(), 'text/html; charset=utf-8');
    }
    if (route === '/favicon.ico' || route === '/worker/favicon.ico') {
      res.writeHead(204, ISOLATION_HEADERS);
      return void res.end();
    }
    if (route === '/worker' || route === '/worker/') return void serveStatic(res, opts.webRoot, 'index.html');
    if (route.startsWith('/worker/')) return void serveStatic(res, opts.webRoot, route.slice('/worker/'.length));
    if (route === '/api/status') {
      if (!tokenMatches(token, opts.token)) return send(res, 401, JSON.stringify({ error: 'missing or wrong token' }), 'application/json');
      return send(res, 200, JSON.stringify(opts.status()), 'application/json');
    }
    if (route === `/model/${opts.model.sha256}.onnx`) {
      if (!tokenMatches(token, opts.token)) return send(res, 401, 'missing or wrong token');
      if (req.headers['if-none-match'] === `"${opts.model.sha256}"`) {
        res.writeHead(304, ISOLATION_HEADERS);
        return void res.end();
      }
      res.writeHead(200, {
        ...ISOLATION_HEADERS,
        'Content-Type': 'application/octet-stream',
        'Content-Length': opts.model.bytes.byteLength,
        ETag: `"${opts.model.sha256}"`,
        'Cache-Control': 'private, max-age=31536000, immutable',
      });
      return void res.end(opts.model.bytes);
    }
    return send(res, 404, 'not found');
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    if (url.pathname !== '/ws') return refuseUpgrade(socket, 404, 'not found');
    if (!tokenMatches(url.searchParams.get('token'), opts.token)) {
      opts.log(`refused WebSocket from ${remote}: missing or wrong token`);
      return refuseUpgrade(socket, 401, 'missing or wrong token');
    }
    if (!originAllowed(req.headers.origin, req.headers.host)) {
      opts.log(`refused WebSocket from ${remote}: foreign Origin ${req.headers.origin}`);
      return refuseUpgrade(socket, 403, 'foreign Origin');
    }
    wss.handleUpgrade(req, socket, head, (ws) => opts.onSocket(ws, remote));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = opts.tls ? 'https' : 'http';
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? 'localhost' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const base = `${scheme}://${shownHost}:${port}`;
  return {
    url: `${base}/?token=${opts.token}`,
    workerUrl: `${base}/worker/?token=${opts.token}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
