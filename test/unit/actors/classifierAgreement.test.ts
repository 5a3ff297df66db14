import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topKDisagreement } from '../../../actors/classifierAgreement.ts';

/** The reference: class 1 at 0.9, class 2 at 0.05, the rest shared. */
function probs(): Float32Array {
  const p = new Float32Array(10).fill(0.05 / 8);
  p[1] = 0.9;
  p[2] = 0.05;
  return p;
}

test('the same classes and scores agree; a shifted class or a made-up score does not', () => {
  assert.equal(
    topKDisagreement(
      [
        { class: 1, score: 0.9 },
        { class: 2, score: 0.05 },
      ],
      probs(),
    ),
    null,
  );
  assert.match(
    topKDisagreement(
      [
        { class: 2, score: 0.9 },
        { class: 3, score: 0.05 },
      ],
      probs(),
    )!,
    /the tab scores class 2 9\.000e-1, the reference 5\.000e-2/,
  );
  assert.match(topKDisagreement([{ class: 1, score: 0.5 }], probs())!, /the tab scores class 1 5\.000e-1, the reference 9\.000e-1/);
});

test('a model whose probabilities are all small: a shifted class is still caught', () => {
  const flat = new Float32Array(1000).map((_, i) => (1 + (i % 7) / 100) / 1000);
  assert.equal(
    topKDisagreement(
      [6, 13, 20].map((c) => ({ class: c, score: flat[c]! })),
      flat,
    ),
    null,
  );
  assert.notEqual(
    topKDisagreement(
      [7, 14, 21].map((c) => ({ class: c, score: flat[c - 1]! })),
      flat,
    ),
    null,
  );
});

test('on a near-tie at the top either class is honest; clear of the next, the top class must match', () => {
  const tie = new Float32Array([0.4, 0.4, 0.2]);
  assert.equal(topKDisagreement([{ class: 1, score: 0.4 }], tie), null);
  const clear = new Float32Array([0.6, 0.2, 0.19, 0.01]);
  assert.match(
    topKDisagreement(
      [
        { class: 1, score: 0.2 },
        { class: 0, score: 0.6 },
      ],
      clear,
    )!,
    /top class is 1, the reference's 0/,
  );
});
