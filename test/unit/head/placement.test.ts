/**
 * Placement on a standing pool (coordinator/head/placement.ts), with simulated hosts and jobs:
 * minimums first, the rest by weight, priority first in line, budgets per host across every job,
 * a job below its share served by a hand-back at a batch boundary, and no job starved.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { place, shares, type PlacedJob, type PlacedTab } from '../../../coordinator/head/placement.ts';
import { poolPolicy } from '../../../coordinator/pool/epPolicy.ts';
import { hostCapacity, ZERO } from '../../../coordinator/pool/resources.ts';
import type { Placement } from '../../../shared/poolProtocol.ts';
import type { Capabilities } from '../../../shared/protocol.ts';

const caps = (gpu: boolean): Capabilities => ({
  webgpu: gpu ? { vendor: 'nvidia', architecture: 'hopper', device: '', description: '', isSoftware: false, limits: {} } : null,
  hardwareConcurrency: 8,
  deviceMemoryGiB: 8,
  crossOriginIsolated: true,
  secureContext: true,
  userAgent: 'test',
});

let seq = 0;
function tabs(hosts: number, perHost: number, gpu = false): PlacedTab[] {
  const out: PlacedTab[] = [];
  for (let h = 0; h < hosts; h++)
    for (let t = 0; t < perHost; t++)
      out.push({
        id: `tab-${++seq}`,
        hostId: `host-${h}`,
        caps: caps(gpu),
        declared: {},
        pinned: null,
        joinedAt: seq,
        job: null,
        budget: ZERO,
        releasing: null,
      });
  return out;
}

function job(id: string, p: Partial<Placement> & { min?: number; max?: number } = {}, submittedAt = 0): PlacedJob {
  const placement: Placement = {
    pool: { min: p.min ?? 1, max: p.max ?? 100 },
    ep: p.ep ?? 'wasm',
    allowSoftwareGpu: false,
    numGpus: p.numGpus ?? null,
    numCpus: p.numCpus ?? null,
    actorMemory: p.actorMemory ?? 2 ** 20,
    weight: p.weight ?? 1,
    priority: p.priority ?? 0,
  };
  return { id, placement, policy: poolPolicy(placement), submittedAt, open: true, excludedTabs: new Set(), excludedHosts: new Set() };
}

/** Runs placement to a standstill: assignments apply at once, hand-backs at the next batch boundary (the next round). */
function settle(pool: PlacedTab[], jobs: PlacedJob[], check: (pool: PlacedTab[]) => void = () => {}): Map<string, number> {
  for (let round = 0; round < 50; round++) {
    for (const t of pool) if (t.releasing !== null) Object.assign(t, { job: null, budget: ZERO, releasing: null });
    const plan = place(pool, jobs);
    for (const a of plan.assign)
      Object.assign(
        pool.find((t) => t.id === a.tab)!,
        { job: a.job, budget: a.budget },
      );
    for (const r of plan.release) pool.find((t) => t.id === r.tab)!.releasing = r.for;
    check(pool);
    if (plan.assign.length === 0 && plan.release.length === 0) break;
  }
  const held = new Map(jobs.map((j) => [j.id, 0]));
  for (const t of pool) if (t.job) held.set(t.job, held.get(t.job)! + 1);
  return held;
}

/** No host holds more than its capacity, across every job. */
function budgetsHold(pool: PlacedTab[]): void {
  for (const host of new Set(pool.map((t) => t.hostId))) {
    const on = pool.filter((t) => t.hostId === host);
    const cap = hostCapacity(on[0]!.caps, on[0]!.declared, false);
    const used = on
      .filter((t) => t.job)
      .reduce((u, t) => ({ gpus: u.gpus + t.budget.gpus, cpus: u.cpus + t.budget.cpus }), { gpus: 0, cpus: 0 });
    assert.ok(used.gpus <= cap.gpus + 1e-9, `${host}: ${used.gpus} GPUs reserved of ${cap.gpus}`);
    assert.ok(used.cpus <= cap.cpus + 1e-9, `${host}: ${used.cpus} CPUs reserved of ${cap.cpus}`);
  }
}

test('actors beyond the minimums are shared by weight: weights 1 and 2 on 12 tabs hold 4 and 8', () => {
  const held = settle(tabs(3, 4), [job('a', { weight: 1 }), job('b', { weight: 2 })]);
  assert.deepEqual(Object.fromEntries(held), { a: 4, b: 8 });
});

