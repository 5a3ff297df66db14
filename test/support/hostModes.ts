/**
 * One actor host, two ways to feed it, one harness: the same behaviour tests run against a job in
 * this process (a Job, fake links, a fake clock) and against a gateway on a real nats-server (a
 * real `tabpool run --queue` child process publishing the units and writing the rows, and an
 * in-process Gateway whose tabs are fake links on a fake clock). Tabs are driven the same way in
 * both; only the plumbing behind the host differs, which is the point.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { Gateway } from '../../coordinator/queue/gateway.ts';
import { connectQueue, readContent, waitForSpec, type QueueConnection } from '../../coordinator/queue/jobStore.ts';
import { actorClassOf, rowRules } from '../../coordinator/actor/actorFromContent.ts';
import { tabSpecFor } from '../../coordinator/actor/tabSpec.ts';
import { CACHE_DIR } from './coordinatorProcess.ts';
import type { InputReader } from '../../coordinator/io/datasetFeeder.ts';
import type { JobOptions } from '../../coordinator/options/jobOptions.ts';
import type { ItemResult } from '../../shared/protocol.ts';
import { startCoordinator, type RunningCoordinator } from './coordinatorProcess.ts';
import { FakeClock } from './fakeClock.ts';
import { jobArgv } from './jobArgv.ts';
import { caps, FakeLink, hello, okItems, startJob, TINY_PNG } from './jobHarness.ts';
import type { NatsServer } from './natsServer.ts';

/** An input the tests can tell from the others by its size alone (what a fake tab sees of a batch). */
export const ODD_PNG = new Uint8Array(
  PNG.sync.write(Object.assign(new PNG({ width: 16, height: 16 }), { data: Buffer.alloc(16 * 16 * 4, 7) })),
);

export interface ModeJob {
  items: number;
  /** The flags the tests vary (both modes honour them the same way). */
  options: Pick<JobOptions, 'batchSize' | 'maxTasksInFlight' | 'maxRetries'> & { pool: { min: number; max: number } };
  /** Inputs with these indexes are ODD_PNG instead of TINY_PNG. */
  odd?: number[];
  /** Inputs are https URLs the tabs fetch; `read` is how the host's fallback fetches them. */
  urls?: { read: InputReader };
}

export interface ModeRun {
  clock: FakeClock;
  /** A tab: hello, and (unless `ready` is false) ready, reporting `speed` images a second. Resolves once it is admitted. */
  join(host: string, o?: { ready?: boolean; speed?: number }): Promise<FakeLink>;
  answer(link: FakeLink, batchId: number, items?: ItemResult[]): void;
  failBatch(link: FakeLink, batchId: number): void;
  /** The tab's socket closes (it went away). */
  leave(link: FakeLink): void;
  /** Lets the job run until `check` holds; throws (naming `what`) when it does not within the bound. */
  until(what: string, check: () => boolean): Promise<void>;
  /** The job's rows once it has finished (ids and error codes). */
  rows(): Promise<{ id: string; error: string | null }[]>;
  /** What the host logged. */
  logs(): string;
  close(): Promise<void>;
}

export interface Mode {
  name: string;
  start(job: ModeJob): Promise<ModeRun>;
}

const result = (batchId: number, items: ItemResult[]) => ({
  type: 'result' as const,
  batchId,
  items,
  timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 },
});

/** The job in this process: a Job with fake links and a fake clock. */
export const inProcess: Mode = {
  name: 'in process',
  async start(job) {
    let n = 0;
    const odd = new Set(job.odd ?? []);
    const h = startJob(
      job.items,
      { ...job.options, topK: 2 },
      { urls: job.urls !== undefined, read: job.urls ? job.urls.read : async () => ({ bytes: odd.has(n++) ? ODD_PNG : TINY_PNG }) },
    );
    await h.settle();
    return {
      clock: h.clock,
      async join(host, o = {}) {
        return h.join(host, caps(), o.ready ?? true, o.speed);
      },
      answer: (link, batchId, items) => {
        link.answered.add(batchId);
        const b = link.batches.find((x) => x.batchId === batchId)!;
        h.job.onMessage(link, result(batchId, items ?? okItems(b.items)), h.clock.now());
      },
      failBatch: (link, batchId) =>
        h.job.onMessage(link, { type: 'batch-failed', batchId, code: 'INFERENCE_FAILED', message: 'the model failed' }),
      leave: (link) => h.job.onClose(link, 1001, 'going away'),
      async until(what, check) {
        for (let i = 0; i < 2000 && !check(); i++) await h.settle();
        if (!check()) throw new Error(`in process: ${what} did not happen`);
      },
      async rows() {
        await h.job.ended;
        return h.sink.rows.map((r) => ({ id: r.id, error: r.error ? r.error.code : null }));
      },
      logs: () => h.logs.join('\n'),
      async close() {},
    };
  },
};

