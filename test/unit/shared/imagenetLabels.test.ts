import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IMAGENET_LABELS } from '../../../shared/imagenetLabels.ts';

describe('IMAGENET_LABELS', () => {
  it('has exactly 1000 labels', () => {
    assert.equal(IMAGENET_LABELS.length, 1000);
  });

  it('has no empty, padded or underscored label', () => {
    for (const [i, label] of IMAGENET_LABELS.entries()) {
      assert.ok(label.length > 0, `label ${i} is empty`);
      assert.equal(label, label.trim(), `label ${i} has surrounding spaces`);
      assert.ok(!label.includes('_'), `label ${i} "${label}" has an underscore`);
    }
  });

  it('follows the standard class-index order', () => {
    const spots: Array<[number, string]> = [
      [0, 'tench'],
      [1, 'goldfish'],
      [2, 'great white shark'],
      [151, 'Chihuahua'],
      [207, 'golden retriever'],
      [281, 'tabby'],
      [285, 'Egyptian cat'],
      [409, 'analog clock'],
      [477, "carpenter's kit"],
      [817, 'sports car'],
      [954, 'banana'],
      [999, 'toilet tissue'],
    ];
    for (const [index, label] of spots) assert.equal(IMAGENET_LABELS[index], label, `label ${index}`);
  });

  it('repeats only the two names the standard list repeats (crane, maillot)', () => {
    const seen = new Map<string, number[]>();
    IMAGENET_LABELS.forEach((label, i) => seen.set(label, [...(seen.get(label) ?? []), i]));
    const repeated = [...seen].filter(([, at]) => at.length > 1);
    assert.deepEqual(repeated, [
      ['crane', [134, 517]],
      ['maillot', [638, 639]],
    ]);
  });

  it('cannot be changed at run time', () => {
    assert.ok(Object.isFrozen(IMAGENET_LABELS));
  });
});
