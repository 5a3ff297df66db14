import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatchFrame, encodeBatchFrame, sliceItems } from '../../../shared/batchFrame.ts';
import { parseBatchHeader } from '../../../shared/protocol.ts';

test('round-trips item bytes unchanged, with no base64 overhead', () => {
  const items = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(1000).fill(7)];
  const frame = encodeBatchFrame(
    42,
    items.map((_, i) => `i${i}`),
    items,
  );
  const { header, payloadOffset } = decodeBatchFrame(frame);
  const parsed = parseBatchHeader(header);
  assert.ok(parsed.ok);
  assert.equal(parsed.value.batchId, 42);
  assert.deepEqual(sliceItems(frame, payloadOffset, parsed.value), items);
  // The header: the batch id, each input's id and byte length; the bytes themselves go as they are.
  assert.ok(frame.byteLength - 1003 < 130, `header overhead stays small (${frame.byteLength - 1003} bytes)`);
});

test('refuses a frame whose lengths run past its end', () => {
  const frame = encodeBatchFrame(1, ['a'], [new Uint8Array(10)]);
  const cut = frame.subarray(0, frame.byteLength - 1);
  const { header, payloadOffset } = decodeBatchFrame(cut);
  const parsed = parseBatchHeader(header);
  assert.ok(parsed.ok);
  assert.throws(() => sliceItems(cut, payloadOffset, parsed.value), /runs past the end/);
});

test('refuses a frame shorter than its length prefix', () => {
  assert.throws(() => decodeBatchFrame(new Uint8Array(2)), /shorter than its 4-byte length prefix/);
});
