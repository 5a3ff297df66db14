/**
 * What keeps the HTTP side serving tabs under slowloris and floods, for the job's server and a
 * standing pool's head alike:
 * - headers must arrive whole within `headerTimeoutMs` (a client sending them a byte at a time is
 *   cut off), and the whole request within `requestTimeoutMs`;
 * - an address may hold at most `maxPendingPerAddress` connections that have gone `slowAfterMs`
 *   without a whole request: a new connection from it closes its oldest such ones first, so a tab
 *   behind the same NAT as a slowloris still gets in. A burst of fresh connections (a lab's tabs
 *   rejoining at once after a head restart) is admitted up to `maxBurstPerAddress`; only past that is
 *   a new one closed at once. Connections that sent a whole request (tabs' sockets, keep-alive
 *   fetches) never count;
 * - the job's files (the model, a user's actor module) go out to at most `maxDownloads` clients at
 *   once, `maxDownloadsPerAddress` of them from one address; beyond, 429 with Retry-After (the page
 *   waits and retries), so that fetching the model over and over cannot take the server's uplink.
 */
import type http from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  headerTimeoutMs: number;
  requestTimeoutMs: number;
  maxPendingPerAddress: number;
  /** How long a connection may go without a whole request before it counts as slow. */
  slowAfterMs: number;
  /** Connections short of a whole request an address may hold at all, slow or not. */
  maxBurstPerAddress: number;
  maxDownloads: number;
  maxDownloadsPerAddress: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  maxPendingPerAddress: 32,
  slowAfterMs: 2_000,
  maxBurstPerAddress: 1_024,
  maxDownloads: 16,
  maxDownloadsPerAddress: 4,
};

/** The options `http.createServer` takes for these limits (the header clock is checked every half second). */
export function serverOptions(l: ConnectionLimits): http.ServerOptions {
  return {
    headersTimeout: l.headerTimeoutMs,
    requestTimeout: Math.max(l.requestTimeoutMs, l.headerTimeoutMs + 1),
    connectionsCheckingInterval: Math.min(500, l.headerTimeoutMs),
  };
}

/**
 * Keeps, per address, the connections that have not sent a whole request, oldest first (a Map keeps
 * insertion order); closes the slow ones past the limit, and refuses past the burst limit.
 */
export function guardConnections(server: http.Server | https.Server, l: ConnectionLimits, log: (line: string) => void): void {
  const pending = new Map<string, Map<Socket, number>>();
  const owner = new WeakMap<Socket, string>();
  const settle = (socket: Socket): void => {
    const a = owner.get(socket);
    if (a === undefined) return;
    owner.delete(socket);
    const mine = pending.get(a);
    mine?.delete(socket);
    if (mine?.size === 0) pending.delete(a);
  };
  let warnedAt = 0;
  const warn = (line: string): void => {
    if (Date.now() - warnedAt < 10_000) return;
    warnedAt = Date.now();
    log(line);
  };
  server.on('connection', (socket: Socket) => {
    const a = socket.remoteAddress ?? '?';
    let mine = pending.get(a);
    if (!mine) pending.set(a, (mine = new Map()));
    const now = Date.now();
    let slow = 0;
    for (const since of mine.values()) {
      if (now - since < l.slowAfterMs) break;
      slow++;
    }
    if (slow >= l.maxPendingPerAddress) {
      warn(`closing slow connections from ${a}: ${slow} open over ${l.slowAfterMs / 1000}s without a whole request (slowloris?)`);
      for (const old of [...mine.keys()].slice(0, slow - l.maxPendingPerAddress + 1)) {
        settle(old);
        old.destroy();
      }
    }
    if (mine.size >= l.maxBurstPerAddress) {
      warn(`refusing connections from ${a}: ${mine.size} already open without a whole request`);
      socket.destroy();
      return;
    }
    mine.set(socket, now);
    owner.set(socket, a);
    socket.once('close', () => settle(socket));
  });
  // TLS: the plain socket is counted ('connection'); its request arrives on the TLS socket, whose `_parent` is it.
  const requestOn = (socket: Socket): void => settle(((socket as Socket & { _parent?: Socket })._parent ?? socket) as Socket);
  server.on('request', (req: http.IncomingMessage) => requestOn(req.socket));
  server.on('upgrade', (req: http.IncomingMessage) => requestOn(req.socket));
}

/** Downloads of the job's files in progress: a slot is taken for each, and given back when its response ends. */
export class DownloadGate {
  private total = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly l: ConnectionLimits) {}

  /** Takes a slot for `res` (given back when it finishes or is cut), or answers 429 and returns false. */
  admit(req: http.IncomingMessage, res: http.ServerResponse, headers: Record<string, string>): boolean {
    const a = req.socket.remoteAddress ?? '?';
    const mine = this.perAddress.get(a) ?? 0;
    if (this.total >= this.l.maxDownloads || mine >= this.l.maxDownloadsPerAddress) {
      res.writeHead(429, { ...headers, 'Retry-After': '1', 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(
        mine >= this.l.maxDownloadsPerAddress
          ? `too many downloads at once from ${a} (${mine}); retry in a second`
          : 'too many downloads at once; retry in a second',
      );
      return false;
    }
    this.total++;
    this.perAddress.set(a, mine + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.perAddress.get(a) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(a);
      else this.perAddress.set(a, n);
    };
    res.once('finish', release);
    res.once('close', release);
    return true;
  }
}
