/** What the job counts as it runs: rows, timings and wire bytes. The summary and /api/status read it. */
import { LatencyStats } from './latencyStats.ts';

export interface JobStats {
  total: number | null;
  /** Rows written this run (predictions + errors). */
  done: number;
  errors: number;
  /** Rows already in the output when the job resumed, and how many of them are errors. */
  skipped: number;
  skippedErrors: number;
  /** Wall-clock times (ms since the epoch). */
  startedAt: number;
  firstPredictionAt: number | null;
  /** When dispatch began (the pool's minimum was ready): the start of the steady-state throughput. */
  workStartedAt: number | null;
  finishedAt: number | null;
  /** Batch frames and their bytes sent, and the image bytes inside them (framing = the difference). */
  /** Batch frames sent and their bytes, the image bytes inside them, and the URL inputs they named (sent without bytes). */
  wire: { batches: number; images: number; frameBytes: number; itemBytes: number; urlInputs: number };
  /** URL inputs no tab could fetch (CORS, network), fetched by the coordinator instead. */
  /** Second copies sent at the tail. */
  speculativeCopies: number;
  /** Time the actors spent decoding and preprocessing, and the images that covered. */
  decodeMs: number;
  decodedImages: number;
  /** Batch sent → its result frame arriving. */
  roundTrip: LatencyStats;
  /** The coordinator's own cost per dispatch: a result frame arriving (before parsing) → the next batch frame handed to the socket. */
  dispatchLatency: LatencyStats;
}

export function newJobStats(startedAt: number, skipped: number, skippedErrors: number): JobStats {
  return {
    total: null,
    done: 0,
    errors: 0,
    skipped,
    skippedErrors,
    startedAt,
    firstPredictionAt: null,
    workStartedAt: null,
    finishedAt: null,
    wire: { batches: 0, images: 0, frameBytes: 0, itemBytes: 0, urlInputs: 0 },
    speculativeCopies: 0,
    decodeMs: 0,
    decodedImages: 0,
    roundTrip: new LatencyStats(),
    dispatchLatency: new LatencyStats(),
  };
}
