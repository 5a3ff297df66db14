/**
 * A standing pool in this process, for tests: a head on a loopback port with its state in a scratch
 * folder (no web build: a stub page), and jobs submitted to it through the API (`on`), as
 * `tabpool run --on` submits them.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkedOptions, type MapBatchesOptions } from '../../coordinator/api/apiOptions.ts';
import { TabpoolJob } from '../../coordinator/api/tabpoolJob.ts';
import { startHead, type RunningHead } from '../../coordinator/head/startHead.ts';
import { CACHE_DIR } from './coordinatorProcess.ts';

export async function scratch(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `tabpool-${prefix}-`));
}

/** A head with its state in `stateDir` (port: the one it had, or any). */
export async function startTestHead(stateDir: string, o: { submitterTimeoutMs?: number; log?: string[] } = {}): Promise<RunningHead> {
  const webRoot = path.join(stateDir, '..', 'web-stub');
  await fs.mkdir(webRoot, { recursive: true });
  for (const page of ['index.html', 'pool.html']) await fs.writeFile(path.join(webRoot, page), `<!doctype html><title>${page}</title>`);
  return startHead(
    {
      host: '127.0.0.1',
      port: 0,
      tls: null,
      tlsCert: null,
      tlsKey: null,
      stateDir,
      token: null,
      submitToken: null,
      launch: 0,
      submitterTimeoutMs: o.submitterTimeoutMs ?? 60_000,
      maxMessagesPerSecond: 100_000,
      heartbeatMs: 15_000,
      maxUploadBytes: 2 ** 30,
      webRoot,
    },
    (line) => o.log?.push(line),
  );
}

/** A job on the head, as the API submits it: `tabpool run --on` in this process. */
export function submitJob(
  head: { origin: string; submitToken: string },
  source: { data: string; out: string },
  options: MapBatchesOptions,
  write: { resume?: boolean } = {},
): TabpoolJob {
  const o = checkedOptions(
    { data: source.data, actor: null, out: source.out },
    { on: head.origin, submitToken: head.submitToken, ep: 'wasm', verify: 0, cacheDir: CACHE_DIR, ...options },
    write.resume ? { resume: true } : { overwrite: true },
  );
  return new TabpoolJob(o);
}
