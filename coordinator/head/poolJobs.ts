/** The jobs of a standing pool as the head keeps them, and the pool's status built from them and its tabs. */
import type { JobRecord, JobRecordStatus, SubmitMessage, ToSubmitter } from '../../shared/poolProtocol.ts';
import type { PoolHostStatus, PoolJobStatus } from '../../shared/poolStatus.ts';
import type { ResourcesStatus } from '../../shared/status.ts';
import type { PoolPolicy } from '../pool/actorPool.ts';
import { add, hostCapacity, ZERO, type Resources } from '../pool/resources.ts';
import type { StoredJob } from './headState.ts';
import type { PoolTab } from './poolTabs.ts';
import { RateSeries } from './timeSplit.ts';

/** How the head talks to one submitting process; the socket layer implements it (tests fake it). */
export interface SubmitLink {
  send(msg: ToSubmitter): void;
  close(code: number, reason: string): void;
}

export interface PoolJob {
  stored: StoredJob;
  /** Its submitting process, while connected. */
  conn: SubmitLink | null;
  policy: PoolPolicy;
  /** The tabs lent to it, by channel. */
  channels: Map<number, PoolTab>;
  excludedTabs: Set<string>;
  excludedHosts: Set<string>;
  series: RateSeries;
  /** Fails the job when its submitting process stays away. */
  expiry: NodeJS.Timeout | null;
}

export function newPoolJob(stored: StoredJob, policy: PoolPolicy): PoolJob {
  return {
    stored,
    conn: null,
    policy,
    channels: new Map(),
    excludedTabs: new Set(),
    excludedHosts: new Set(),
    series: new RateSeries(),
    expiry: null,
  };
}

/** A job as it is first submitted: queued, with nothing done. */
export function submittedJob(msg: SubmitMessage, now: number): StoredJob {
  const record: JobRecord = {
    id: msg.jobId,
    name: msg.name,
    status: 'queued',
    placement: msg.placement,
    out: msg.out,
    total: msg.total,
    done: 0,
    errors: 0,
    submittedAt: now,
    endedAt: null,
    message: null,
  };
  return { record, secret: msg.secret, grant: msg.grant, files: msg.files };
}

export function isTerminal(s: JobRecordStatus): boolean {
  switch (s) {
    case 'done':
    case 'failed':
    case 'cancelled':
      return true;
    case 'queued':
    case 'running':
    case 'disconnected':
      return false;
    default: {
      const check: never = s;
      throw new Error(`unknown job status ${String(check)}`);
    }
  }
}

function json(r: Resources): ResourcesStatus {
  return { gpus: r.gpus, cpus: r.cpus, memoryBytes: Number.isFinite(r.memoryBytes) ? r.memoryBytes : null };
}

export function jobsStatus(
  tabs: readonly PoolTab[],
  records: readonly JobRecord[],
  live: ReadonlyMap<string, PoolJob>,
  history: ReadonlyMap<string, RateSeries>,
  target: ReadonlyMap<string, number>,
): { hosts: PoolHostStatus[]; jobs: PoolJobStatus[] } {
  const hosts = new Map<string, PoolHostStatus & { usedR: Resources }>();
  for (const t of tabs) {
    const id = t.hello.hostId;
    let h = hosts.get(id);
    if (!h) {
      // A software adapter counts as the GPU it is to jobs that allow one (--allow-software-gpu).
      const capacity = hostCapacity(t.hello.capabilities, t.hello.declared, true);
      h = { id, capacity: json(capacity), used: json(ZERO), usedR: ZERO, gpuActors: 0, tabs: 0 };
      hosts.set(id, h);
    }
    h.tabs++;
    if (t.job !== null) {
      h.usedR = add(h.usedR, t.budget);
      if (t.budget.gpus > 0) h.gpuActors++;
    }
  }
  const jobs = records.map((r) => {
    const j = live.get(r.id);
    const series = j?.series ?? history.get(r.id);
    return { ...r, actors: j?.channels.size ?? 0, target: target.get(r.id) ?? 0, series: series ? [...series.points] : [] };
  });
  return { hosts: [...hosts.values()].map(({ usedR, ...h }) => ({ ...h, used: json(usedR) })), jobs };
}
