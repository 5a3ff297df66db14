import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdSet } from '../../../coordinator/io/idSet.ts';

test('spots an id seen before, whatever its characters', () => {
  const s = new IdSet(4);
  for (const id of ['a.png', 'dir/b.png', 'ünïcode 画像.jpg', 'with\nnewline', '']) assert.equal(s.add(id), true, id);
  for (const id of ['a.png', 'dir/b.png', 'ünïcode 画像.jpg', 'with\nnewline', '']) assert.equal(s.add(id), false, id);
  assert.equal(s.size, 5);
});

test('ids of every length, past a chunk too, are kept whole and given back by iteration', () => {
  const s = new IdSet(4);
  const ids = ['', 'x', 'y'.repeat(127), 'z'.repeat(128), 'w'.repeat(70_000), 'v'.repeat(1_100_000), 'after.png'];
  for (let i = 0; i < 40_000; i++) ids.push(`fill/${i}-${'q'.repeat(i % 200)}`);
  for (const id of ids) assert.equal(s.add(id), true, id.slice(0, 20));
  for (const id of ids) assert.equal(s.has(id), true, id.slice(0, 20));
  assert.equal(s.has('y'.repeat(128)), false);
  assert.equal(s.has('v'.repeat(1_099_999)), false);
  assert.deepEqual([...s].sort(), [...ids].sort());
});

test('never takes two different ids for one, even when every hash collides', () => {
  const s = new IdSet(4, () => 42);
  const ids = Array.from({ length: 500 }, (_, i) => `img-${i}.png`);
  for (const id of ids) assert.equal(s.add(id), true, `${id} was taken for a repeat`);
  for (const id of ids) assert.equal(s.add(id), false);
  assert.equal(s.size, 500);
});
