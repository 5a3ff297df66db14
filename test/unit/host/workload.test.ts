import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Workload } from '../../../coordinator/host/workload.ts';

const item = (i: number) => ({ id: `i${i}`, source: `i${i}.png`, bytes: new Uint8Array([i]) });
function queueOf(n: number, maxRetries = 1): Workload {
  const q = new Workload(maxRetries);
  for (let i = 0; i < n; i++) q.add(item(i));
  return q;
}
const err = { code: 'INFERENCE_FAILED' as const, message: 'boom' };
const ids = (b: { items: { id: string }[] }) => b.items.map((i) => i.id);

test('cuts batches to the size asked for, in dataset order', () => {
  const q = queueOf(7);
  assert.deepEqual(ids(q.take('a', 3, 0)!), ['i0', 'i1', 'i2']);
  assert.deepEqual(ids(q.take('b', 10, 0)!), ['i3', 'i4', 'i5', 'i6']);
  assert.equal(q.take('a', 3, 0), null);
  assert.equal(q.remainingItems(), 7, 'in flight still counts');
});

test('accepts a result only from the actor that holds the batch, once', () => {
  const q = queueOf(2);
  const b = q.take('a1', 2, 0)!;
  assert.equal(q.lookup(b.id, 'a2'), null);
  assert.equal(q.lookup(b.id, 'a1') && typeof q.lookup(b.id, 'a1'), 'object');
  assert.equal(q.complete(b.id, 'a1')!.batch, b);
  assert.equal(q.complete(b.id, 'a1'), null);
  assert.equal(q.lookup(b.id, 'a1'), null);
  assert.ok(q.empty);
});

test('in-flight state has one owner: held counts follow take, complete and fail', () => {
  const q = queueOf(6);
  const b1 = q.take('a', 2, 0)!;
  const b2 = q.take('a', 2, 0)!;
  q.take('b', 2, 0);
  assert.equal(q.heldCount('a'), 2);
  assert.equal(q.heldCount('b'), 1);
  q.complete(b1.id, 'a');
  assert.equal(q.heldCount('a'), 1);
  q.fail(b2.id, 'a', err, 'actor');
  assert.equal(q.heldCount('a'), 0);
  assert.deepEqual(ids(q.take('c', 10, 0)!), ['i2', 'i3'], 'the failed batch goes first');
});

test('retries a failed batch, then splits it until the bad input stands alone', () => {
  const q = queueOf(4);
  const bad = 'i2';
  const gaveUp: string[] = [];
  const done: string[] = [];
  for (let guard = 0; guard < 50 && !q.empty; guard++) {
    const b = q.take('a', 4, 0)!;
    if (b.items.some((i) => i.id === bad)) {
      const o = q.fail(b.id, 'a', err, 'input')!;
      if (o.kind === 'give-up') gaveUp.push(o.item.id);
    } else {
      q.complete(b.id, 'a');
      done.push(...ids(b));
    }
  }
  assert.deepEqual(gaveUp, ['i2']);
  assert.deepEqual(done.sort(), ['i0', 'i1', 'i3']);
});

test('a retried batch larger than the taker wants is cut, keeping its failure count', () => {
  const q = queueOf(8, 3);
  const b = q.take('a', 8, 0)!;
  q.fail(b.id, 'a', err, 'input');
  const front = q.take('b', 3, 0)!;
  assert.deepEqual(ids(front), ['i0', 'i1', 'i2']);
  assert.equal(front.attempts, 1);
  assert.deepEqual(ids(q.take('b', 10, 0)!), ['i3', 'i4', 'i5', 'i6', 'i7']);
});

test('a batch held twice completes once; the other copy is cancelled and its late answer is no violation', () => {
  const q = queueOf(2);
  const b = q.take('slow', 2, 0)!;
  assert.equal(q.copy(b.id, 'fast', 5), b);
  assert.equal(q.copies(b.id), 2);
  const done = q.complete(b.id, 'fast')!;
  assert.deepEqual(done.cancelled, ['slow']);
  const late = q.lookup(b.id, 'slow');
  assert.ok(late !== null && 'late' in late, "the cancelled copy's answer is late, not a violation");
  assert.equal(q.lookup(b.id, 'slow'), null, 'a second late answer is a violation');
  assert.ok(q.empty);
});

test('losing one copy of a batch held twice requeues nothing', () => {
  const q = queueOf(2);
  const b = q.take('a', 2, 0)!;
  q.copy(b.id, 'b', 0);
  assert.equal(q.fail(b.id, 'a', err, 'actor')!.kind, 'still-held');
  assert.equal(q.hasPending, false);
  assert.ok(q.complete(b.id, 'b'));
  assert.ok(q.empty);
});

test('inputs not yet finished are counted through copies, failures, splits and peer checks', () => {
  const q = queueOf(8, 0);
  const a = q.take('a', 4, 0)!;
  const b = q.take('b', 2, 0)!;
  assert.equal(q.remainingItems(), 8);
  q.copy(a.id, 'c', 1);
  assert.equal(q.remainingItems(), 8, 'a second copy is the same inputs');
  q.addCheck([item(0), item(1)], 'c', 2, () => undefined);
  assert.equal(q.remainingItems(), 8, 'a peer check is no input of the job');
  q.complete(a.id, 'c');
  assert.equal(q.remainingItems(), 4, 'the batch answered by its copy, the other copy cancelled');
  assert.deepEqual(q.fail(b.id, 'b', err, 'input'), { kind: 'split', into: 2 });
  assert.equal(q.remainingItems(), 4, 'split halves wait again');
  const half = q.take('a', 4, 3)!;
  assert.equal(half.items.length, 1);
  q.complete(half.id, 'a');
  assert.equal(q.remainingItems(), 3);
});
