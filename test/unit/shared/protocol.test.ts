import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseToActor, parseToCoordinator } from '../../../shared/protocol.ts';

const goodResult = {
  type: 'result',
  batchId: 3,
  items: [
    { ok: true, topk: [{ class: 5, score: 0.9 }] },
    { ok: false, code: 'CORRUPT_IMAGE', message: 'x' },
  ],
  timing: { decodeMs: 1, inferenceMs: 2, totalMs: 3 },
};

test('accepts a well-formed result with a prediction and an error item', () => {
  const r = parseToCoordinator(JSON.stringify(goodResult));
  assert.ok(r.ok, r.ok ? '' : r.error);
});

test('names the field path when a score is not a number', () => {
  const bad = structuredClone(goodResult) as { items: { topk: { score: unknown }[] }[] };
  bad.items[0]!.topk[0]!.score = 'high';
  const r = parseToCoordinator(JSON.stringify(bad));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /items\.0\.topk\.0\.score/);
});

test('refuses NaN smuggled in as null, unknown types, unknown error codes and non-JSON', () => {
  const nan = JSON.stringify(goodResult).replace('0.9', 'null');
  assert.equal(parseToCoordinator(nan).ok, false);
  assert.equal(parseToCoordinator('{"type":"gimme"}').ok, false);
  assert.equal(parseToCoordinator(JSON.stringify({ type: 'actor-error', code: 'NOPE', message: '' })).ok, false);
  const notJson = parseToCoordinator('{');
  assert.equal(notJson.ok, false);
  assert.match(!notJson.ok ? notJson.error : '', /not JSON/);
});

test('refuses a negative class and a score above 1', () => {
  const neg = structuredClone(goodResult) as { items: { topk: { class: number; score: number }[] }[] };
  neg.items[0]!.topk[0]!.class = -1;
  assert.equal(parseToCoordinator(JSON.stringify(neg)).ok, false);
  neg.items[0]!.topk[0]!.class = 1;
  neg.items[0]!.topk[0]!.score = 1.5;
  assert.equal(parseToCoordinator(JSON.stringify(neg)).ok, false);
});

test('parses the coordinator’s shutdown message on the page side', () => {
  const r = parseToActor(JSON.stringify({ type: 'shutdown', reason: 'done' }));
  assert.ok(r.ok);
});
