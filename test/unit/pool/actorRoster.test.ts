import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ActorRoster, type PoolPolicy } from '../../../coordinator/pool/actorRoster.ts';
import type { ActorLink } from '../../../coordinator/pool/actor.ts';
import type { Capabilities, DeclaredResources } from '../../../shared/protocol.ts';

const link = (): ActorLink => ({ sendJson() {}, sendBinary() {}, close() {} });
const GiB = 2 ** 30;
const caps = (gpu: 'hw' | 'sw' | null, cpus = 8, memGiB: number | null = 8): Capabilities => ({
  webgpu: gpu
    ? {
        vendor: 'v',
        architecture: gpu === 'sw' ? 'swiftshader' : 'ampere',
        device: '',
        description: '',
        isSoftware: gpu === 'sw',
        limits: {},
      }
    : null,
  hardwareConcurrency: cpus,
  deviceMemoryGiB: memGiB,
  crossOriginIsolated: true,
  secureContext: true,
  userAgent: 'test',
});

function policy(o: { min?: number; max?: number; gpus?: number; cpus?: number; mem?: number; ep?: 'webgpu' | 'wasm' } = {}): PoolPolicy {
  return {
    pool: { min: o.min ?? 1, max: o.max ?? 8 },
    allowSoftwareGpu: false,
    offer: () => ({ eps: [o.ep ?? 'webgpu'] }),
    budgetFor: (ep) => ({ gpus: ep === 'webgpu' ? (o.gpus ?? 1) : 0, cpus: o.cpus ?? 1, memoryBytes: o.mem ?? GiB }),
  };
}

function join(pool: ActorRoster, host: string, c: Capabilities, d: DeclaredResources = {}) {
  return pool.join(link(), host, c, d, null, Date.now());
}

test('a host declaring 16 GiB holds three actors of 5 GiB; the fourth stands by with the numbers', () => {
  const pool = new ActorRoster(policy({ gpus: 0, mem: 5 * GiB, ep: 'wasm' }));
  const r = [1, 2, 3, 4, 5].map(() => join(pool, 'h', caps(null), { memoryBytes: 16 * GiB }).admission);
  assert.deepEqual(
    r.map((a) => a.status),
    ['admitted', 'admitted', 'admitted', 'standby', 'standby'],
  );
  assert.match((r[3] as { reason: string }).reason, /memory: needs 5\.0 GiB, 1\.0 GiB free/);
});

test('one GPU with --num-gpus 1 admits one actor, with 0.5 two', () => {
  const one = new ActorRoster(policy({ gpus: 1 }));
  assert.deepEqual(
    [1, 2].map(() => join(one, 'h', caps('hw')).admission.status),
    ['admitted', 'standby'],
  );
  const half = new ActorRoster(policy({ gpus: 0.5 }));
  assert.deepEqual(
    [1, 2, 3].map(() => join(half, 'h', caps('hw')).admission.status),
    ['admitted', 'admitted', 'standby'],
  );
});

test('a software adapter counts as no GPU, so a GPU budget is rejected with a reason', () => {
  const pool = new ActorRoster(policy({ gpus: 1 }));
  const a = join(pool, 'h', caps('sw')).admission;
  assert.equal(a.status, 'rejected');
  assert.match((a as { reason: string }).reason, /GPU: needs 1, 0 free/);
});

test('promotes the oldest standby tab when an active one leaves', () => {
  const pool = new ActorRoster(policy({ max: 2, gpus: 0, ep: 'wasm' }));
  const [a] = [join(pool, 'h1', caps(null)), join(pool, 'h2', caps(null)), join(pool, 'h3', caps(null)), join(pool, 'h4', caps(null))];
  assert.equal(pool.standby().length, 2);
  const oldest = pool.standby()[0]!;
  const promoted = pool.leave(a!.actor);
  assert.deepEqual(
    promoted.map((p) => p.id),
    [oldest.id],
  );
  assert.equal(pool.active().length, 2);
});

test('no sequence of joins and leaves over-commits a host or exceeds the pool', () => {
  const cmd = fc.oneof(
    fc.record({
      kind: fc.constant('join' as const),
      host: fc.integer({ min: 0, max: 3 }),
      mem: fc.integer({ min: 1, max: 32 }),
      cpus: fc.integer({ min: 1, max: 8 }),
      gpu: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.constantFrom(0, 0.25, 0.5, 1),
      fc.integer({ min: 1, max: 4 }),
      fc.array(cmd, { maxLength: 60 }),
      (max, gpus, memBudget, cmds) => {
        const pool = new ActorRoster(policy({ max, gpus, cpus: 1, mem: memBudget * GiB }));
        for (const c of cmds) {
          if (c.kind === 'join') join(pool, `h${c.host}`, caps(c.gpu ? 'hw' : null, c.cpus), { memoryBytes: c.mem * GiB });
          else {
            const all = [...pool.actors.values()];
            if (all.length) pool.leave(all[c.pick % all.length]!);
          }
          assert.ok(pool.active().length <= max, 'pool above max');
          for (const h of pool.hosts.values()) {
            const held = pool.active().filter((a) => a.hostId === h.id);
            const sum = (f: (a: (typeof held)[number]) => number) => held.reduce((s, a) => s + f(a), 0);
            assert.ok(sum((a) => a.budget.gpus) <= h.capacity.gpus + 1e-9, 'GPUs over-committed');
            assert.ok(sum((a) => a.budget.cpus) <= h.capacity.cpus + 1e-9, 'CPUs over-committed');
            assert.ok(sum((a) => a.budget.memoryBytes) <= h.capacity.memoryBytes + 1e-9, 'memory over-committed');
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
