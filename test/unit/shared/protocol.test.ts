import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseToHead, POOL_PROTOCOL_VERSION } from '../../../shared/poolProtocol.ts';
import { MAX_JOB_FILES, parseToActor, parseToCoordinator } from '../../../shared/protocol.ts';

const goodResult = {
  type: 'result',
  batchId: 3,
  items: [
    { ok: true, row: { class: 5, label: 'class 5', score: 0.9, topk: [{ class: 5, label: 'class 5', score: 0.9 }] } },
    { ok: false, code: 'CORRUPT_IMAGE', message: 'x' },
  ],
  timing: { decodeMs: 1, inferenceMs: 2, totalMs: 3 },
};

test('accepts a well-formed result with a prediction and an error item', () => {
  const r = parseToCoordinator(JSON.stringify(goodResult));
  assert.ok(r.ok, r.ok ? '' : r.error);
});

test('names the field path when an item is neither a row nor an error', () => {
  const bad = structuredClone(goodResult) as { items: Record<string, unknown>[] };
  bad.items[0] = { ok: true, row: 'high' };
  const r = parseToCoordinator(JSON.stringify(bad));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /items\.0\.row/);
});

test('refuses unknown types, unknown error codes and non-JSON', () => {
  assert.equal(parseToCoordinator('{"type":"gimme"}').ok, false);
  assert.equal(parseToCoordinator(JSON.stringify({ type: 'actor-error', code: 'NOPE', message: '' })).ok, false);
  const notJson = parseToCoordinator('{');
  assert.equal(notJson.ok, false);
  assert.match(!notJson.ok ? notJson.error : '', /not JSON/);
});

test('parses the coordinator’s shutdown message on the page side', () => {
  const r = parseToActor(JSON.stringify({ type: 'shutdown', reason: 'done' }));
  assert.ok(r.ok);
});

test('a standing pool takes a job naming a whole model repository: every file it names and its actor module', () => {
  const sha = (i: number): string => i.toString(16).padStart(64, '0');
  const submit = {
    type: 'submit',
    protocol: POOL_PROTOCOL_VERSION,
    jobId: 'j1',
    secret: 's'.repeat(32),
    name: 'built-in generator on 4 files',
    grant: 'g'.repeat(32),
    files: Array.from({ length: 12 }, (_, i) => sha(i)),
    placement: {
      pool: { min: 1, max: 2 },
      ep: 'wasm',
      allowSoftwareGpu: false,
      numGpus: null,
      numCpus: null,
      actorMemory: 2 ** 26,
      weight: 1,
      priority: 0,
    },
    out: '/tmp/out.jsonl',
    total: 16,
  };
  const r = parseToHead(JSON.stringify(submit));
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(parseToHead(JSON.stringify({ ...submit, files: Array.from({ length: MAX_JOB_FILES + 2 }, (_, i) => sha(i)) })).ok, false);
});
