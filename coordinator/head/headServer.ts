/**
 * A standing pool's HTTP side: the worker page (anyone may load it; its socket needs the join
 * token), the pool's status page and API, the jobs API, file uploads and the submit socket (all
 * with the submit token only: a tab holding the join token cannot submit, list or cancel), and
 * each job's files, served only with that job's grant, which only the tabs serving it are told.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CLOSE } from '../../shared/closeCodes.ts';
import { parseToHead } from '../../shared/poolProtocol.ts';
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import { attachActorSocket } from '../server/actorSocket.ts';
import { originAllowed, refuseUpgrade, streamFile, tokenMatches, type CoordinatorServer } from '../server/httpServer.ts';
import { ISOLATION_HEADERS, send, serveStatic } from '../server/staticFiles.ts';
import { DEFAULT_LIMITS, DownloadGate, guardConnections, serverOptions, type ConnectionLimits } from '../server/connectionGuard.ts';
import type { Head } from './head.ts';
import type { HeadState } from './headState.ts';

export interface HeadServerOptions {
  host: string;
  port: number;
  webRoot: string;
  tls: { cert: string | Buffer; key: string | Buffer } | null;
  maxMessagesPerSecond: number;
  heartbeatMs: number;
  /** The largest upload (a model) the head accepts, in bytes. */
  maxUploadBytes: number;
  status(): unknown;
  log(line: string): void;
  limits?: ConnectionLimits;
}

const FILE_ROUTE = /^\/(model|actor)\/([0-9a-f]{64})(?:\.(?:onnx|js))?$/;
const CANCEL_ROUTE = /^\/api\/jobs\/([A-Za-z0-9_-]{1,64})\/cancel$/;
const UPLOAD_ROUTE = /^\/api\/files\/([0-9a-f]{64})$/;
/** Batches travel from submitting processes to tabs through the head: room for a large one. */
const SUBMIT_MAX_PAYLOAD = 512 * 2 ** 20;
const TAB_MAX_PAYLOAD = 64 * 2 ** 20;

function refused(res: http.ServerResponse, status: number, code: string, message: string): void {
  send(res, status, JSON.stringify({ error: { code, message } }), 'application/json');
}