test('every job first gets its minimum, highest priority first, when the pool can hold it', () => {
  assert.deepEqual(Object.fromEntries(shares([job('a', { min: 5, max: 5 }), job('b', { min: 1, weight: 10 })], 6)), { a: 5, b: 1 });
  // Too few tabs for both minimums: the higher priority's comes first.
  const s = shares([job('low', { min: 3 }, 0), job('high', { min: 3, priority: 5 }, 1)], 4);
  assert.deepEqual(Object.fromEntries(s), { high: 3, low: 1 });
});

test('a freed tab goes to the highest priority waiting job, then to the one furthest below its share', () => {
  const pool = tabs(1, 1);
  const first = place(pool, [job('low', {}, 0), job('high', { priority: 5 }, 1)]);
  assert.deepEqual(
    first.assign.map((a) => a.job),
    ['high'],
  );
  // x holds 3 of 5 tabs, y 1: the free one goes to y, furthest below its share.
  const five = tabs(1, 5);
  const x = job('x', { max: 5 }, 0);
  const y = job('y', { max: 5 }, 1);
  five.slice(0, 3).forEach((t) => (t.job = 'x'));
  five[3]!.job = 'y';
  assert.deepEqual(
    place(five, [x, y]).assign.map((a) => a.job),
    ['y'],
  );
});

test('a job that arrives on a pool another job fills gets its share by hand-backs at batch boundaries: no job starves', () => {
  const pool = tabs(2, 2);
  const a = job('a', { max: 8 }, 0);
  assert.equal(settle(pool, [a]).get('a'), 4, 'alone, a job takes every tab');
  const b = job('b', { max: 8 }, 1);
  const plan = place(pool, [a, b]);
  assert.equal(plan.assign.length, 0, 'no tab is idle: none is taken mid-batch either');
  assert.equal(plan.release.length, 2, `a hands back two tabs for b: ${JSON.stringify(plan.release)}`);
  assert.ok(plan.release.every((r) => r.job === 'a' && r.for === 'b'));
  assert.deepEqual(Object.fromEntries(settle(pool, [a, b])), { a: 2, b: 2 });
});

test('GPU budgets hold across jobs: two --num-gpus 1 jobs on one-GPU hosts never place two GPU actors on one host', () => {
  const pool = tabs(3, 2, true);
  const gpuJob = (id: string, at: number) => job(id, { ep: 'webgpu', numGpus: 1, max: 8 }, at);
  const held = settle(pool, [gpuJob('a', 0), gpuJob('b', 1)], budgetsHold);
  assert.equal(held.get('a')! + held.get('b')!, 3, 'one GPU actor per host, three hosts');
  assert.ok(held.get('a')! >= 1 && held.get('b')! >= 1, `both jobs serve: ${JSON.stringify(Object.fromEntries(held))}`);
  // --ep auto without --num-gpus: the second tab of a host runs wasm rather than wait for its GPU.
  const auto = tabs(1, 2, true);
  const plan = place(auto, [job('c', { ep: 'auto', max: 8 })]);
  assert.deepEqual(
    plan.assign.map((a) => a.pinWasm),
    [false, true],
  );
});

test('a tab a job refused, or a host it barred, is never offered to it again', () => {
  const pool = tabs(2, 1);
  const j = job('a');
  j.excludedTabs = new Set([pool[0]!.id]);
  j.excludedHosts = new Set(['host-1']);
  assert.equal(place(pool, [j]).assign.length, 0);
});

test('any pools and jobs: budgets hold, no job exceeds its maximum, and every job with a share holds a tab', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 4 }),
      fc.boolean(),
      fc.array(
        fc.record({
          min: fc.integer({ min: 1, max: 3 }),
          extra: fc.integer({ min: 0, max: 6 }),
          weight: fc.integer({ min: 1, max: 4 }),
          priority: fc.integer({ min: -2, max: 2 }),
          gpu: fc.boolean(),
        }),
        { minLength: 1, maxLength: 5 },
      ),
      (hosts, perHost, gpu, specs) => {
        const pool = tabs(hosts, perHost, gpu);
        const jobs = specs.map((s, i) =>
          job(
            `j${i}`,
            { min: s.min, max: s.min + s.extra, weight: s.weight, priority: s.priority, ...(s.gpu ? { ep: 'webgpu', numGpus: 0.5 } : {}) },
            i,
          ),
        );
        const held = settle(pool, jobs, budgetsHold);
        for (const j of jobs) assert.ok(held.get(j.id)! <= j.placement.pool.max, `${j.id} over its maximum`);
        // Jobs every tab can serve (wasm): each one the shares give a tab to holds one.
        const target = shares(jobs, pool.length);
        for (const j of jobs)
          if (j.placement.ep === 'wasm' && target.get(j.id)! > 0)
            assert.ok(held.get(j.id)! > 0, `${j.id} starved: ${JSON.stringify([...held])}`);
      },
    ),
    { numRuns: 300 },
  );
});
