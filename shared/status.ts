/**
 * The job as `GET /api/status` reports it: built by the coordinator, read by the status page, the
 * tests and the benchmark. One type, so all of them agree.
 */
import type { ExecutionProvider } from './protocol.ts';

/** Where a tab is in the pool: standby and rejected tabs hold no slot; gone ones left. */
export type ActorState = 'standby' | 'rejected' | 'loading' | 'ready' | 'gone';

/** A resource vector as JSON: memory in bytes, or null when neither the browser nor the person said. */
export interface ResourcesStatus {
  gpus: number;
  cpus: number;
  memoryBytes: number | null;
}

export interface HostStatus {
  id: string;
  declared: { gpus?: number; cpus?: number; memoryBytes?: number };
  capacity: ResourcesStatus;
  used: ResourcesStatus;
}

export interface ActorStatus {
  id: string;
  host: string;
  state: ActorState;
  ep: ExecutionProvider | null;
  /** `vendor architecture`, with ` (software)` for a fallback adapter; null without WebGPU. */
  adapter: string | null;
  batchesDone: number;
  imagesDone: number;
  /** Wall-clock throughput since it became ready, as the coordinator measured it. */
  imagesPerSecond: number | null;
  inFlight: number;
  reason: string | null;
}

export interface JobStatus {
  pool: { min: number; max: number; active: number; standby: number; rejected: number };
  hosts: HostStatus[];
  actors: ActorStatus[];
  progress: {
    total: number | null;
    done: number;
    errors: number;
    /** Rows already in the output when the job resumed. */
    skipped: number;
    imagesPerSecond: number | null;
    elapsedSeconds: number;
    finished: boolean;
  };
  /**
   * Batches sent. p50/p99: the coordinator's own time from a result frame arriving (before it is
   * parsed) to the next batch frame handed to the socket; roundTrip: from a batch sent to its result
   * arriving (the actor's work and its queue included).
   */
  dispatch: { count: number; p50Ms: number | null; p99Ms: number | null; roundTripP50Ms: number | null; roundTripP99Ms: number | null };
  /** Batch frames sent and their bytes, against the image bytes they carried (the difference is framing). */
  wire: { batches: number; images: number; frameBytes: number; itemBytes: number };
}
