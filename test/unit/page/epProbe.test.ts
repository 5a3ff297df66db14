import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { test } from 'node:test';
import * as Comlink from 'comlink';
import type { ExecutionProvider, JobSpec } from '../../../shared/protocol.ts';
import { loadFastest, measureLimitMs, PROBE_LIMIT_MS } from '../../../web/page/epProbe.ts';
import type { ActorWorkerApi, InitOutcome, RawSpeed } from '../../../web/workerApi.ts';

/** A worker of the probe's own kind, in-process: Comlink over a MessageChannel, with `measureRaw` as each EP answers it. */
function fakeWorkers(measure: Record<string, () => Promise<RawSpeed | null>>) {
  const terminated: string[] = [];
  let next = 0;
  const order: string[] = [];
  const newWorker = (): Worker => {
    const { port1, port2 } = new MessageChannel();
    let ep = '';
    const api: Partial<ActorWorkerApi> = {
      init: async (_job: JobSpec, e: ExecutionProvider) => {
        ep = e;
        order.push(e);
        return { ok: true, ep: e, loadMs: 1, warmupMs: 1, modelFromCache: true, adapter: null, threads: 1 } as unknown as InitOutcome;
      },
      measureRaw: () => measure[ep]!(),
    };
    Comlink.expose(api, port1 as never);
    const id = next++;
    return Object.assign(port2, {
      terminate: () => {
        terminated.push(order[id] ?? '?');
        port1.close();
        port2.close();
      },
    }) as unknown as Worker;
  };
  return { newWorker, terminated };
}

test('an EP under half the speed of the one measured before it is stopped within seconds, not the 20 s limit', async () => {
  const { newWorker, terminated } = fakeWorkers({
    wasm: async () => ({ images: 1000, ms: 1000 }),
    webgpu: () => new Promise<never>(() => undefined), // a software adapter: its first batch never ends in time
  });
  const started = performance.now();
  const probe = await loadFastest({} as JobSpec, ['webgpu', 'wasm'], newWorker, () => undefined);
  const took = performance.now() - started;
  assert.equal(probe.chosen?.outcome.ep, 'wasm');
  assert.ok(took < PROBE_LIMIT_MS / 2, `${took} ms`);
  assert.ok(took >= measureLimitMs(1000) - 50, `${took} ms: the limit is ${measureLimitMs(1000)} ms`);
  assert.deepEqual(terminated, ['webgpu']);
  const gpu = probe.figures.find((f) => f.ep === 'webgpu')!;
  assert.equal(gpu.imagesPerSecond, null);
  assert.match(gpu.note, /under half the 1000\.0 images\/s measured before it/);
  probe.chosen!.worker.terminate();
});

test('the time an EP is given after another follows that EP speed: an EP at half of it would finish', () => {
  // wasm at 8 images/s (this machine's ResNet-18): a batch of 4 at 4 images/s takes 1 s, two of them beyond the timed second.
  assert.equal(measureLimitMs(8), 2_000 + 1_000 + 2 * 1_000);
  assert.ok(measureLimitMs(10_000) >= 3_000 && measureLimitMs(10_000) < 3_010, 'never under 3 s: the timed second and the first run');
  assert.ok(measureLimitMs(0.5) > PROBE_LIMIT_MS, 'a slow first EP leaves the 20 s limit in force');
});
