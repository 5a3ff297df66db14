/**
 * The job's files (the model, a user's actor module), fetched once per browser profile: Cache
 * Storage keyed by sha256, so a tab that reconnects (or a second tab of the same profile, or a
 * later job with the same file) loads from disk instead of the network. Every load, cached or
 * not, is verified against the sha256 the coordinator announced.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { TabpoolError } from '../../shared/errors.ts';

const CACHE_NAME = 'tabpool-models-v1';
/** Answers of 429 (the server's download slots all taken) waited out before the load fails: some minutes. */
const MAX_BUSY_RETRIES = 300;

export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  // WebCrypto exists only in secure contexts; a page opened over plain http hashes in JavaScript.
  const digest = crypto.subtle ? new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)) : sha256(new Uint8Array(bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches === 'undefined' ? null : await caches.open(CACHE_NAME);
  } catch {
    // Cache Storage is unavailable in some contexts (opaque origins, some private modes): go without.
    return null;
  }
}

export async function loadFile(url: string, sha256: string, what = 'model'): Promise<{ bytes: ArrayBuffer; fromCache: boolean }> {
  const cache = await openCache();
  const key = `/tabpool-model/${sha256}`;
  const cached = await cache?.match(key);
  if (cached) {
    const bytes = await cached.arrayBuffer();
    if ((await sha256Hex(bytes)) === sha256) return { bytes, fromCache: true };
    await cache?.delete(key);
  }
  let response: Response;
  for (let attempt = 1; ; attempt++) {
    try {
      response = await fetch(url);
    } catch (err) {
      throw new TabpoolError('MODEL_LOAD_FAILED', `could not fetch the ${what} from ${url}: ${(err as Error).message}`);
    }
    // The server is sending the file to as many clients as it will at once: wait as it says, and ask again.
    if (response.status !== 429 || attempt >= MAX_BUSY_RETRIES) break;
    await response.body?.cancel();
    const wait = Number(response.headers.get('retry-after'));
    await new Promise((r) => setTimeout(r, (Number.isFinite(wait) && wait > 0 ? Math.min(wait, 30) : 1) * 1000 * (0.5 + Math.random())));
  }
  if (!response.ok) throw new TabpoolError('MODEL_LOAD_FAILED', `fetching the ${what} from ${url} returned HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const actual = await sha256Hex(bytes);
  if (actual !== sha256) {
    throw new TabpoolError(
      'MODEL_HASH_MISMATCH',
      `the ${what} from ${url} has sha256 ${actual}, expected ${sha256}; the download was corrupted or the file changed`,
    );
  }
  await cache?.put(key, new Response(bytes.slice(0), { headers: { 'content-type': 'application/octet-stream' } })).catch(() => undefined);
  return { bytes, fromCache: false };
}
