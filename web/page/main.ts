/** The worker page as shipped: the page with the production workers, and nothing else. */
import { WorkerPage } from './workerPage.ts';

const page = new WorkerPage({
  actor: () => new Worker(new URL('../worker/actor.worker.ts', import.meta.url), { type: 'module', name: 'tabpool-actor' }),
  prepare: () => new Worker(new URL('../worker/prepare.worker.ts', import.meta.url), { type: 'module', name: 'tabpool-prepare' }),
});
void page.start();
