import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PoolActor } from '../../../coordinator/pool/actor.ts';
import { StallWatch, type StallFacts } from '../../../coordinator/host/stallWatch.ts';

const link = { sendJson() {}, sendBinary() {}, close() {} };
const actor = new PoolActor('actor-1', 'h1', link, null, 0);
actor.speed.setPrior(0.038);
actor.runs('webgpu', { gpus: 1, cpus: 0, memoryBytes: 0 });
const stalled: StallFacts = { pending: 4, ready: [actor], inFlight: 0, answers: 0, otherWork: false };

test('after one --stall-timeout of no progress it says why (speeds, batch sizes, what is pending); after two it fails', () => {
  const w = new StallWatch(60_000);
  assert.equal(w.tick(0, stalled), null);
  assert.equal(w.tick(59_000, stalled), null);
  const warn = w.tick(60_000, stalled);
  assert.equal(warn?.kind, 'warn');
  assert.match(
    warn!.report,
    new RegExp(
      String.raw`no progress for 1m00s: 4 input\(s\) pending, 1 ready actor\(s\), none holding a batch ` +
        String.raw`\(actor-1 on host h1, webgpu, 0\.038 img/s \(its own estimate\), last batch none\)`,
    ),
  );
  assert.equal(w.report, warn!.report, 'the status page shows the same words');
  assert.equal(w.tick(61_000, stalled), null, 'said once');
  assert.equal(w.tick(120_000, stalled)?.kind, 'fail');
});

test('a batch in flight, an answer, nothing pending, no ready actor, or checks running is progress', () => {
  for (const moving of [{ inFlight: 1 }, { answers: 1 }, { pending: 0 }, { ready: [] }, { otherWork: true }]) {
    const w = new StallWatch(60_000);
    w.tick(0, stalled);
    assert.equal(w.tick(60_000, { ...stalled, ...moving }), null, JSON.stringify(Object.keys(moving)));
    assert.equal(w.report, null);
    assert.equal(w.tick(119_000, stalled), null, 'the period starts again');
  }
});
