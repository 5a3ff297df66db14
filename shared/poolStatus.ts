/**
 * A standing pool as its head reports it (`GET /api/status` with the submit token): built by the
 * head, read by its status page, the tests and `tabpool jobs`. One type, so all of them agree.
 */
import type { JobRecord } from './poolProtocol.ts';
import type { ExecutionProvider } from './protocol.ts';
import type { ResourcesStatus } from './status.ts';

/** Where a tab's time went since it joined, in ms: the status page's bars. */
export interface TimeSplit {
  /** At least one batch out on it. */
  computingMs: number;
  /** Serving a job, ready, and nothing to compute: starved of input. */
  waitingMs: number;
  /** Serving a job and loading its actor (model fetch, session, warm-up). */
  loadingMs: number;
  /** In the pool, serving no job. */
  idleMs: number;
}

export type TabState = 'idle' | 'loading' | 'ready' | 'releasing';

export interface PoolTabStatus {
  id: string;
  host: string;
  state: TabState;
  /** The job it serves (`id`), or null while idle. */
  job: string | null;
  ep: ExecutionProvider | null;
  inFlight: number;
  batches: number;
  items: number;
  /** Whether its current actor's model came from the browser's cache. */
  modelFromCache: boolean | null;
  split: TimeSplit;
  joinedAt: number;
}

export interface PoolHostStatus {
  id: string;
  /** What it holds, its WebGPU adapter counted as a GPU even when software (a GPU only to jobs that allow one). */
  capacity: ResourcesStatus;
  /** Reserved by every job's actors on it. */
  used: ResourcesStatus;
  /** GPU actors on it now, across every job. */
  gpuActors: number;
  tabs: number;
}

export interface PoolJobStatus extends JobRecord {
  /** Actors it holds now, and what its minimum and share entitle it to. */
  actors: number;
  target: number;
  /** Rows a second, sampled over time: `[ms since the epoch, rows/s]`. */
  series: [number, number][];
}

export interface PoolStatus {
  /**
   * `heartbeatMs`: a tab silent this long is dropped (--heartbeat). `stateError`: the last write of --state that
   * failed (a full disk), null once one succeeds.
   */
  head: { startedAt: number; workerUrls: string[]; tlsFingerprint: string | null; heartbeatMs: number; stateError: string | null };
  hosts: PoolHostStatus[];
  tabs: PoolTabStatus[];
  jobs: PoolJobStatus[];
}
