import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ItemResult } from '../../../shared/protocol.ts';
import { classifierDisagreement } from '../../../coordinator/verify/agreement.ts';
import { okItems } from '../../support/jobHarness.ts';

/** The reference: class 1 at 0.9, class 2 at 0.05, the rest shared. */
function probs(): Float32Array {
  const p = new Float32Array(10).fill(0.05 / 8);
  p[1] = 0.9;
  p[2] = 0.05;
  return p;
}

test('the same classes and scores agree; a shifted class or a made-up score does not', () => {
  assert.equal(classifierDisagreement('a', okItems(1, 1)[0]!, probs()), null);
  assert.match(classifierDisagreement('a', okItems(1, 2)[0]!, probs())!, /a: the tab scores class 2 9\.000e-1, the reference 5\.000e-2/);
  const madeUp: ItemResult = { ok: true, topk: [{ class: 1, score: 0.5 }] };
  assert.match(classifierDisagreement('b', madeUp, probs())!, /b: the tab scores class 1 5\.000e-1, the reference 9\.000e-1/);
});

test('a model whose probabilities are all small: a shifted class is still caught', () => {
  const flat = new Float32Array(1000).map((_, i) => (1 + (i % 7) / 100) / 1000);
  const honest: ItemResult = { ok: true, topk: [6, 13, 20].map((c) => ({ class: c, score: flat[c]! })) };
  assert.equal(classifierDisagreement('f', honest, flat), null);
  const shifted: ItemResult = { ok: true, topk: [7, 14, 21].map((c) => ({ class: c, score: flat[c - 1]! })) };
  assert.notEqual(classifierDisagreement('f', shifted, flat), null);
});

test('an error where the reference predicts is a disagreement', () => {
  assert.match(
    classifierDisagreement('a', { ok: false, code: 'CORRUPT_IMAGE', message: 'x' }, probs())!,
    /the tab answered CORRUPT_IMAGE, but the reference predicts it/,
  );
});
