/**
 * Helpers for the queue tests: `tabpool run --queue` and `tabpool gateway` as child processes
 * (always torn down), and bounded waits for states other processes reach.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR } from './coordinatorProcess.ts';
import { startNats, type NatsServer } from './natsServer.ts';
import { referencePredictions, type ReferencePrediction } from './reference.ts';
import { writeTestPngs } from './testImages.ts';
import { startCoordinator, type RunningCoordinator } from './coordinatorProcess.ts';
import { gatewayArgv, jobArgv, type GatewayArgvFlags, type JobFlags } from './jobArgv.ts';

export class QueueProcesses {
  private readonly running = new Set<RunningCoordinator>();

  constructor(
    private readonly natsUrl: () => string,
    private readonly data: () => string,
  ) {}

  /** `tabpool run --queue` with no tabs of its own, 4-input batches, the tiny model; `flags` add to these or replace them. */
  async run(job: string, out: string, flags: JobFlags = {}): Promise<RunningCoordinator> {
    return this.track(
      await startCoordinator(
        jobArgv({
          queue: this.natsUrl(),
          job,
          model: 'resnet18-tiny',
          launch: 0,
          data: this.data(),
          out,
          batchSize: 4,
          verify: 0,
          ...flags,
        }),
      ),
    );
  }

  async gateway(job: string, flags: GatewayArgvFlags = {}): Promise<RunningCoordinator> {
    return this.track(await startCoordinator(gatewayArgv({ queue: this.natsUrl(), job, ...flags }), { command: 'gateway' }));
  }

  private track(c: RunningCoordinator): RunningCoordinator {
    this.running.add(c);
    void c.exited.then(() => this.running.delete(c));
    return c;
  }

  async killAll(): Promise<void> {
    for (const c of this.running) c.kill('SIGKILL');
    await Promise.all([...this.running].map((c) => c.exited));
  }
}

/** Polls until `check` holds (bounded): for states another process reaches, never a fixed sleep. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Complete lines in an output file so far. */
export async function rowsIn(out: string): Promise<number> {
  return (await fs.readFile(out, 'utf8').catch(() => '')).split('\n').length - 1;
}

/** What a queue test file shares: one nats-server, a folder of test PNGs, their reference predictions, its processes. */
export interface QueueSuite {
  readonly nats: NatsServer;
  readonly tmp: string;
  readonly data: string;
  readonly files: { id: string; path: string }[];
  readonly reference: Map<string, ReferencePrediction>;
  readonly procs: QueueProcesses;
}

/**
 * Starts the file's nats-server and writes `images` seeded 64×64 PNGs with their onnxruntime-node predictions
 * (the tiny model) before its tests; kills every process it started and stops the server after them.
 */
export function queueSuite(name: string, images: number, seed: number): QueueSuite {
  let state: Omit<QueueSuite, 'procs'> | null = null;
  const get = (): Omit<QueueSuite, 'procs'> => state ?? assertNever('the queue suite is used before its before() hook ran');
  const procs = new QueueProcesses(
    () => get().nats.url,
    () => get().data,
  );
  before(async () => {
    const nats = await startNats();
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), `tabpool-${name}-`));
    const data = path.join(tmp, 'data');
    const files = await writeTestPngs(data, images, 64, 64, seed);
    const reference = await referencePredictions((await ensureBuiltinModel(CACHE_DIR, 'tiny')).path, files);
    state = { nats, tmp, data, files, reference };
  });
  after(async () => {
    await procs.killAll();
    await state?.nats.stop();
    if (state) await fs.rm(state.tmp, { recursive: true, force: true });
  });
  return {
    get nats() {
      return get().nats;
    },
    get tmp() {
      return get().tmp;
    },
    get data() {
      return get().data;
    },
    get files() {
      return get().files;
    },
    get reference() {
      return get().reference;
    },
    procs,
  };
}

function assertNever(message: string): never {
  throw new Error(message);
}
