/**
 * The EP choice by measurement (--ep auto): the tab makes the job's own actor on each EP it may
 * use, warms it up, times its `call` on a ready-made batch briefly, and keeps the faster. Each
 * EP gets its own worker, so a slow one is stopped by terminating its worker: a software WebGPU
 * adapter that needs minutes for the model cannot hold the tab for more than PROBE_LIMIT_MS. Once
 * one EP is measured, the next is stopped as soon as it is clearly slower (measureLimitMs): its
 * measurement not done in the time an EP of half that speed would take.
 */
import * as Comlink from 'comlink';
import type { EpFigure, ExecutionProvider, JobSpec } from '../../shared/protocol.ts';
import type { ActorWorkerApi, InitOutcome, RawSpeed } from '../workerApi.ts';

/** Images per timed run, and how long to time. */
const PROBE_BATCH = 4;
const PROBE_SECONDS = 1;
/** Loading, warm-up and timing of one EP must fit in this, or that EP is reported too slow. */
export const PROBE_LIMIT_MS = 20_000;
/** The allowance in a measurement for the first run at the probe's batch size (its shaders compiled). */
const FIRST_RUN_SLACK_MS = 2_000;

/**
 * How long an EP's measurement (one untimed batch of PROBE_BATCH, then PROBE_SECONDS timed) may take
 * once another EP ran at `fastest` images a second: what an EP of half that speed needs, two batches'
 * worth beyond the timed second, plus the first run's allowance. Past it, the EP is clearly slower.
 */
export function measureLimitMs(fastest: number): number {
  const halfSpeedBatchMs = ((2 * PROBE_BATCH) / fastest) * 1000;
  return FIRST_RUN_SLACK_MS + PROBE_SECONDS * 1000 + 2 * halfSpeedBatchMs;
}

export interface LoadedActor {
  worker: Worker;
  api: Comlink.Remote<ActorWorkerApi>;
  outcome: Extract<InitOutcome, { ok: true }>;
}

export interface ProbeResult {
  chosen: LoadedActor | null;
  /** Why no EP could be loaded (the last failure), when `chosen` is null. */
  failure: Extract<InitOutcome, { ok: false }> | null;
  figures: EpFigure[];
}

class TimedOut extends Error {}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  // setTimeout takes an unbounded delay as 0: no limit means no timer at all.
  if (!Number.isFinite(ms)) return p;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimedOut()), Math.max(0, ms))));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * Loads the model on each of `eps` in its own worker (wasm first: it always works and is quick),
 * measures each, and keeps the fastest. With one EP it only loads it (nothing to choose).
 */
export async function loadFastest(
  job: JobSpec,
  eps: readonly ExecutionProvider[],
  newWorker: () => Worker,
  onStep: (text: string) => void,
): Promise<ProbeResult> {
  const order = [...eps].sort((a, b) => (a === 'wasm' ? -1 : b === 'wasm' ? 1 : 0));
  const loaded: { actor: LoadedActor; imagesPerSecond: number }[] = [];
  const figures: EpFigure[] = [];
  let failure: ProbeResult['failure'] = null;
  for (const ep of order) {
    const worker = newWorker();
    const api = Comlink.wrap<ActorWorkerApi>(worker);
    const started = performance.now();
    onStep(eps.length > 1 ? `measuring the model on ${ep}` : `loading the model on ${ep}`);
    try {
      const limit = eps.length > 1 ? PROBE_LIMIT_MS : Infinity;
      const outcome = await within<InitOutcome>(api.init(job, ep), limit);
      if (!outcome.ok) {
        failure = outcome;
        figures.push({ ep, imagesPerSecond: null, note: `${outcome.code}: ${outcome.message}` });
        worker.terminate();
        continue;
      }
      const actor = { worker, api, outcome };
      if (eps.length === 1) return { chosen: actor, failure: null, figures };
      const best = loaded.reduce((m, l) => Math.max(m, l.imagesPerSecond), 0);
      const left = limit - (performance.now() - started);
      const early = best > 0 && measureLimitMs(best) < left;
      let raw: RawSpeed | null;
      try {
        raw = await within<RawSpeed | null>(api.measureRaw(PROBE_BATCH, PROBE_SECONDS), early ? measureLimitMs(best) : left);
      } catch (err) {
        if (!(err instanceof TimedOut) || !early) throw err;
        worker.terminate();
        figures.push({
          ep,
          imagesPerSecond: null,
          note:
            `stopped ${((performance.now() - started) / 1000).toFixed(1)} s in: its measurement took over ` +
            `${(measureLimitMs(best) / 1000).toFixed(1)} s, so it runs under half the ${best.toFixed(1)} images/s measured before it`,
        });
        continue;
      }
      if (raw === null) {
        // Records and files: no input to measure with before the first batch (nor a raw-pixel actor that refuses a black
        // image). The first EP that loads is kept.
        figures.push({ ep, imagesPerSecond: null, note: 'not measured: the actor has no input to time before its first batch' });
        for (const l of loaded) l.actor.worker.terminate();
        return { chosen: actor, failure: null, figures };
      }
      const imagesPerSecond = (raw.images * 1000) / raw.ms;
      figures.push({
        ep,
        imagesPerSecond,
        note: `${raw.images} images in ${(raw.ms / 1000).toFixed(1)} s after a ${(outcome.warmupMs / 1000).toFixed(1)} s warm-up`,
      });
      loaded.push({ actor, imagesPerSecond });
    } catch (err) {
      worker.terminate();
      if (!(err instanceof TimedOut)) throw err;
      figures.push({
        ep,
        imagesPerSecond: null,
        note: `no result within ${PROBE_LIMIT_MS / 1000} s: slower than the alternative for this model`,
      });
    }
  }
  loaded.sort((a, b) => b.imagesPerSecond - a.imagesPerSecond);
  for (const l of loaded.slice(1)) l.actor.worker.terminate();
  return { chosen: loaded[0]?.actor ?? null, failure, figures };
}
