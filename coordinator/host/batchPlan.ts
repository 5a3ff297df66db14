/**
 * How big a batch each actor gets, and when a batch is worth a second copy. Pure arithmetic over
 * measured speeds (pool/speedMeter.ts), so it is tested on its own.
 *
 * Auto batch size: about TARGET_BATCH_SECONDS of the actor's own work, so that with two batches in
 * flight the next is always on its way, and within the actor's memory budget. Nobody gets a batch
 * it would finish after the pool is expected to have finished the whole job (so, a fortiori, after
 * the rest of the pool would): near the end batches shrink to fit. So slow actors help while there
 * is plenty of work and never hold the tail.
 *
 * Never starve: an actor whose rule gives it nothing still gets one input when no other actor would
 * finish one more input sooner. Without that, a pool whose every actor takes longer than
 * TARGET_BATCH_SECONDS an input (a big model on wasm, a software GPU) was given nothing at all and
 * hung (issue 16, as ray-project/ray#62746).
 */

/** Seconds of work a batch aims at. */
export const TARGET_BATCH_SECONDS = 1.5;
/** Images a batch is capped at under --batch-size auto (the default memory budget is sized for it). */
export const AUTO_MAX_BATCH = 64;
/** An actor nothing is known about yet (no result, no prior) starts with this many images. */
export const FIRST_BATCH = 2;

/** One actor, as the plan sees it. */
export interface ActorLoad {
  /** Images a second (measured, or the prior), or null when nothing is known. */
  speed: number | null;
  /** Images it holds now, and since when it has been working on them (monotonic ms). */
  heldItems: number;
  busySince: number | null;
  /** The largest batch its memory budget allows. */
  maxBatch: number;
}

/** When `a` is expected to finish what it holds (monotonic ms); `now` when it holds nothing. */
export function finishOf(a: ActorLoad, now: number): number {
  if (a.heldItems === 0 || a.speed === null) return a.heldItems === 0 ? now : Infinity;
  return Math.max(now, (a.busySince ?? now) + (a.heldItems * 1000) / a.speed);
}

export interface PoolLoad {
  now: number;
  /** Inputs without a row yet (waiting, and out on actors). */
  unfinished: number;
  /** Inputs waiting for an actor. */
  pending: number;
  /** Sum of the known speeds of the ready actors (images a second). */
  totalSpeed: number;
  /** The highest known speed among them (0 when none is known). */
  fastest: number;
  /**
   * The earliest time (monotonic ms) another ready actor would finish one more input, given what it
   * holds; Infinity when no other actor's speed is known.
   */
  othersOneMoreAt: number;
}

/** When `a` would finish one more input after what it holds (monotonic ms); Infinity when its speed is unknown. */
export function oneMoreAt(a: ActorLoad, now: number): number {
  if (a.speed === null || !(a.speed > 0)) return Infinity;
  return finishOf(a, now) + 1000 / a.speed;
}

/**
 * The batch size `a` should get under --batch-size auto (the caller cuts it to what is waiting);
 * 0 when `a` should not start anything now.
 * `fixedBatch`: a model whose batch dimension is fixed runs in chunks of it, so batches are
 * multiples of it where they can be.
 */
export function autoBatchSize(a: ActorLoad, pool: PoolLoad, fixedBatch: number | null): number {
  if (pool.pending === 0) return 0;
  if (a.speed === null || !(a.speed > 0)) return Math.min(FIRST_BATCH, a.maxBatch);
  let n = Math.min(Math.round(a.speed * TARGET_BATCH_SECONDS), a.maxBatch);
  if (pool.totalSpeed > 0) {
    // When the whole pool should be done, at its measured speed; inputs are whole, so never sooner
    // than one input on the fastest actor. A batch `a` would finish after that holds the job up:
    // near the end batches shrink to fit. (The epsilon: 1/v × v may come out a hair under 1.)
    const poolDone = pool.now + Math.max(pool.unfinished / pool.totalSpeed, pool.fastest > 0 ? 1 / pool.fastest : 0) * 1000;
    n = Math.min(n, Math.floor(((poolDone - finishOf(a, pool.now)) / 1000) * a.speed + 1e-9));
  }
  if (n < 1) return oneMoreAt(a, pool.now) <= pool.othersOneMoreAt ? 1 : 0;
  if (fixedBatch !== null && n > fixedBatch) n -= n % fixedBatch;
  return n;
}

/**
 * The batch size under a fixed --batch-size N: N, except at the job's tail (everything read),
 * where batches shrink so every actor's slots stay busy to the end.
 */
export function fixedBatchSize(n: number, pool: { allRead: boolean; remaining: number; ready: number; maxInFlight: number }): number {
  if (!pool.allRead) return n;
  return Math.max(1, Math.min(n, Math.floor(pool.remaining / (pool.ready * pool.maxInFlight * 2))));
}

/** A batch out on an actor, with when its holder is expected to finish it. */
export interface CopyCandidate {
  batchId: number;
  items: number;
  /** Monotonic ms; Infinity when the holder's speed is unknown. */
  expectedAt: number;
}

/**
 * The batch an idle actor of `speed` should also run: the one expected to finish last, if the
 * idle actor would finish it sooner than its holder. Null when no copy would help.
 */
export function chooseCopy(candidates: readonly CopyCandidate[], speed: number | null, now: number): CopyCandidate | null {
  let best: CopyCandidate | null = null;
  for (const c of candidates) if (!best || c.expectedAt > best.expectedAt) best = c;
  if (!best) return null;
  const mine = speed === null ? Infinity : now + (best.items * 1000) / speed;
  // An unknown holder (expectedAt Infinity) is always worth covering by an actor that knows its pace.
  return mine < best.expectedAt ? best : null;
}
