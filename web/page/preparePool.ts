/**
 * The tab's preprocessing workers: as many as the host's CPUs allow, less one for the model's own
 * thread (at least 1, at most MAX_PREPARE_WORKERS; `&prepare=N` in the page URL decides instead).
 * A batch of images is split into contiguous parts, one per worker, each decoded and preprocessed
 * in parallel and packed into one tensor (or one list of pixels) in the batch's order. Records and
 * files are handled by one worker (parsing JSON and cutting bytes out are cheap). Only the batches a
 * tab holds (--max-tasks-in-flight) are ever prepared at once,
 * so memory stays flat however fast the model is.
 */
import * as Comlink from 'comlink';
import type { ItemSlice, Prepared, PrepareSpec, PrepareWorkerApi } from '../workerApi.ts';

export const MAX_PREPARE_WORKERS = 8;

/** Workers for a host with `cpus` cores (declared in the URL, or the browser's hardwareConcurrency), unless `pinned`. */
export function prepareWorkerCount(cpus: number, pinned: number | null): number {
  if (pinned !== null) return Math.max(1, Math.min(MAX_PREPARE_WORKERS, Math.floor(pinned)));
  return Math.max(1, Math.min(MAX_PREPARE_WORKERS, Math.floor(cpus) - 1));
}

export class PreparePool {
  private readonly workers: { worker: Worker; api: Comlink.Remote<PrepareWorkerApi> }[];

  constructor(make: () => Worker, count: number, onCrash: (e: ErrorEvent) => void) {
    this.workers = Array.from({ length: count }, () => {
      const worker = make();
      worker.addEventListener('error', onCrash);
      return { worker, api: Comlink.wrap<PrepareWorkerApi>(worker) };
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** The batch made ready for the actor; `frame` is transferred (or copied in parts, one per worker). */
  async prepare(frame: ArrayBuffer, slices: ItemSlice[], ids: string[], spec: PrepareSpec): Promise<Prepared> {
    const parts = spec.inputs === 'image' ? Math.min(this.workers.length, slices.length) : 1;
    if (parts <= 1) return this.workers[0]!.api.prepare(Comlink.transfer(frame, [frame]), slices, ids, spec);
    const started = performance.now();
    const per = Math.ceil(slices.length / parts);
    const pieces = await Promise.all(
      Array.from({ length: parts }, (_, w) => {
        const from = w * per;
        const part = copyPart(frame, slices.slice(from, from + per));
        return this.workers[w]!.api.prepare(Comlink.transfer(part.frame, [part.frame]), part.slices, ids.slice(from, from + per), spec);
      }),
    );
    return merge(pieces, ids, per, performance.now() - started);
  }

  terminate(): void {
    for (const w of this.workers) w.worker.terminate();
  }
}

/** The bytes of `slices` copied into a buffer of their own, the slices rebased onto it (URLs as they are). */
function copyPart(frame: ArrayBuffer, slices: ItemSlice[]): { frame: ArrayBuffer; slices: ItemSlice[] } {
  let total = 0;
  for (const s of slices) if ('offset' in s) total += s.length;
  const out = new Uint8Array(total);
  const rebased: ItemSlice[] = [];
  let at = 0;
  for (const s of slices) {
    if (!('offset' in s)) {
      rebased.push(s);
      continue;
    }
    out.set(new Uint8Array(frame, s.offset, s.length), at);
    rebased.push({ offset: at, length: s.length });
    at += s.length;
  }
  return { frame: out.buffer, slices: rebased };
}

/** Parts prepared apart, as one batch: the tensors packed (or the pixels listed) in order, rows and errors at their batch positions. */
function merge(pieces: Prepared[], ids: string[], per: number, wallMs: number): Prepared {
  const first = pieces[0]!;
  if (first.kind === 'pixels') {
    const parts = pieces as Extract<Prepared, { kind: 'pixels' }>[];
    const rows = parts.flatMap((p, w) => p.rows.map((r) => w * per + r));
    return { kind: 'pixels', ids, pixels: parts.flatMap((p) => p.pixels), rows, errors: parts.flatMap((p) => p.errors), decodeMs: wallMs };
  }
  if (first.kind !== 'image') throw new Error('only image batches are prepared in parts');
  const images = pieces as Extract<Prepared, { kind: 'image' }>[];
  const size = 3 * first.height * first.width;
  const input = new Float32Array(images.reduce((n, p) => n + p.rows.length, 0) * size);
  const rows: number[] = [];
  const errors: Prepared['errors'] = [];
  for (const [w, p] of images.entries()) {
    input.set(p.input, rows.length * size);
    for (const r of p.rows) rows.push(w * per + r);
    errors.push(...p.errors);
  }
  return { kind: 'image', ids, input, height: first.height, width: first.width, rows, errors, decodeMs: wallMs };
}
