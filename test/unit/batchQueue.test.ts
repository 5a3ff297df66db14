import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchQueue } from '../../coordinator/batchQueue.ts';

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `i${i}`, bytes: new Uint8Array([i]) }));
const err = { code: 'INFERENCE_FAILED' as const, message: 'boom' };

test('accepts a result only from the actor that holds the batch, once', () => {
  const q = new BatchQueue(1);
  const b = q.add(items(2));
  q.take('a1', 0);
  assert.equal(q.complete(b.id, 'a2'), null);
  assert.equal(q.complete(b.id, 'a1'), b);
  assert.equal(q.complete(b.id, 'a1'), null);
  assert.ok(q.empty);
});

test('retries a failed batch, then splits it until the bad input stands alone', () => {
  const q = new BatchQueue(1);
  q.add(items(4));
  const bad = 'i2';
  const gaveUp: string[] = [];
  const done: string[] = [];
  for (let guard = 0; guard < 50 && !q.empty; guard++) {
    const b = q.take('a', 0)!;
    if (b.items.some((i) => i.id === bad)) {
      const o = q.fail(b.id, err)!;
      if (o.kind === 'give-up') gaveUp.push(o.item.id);
    } else {
      q.complete(b.id, 'a');
      done.push(...b.items.map((i) => i.id));
    }
  }
  assert.deepEqual(gaveUp, ['i2']);
  assert.deepEqual(done.sort(), ['i0', 'i1', 'i3']);
});

test('splits the next batch for the tail without losing or reordering inputs', () => {
  const q = new BatchQueue(3);
  q.add(items(16));
  q.add(items(3));
  assert.equal(q.remainingItems(), 19);
  q.splitFront(4);
  const first = q.take('a', 0)!;
  assert.deepEqual(first.items.map((i) => i.id), ['i0', 'i1', 'i2', 'i3']);
  const seen = [...first.items];
  for (let b = q.take('a', 0); b; b = q.take('a', 0)) seen.push(...b.items);
  assert.equal(seen.length, 19);
  assert.equal(q.remainingItems(), 19, 'in flight still counts');
});
