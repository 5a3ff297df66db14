/**
 * A standing pool's head keeps the jobs' files by content (coordinator/head/headState.ts): an upload
 * is written to disk as it arrives, never held whole; it is kept only when its sha256 is the one it
 * was sent under, and one past the size limit is refused, leaving nothing behind either way.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { HeadState } from '../../../coordinator/head/headState.ts';
import { TabpoolError } from '../../../shared/errors.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-head-state-'));
after(() => fs.rm(dir, { recursive: true, force: true }));
const state = await HeadState.open(dir, { joinToken: null, submitToken: null });

/** `count` chunks of 1 MiB, each different, as an upload arrives. */
async function* chunks(count: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) yield new Uint8Array(2 ** 20).fill(i + 1);
}

async function shaOf(count: number): Promise<string> {
  const h = createHash('sha256');
  for await (const c of chunks(count)) h.update(c);
  return h.digest('hex');
}

const leftovers = async (): Promise<string[]> => (await fs.readdir(path.join(dir, 'files'))).filter((f) => f.endsWith('.tmp'));

test('an upload streamed in chunks is kept under its sha256, byte for byte', async () => {
  const sha = await shaOf(24);
  await state.putFile(sha, chunks(24), 64 * 2 ** 20);
  assert.ok(state.hasFile(sha));
  const kept = await fs.readFile(state.filePath(sha));
  assert.equal(kept.byteLength, 24 * 2 ** 20);
  assert.equal(createHash('sha256').update(kept).digest('hex'), sha);
  assert.deepEqual(await leftovers(), []);
});

test('an upload whose bytes are not its sha256 is refused, and nothing is left behind', async () => {
  const wrong = '0'.repeat(64);
  await assert.rejects(state.putFile(wrong, chunks(3), 64 * 2 ** 20), (e: unknown) => {
    assert.ok(e instanceof TabpoolError && e.code === 'SUBMIT_REFUSED');
    assert.match(e.message, /the upload's sha256 is [0-9a-f]{64}, not 0{64}/);
    return true;
  });
  assert.equal(state.hasFile(wrong), false);
  assert.deepEqual(await leftovers(), []);
});

test('an upload past the limit is refused as it arrives (too large), and nothing is left behind', async () => {
  const sha = await shaOf(10);
  await assert.rejects(state.putFile(sha, chunks(10), 4 * 2 ** 20), (e: unknown) => {
    assert.ok(e instanceof TabpoolError && e.code === 'SUBMIT_REFUSED');
    assert.equal(e.cause, 'too large');
    assert.match(e.message, /limited to 4194304 bytes/);
    return true;
  });
  assert.equal(state.hasFile(sha), false);
  assert.deepEqual(await leftovers(), []);
});
