/**
 * Serving tabs, as `run` and `gateway` both do: the https certificate (--tls), the server with the
 * worker page, the job's files and the actor sockets, the URLs other machines reach it by, and the
 * lines a person joins with (joinLines.ts; the CLI adds a QR code).
 */
import { ROUTES, withToken } from '../../shared/routes.ts';
import type { JobStatus } from '../../shared/status.ts';
import type { ActorLink } from '../pool/actor.ts';
import type { ToCoordinator } from '../../shared/protocol.ts';
import { attachActorSocket } from './actorSocket.ts';
import { reachableHosts } from './addresses.ts';
import { startServer, type CoordinatorServer, type ServedFile } from './httpServer.ts';
import { tlsFor } from './tlsCert.ts';
import { joinLines } from './joinLines.ts';

export interface ServeOptions {
  host: string;
  port: number;
  tls: 'self-signed' | null;
  tlsCert: string | null;
  tlsKey: string | null;
  maxMessagesPerSecond: number;
  /** A tab silent this long is dropped (--heartbeat). */
  heartbeatMs: number;
}

export interface TabTarget {
  onMessage(link: ActorLink, msg: ToCoordinator, receivedAt: number): void;
  onClose(link: ActorLink, code: number, reason: string): void;
}

export interface Served {
  server: CoordinatorServer;
  /** The worker page as this machine's own tabs open it. */
  workerUrl: string;
  join: JobStatus['join'];
  tls: boolean;
  /** The status page, with the token. */
  statusUrl: string;
  /** Other machines can reach it (it listens on more than loopback): worth a QR code on a terminal. */
  reachable: boolean;
  /** The lines a person joins with (worker URLs, status page, fingerprint). */
  banner: string[];
  /** Advice to print (plain http on a reachable address). */
  notes: string[];
}

export async function serveTabs(
  o: ServeOptions,
  a: {
    cacheDir: string;
    token: string;
    webRoot: string;
    maxPayload: number;
    files: ServedFile[];
    status(join: JobStatus['join']): JobStatus;
    target: () => TabTarget;
    log(line: string): void;
  },
): Promise<Served> {
  const tls = await tlsFor(o, a.cacheDir, a.log);
  const join: JobStatus['join'] = { workerUrls: [], tlsFingerprint: tls?.fingerprint ?? null };
  const server = await startServer({
    host: o.host,
    port: o.port,
    token: a.token,
    webRoot: a.webRoot,
    tls,
    maxPayload: a.maxPayload,
    files: a.files,
    status: () => a.status(join),
    onSocket: (ws, remote) => {
      const t = a.target();
      attachActorSocket(
        ws,
        remote,
        { maxMessagesPerSecond: o.maxMessagesPerSecond, heartbeatMs: o.heartbeatMs },
        { onMessage: (l, m, at) => t.onMessage(l, m, at), onClose: (l, c, r) => t.onClose(l, c, r), log: a.log },
      );
    },
    log: a.log,
  });
  // The URLs other machines can reach (every address for 0.0.0.0); this machine's own tabs use the first.
  const reach = reachableHosts(o.host);
  const origins = reach.urlsHosts.map((h) => `${tls ? 'https' : 'http'}://${h}:${server.port}`);
  join.workerUrls = origins.map((origin) => withToken(origin, ROUTES.workerPage, a.token));
  const statusUrl = withToken(origins[0]!, ROUTES.statusPage, a.token);
  const banner = joinLines({ workerUrls: join.workerUrls, statusUrl, tlsFingerprint: join.tlsFingerprint });
  const notes =
    !reach.loopbackOnly && !tls
      ? ['note: browsers on other machines get WebGPU only over https; add --tls self-signed (they can still run wasm over http)']
      : [];
  return {
    server,
    workerUrl: withToken(server.origin, ROUTES.workerPage, a.token),
    join,
    tls: tls !== null,
    statusUrl,
    reachable: !reach.loopbackOnly,
    banner,
    notes,
  };
}
