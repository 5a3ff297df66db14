/** Reads one input's bytes, from disk or over http(s); failures become that input's error. */
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import type { SerializedError } from '../shared/errors.ts';

/** Larger files are refused before reading: no image a classifier needs is this big. */
export const MAX_INPUT_BYTES = 256 * 2 ** 20;

export async function readInput(source: string): Promise<{ bytes: Uint8Array } | { error: SerializedError }> {
  try {
    if (/^https?:\/\//i.test(source)) {
      const res = await fetch(source);
      if (!res.ok) return { error: { code: 'UNREADABLE_FILE', message: `${source}: HTTP ${res.status}` } };
      return { bytes: new Uint8Array(await res.arrayBuffer()) };
    }
    // One open, one fstat, one read: a path-based stat plus readFile costs twice the syscalls.
    // O_NONBLOCK: a FIFO (or device) named like an image must not hang the open; it fails the fstat check.
    const handle = await fs.open(source, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) return { error: { code: 'UNREADABLE_FILE', message: `${source} is not a regular file` } };
      if (stat.size > MAX_INPUT_BYTES) return { error: { code: 'IMAGE_TOO_LARGE', message: `${source} is ${stat.size} bytes, over the ${MAX_INPUT_BYTES}-byte input limit` } };
      return { bytes: await handle.readFile() };
    } finally {
      await handle.close();
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: { code: 'UNREADABLE_FILE', message: `${source} could not be read (${e.code ?? e.message})` } };
  }
}
