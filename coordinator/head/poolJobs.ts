/** The jobs of a standing pool as the head keeps them, the relay of a job's messages to its tabs, and the pool's status. */
import { CLOSE } from '../../shared/closeCodes.ts';
import type { JobRecord, JobRecordStatus, SubmitMessage, ToSubmitter } from '../../shared/poolProtocol.ts';
import { parseToActor, type ToActorJson } from '../../shared/protocol.ts';
import type { PoolHostStatus, PoolJobStatus } from '../../shared/poolStatus.ts';
import type { ResourcesStatus } from '../../shared/status.ts';
import type { PoolPolicy } from '../pool/actorRoster.ts';
import { add, hostCapacity, ZERO, type Resources } from '../pool/resources.ts';
import type { StoredJob } from './headState.ts';
import { IDLE_REASON, makeIdle, retime, type PoolTab } from './poolTabs.ts';
import { RateSeries } from './timeSplit.ts';

/** How the head talks to one submitting process; the socket layer implements it (tests fake it). */
export interface SubmitLink {
  send(msg: ToSubmitter): void;
  close(code: number, reason: string): void;
}

/** A job while the head serves it: what its record does not hold (its record is HeadState's: `state.job(id)`). */
export interface PoolJob {
  readonly id: string;
  /** What a reattaching submitting process proves itself with, and what its tabs fetch its files with. */
  readonly secret: string;
  readonly grant: string;
  readonly files: readonly string[];
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
    id: stored.record.id,
    secret: stored.secret,
    grant: stored.grant,
    files: stored.files,
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

/**
 * A job's message to one of its tabs, relayed: only what a tab lent to a job may hear. A welcome or
 * admission that does not admit it means the job will not use it (its pool is full, the host is
 * barred, no EP fits): it goes back to the pool, and the caller places again ('given back').
 */
export function relayToTab(
  job: PoolJob,
  tab: PoolTab,
  channel: number,
  text: string,
  serving: string,
  now: number,
): 'relayed' | 'given back' {
  const parsed = parseToActor(text);
  if (!parsed.ok) throw new Error(`bad message for ${tab.id}: ${parsed.error}`);
  const msg: ToActorJson = parsed.value;
  switch (msg.type) {
    case 'welcome':
    case 'admission':
      if (msg.status !== 'admitted') {
        job.excludedTabs.add(tab.id);
        job.channels.delete(channel);
        job.conn?.send({ type: 'tab-close', channel, code: CLOSE.normal, reason: 'not taken by the job' });
        makeIdle(tab, `${IDLE_REASON} (${serving} did not take it: ${msg.reason ?? msg.status})`, now);
        return 'given back';
      }
      tab.state = 'loading';
      retime(tab, now);
      tab.link.sendJson({ ...msg, serving });
      return 'relayed';
    case 'shutdown':
      // The job ends; the tab does not: its channel's close makes it idle.
      return 'relayed';
    case 'cancel':
    case 'threads':
      tab.link.sendJson(msg);
      return 'relayed';
    default: {
      const check: never = msg;
      throw new Error(`unhandled message ${JSON.stringify(check)}`);
    }
  }
}
