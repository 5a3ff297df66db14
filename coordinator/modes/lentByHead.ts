/**
 * Tabs lent by a standing pool's head (`run --on URL`, and each job of `serve --queue`): the job's
 * files uploaded, the job submitted, each lent tab turned into an ActorLink for the job's own actor
 * host (remote/remotePool.ts), the job's rows reported as they go and its end told to the head.
 * Attaching to a head is written here once, whoever attaches.
 */
import { ROUTES } from '../../shared/routes.ts';
import { RemotePool, type RemoteJob } from '../remote/remotePool.ts';
import type { Ending, StartedJob, TabSource, TabTarget } from './jobMode.ts';

export interface HeadAddress {
  origin: string;
  submitToken: string;
  /** A certificate to trust for an https head (its own, when the head attaches to itself). */
  cert?: string | Buffer | null;
  /** How long the head may be away before the job fails (HEAD_UNREACHABLE). */
  timeoutMs?: number;
}

/** The head hears of a job's rows at most this often (its list and plots sample them every 2 s). */
const PROGRESS_MS = 1000;

export function lentByHead(head: HeadAddress, job: RemoteJob, log: (line: string) => void): TabSource {
  let target: TabTarget | null = null;
  let lastSent = 0;
  let unsent: { total: number | null; done: number; errors: number } | null = null;
  const remote = new RemotePool(
    head.origin,
    head.submitToken,
    job,
    {
      onMessage: (l, m, at) => target?.onMessage(l, m, at),
      onClose: (l, c, r) => target?.onClose(l, c, r),
      retire: (l, r) => target?.retire(l, r),
    },
    { log, cancel: () => target?.drain(), fail: (err) => target?.fail(err) },
    head.timeoutMs ?? 120_000,
    head.cert ?? null,
  );
  return {
    token: remote.grant,
    async open(t: TabTarget): Promise<StartedJob> {
      target = t;
      await remote.start();
      return {
        workerUrl: `${head.origin}${ROUTES.workerPage}`,
        join: { workerUrls: [], tlsFingerprint: null },
        statusUrl: null,
        banner: [],
        reachable: false,
        notes: [`on the standing pool at ${head.origin} as job ${remote.jobId}: its tabs serve it`],
      };
    },
    progress: (p) => {
      unsent = p;
      if (Date.now() - lastSent < PROGRESS_MS) return;
      lastSent = Date.now();
      remote.progress(p);
      unsent = null;
    },
    async close(ending: Ending): Promise<void> {
      if (unsent) remote.progress(unsent);
      remote.finish(ending.status === 'interrupted' ? 'cancelled' : ending.status, ending.message);
      remote.close();
    },
  };
}
