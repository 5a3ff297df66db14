/** The job as `/api/status` reports it (shared/status.ts), and as the status page and the tests read it. */
import { noVerifyCounts, type ActorStatus, type JobStatus, type ResourcesStatus } from '../../shared/status.ts';
import type { ActorHost } from '../host/actorHost.ts';
import { actorThroughput, type PoolActor } from '../pool/actor.ts';
import type { Resources } from '../pool/resources.ts';
import type { JobOptions } from '../options/jobOptions.ts';
import type { JobOutput } from './jobOutput.ts';
import type { JobStats } from './jobStats.ts';

/** What the status is read from: the actor host serving this process's tabs, and the job's rows where this process writes them. */
export interface StatusSource {
  host: ActorHost;
  /** Rows and times: the job's, or what a gateway counts of the inputs it answered. */
  stats: JobStats;
  settings: Pick<JobOptions, 'pool' | 'verifyRate' | 'batchSize' | 'heartbeatMs'>;
  /** The job's rows and their verification; null where this process writes none (a gateway). */
  output: Pick<JobOutput, 'trustOf' | 'verifyCounts' | 'heldRows' | 'barred'> | null;
  isFinished: boolean;
  /** The job's actor, what it reads (the page speaks of img/s or items/s), and its files. */
  actor: JobStatus['job'];
}

function actorStatus(a: PoolActor, inFlight: number, trust: ActorStatus['trust']): ActorStatus {
  return {
    id: a.id,
    host: a.hostId,
    state: a.state,
    offered: [...a.offered],
    ep: a.ep,
    probe: [...a.probe],
    speed: a.speed.imagesPerSecond,
    speedMeasured: a.speed.measured,
    batchSize: a.lastBatchSize,
    threads: { running: a.threads, planned: a.threadsPlanned },
    trust,
    adapter: a.adapter ? `${a.adapter.vendor} ${a.adapter.architecture}${a.adapter.isSoftware ? ' (software)' : ''}`.trim() : null,
    batchesDone: a.batchesDone,
    imagesDone: a.imagesDone,
    imagesPerSecond: actorThroughput(a),
    inFlight,
    reason: a.reason,
  };
}

const json = (r: Resources): ResourcesStatus => ({
  gpus: r.gpus,
  cpus: r.cpus,
  memoryBytes: Number.isFinite(r.memoryBytes) ? r.memoryBytes : null,
});

export function jobStatus(job: StatusSource, join: JobStatus['join'], wallNow = Date.now()): JobStatus {
  const { host, stats } = job;
  const { pool } = host;
  const h = host.stats;
  const elapsed = ((stats.finishedAt ?? wallNow) - stats.startedAt) / 1000;
  let poolSpeed = 0;
  for (const a of pool.actors.values()) if (a.state === 'ready') poolSpeed += a.speed.imagesPerSecond ?? 0;
  const left = stats.total === null ? null : Math.max(0, stats.total - stats.rows);
  return {
    join,
    job: job.actor,
    pool: {
      min: job.settings.pool.min,
      max: job.settings.pool.max,
      active: pool.active().length,
      standby: pool.standby().length,
      rejected: pool.rejected().length,
      heartbeatMs: job.settings.heartbeatMs,
    },
    hosts: [...pool.hosts.values()].map((x) => ({ id: x.id, declared: { ...x.declared }, capacity: json(x.capacity), used: json(x.used) })),
    actors: [...pool.actors.values()].map((a) => {
      const t = job.output?.trustOf(a.id);
      return actorStatus(a, host.heldCount(a.id), {
        passedChecks: t?.passed ?? 0,
        onProbation: t?.onProbation ?? false,
        heldRows: t?.heldRows ?? 0,
      });
    }),
    progress: {
      total: stats.total,
      done: stats.rows,
      errors: stats.errors,
      skipped: stats.skipped,
      imagesPerSecond: elapsed > 0 ? stats.rows / elapsed : null,
      elapsedSeconds: elapsed,
      finished: job.isFinished,
      tokens:
        stats.promptTokens > 0 || stats.generatedTokens > 0
          ? {
              prompt: stats.promptTokens,
              generated: stats.generatedTokens,
              promptPerSecond: elapsed > 0 ? stats.promptTokens / elapsed : null,
              generatedPerSecond: elapsed > 0 ? stats.generatedTokens / elapsed : null,
            }
          : null,
    },
    dispatch: {
      count: h.wire.batches,
      p50Ms: h.dispatchLatency.percentile(50),
      p99Ms: h.dispatchLatency.percentile(99),
      roundTripP50Ms: h.roundTrip.percentile(50),
      roundTripP99Ms: h.roundTrip.percentile(99),
    },
    verify: {
      rate: job.settings.verifyRate,
      ...(job.output?.verifyCounts ?? noVerifyCounts()),
      rowsHeld: job.output?.heldRows ?? 0,
      barredActors: job.output?.barred ?? [],
      barredHosts: pool.barred(),
    },
    schedule: {
      batchSize: job.settings.batchSize,
      poolImagesPerSecond: poolSpeed,
      expectedSecondsLeft: job.isFinished ? 0 : left !== null && poolSpeed > 0 ? left / poolSpeed : null,
      speculativeCopies: h.speculativeCopies,
      stalled: host.stalledReport,
    },
    wire: { ...h.wire, fetchedByCoordinator: h.fetchedHere },
  };
}