let jobs = 0;

/** A gateway on a real nats-server: `tabpool run --queue` publishes and writes, an in-process Gateway serves the fake tabs. */
export function onQueue(nats: () => NatsServer): Mode {
  return {
    name: 'on a NATS queue',
    async start(job) {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-modes-'));
      const data = path.join(dir, 'data');
      await fs.mkdir(data);
      const odd = new Set(job.odd ?? []);
      // A manifest, so that ids are the in-process harness's (img-0005), files or URLs alike.
      const lines: string[] = [];
      for (let i = 0; i < job.items; i++) {
        const id = `img-${String(i).padStart(4, '0')}`;
        if (job.urls) lines.push(JSON.stringify({ id, path: `https://images.test/${i}.png` }));
        else {
          await fs.writeFile(path.join(data, `${id}.png`), odd.has(i) ? ODD_PNG : TINY_PNG);
          lines.push(JSON.stringify({ id, path: `data/${id}.png` }));
        }
      }
      const manifest = path.join(dir, 'manifest.jsonl');
      await fs.writeFile(manifest, `${lines.join('\n')}\n`);
      const out = path.join(dir, 'out.jsonl');
      const name = `modes-${process.pid}-${++jobs}`;
      const o = job.options;
      const run: RunningCoordinator = await startCoordinator(
        jobArgv({
          queue: nats().url,
          job: name,
          model: 'resnet18-tiny',
          launch: 0,
          data: manifest,
          out,
          verify: 0,
          topK: 2,
          batchSize: o.batchSize,
          maxTasksInFlight: o.maxTasksInFlight,
          maxRetries: o.maxRetries,
          pool: `${o.pool.min}..${o.pool.max}`,
        }),
      );
      const q: QueueConnection = await connectQueue([nats().url], name);
      const spec = (await waitForSpec(q, 30_000))!;
      const content = await readContent(q, spec, CACHE_DIR);
      const clock = new FakeClock();
      const logs: string[] = [];
      const gateway = new Gateway({
        q,
        spec,
        gatewayId: 'gw-test',
        jobSpec: tabSpecFor(content, 'token', {
          numThreads: 1,
          allowSoftwareGpu: false,
          recycle: { afterBatches: null, aboveBytes: null },
        }),
        rules: rowRules(await actorClassOf(content), content),
        log: (l) => logs.push(l),
        clock,
        read: job.urls?.read,
      });
      await gateway.start();
      const until = async (what: string, check: () => boolean): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (!check()) {
          if (Date.now() > deadline) throw new Error(`on a NATS queue: ${what} did not happen within 30 s`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      return {
        clock,
        async join(host, opts = {}) {
          const link = new FakeLink(clock);
          gateway.onMessage(link, hello(host), clock.now());
          // The slot is confirmed in the job's pool on NATS before the tab hears.
          await until(`${host} welcomed`, () => link.json.some((m) => m.type === 'welcome'));
          const welcome = link.json.find((m) => m.type === 'welcome');
          if ((opts.ready ?? true) && welcome?.type === 'welcome' && welcome.status === 'admitted') {
            const ep = welcome.job!.eps[0]!;
            gateway.onMessage(
              link,
              {
                type: 'ready',
                ep,
                probe: opts.speed === undefined ? [] : [{ ep, imagesPerSecond: opts.speed, note: 'test' }],
                loadMs: 1,
                warmupMs: 0,
                modelFromCache: false,
                threads: 1,
              },
              clock.now(),
            );
          }
          return link;
        },
        answer: (link, batchId, items) => {
          link.answered.add(batchId);
          const b = link.batches.find((x) => x.batchId === batchId)!;
          gateway.onMessage(link, result(batchId, items ?? okItems(b.items)), clock.now());
        },
        failBatch: (link, batchId) =>
          gateway.onMessage(link, { type: 'batch-failed', batchId, code: 'INFERENCE_FAILED', message: 'the model failed' }, clock.now()),
        leave: (link) => gateway.onClose(link, 1001, 'going away'),
        until,
        async rows() {
          const code = await run.exited;
          if (code !== 0 && code !== 3) throw new Error(`tabpool run --queue exited ${code}:\n${run.stderr()}`);
          const text = await fs.readFile(out, 'utf8');
          return text
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { id: string; error: { code: string } | null })
            .map((r) => ({ id: r.id, error: r.error ? r.error.code : null }));
        },
        logs: () => logs.join('\n'),
        async close() {
          run.kill('SIGKILL');
          await run.exited;
          await gateway.stop();
          await q.nc.drain().catch(() => undefined);
          await fs.rm(dir, { recursive: true, force: true });
        },
      };
    },
  };
}
