/**
 * Dispatch over random pools: whatever the actors' speeds, the pool's size, the inputs waiting and
 * the model's batch dimension, a pool with inputs waiting and nothing in flight sends a batch.
 * (Issue 16: two actors at 0.038 and 0.027 img/s were given nothing, and the job hung.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ActorRoster } from '../../../coordinator/pool/actorRoster.ts';
import type { ActorLink } from '../../../coordinator/pool/actor.ts';
import { Workload } from '../../../coordinator/host/workload.ts';
import { Dispatcher } from '../../../coordinator/host/dispatcher.ts';
import { newHostStats } from '../../../coordinator/host/hostStats.ts';
import { caps, TINY_PNG } from '../../support/jobHarness.ts';

const link = (sent: number[]): ActorLink => ({ sendJson() {}, sendBinary: () => void sent.push(1), close() {} });

/** Speeds spread over seven orders of magnitude, as a log-uniform draw. */
const speed = fc.double({ min: Math.log10(0.001), max: Math.log10(10_000), noNaN: true }).map((e) => 10 ** e);

function poolOf(speeds: (number | null)[], measured: boolean[], sent: number[]): ActorRoster {
  const pool = new ActorRoster({
    pool: { min: 1, max: speeds.length },
    allowSoftwareGpu: false,
    offer: () => ({ eps: ['wasm'] }),
    budgetFor: () => ({ gpus: 0, cpus: 0, memoryBytes: 0 }),
  });
  for (const [i, v] of speeds.entries()) {
    const { actor } = pool.join(link(sent), `h${i}`, caps(), {}, null, 0);
    pool.markReady(actor, 0);
    if (v === null) continue;
    // Either what the tab said of itself, or a measured batch (a second's worth of its work).
    if (measured[i]) actor.speed.record(Math.max(1, Math.round(v)), 0, (Math.max(1, Math.round(v)) * 1000) / v);
    else actor.speed.setPrior(v);
  }
  return pool;
}

test('a pool with inputs waiting and nothing in flight always sends a batch, whatever its speeds (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.option(speed, { freq: 8 }), { minLength: 1, maxLength: 1000 }),
      fc.array(fc.boolean(), { minLength: 1000, maxLength: 1000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.option(fc.integer({ min: 1, max: 8 })),
      fc.boolean(),
      fc.oneof(fc.constant<'auto'>('auto'), fc.integer({ min: 1, max: 64 })),
      (speeds, measured, pending, fixedBatch, allRead, batchSize) => {
        const sent: number[] = [];
        const pool = poolOf(speeds, measured, sent);
        const queue = new Workload(3);
        // Inputs are added lazily: the property is about the plan, not about copying 100k items.
        for (let i = 0; i < Math.min(pending, 512); i++) queue.add({ id: `i${i}`, source: `i${i}.png`, bytes: TINY_PNG });
        const dispatcher = new Dispatcher(pool, queue, newHostStats(), { batchSize, maxBatch: 64, fixedBatch, maxTasksInFlight: 2 });
        const n = dispatcher.run(1_000_000, allRead, pending);
        assert.ok(n > 0 && sent.length > 0, `no batch sent: speeds ${speeds.slice(0, 5).join(', ')}…, ${pending} pending`);
      },
    ),
    { numRuns: 300 },
  );
});

test('two actors slower than one input per 1.5 s each get an input at once (the pool that never started)', () => {
  const sent: number[] = [];
  const pool = poolOf([0.038, 0.027], [false, false], sent);
  const queue = new Workload(3);
  for (let i = 0; i < 4; i++) queue.add({ id: `i${i}`, source: `i${i}.png`, bytes: TINY_PNG });
  const dispatcher = new Dispatcher(pool, queue, newHostStats(), {
    batchSize: 'auto',
    maxBatch: 64,
    fixedBatch: null,
    maxTasksInFlight: 2,
  });
  assert.ok(dispatcher.run(0, true, 4) >= 1);
  assert.ok(queue.heldCount('actor-1') >= 1, 'the faster of the two has an input');
  // A second later the faster one is busy for a while: the slower one is now first for one more.
  assert.ok(dispatcher.run(1000, true, 4) >= 1);
  assert.ok(queue.heldCount('actor-2') >= 1, 'the slower one has an input too');
});
