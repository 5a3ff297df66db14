/** The job as `/api/status` reports it, and as the CLI's live view and the status page show it. */
import type { Actor } from './actorPool.ts';
import type { Job } from './job.ts';

export interface ActorStatus {
  id: string;
  host: string;
  state: string;
  ep: string | null;
  adapter: string | null;
  batchesDone: number;
  imagesDone: number;
  imagesPerSecond: number | null;
  inFlight: number;
  reason: string | null;
}

export interface JobStatus {
  pool: { min: number; max: number; active: number; standby: number; rejected: number };
  hosts: { id: string; declared: Record<string, number>; capacity: ResourcesJson; used: ResourcesJson }[];
  actors: ActorStatus[];
  progress: { total: number | null; done: number; errors: number; skipped: number; imagesPerSecond: number | null; elapsedSeconds: number };
  /**
   * Batches sent; p50/p99: the coordinator's own time from a result arriving to the next batch on
   * the wire; roundTrip: from a batch sent to its result handled (includes the actor's work and queue).
   */
  dispatch: { count: number; p50Ms: number | null; p99Ms: number | null; roundTripP50Ms: number | null; roundTripP99Ms: number | null };
  /** Bytes on the wire for batches, against the image bytes they carried. */
  wire: { batches: number; images: number; frameBytes: number; itemBytes: number; bytesSent: number };
}

interface ResourcesJson {
  gpus: number;
  cpus: number;
  /** Bytes, or null when unknown. */
  memoryBytes: number | null;
}

function actorStatus(a: Actor): ActorStatus {
  return {
    id: a.id,
    host: a.hostId,
    state: a.state,
    ep: a.ep,
    adapter: a.adapter ? `${a.adapter.vendor} ${a.adapter.architecture}${a.adapter.isSoftware ? ' (software)' : ''}`.trim() : null,
    batchesDone: a.batchesDone,
    imagesDone: a.imagesDone,
    imagesPerSecond: a.readyAt !== null && a.lastResultAt !== null && a.lastResultAt > a.readyAt ? (a.imagesDone * 1000) / (a.lastResultAt - a.readyAt) : null,
    inFlight: a.inFlight.size,
    reason: a.reason,
  };
}

const json = (r: { gpus: number; cpus: number; memoryBytes: number }): ResourcesJson => ({
  gpus: r.gpus,
  cpus: r.cpus,
  memoryBytes: Number.isFinite(r.memoryBytes) ? r.memoryBytes : null,
});

export function jobStatus(job: Job): JobStatus {
  const { pool, stats } = job;
  const elapsed = ((stats.finishedAt ?? Date.now()) - stats.startedAt) / 1000;
  return {
    pool: { min: job.options.pool.min, max: job.options.pool.max, active: pool.active().length, standby: pool.standby().length, rejected: pool.rejected().length },
    hosts: [...pool.hosts.values()].map((h) => ({ id: h.id, declared: { ...h.declared }, capacity: json(h.capacity), used: json(h.used) })),
    actors: [...pool.actors.values()].map(actorStatus),
    progress: {
      total: stats.total,
      done: stats.done,
      errors: stats.errors,
      skipped: stats.skipped,
      imagesPerSecond: elapsed > 0 ? stats.done / elapsed : null,
      elapsedSeconds: elapsed,
    },
    dispatch: { count: stats.wire.batches, p50Ms: stats.dispatchLatency.percentile(50), p99Ms: stats.dispatchLatency.percentile(99), roundTripP50Ms: stats.latency.percentile(50), roundTripP99Ms: stats.latency.percentile(99) },
    wire: { ...stats.wire, bytesSent: stats.wire.frameBytes },
  };
}
