/**
 * The coordinator's own copy of the job's actor, the trusted reference verification compares tabs
 * against. It runs in a worker thread (referenceWorker.ts); this is the main thread's handle on it.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { NodeInput } from '../actor/nodeActor.ts';
import type { ReferenceInit, ReferenceReply, ReferenceRequest, TabAnswer } from './referenceWorker.ts';

export type { ReferenceInit, TabAnswer };

export class Reference {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private readonly pending = new Map<number, { resolve(reply: ReferenceReply): void; reject(e: Error): void }>();
  private nextId = 1;
  private failed: Error | null = null;
  private exited = false;

  constructor(init: ReferenceInit) {
    // From the clone the coordinator runs its TypeScript through tsx, and the worker thread needs the loader
    // registered too; the installed package is compiled JavaScript and needs none.
    const compiled = import.meta.url.endsWith('.js');
    const entry = new URL(compiled ? './referenceWorker.js' : './referenceWorker.ts', import.meta.url);
    const viaTsx = (): string =>
      `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
      `.then((t) => { t.register(); return import(${JSON.stringify(entry.href)}); })`;
    this.worker = compiled ? new Worker(entry, { workerData: init }) : new Worker(viaTsx(), { eval: true, workerData: init });
    this.worker.unref();
    this.worker.once('exit', () => (this.exited = true));
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', reject);
    });
    this.ready.catch(() => undefined);
    this.worker.on('message', (m: ReferenceReply | 'ready') => {
      if (m === 'ready') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(`the reference model failed: ${m.error}`));
      else p?.resolve(m);
    });
    this.worker.on('error', (err) => {
      this.failed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  /** Each input's row by the reference, or null where it could not make the input ready (decode it). */
  async rows(inputs: NodeInput[]): Promise<ReferenceReply['rows']> {
    return (await this.request(inputs, undefined)).rows;
  }

  /** Tabs' answers checked by the actor's own `verify`: what is wrong with each, null when it holds, undefined where unchecked. */
  async verdicts(inputs: NodeInput[], answers: TabAnswer[]): Promise<(string | null | undefined)[]> {
    return (await this.request(inputs, answers)).verdicts ?? inputs.map(() => undefined);
  }

  private async request(inputs: NodeInput[], answers: TabAnswer[] | undefined): Promise<ReferenceReply> {
    await this.ready;
    if (this.failed) throw this.failed;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, inputs, ...(answers ? { answers } : {}) } satisfies ReferenceRequest);
    });
  }

  /**
   * Ends the thread after its sessions are released: a worker terminated while it holds an onnxruntime-node
   * session can abort the whole process as it exits. Terminated only if it does not end within a few seconds.
   */
  async close(): Promise<void> {
    if (this.exited) return;
    const exited = once(this.worker, 'exit');
    this.worker.postMessage({ close: true } satisfies ReferenceRequest);
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}
