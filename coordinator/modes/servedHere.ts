/**
 * Tabs served by this process (`run`, `run --queue`, `tabpool gateway`): the server with the worker
 * page, the job's files and the actor sockets, its URLs and join lines, and `--launch K` local
 * headless tabs opened once it listens. A failed launch fails the job (its tabs were asked for).
 */
import { randomBytes } from 'node:crypto';
import { launchTabs, type LaunchedTabs } from '../browser/launcher.ts';
import type { CoordinatorServer, ServedFile } from '../server/httpServer.ts';
import { serveTabs, type ServeOptions } from '../server/serveTabs.ts';
import type { StartedJob, TabSource, TabTarget } from './jobMode.ts';

export interface ServedHereOptions extends ServeOptions {
  /** Local headless tabs to open (0: wait for browsers to join). */
  launch: number;
  /** The join token (--token), or null for a random one. */
  token: string | null;
  cacheDir: string;
  webRoot: string;
  maxPayload: number;
  files: ServedFile[];
  log(line: string): void;
}

export function servedHere(o: ServedHereOptions): TabSource {
  const token = o.token ?? randomBytes(18).toString('base64url');
  let server: CoordinatorServer | null = null;
  let launching: Promise<LaunchedTabs | null> | null = null;
  return {
    token,
    async open(target: TabTarget): Promise<StartedJob> {
      const served = await serveTabs(o, {
        cacheDir: o.cacheDir,
        token,
        webRoot: o.webRoot,
        maxPayload: o.maxPayload,
        files: o.files,
        status: (join) => target.status(join),
        target: () => target,
        log: o.log,
      });
      server = served.server;
      if (o.launch > 0) {
        launching = launchTabs(o.launch, served.workerUrl, { acceptSelfSigned: served.tls }, (i, line) => {
          if (/error|fail/i.test(line)) o.log(`tab ${i}: ${line}`);
        }).catch((err: unknown) => {
          target.fail(err);
          return null;
        });
      }
      return {
        workerUrl: served.workerUrl,
        join: served.join,
        statusUrl: served.statusUrl,
        banner: served.banner,
        reachable: served.reachable,
        notes: served.notes,
      };
    },
    progress: () => undefined,
    async close(): Promise<void> {
      // Tabs first (their actors leave), then the server.
      await (await launching)?.close();
      await server?.close();
    },
  };
}
