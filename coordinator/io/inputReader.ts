/**
 * Reads one input's bytes, from disk or over http(s); failures become that input's error.
 *
 * Local files are read synchronously while storage is fast: for a page-cached image, open +
 * fstat + read + close cost ~10 µs on the main thread, where the promise API spends ~100 µs of
 * main-thread time on the same four calls (measured with the capacity bench's CPU profile). When
 * SLOW_READS_IN_A_ROW reads in a row are slower than SLOW_READ_MS (a network or spinning disk),
 * reads go async for the rest of the job, so slow storage never stalls dispatch; one slow read on
 * a busy machine (the process preempted mid-read) does not switch, as it used to on the first.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { SerializedError } from '../../shared/errors.ts';
import { readRecordAt } from './recordDataset.ts';

/** Larger files are refused before reading: no image a classifier needs is this big. */
export const MAX_INPUT_BYTES = 256 * 2 ** 20;
const SLOW_READ_MS = 2;
const SLOW_READS_IN_A_ROW = 8;
/** A URL input that has not answered in this long becomes an error row, not a stalled job. */
const FETCH_TIMEOUT_MS = 60_000;
// O_NONBLOCK: a FIFO (or device) named like an image must not hang the open; it fails the fstat check.
const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK;

export type ReadResult = { bytes: Uint8Array } | { error: SerializedError };

let storageIsSlow = false;
let slowInARow = 0;

function check(source: string, stat: { isFile(): boolean; size: number }): ReadResult | null {
  if (!stat.isFile()) return { error: { code: 'UNREADABLE_FILE', message: `${source} is not a regular file` } };
  if (stat.size > MAX_INPUT_BYTES)
    return { error: { code: 'IMAGE_TOO_LARGE', message: `${source} is ${stat.size} bytes, over the ${MAX_INPUT_BYTES}-byte input limit` } };
  return null;
}

function readSync(source: string): ReadResult {
  const started = performance.now();
  const fd = openSync(source, OPEN_FLAGS);
  try {
    return check(source, fstatSync(fd)) ?? { bytes: readFileSync(fd) };
  } finally {
    closeSync(fd);
    slowInARow = performance.now() - started > SLOW_READ_MS ? slowInARow + 1 : 0;
    if (slowInARow >= SLOW_READS_IN_A_ROW) storageIsSlow = true;
  }
}

async function readAsync(source: string): Promise<ReadResult> {
  const handle = await fs.open(source, OPEN_FLAGS);
  try {
    return check(source, await handle.stat()) ?? { bytes: await handle.readFile() };
  } finally {
    await handle.close();
  }
}

export async function readInput(source: string): Promise<ReadResult> {
  if (source.startsWith('record:')) return readRecordAt(source);
  try {
    if (/^https?:\/\//i.test(source)) {
      const res = await fetch(source, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok) return { error: { code: 'UNREADABLE_FILE', message: `${source}: HTTP ${res.status}` } };
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > MAX_INPUT_BYTES)
        return {
          error: { code: 'IMAGE_TOO_LARGE', message: `${source} is ${declared} bytes, over the ${MAX_INPUT_BYTES}-byte input limit` },
        };
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.byteLength > MAX_INPUT_BYTES)
        return { error: { code: 'IMAGE_TOO_LARGE', message: `${source} is over the ${MAX_INPUT_BYTES}-byte input limit` } };
      return { bytes };
    }
    return storageIsSlow ? await readAsync(source) : readSync(source);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: { code: 'UNREADABLE_FILE', message: `${source} could not be read (${e.code ?? e.message})` } };
  }
}
