/** Reads one input's bytes, from disk or over http(s); failures become that input's error. */
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
    const stat = await fs.stat(source);
    if (!stat.isFile()) return { error: { code: 'UNREADABLE_FILE', message: `${source} is not a regular file` } };
    if (stat.size > MAX_INPUT_BYTES) return { error: { code: 'IMAGE_TOO_LARGE', message: `${source} is ${stat.size} bytes, over the ${MAX_INPUT_BYTES}-byte input limit` } };
    return { bytes: await fs.readFile(source) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: { code: 'UNREADABLE_FILE', message: `${source} could not be read (${e.code ?? e.message})` } };
  }
}
