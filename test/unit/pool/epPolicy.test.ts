import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActorRoster } from '../../../coordinator/pool/actorRoster.ts';
import type { ActorLink } from '../../../coordinator/pool/actor.ts';
import { poolPolicy, type EpSettings } from '../../../coordinator/pool/epPolicy.ts';
import type { Capabilities } from '../../../shared/protocol.ts';

const GiB = 2 ** 30;
const settings = (o: Partial<EpSettings> = {}): EpSettings => ({
  pool: { min: 1, max: 8 },
  ep: 'auto',
  allowSoftwareGpu: false,
  numGpus: null,
  numCpus: null,
  actorMemory: GiB,
  ...o,
});
const caps = (gpu: 'hw' | 'sw' | null, secureContext = true): Capabilities => ({
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
  hardwareConcurrency: 8,
  deviceMemoryGiB: 8,
  crossOriginIsolated: true,
  secureContext,
  userAgent: 'test',
});
const link = (): ActorLink => ({ sendJson() {}, sendBinary() {}, close() {} });

test('--ep auto offers WebGPU and wasm to a tab with a usable GPU, so it can measure both', () => {
  const p = poolPolicy(settings());
  assert.deepEqual(p.offer(caps('hw'), null), { eps: ['webgpu', 'wasm'] });
  assert.deepEqual(p.offer(caps('sw'), null), { eps: ['wasm'] }, 'a software adapter is not usable without --allow-software-gpu');
  assert.deepEqual(
    poolPolicy(settings({ allowSoftwareGpu: true })).offer(caps('sw'), null),
    { eps: ['webgpu', 'wasm'] },
    '--allow-software-gpu allows it, and does not force it',
  );
  assert.deepEqual(p.offer(caps(null), null), { eps: ['wasm'] });
});

test('an explicit GPU budget means GPU actors only; a tab without a usable GPU is refused with the fix', () => {
  const p = poolPolicy(settings({ numGpus: 1 }));
  assert.deepEqual(p.offer(caps('hw'), null), { eps: ['webgpu'] });
  const r = p.offer(caps('sw'), null);
  assert.equal(r.eps, null);
  assert.match(r.eps === null ? r.reason : '', /only WebGPU adapter is software .* --allow-software-gpu/);
});

test('a tab pinned in its URL runs that EP when the job allows it, and is refused with the reason when not', () => {
  const auto = poolPolicy(settings({ allowSoftwareGpu: true }));
  assert.deepEqual(auto.offer(caps('sw'), 'webgpu'), { eps: ['webgpu'] });
  assert.deepEqual(auto.offer(caps('sw'), 'wasm'), { eps: ['wasm'] });
  const wasmJob = poolPolicy(settings({ ep: 'wasm' }));
  const r = wasmJob.offer(caps('hw'), 'webgpu');
  assert.equal(r.eps, null);
  assert.match(r.eps === null ? r.reason : '', /pinned to webgpu \(&ep=webgpu in its URL\), but the job runs --ep wasm/);
  const gpuJob = poolPolicy(settings({ ep: 'webgpu' }));
  const w = gpuJob.offer(caps('hw'), 'wasm');
  assert.match(w.eps === null ? w.reason : '', /pinned to wasm .* needs GPU actors \(--ep webgpu\)/);
});

test('a page opened over plain http from another machine is told it has no WebGPU because of http, and what to do', () => {
  const r = poolPolicy(settings({ ep: 'webgpu' })).offer(caps(null, false), null);
  assert.match(r.eps === null ? r.reason : '', /plain http .* secure contexts .*--tls self-signed/);
});

test('a second tab on a host whose one GPU is taken runs wasm rather than wait; a tab that chose wasm gives its GPU back', () => {
  const pool = new ActorRoster(poolPolicy(settings()));
  const first = pool.join(link(), 'h', caps('hw'), {}, null, 1);
  assert.equal(first.admission.status, 'admitted');
  assert.deepEqual(first.actor.offered, ['webgpu', 'wasm']);
  assert.equal(pool.hosts.get('h')!.used.gpus, 1);
  const second = pool.join(link(), 'h', caps('hw'), {}, null, 2);
  assert.equal(second.admission.status, 'admitted');
  assert.deepEqual(second.actor.offered, ['wasm']);
  pool.markReady(first.actor, 3);
  pool.settle(first.actor, 'wasm');
  assert.equal(pool.hosts.get('h')!.used.gpus, 0, 'the GPU reserved while it measured is free again');
  const third = pool.join(link(), 'h', caps('hw'), {}, null, 4);
  assert.deepEqual(third.actor.offered, ['webgpu', 'wasm']);
});
