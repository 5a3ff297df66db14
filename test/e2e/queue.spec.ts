/**
 * A job on NATS JetStream with real tabs: `run --queue` serving none itself, gateways that launch
 * headless Chromium tabs, a real nats-server. A gateway SIGKILLed mid-job loses nothing (another
 * gateway started later finishes), and a `run` SIGKILLed mid-job is resumed; either way every input
 * has one row, the top-1 of onnxruntime-node.
 */
import path from 'node:path';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR, startCoordinator, type RunningCoordinator } from '../support/coordinatorProcess.ts';
import { startNats, type NatsServer } from '../support/natsServer.ts';
import { assertCompleteAndCorrect } from '../support/outputCheck.ts';
import { rowsIn, until } from '../support/queueJob.ts';
import { referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, gatewayArgv, jobArgv, test, type JobFlags } from './fixtures.ts';

const IMAGES = 48;

let nats: NatsServer;
const started: RunningCoordinator[] = [];

test.beforeEach(async () => {
  nats = await startNats();
});

test.afterEach(async () => {
  for (const c of started.splice(0)) {
    c.kill('SIGKILL');
    await c.exited;
  }
  await nats.stop();
});

async function start(command: 'run' | 'gateway', args: string[]): Promise<RunningCoordinator> {
  const c = await startCoordinator(args, { command });
  started.push(c);
  return c;
}

test(
  'gateway A SIGKILLed mid-job with its two tabs: gateway B started later finishes, every input once, ' + 'top-1 equal to onnxruntime-node',
  async ({ tmp }) => {
    const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
    const files = await writeTestPngs(path.join(tmp, 'data'), IMAGES, 224, 224, 41);
    const out = path.join(tmp, 'out.jsonl');
    const run = await start(
      'run',
      jobArgv({
        queue: nats.url,
        job: 'e2e-failover',
        data: path.join(tmp, 'data'),
        out,
        launch: 0,
        ep: 'wasm',
        batchSize: 4,
        ackWait: '3s',
        verify: 0,
      }),
    );
    const a = await start('gateway', gatewayArgv({ queue: nats.url, job: 'e2e-failover', launch: 2 }));
    await until("rows from gateway A's tabs", async () => (await rowsIn(out)) >= 8, 120_000);
    a.kill('SIGKILL');
    expect(await a.exited).toBe(128);
    const b = await start('gateway', gatewayArgv({ queue: nats.url, job: 'e2e-failover', launch: 2 }));
    expect(await run.exited, run.stderr()).toBe(0);
    await assertCompleteAndCorrect(out, files, await referencePredictions(model.path, files));
    expect(await b.exited, b.stderr()).toBe(0);
    // Both gateways' tabs answered: A's before it died, B's after.
    const answeredBy = new Set([...run.stdout().matchAll(/(gw-[0-9a-f]+)\/actor-\d \(wasm/g)].map((m) => m[1]));
    expect(answeredBy.size, run.stdout()).toBe(2);
  },
);

test(
  "run SIGKILLed mid-job and resumed with the same --job: the gateway's tabs go on, every input once, " + 'top-1 equal to onnxruntime-node',
  async ({ tmp }) => {
    const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
    const files = await writeTestPngs(path.join(tmp, 'data'), IMAGES, 224, 224, 43);
    const out = path.join(tmp, 'out.jsonl');
    const job: JobFlags = {
      queue: nats.url,
      job: 'e2e-resume',
      data: path.join(tmp, 'data'),
      out,
      launch: 0,
      ep: 'wasm',
      batchSize: 4,
      verify: 0,
    };
    const first = await start('run', jobArgv(job));
    const a = await start('gateway', gatewayArgv({ queue: nats.url, job: 'e2e-resume', launch: 2 }));
    await until('rows before the kill', async () => (await rowsIn(out)) >= 8, 120_000);
    first.kill('SIGKILL');
    await first.exited;
    const second = await start('run', jobArgv({ ...job, resume: true }));
    expect(await second.exited, second.stderr()).toBe(0);
    await assertCompleteAndCorrect(out, files, await referencePredictions(model.path, files));
    expect(await a.exited, a.stderr()).toBe(0);
  },
);
