/**
 * The job as `GET /api/status` reports it: built by the coordinator, read by the status page, the
 * tests and the benchmark. One type, so all of them agree.
 */
import type { ActorInputs } from './actorApi.ts';
import type { EpFigure, ExecutionProvider } from './protocol.ts';

/**
 * Verification's counters (--verify above 0): kept by the verifier, shown on the status page, in
 * /api/status and in the summary. Declared once here; `noVerifyCounts()` is the zero every one starts from.
 */
export interface VerifyCounts {
  batchesChecked: number;
  inputsChecked: number;
  disagreements: number;
  /** Checks that compared nothing (the coordinator could fetch or decode none of the inputs drawn): they pass nothing. */
  inconclusive: number;
  /** Inputs drawn for a check that the coordinator could not fetch or decode. */
  uncheckable: number;
  /** Rows written with no check covering them (every input the actor held was uncheckable). */
  unverifiedRows: number;
  /** Checks computed by an actor of another host (peer checks). */
  peerChecks: number;
  /** Peer checks whose two answers differed, decided by the coordinator's reference. */
  arbitrations: number;
  /** Inputs the coordinator's own reference computed, for any check... */
  referenceInputs: number;
  /** ...and of them, to decide between two tabs. */
  arbitrationInputs: number;
}

export function noVerifyCounts(): VerifyCounts {
  return {
    batchesChecked: 0,
    inputsChecked: 0,
    disagreements: 0,
    inconclusive: 0,
    uncheckable: 0,
    unverifiedRows: 0,
    peerChecks: 0,
    arbitrations: 0,
    referenceInputs: 0,
    arbitrationInputs: 0,
  };
}

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
  /** The EPs it was offered, best first, and the one it runs (once ready). */
  offered: ExecutionProvider[];
  ep: ExecutionProvider | null;
  /** What it measured of each EP it was offered (--ep auto with a usable GPU); empty otherwise. */
  probe: EpFigure[];
  /** Images a second as the coordinator measures it (or, before its first result, what the tab reported). */
  speed: number | null;
  speedMeasured: boolean;
  /** Images in the last batch it was sent. */
  batchSize: number | null;
  /**
   * wasm threads: what its actor runs (null before it is ready) and what it was last told (--num-cpus,
   * or its share of its host's cores); they differ while a re-plan loads the actor afresh.
   */
  threads: { running: number | null; planned: number | null };
  /** Verification: checks it passed, whether it is still on probation, and rows of it held until its next check passes. */
  trust: { passedChecks: number; onProbation: boolean; heldRows: number };
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
  /**
   * How to join: the worker URLs other machines can reach (the token included), and the TLS certificate's
   * SHA-256 fingerprint when the job serves a self-signed one.
   */
  join: { workerUrls: string[]; tlsFingerprint: string | null };
  /**
   * The job's actor (`built-in classifier`, or the user's module), what it reads (images, records or
   * files), and the files every tab loads (`ctx.models`: name, sha256, size).
   */
  job: { name: string; inputs: ActorInputs; files: { name: string; sha256: string; bytes: number }[] };
  /** `heartbeatMs`: a tab silent this long is dropped (--heartbeat). */
  pool: { min: number; max: number; active: number; standby: number; rejected: number; heartbeatMs: number };
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
    /** A generation job's tokens so far (prompt and generated apart) and each a second; null for other jobs. */
    tokens: { prompt: number; generated: number; promptPerSecond: number | null; generatedPerSecond: number | null } | null;
  };
  /**
   * Batches sent. p50/p99: the coordinator's own time from a result frame arriving (before it is
   * parsed) to the next batch frame handed to the socket; roundTrip: from a batch sent to its result
   * arriving (the actor's work and its queue included).
   */
  dispatch: { count: number; p50Ms: number | null; p99Ms: number | null; roundTripP50Ms: number | null; roundTripP99Ms: number | null };
  /** Verification against the coordinator's own model (--verify): what was checked, what disagreed, who is barred. */
  verify: VerifyCounts & {
    rate: number;
    rowsHeld: number;
    /** Actors caught lying (closed; their rows recomputed), and hosts barred because two of their actors lied. */
    barredActors: { actor: string; host: string; reason: string }[];
    barredHosts: { host: string; reason: string }[];
  };
  /** How work is handed out: the batch size setting, the pool's measured speed, and when it should be done. */
  schedule: {
    batchSize: number | 'auto';
    poolImagesPerSecond: number;
    /** Seconds until every input has a row, at the pool's measured speed; null when unknown. */
    expectedSecondsLeft: number | null;
    /** Batches sent as a second copy at the tail. */
    speculativeCopies: number;
    /** Why the job is making no progress (the --stall-timeout watchdog), or null while it is. */
    stalled: string | null;
  };
  /**
   * Batch frames sent and their bytes, against the image bytes they carried (the difference is
   * framing, and the URLs of URL inputs); URL inputs sent for tabs to fetch, and those the
   * coordinator fetched instead because no tab could.
   */
  wire: { batches: number; images: number; frameBytes: number; itemBytes: number; urlInputs: number; fetchedByCoordinator: number };
}
