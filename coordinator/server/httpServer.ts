/**
 * The coordinator's HTTP side: the worker page and the status page (both Vite builds), the model
 * file, the status API, and the WebSocket upgrade, which is refused at the HTTP layer without the
 * job's token or from a foreign Origin.
 */
import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import type { JobStatus } from '../../shared/status.ts';
import { DEFAULT_LIMITS, DownloadGate, guardConnections, serverOptions, type ConnectionLimits } from './connectionGuard.ts';
import { ISOLATION_HEADERS, send, serveStatic } from './staticFiles.ts';

export interface ServerOptions {
  host: string;
  port: number;
  token: string;
  /** The pages' build (dist/web): index.html is the worker page, status.html the status page. */
  webRoot: string;
  tls: { cert: string | Buffer; key: string | Buffer } | null;
  /** Largest message accepted from a client, in bytes. */
  maxPayload: number;
  /** The job's files tabs fetch with the token (the model, a user's actor module), by route. */
  files: ServedFile[];
  status(): JobStatus;
  onSocket(ws: WebSocket, remote: string): void;
  log(line: string): void;
  /** Slowloris and flood limits (connectionGuard.ts); the defaults when absent. */
  limits?: ConnectionLimits;
}

export interface CoordinatorServer {
  /** `http(s)://host:port` as this machine reaches it. */
  origin: string;
  port: number;
  close(): Promise<void>;
}

export function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.write(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: ` +
      `text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
  socket.destroy();
}

/** The Origin a browser sends must name this server (same host:port as the Host header). */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true; // Non-browser clients (Node, curl) send none; the token still applies.
  if (!hostHeader) return false;
  try {
    return new URL(origin).host === hostHeader;
  } catch {
    return false;
  }
}

/** A file of the job's, served by content (its sha256 is its name and ETag), to token holders only, streamed from disk. */
export interface ServedFile {
  route: string;
  sha256: string;
  path: string;
  /** Its size. */
  bytes: number;
  contentType: string;
}

/**
 * Sends a job file from disk in chunks (a file of gigabytes costs the coordinator a buffer, not its
 * size); a file that changed or went since the job started ends the response short, which the tab's
 * sha256 check then refuses.
 */
export function streamFile(res: http.ServerResponse, file: ServedFile, log: (line: string) => void): void {
  const stream = createReadStream(file.path, { highWaterMark: 1 << 20 });
  stream.once('open', () => {
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'Content-Type': file.contentType,
      'Content-Length': file.bytes,
      ETag: `"${file.sha256}"`,
      'Cache-Control': 'private, max-age=31536000, immutable',
    });
    stream.pipe(res);
  });
  stream.once('error', (err) => {
    log(`could not send ${file.path}: ${err.message}`);
    if (!res.headersSent) send(res, 500, 'the file could not be read');
    else res.destroy();
  });
  res.once('close', () => stream.destroy());
}

export async function startServer(opts: ServerOptions): Promise<CoordinatorServer> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false });
  const files = new Map(opts.files.map((f) => [f.route, f]));
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const downloads = new DownloadGate(limits);
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const token = url.searchParams.get(TOKEN_PARAM);
    const route = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
    if (route === ROUTES.statusPage || route === '/index.html') {
      if (!tokenMatches(token, opts.token))
        return send(res, 401, 'tabpool: this page needs the job token; open the URL the coordinator printed');
      return void serveStatic(res, opts.webRoot, 'status.html');
    }
    if (route === '/favicon.ico' || route === `${ROUTES.workerPage}favicon.ico`) {
      res.writeHead(204, ISOLATION_HEADERS);
      return void res.end();
    }
    if (route === ROUTES.workerPage || `${route}/` === ROUTES.workerPage) return void serveStatic(res, opts.webRoot, 'index.html');
    if (route.startsWith(ROUTES.assets)) return void serveStatic(res, opts.webRoot, route.slice(1));
    if (route === ROUTES.statusApi) {
      if (!tokenMatches(token, opts.token)) return send(res, 401, JSON.stringify({ error: 'missing or wrong token' }), 'application/json');
      return send(res, 200, JSON.stringify(opts.status()), 'application/json');
    }
    const file = files.get(route);
    if (file) {
      if (!tokenMatches(token, opts.token)) return send(res, 401, 'missing or wrong token');
      if (req.headers['if-none-match'] === `"${file.sha256}"`) {
        res.writeHead(304, ISOLATION_HEADERS);
        return void res.end();
      }
      if (!downloads.admit(req, res, ISOLATION_HEADERS)) return;
      if (req.method === 'HEAD') {
        res.writeHead(200, { ...ISOLATION_HEADERS, 'Content-Length': file.bytes, ETag: `"${file.sha256}"` });
        return void res.end();
      }
      return void streamFile(res, file, opts.log);
    }
    return send(res, 404, 'not found');
  };
  const server = opts.tls
    ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, ...serverOptions(limits) }, handler)
    : http.createServer(serverOptions(limits), handler);
  guardConnections(server, limits, opts.log);
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    if (url.pathname !== ROUTES.socket) return refuseUpgrade(socket, 404, 'not found');
    if (!tokenMatches(url.searchParams.get(TOKEN_PARAM), opts.token)) {
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
  return {
    origin: `${scheme}://${shownHost}:${port}`,
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
