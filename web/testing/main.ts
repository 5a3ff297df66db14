/** The worker page of the test build: the shipped page, with test workers and `window.__tabpool`. */
import * as Comlink from 'comlink';
import { WorkerPage } from '../page/workerPage.ts';
import type { ActorWorkerApi } from '../workerApi.ts';
import type { ActorTestApi } from './actorTest.worker.ts';
import type { TabpoolTestHooks } from './hooks.ts';

let releaseReady: (() => void) | null = null;
const holdReady = new URLSearchParams(location.search).get('holdReady') === '1';

const page = new WorkerPage({
  actor: () => new Worker(new URL('./actorTest.worker.ts', import.meta.url), { type: 'module', name: 'tabpool-actor' }),
  prepare: () => new Worker(new URL('../worker/prepare.worker.ts', import.meta.url), { type: 'module', name: 'tabpool-prepare' }),
  beforeReady: holdReady ? () => new Promise<void>((resolve) => (releaseReady = resolve)) : undefined,
});

/** The actor worker with its test methods; the page holds the production view of the same worker. */
function testApi(): Comlink.Remote<ActorTestApi & ActorWorkerApi> | null {
  const held = page.actorWorker;
  return held ? Comlink.wrap<ActorTestApi & ActorWorkerApi>(held.worker) : null;
}

const hooks: TabpoolTestHooks = {
  view: page.view,
  loseDevice: async () => (await testApi()?.loseDevice()) ?? false,
  crashWorker: async () => void (await testApi()?.crash()),
  freezeWorker: async () => void (await testApi()?.freeze()),
  held: () => releaseReady !== null,
  measureRaw: async (batchSize, seconds) => {
    const api = testApi();
    if (!api) throw new Error('measureRaw: no actor worker yet');
    return api.measureRaw(batchSize, seconds);
  },
  release: () => {
    releaseReady?.();
    releaseReady = null;
  },
};
window.__tabpool = hooks;
void page.start();
