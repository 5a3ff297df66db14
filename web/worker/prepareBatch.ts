/**
 * Turns a batch's inputs (bytes from the frame, or URLs fetched here) into what the actor's `call`
 * gets: the model's input tensor (decode, resize, crop, normalise, NCHW), the images' raw RGB pixels,
 * the records parsed, or the files' bytes. Images are decoded as the coordinator's reference decodes
 * them (shared/decode/imageInput.ts). Inputs that fail become error items; the rest are passed on in order.
 */
import { decodeImageInput, toRgb } from '../../shared/decode/imageInput.ts';
import { serializeError, TabpoolError, type ErrorCode } from '../../shared/errors.ts';
import { preprocessInto, type PreprocessSpec } from '../../shared/preprocess.ts';
import type { RgbImage } from '../../shared/actorApi.ts';
import type { ItemSlice, Prepared, PrepareSpec } from '../workerApi.ts';
import { decodeWithCanvas } from './decodeImage.ts';

export async function prepareBatch(frame: ArrayBuffer, slices: ItemSlice[], ids: string[], job: PrepareSpec): Promise<Prepared> {
  switch (job.inputs) {
    case 'record':
      return prepareRecords(frame, slices, ids);
    case 'file':
      return prepareFiles(frame, slices, ids);
    case 'image': {
      const p = job.preprocess;
      if (p === null) throw new Error('image inputs need a preprocessing');
      return p === 'none' ? preparePixels(frame, slices, ids, job.exifTranspose) : prepareImages(frame, slices, ids, p, job.exifTranspose);
    }
    default: {
      const never: never = job.inputs;
      throw new Error(`unknown inputs ${String(never)}`);
    }
  }
}

/** Each input's bytes in turn (URL inputs fetched all at once, while earlier items are worked on), or why there are none. */
async function* inputBytes(
  frame: ArrayBuffer,
  slices: ItemSlice[],
  tooLarge: ErrorCode,
): AsyncGenerator<{ i: number; bytes: Uint8Array } | { i: number; error: unknown }> {
  const fetches = slices.map((s) => ('url' in s ? fetchInput(s.url, tooLarge) : null));
  // Each is awaited below; this only keeps an early failure from being reported as unhandled.
  for (const f of fetches) f?.catch(() => undefined);
  for (const [i, s] of slices.entries()) {
    try {
      yield { i, bytes: 'url' in s ? await fetches[i]! : new Uint8Array(frame, s.offset, s.length) };
    } catch (error) {
      yield { i, error };
    }
  }
}

async function prepareImages(
  frame: ArrayBuffer,
  slices: ItemSlice[],
  ids: string[],
  spec: PreprocessSpec,
  exifTranspose: boolean,
): Promise<Prepared> {
  const started = performance.now();
  const per = 3 * spec.height * spec.width;
  const input = new Float32Array(slices.length * per);
  const rows: number[] = [];
  const errors: Prepared['errors'] = new Array(slices.length).fill(null);
  for await (const got of inputBytes(frame, slices, 'IMAGE_TOO_LARGE')) {
    try {
      if ('error' in got) throw got.error;
      const pixels = await decodeImageInput(got.bytes, { exifTranspose }, decodeWithCanvas);
      preprocessInto(pixels, spec, input, rows.length * per);
      rows.push(got.i);
    } catch (err) {
      errors[got.i] = serializeError(err, 'CORRUPT_IMAGE');
    }
  }
  return { kind: 'image', ids, input, height: spec.height, width: spec.width, rows, errors, decodeMs: performance.now() - started };
}

async function preparePixels(frame: ArrayBuffer, slices: ItemSlice[], ids: string[], exifTranspose: boolean): Promise<Prepared> {
  const started = performance.now();
  const pixels: RgbImage[] = [];
  const rows: number[] = [];
  const errors: Prepared['errors'] = new Array(slices.length).fill(null);
  for await (const got of inputBytes(frame, slices, 'IMAGE_TOO_LARGE')) {
    try {
      if ('error' in got) throw got.error;
      // Each image's bytes are a buffer of their own (transferred to the actor, not copied).
      pixels.push(toRgb(await decodeImageInput(got.bytes, { exifTranspose }, decodeWithCanvas)));
      rows.push(got.i);
    } catch (err) {
      errors[got.i] = serializeError(err, 'CORRUPT_IMAGE');
    }
  }
  return { kind: 'pixels', ids, pixels, rows, errors, decodeMs: performance.now() - started };
}

async function prepareFiles(frame: ArrayBuffer, slices: ItemSlice[], ids: string[]): Promise<Prepared> {
  const started = performance.now();
  const files: Uint8Array[] = [];
  const rows: number[] = [];
  const errors: Prepared['errors'] = new Array(slices.length).fill(null);
  for await (const got of inputBytes(frame, slices, 'FILE_TOO_LARGE')) {
    try {
      if ('error' in got) throw got.error;
      if (got.bytes.byteLength === 0) throw new TabpoolError('EMPTY_FILE', 'file is empty (0 bytes)');
      files.push(got.bytes.slice());
      rows.push(got.i);
    } catch (err) {
      errors[got.i] = serializeError(err, 'UNREADABLE_FILE');
    }
  }
  return { kind: 'file', ids, files, rows, errors, decodeMs: performance.now() - started };
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
async function fetchInput(url: string, tooLarge: ErrorCode): Promise<Uint8Array> {
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
    throw new TabpoolError(tooLarge, `${url} is ${declared} bytes, over the ${MAX_INPUT_BYTES}-byte input limit`);
  return new Uint8Array(await res.arrayBuffer());
}
