/**
 * Starting a standing pool's head, as `tabpool serve` (and the tests) do: its state (tokens, jobs,
 * files) from --state, the pages' build, the server, its URLs, and local tabs when asked.
 */
import path from 'node:path';
import { ROUTES, withToken } from '../../shared/routes.ts';
import type { PoolStatus } from '../../shared/poolStatus.ts';
import { launchTabs, type LaunchedTabs } from '../browser/launcher.ts';
import { ensureWebBuild } from '../browser/webBuild.ts';
import { reachableHosts } from '../server/addresses.ts';
import { tlsFor } from '../server/tlsCert.ts';
import { Head } from './head.ts';
import { startHeadServer } from './headServer.ts';
import { HeadState } from './headState.ts';

export interface HeadSettings {
  host: string;
  port: number;
  tls: 'self-signed' | null;
  tlsCert: string | null;
  tlsKey: string | null;
  /** Where tokens, jobs and files are kept (--state). */
  stateDir: string;
  token: string | null;
  submitToken: string | null;
  /** Local headless tabs to open on the worker URL. */
  launch: number;
  submitterTimeoutMs: number;
  maxMessagesPerSecond: number;
  /** A tab silent this long is dropped (--heartbeat). */
  heartbeatMs: number;
  maxUploadBytes: number;
  /** A test build of the pages (test hooks), or null for the shipped one. */
  webRoot?: string | null;
}

export interface RunningHead {
  origin: string;
  /** The worker page with the join token, as this machine's tabs open it, and as other machines may. */
  workerUrl: string;
  workerUrls: string[];
  joinToken: string;
  submitToken: string;
  statusUrl: string;
  /** Its TLS certificate, when it serves https (a process of its own that submits to it trusts it). */
  cert: string | Buffer | null;
  head: Head;
  status(): PoolStatus;
  close(): Promise<void>;
}

export async function startHead(s: HeadSettings, log: (line: string) => void): Promise<RunningHead> {
  const stateDir = path.resolve(s.stateDir);
  const state = await HeadState.open(stateDir, { joinToken: s.token, submitToken: s.submitToken });
  const webRoot = s.webRoot ?? (await ensureWebBuild(undefined, log));
  const tls = await tlsFor(s, stateDir, log);
  state.onWriteError = (failure) =>
    log(
      failure
        ? `state: ${failure}; jobs' records are kept in memory and written again on the next change`
        : `state: ${path.join(state.dir, 'head.json')} written again`,
    );
  const head = new Head(state, { submitterTimeoutMs: s.submitterTimeoutMs, log });
  const join = { workerUrls: [] as string[], tlsFingerprint: tls?.fingerprint ?? null, heartbeatMs: s.heartbeatMs };
  const status = (): PoolStatus => head.status(join);
  const server = await startHeadServer(head, state, {
    host: s.host,
    // Without --port, the port it had before: tabs and submitting processes reconnect to it.
    port: s.port || state.port,
    webRoot,
    tls,
    maxMessagesPerSecond: s.maxMessagesPerSecond,
    heartbeatMs: s.heartbeatMs,
    maxUploadBytes: s.maxUploadBytes,
    status,
    log,
  });
  state.listensOn(server.port);
  await state.saveNow();
  const origins = reachableHosts(s.host).urlsHosts.map((h) => `${tls ? 'https' : 'http'}://${h}:${server.port}`);
  join.workerUrls = origins.map((o) => withToken(o, ROUTES.workerPage, state.joinToken));
  const workerUrl = withToken(server.origin, ROUTES.workerPage, state.joinToken);
  let launched: LaunchedTabs | null = null;
  if (s.launch > 0) launched = await launchTabs(s.launch, workerUrl, { acceptSelfSigned: tls !== null });
  return {
    origin: server.origin,
    workerUrl,
    workerUrls: join.workerUrls,
    joinToken: state.joinToken,
    submitToken: state.submitToken,
    statusUrl: withToken(origins[0] ?? server.origin, ROUTES.statusPage, state.submitToken),
    cert: tls?.cert ?? null,
    head,
    status,
    close: async () => {
      await launched?.close();
      head.close();
      await server.close();
      await state.saveNow();
    },
  };
}