export async function startHeadServer(head: Head, state: HeadState, o: HeadServerOptions): Promise<CoordinatorServer> {
  const tabs = new WebSocketServer({ noServer: true, maxPayload: TAB_MAX_PAYLOAD, perMessageDeflate: false });
  const limits = o.limits ?? DEFAULT_LIMITS;
  const downloads = new DownloadGate(limits);
  const submitters = new WebSocketServer({ noServer: true, maxPayload: SUBMIT_MAX_PAYLOAD, perMessageDeflate: false });
  const needSubmit = (token: string | null, res: http.ServerResponse): boolean => {
    if (tokenMatches(token, state.submitToken)) return true;
    const why = tokenMatches(token, state.joinToken)
      ? 'the join token lets a browser serve; this needs the submit token tabpool serve printed'
      : 'missing or wrong submit token';
    refused(res, 401, 'SUBMIT_REFUSED', why);
    return false;
  };
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const token = url.searchParams.get(TOKEN_PARAM);
    const route = url.pathname;
    if (route === ROUTES.workerPage || `${route}/` === ROUTES.workerPage) return serveStatic(res, o.webRoot, 'index.html');
    if (route.startsWith(ROUTES.assets)) return serveStatic(res, o.webRoot, route.slice(1));
    if (route === '/favicon.ico' || route === `${ROUTES.workerPage}favicon.ico`) {
      res.writeHead(204, ISOLATION_HEADERS);
      return void res.end();
    }
    const file = FILE_ROUTE.exec(route);
    if (file) {
      if (!token || !head.grantAllows(token, file[2]!)) return send(res, 401, 'this file is served only to the tabs serving its job');
      return serveJobFile(req, res, { sha256: file[2]!, actor: file[1] === 'actor' }, state, downloads, o.log);
    }
    if (route === ROUTES.statusPage || route === '/index.html') {
      if (!needSubmit(token, res)) return;
      return serveStatic(res, o.webRoot, 'pool.html');
    }
    if (route === ROUTES.statusApi && req.method === 'GET') {
      if (!needSubmit(token, res)) return;
      return send(res, 200, JSON.stringify(o.status()), 'application/json');
    }
    if (route === ROUTES.jobsApi && req.method === 'GET') {
      if (!needSubmit(token, res)) return;
      return send(res, 200, JSON.stringify(state.records()), 'application/json');
    }
    const cancel = CANCEL_ROUTE.exec(route);
    if (cancel && req.method === 'POST') {
      if (!needSubmit(token, res)) return;
      const record = head.cancel(cancel[1]!);
      if (!record) return refused(res, 404, 'JOB_NOT_FOUND', `the head has no job ${cancel[1]}; tabpool jobs lists them`);
      return send(res, 200, JSON.stringify(record), 'application/json');
    }
    const upload = UPLOAD_ROUTE.exec(route);
    if (upload && (req.method === 'HEAD' || req.method === 'PUT')) {
      if (!needSubmit(token, res)) return;
      if (req.method === 'HEAD') return send(res, state.hasFile(upload[1]!) ? 200 : 404, '');
      return receiveUpload(req, res, upload[1]!, state, o.maxUploadBytes);
    }
    return send(res, 404, 'not found');
  };
  const serve = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handler(req, res).catch((err: unknown) => {
      o.log(`request ${req.method} ${req.url?.split('?')[0]} failed: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, 'internal error');
      else res.destroy();
    });
  };
  const server = o.tls
    ? https.createServer({ cert: o.tls.cert, key: o.tls.key, ...serverOptions(limits) }, serve)
    : http.createServer(serverOptions(limits), serve);
  guardConnections(server, limits, o.log);
  server.on('upgrade', upgrades(head, state, o, tabs, submitters));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = o.host === '0.0.0.0' || o.host === '::' ? 'localhost' : o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    origin: `${o.tls ? 'https' : 'http'}://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of [...tabs.clients, ...submitters.clients]) c.terminate();
        tabs.close();
        submitters.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** The head's WebSocket upgrades: tabs with the join token, submitting processes with the submit token. */
function upgrades(head: Head, state: HeadState, o: HeadServerOptions, tabs: WebSocketServer, submitters: WebSocketServer) {
  return (req: http.IncomingMessage, socket: Duplex, rest: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const token = url.searchParams.get(TOKEN_PARAM);
    if (!originAllowed(req.headers.origin, req.headers.host)) return refuseUpgrade(socket, 403, 'foreign Origin');
    if (url.pathname === ROUTES.socket) {
      if (!tokenMatches(token, state.joinToken)) {
        o.log(`refused a tab's WebSocket from ${remote}: missing or wrong join token`);
        return refuseUpgrade(socket, 401, 'missing or wrong join token');
      }
      return tabs.handleUpgrade(req, socket, rest, (ws) => {
        attachActorSocket(
          ws,
          remote,
          { maxMessagesPerSecond: o.maxMessagesPerSecond, heartbeatMs: o.heartbeatMs },
          { onMessage: (l, m, _at, text) => head.onTabMessage(l, m, text), onClose: (l, c, r) => head.onTabClose(l, c, r), log: o.log },
        );
      });
    }
    if (url.pathname === ROUTES.submitSocket) {
      if (!tokenMatches(token, state.submitToken)) {
        o.log(`refused a submit socket from ${remote}: missing or wrong submit token`);
        return refuseUpgrade(socket, 401, 'missing or wrong submit token');
      }
      return submitters.handleUpgrade(req, socket, rest, (ws) => attachSubmitter(head, ws, remote, o.log));
    }
    return refuseUpgrade(socket, 404, 'not found');
  };
}

/** A job's file to a tab of the job (the grant checked by the caller), streamed from --state, by its hash. */
async function serveJobFile(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  f: { sha256: string; actor: boolean },
  state: HeadState,
  downloads: DownloadGate,
  log: (line: string) => void,
): Promise<void> {
  if (req.headers['if-none-match'] === `"${f.sha256}"`) {
    res.writeHead(304, ISOLATION_HEADERS);
    return void res.end();
  }
  const stat = await fs.stat(state.filePath(f.sha256)).catch(() => null);
  if (!stat) return send(res, 404, 'not found');
  if (!downloads.admit(req, res, ISOLATION_HEADERS)) return;
  const contentType = f.actor ? 'text/javascript' : 'application/octet-stream';
  streamFile(res, { route: '', sha256: f.sha256, path: state.filePath(f.sha256), bytes: stat.size, contentType }, log);
}

/** `PUT /api/files/SHA256`: a job's file, written to --state as it arrives; refused past --max-upload or when its hash differs. */
async function receiveUpload(req: http.IncomingMessage, res: http.ServerResponse, sha256: string, state: HeadState, maxBytes: number) {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) return refused(res, 413, 'SUBMIT_REFUSED', `uploads are limited to ${maxBytes} bytes`);
  try {
    await state.putFile(sha256, req as AsyncIterable<Buffer>, maxBytes);
  } catch (err) {
    return refused(res, (err as Error).cause === 'too large' ? 413 : 400, 'SUBMIT_REFUSED', (err as Error).message);
  }
  send(res, 201, '');
}

/** A submitting process's socket: text frames validated, a bad one closes it; pings find a dead peer. */
function attachSubmitter(head: Head, ws: WebSocket, remote: string, log: (line: string) => void): void {
  const h = head.onSubmitter({
    send: (msg) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg)),
    close: (code, reason) => ws.close(code, reason.slice(0, 120)),
  });
  let alive = true;
  const ping = setInterval(() => {
    if (!alive) return ws.terminate();
    alive = false;
    ws.ping();
  }, 15_000);
  ping.unref();
  ws.on('pong', () => (alive = true));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    try {
      if (isBinary) return h.binary(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      const parsed = parseToHead(buf.toString('utf8'));
      if (!parsed.ok) throw new Error(`invalid message: ${parsed.error}`);
      h.message(parsed.value);
    } catch (err) {
      log(`closing the submit socket from ${remote}: ${(err as Error).message}`);
      ws.close(CLOSE.policyViolation, (err as Error).message.slice(0, 120));
    }
  });
  ws.on('error', (err) => log(`submit socket error from ${remote}: ${err.message}`));
  ws.on('close', () => {
    clearInterval(ping);
    h.closed();
  });
}
