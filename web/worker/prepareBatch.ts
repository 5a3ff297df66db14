/**
 * Turns a batch's inputs (bytes from the frame, or URLs fetched here) into the model's input
 * tensor: decode, resize, crop, normalise, NCHW. Inputs that fail become error items; the rest
 * are packed densely.
 */
import { serializeError, TabpoolError } from '../../shared/errors.ts';
import { preprocessInto, type PreprocessSpec } from '../../shared/preprocess.ts';
import type { JobSpec } from '../../shared/protocol.ts';
import type { Prepared, ItemSlice } from '../workerApi.ts';
import { decodeImage } from './decodeImage.ts';

export async function prepareBatch(
  frame: ArrayBuffer,
  slices: ItemSlice[],
  ids: string[],
  job: Pick<JobSpec, 'inputs' | 'preprocess'>,
): Promise<Prepared> {
  return job.inputs === 'record' ? prepareRecords(frame, slices, ids) : prepareImages(frame, slices, ids, job.preprocess!);
}

async function prepareImages(frame: ArrayBuffer, slices: ItemSlice[], ids: string[], spec: PreprocessSpec): Promise<Prepared> {
  const started = performance.now();
  const per = 3 * spec.height * spec.width;
  const input = new Float32Array(slices.length * per);
  const rows: number[] = [];
  const errors: Prepared['errors'] = new Array(slices.length).fill(null);
  // URL inputs are fetched all at once, while earlier items decode.
  const fetches = slices.map((s) => ('url' in s ? fetchInput(s.url) : null));
  // Each is awaited below; this only keeps an early failure from being reported as unhandled.
  for (const f of fetches) f?.catch(() => undefined);
  for (const [i, s] of slices.entries()) {
    try {
      const bytes = 'url' in s ? await fetches[i]! : new Uint8Array(frame, s.offset, s.length);
      const pixels = await decodeImage(bytes);
      preprocessInto(pixels, spec, input, rows.length * per);
      rows.push(i);
    } catch (err) {
      errors[i] = serializeError(err, 'CORRUPT_IMAGE');
    }
  }
  return { kind: 'image', ids, input, height: spec.height, width: spec.width, rows, errors, decodeMs: performance.now() - started };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Records travel as UTF-8 JSON, one per item (the coordinator parsed and size-checked each already). */
function prepareRecords(frame: ArrayBuffer, slices: ItemSlice[], ids: string[]): Prepared {
  const started = performance.now();
  const records: Record<string, unknown>[] = [];
  const rows: number[] = [];
  const errors: Prepared['errors'] = new Array(slices.length).fill(null);
  for (const [i, s] of slices.entries()) {
    try {
      if ('url' in s) throw new TabpoolError('BAD_RECORD', 'a record cannot be a URL');
      const value: unknown = JSON.parse(utf8.decode(new Uint8Array(frame, s.offset, s.length)));
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new TabpoolError('BAD_RECORD', 'a record must be a JSON object');
      records.push(value as Record<string, unknown>);
      rows.push(i);
    } catch (err) {
      errors[i] = serializeError(err, 'BAD_RECORD');
    }
  }
  return { kind: 'record', ids, records, rows, errors, decodeMs: performance.now() - started };
}

/** Bytes over this size are refused, as the coordinator refuses them. */
const MAX_INPUT_BYTES = 256 * 2 ** 20;
const FETCH_TIMEOUT_MS = 60_000;

/**
 * Fetches a URL input (CORS). A refusal, a network failure or an HTTP error is TAB_FETCH_FAILED:
 * the coordinator then fetches the input itself, so the row never depends on this tab's network.
 */
async function fetchInput(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { mode: 'cors', credentials: 'omit', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    throw new TabpoolError(
      'TAB_FETCH_FAILED',
      `the tab could not fetch ${url} (${(err as Error).message || 'network error'}; a CORS refusal looks like this too)`,
    );
  }
  if (!res.ok) throw new TabpoolError('TAB_FETCH_FAILED', `the tab's fetch of ${url} answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_INPUT_BYTES)
    throw new TabpoolError('IMAGE_TOO_LARGE', `${url} is ${declared} bytes, over the ${MAX_INPUT_BYTES}-byte input limit`);
  return new Uint8Array(await res.arrayBuffer());
}
