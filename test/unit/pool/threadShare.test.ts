import assert from 'node:assert/strict';
import test from 'node:test';
import { pinnedThreads, threadShare } from '../../../coordinator/pool/threadShare.ts';

test("a host's cores are shared evenly among its actors, rounded down, never below one", () => {
  assert.equal(threadShare(2, 1, 0), 2);
  assert.equal(threadShare(2, 2, 0), 1);
  assert.equal(threadShare(16, 3, 0), 5);
  assert.equal(threadShare(3, 2, 0), 1, 'two threads each would be four on three cores');
  assert.equal(threadShare(2, 5, 0), 1);
  assert.equal(threadShare(0.5, 1, 0), 1, 'a host declared with half a CPU still runs one thread');
});

test('cores that preprocessing keeps busy are not shared out; a decoder busy a tenth of the time costs no thread', () => {
  assert.equal(threadShare(2, 1, 0.1), 2);
  assert.equal(threadShare(8, 1, 1.6), 6);
  assert.equal(threadShare(8, 2, 2.2), 3);
  assert.equal(threadShare(2, 1, 3), 1);
});

test('--num-cpus pins whole threads: a reservation of N cores runs N threads, a fraction at least one', () => {
  assert.equal(pinnedThreads(null), null);
  assert.equal(pinnedThreads(4), 4);
  assert.equal(pinnedThreads(0.5), 1);
  assert.equal(pinnedThreads(0), 1);
});
