/** What an actor host counts as it runs: batches and their bytes, timings, tail copies. The summary and /api/status read it. */
import { LatencyStats } from './latencyStats.ts';

export interface HostStats {
  /** Batch frames sent and their bytes, the image bytes inside them, and the URL inputs they named (sent without bytes). */
  wire: { batches: number; images: number; frameBytes: number; itemBytes: number; urlInputs: number };
  /** Second copies sent at the tail. */
  speculativeCopies: number;
  /** Time the actors spent decoding and preprocessing, and the images that covered. */
  decodeMs: number;
  decodedImages: number;
  /** Batch sent → its result frame arriving. */
  roundTrip: LatencyStats;
  /** The coordinator's own cost per dispatch: a result frame arriving (before parsing) → the next batch frame handed to the socket. */
  dispatchLatency: LatencyStats;
  /** Wall-clock ms when the first answer came (time to first prediction), and when dispatch began (the pool's minimum was ready). */
  firstResultAt: number | null;
  workStartedAt: number | null;
  /** URL inputs no tab could fetch, fetched by this process instead. */
  fetchedHere: number;
}

export function newHostStats(): HostStats {
  return {
    wire: { batches: 0, images: 0, frameBytes: 0, itemBytes: 0, urlInputs: 0 },
    speculativeCopies: 0,
    decodeMs: 0,
    decodedImages: 0,
    roundTrip: new LatencyStats(),
    dispatchLatency: new LatencyStats(),
    firstResultAt: null,
    workStartedAt: null,
    fetchedHere: 0,
  };
}
