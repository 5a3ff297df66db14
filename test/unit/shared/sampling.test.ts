/**
 * Choosing the next token (shared/generation/sampling.ts), the same in a tab and in Node: greedy ties,
 * top-k and top-p, and a seeded draw that depends on the seed and the step alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax, chooseToken, drawUniform, keptTokens, seedOf, tokenInterval } from '../../../shared/generation/sampling.ts';

const params = { maxTokens: 8, temperature: 1, topK: 0, topP: 1, stop: [], seed: 42 };

test('greedy takes the largest logit, the lowest id on a tie, whatever the seed', () => {
  assert.equal(argmax([0.1, 3, 3, -1]), 1);
  assert.equal(chooseToken([0.1, 3, 3, -1], { ...params, temperature: 0, seed: 9 }, 5), 1);
});

test('the draw is a function of the seed and the step alone, in [0, 1), spread evenly', () => {
  assert.equal(drawUniform(7, 3), drawUniform(7, 3));
  assert.notEqual(drawUniform(7, 3), drawUniform(7, 4));
  assert.notEqual(drawUniform(7, 3), drawUniform(8, 3));
  const bins = new Array<number>(10).fill(0);
  for (let s = 0; s < 20_000; s++) {
    const u = drawUniform(s, s % 97);
    assert.ok(u >= 0 && u < 1);
    bins[Math.floor(u * 10)]!++;
  }
  for (const b of bins) assert.ok(Math.abs(b - 2000) < 200, `bins ${bins.join(', ')}`);
  assert.equal(seedOf('0:q1'), seedOf('0:q1'));
  assert.notEqual(seedOf('0:q1'), seedOf('0:q2'));
});

test('top-k keeps the k most probable, top-p the smallest set reaching p, renormalised; their shares tile [0, 1) in id order', () => {
  const logits = [2, 1, 0, -1, 3];
  assert.deepEqual(
    keptTokens(logits, { temperature: 1, topK: 2, topP: 1 }).map((t) => t.id),
    [0, 4],
  );
  const kept = keptTokens(logits, { temperature: 1, topK: 0, topP: 0.9 });
  assert.deepEqual(
    kept.map((t) => t.id),
    [0, 1, 4],
  );
  assert.ok(Math.abs(kept.reduce((a, t) => a + t.p, 0) - 1) < 1e-12);
  let edge = 0;
  for (const t of kept) {
    assert.deepEqual(tokenInterval(logits, { temperature: 1, topK: 0, topP: 0.9 }, t.id), { from: edge, to: edge + t.p });
    edge += t.p;
  }
  assert.equal(tokenInterval(logits, { temperature: 1, topK: 0, topP: 0.9 }, 3), null);
});

test('a sampled token is the one whose share holds the step’s draw, and a low temperature is near greedy', () => {
  const logits = [0.5, 1.5, 1.0, 0.2];
  for (let step = 0; step < 50; step++) {
    const token = chooseToken(logits, params, step);
    const span = tokenInterval(logits, params, token)!;
    const u = drawUniform(params.seed, step);
    assert.ok(u >= span.from && u < span.to, `step ${step}`);
  }
  const cold = Array.from({ length: 50 }, (_, step) => chooseToken(logits, { ...params, temperature: 0.01 }, step));
  assert.ok(cold.every((t) => t === 1));
});
