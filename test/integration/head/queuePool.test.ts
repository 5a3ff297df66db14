/**
 * `tabpool serve --queue`: one standing pool serving every job put on a JetStream queue. A real
 * nats-server (started here, on a loopback port), a head in this process with its queue pool, two
 * simulated tabs joined to the head once, and two `run --queue` jobs one after the other: each
 * finds the pool by itself, every input gets exactly one row, and the tabs stay.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { checkedOptions } from '../../../coordinator/api/apiOptions.ts';
import { TabpoolJob } from '../../../coordinator/api/tabpoolJob.ts';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { QueuePool } from '../../../coordinator/modes/queuePool.ts';
import { CACHE_DIR } from '../../support/coordinatorProcess.ts';
import { scratch, startTestHead } from '../../support/headHarness.ts';
import { startNats, type NatsServer } from '../../support/natsServer.ts';
import { until } from '../../support/queueJob.ts';
import { readRows } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

let dir: string;
let nats: NatsServer;

before(async () => {
  dir = await scratch('queue-pool');
  nats = await startNats();
});
after(async () => {
  await nats.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('tabpool serve --queue serves every job put on the queue, on tabs joined once; every input exactly once', async () => {
  const data = path.join(dir, 'data');
  const ids = (await writeTestPngs(data, 16, 64, 64, 9)).map((f) => f.id).sort();
  const model = (await ensureBuiltinModel(CACHE_DIR, 'tiny')).path;
  const head = await startTestHead(path.join(dir, 'state'));
  const log: string[] = [];
  const pool = new QueuePool({ servers: [nats.url], head, cacheDir: CACHE_DIR, log: (l) => log.push(l), scanMs: 200 });
  await pool.start();
  const tabs = await startActors(head.workerUrl, 2, { mode: 'real' });
  try {
    for (const name of ['qa', 'qb']) {
      const out = path.join(dir, `${name}.jsonl`);
      const options = checkedOptions(
        { data, actor: null, out },
        { queue: nats.url, job: name, model, verify: 0, batchSize: 4, cacheDir: CACHE_DIR },
        { overwrite: true },
      );
      const summary = await new TabpoolJob(options).done;
      assert.equal(summary.status, 'done', log.join('\n'));
      const rows = await readRows(out);
      assert.deepEqual(rows.map((r) => r.id).sort(), ids);
      assert.ok(
        rows.every((r) => r.error === null),
        'no error rows',
      );
    }
    await until('both queue jobs listed done on the head', () =>
      ['qa', 'qb'].every((j) => head.status().jobs.some((r) => r.name.startsWith(`queue job ${j}`) && r.status === 'done')),
    );
    assert.equal(head.status().tabs.length, 2, 'the same two tabs served both');
    assert.ok(
      tabs.actors.every((a) => a.answered > 0),
      'both tabs worked',
    );
  } finally {
    for (const a of tabs.actors) a.close();
    await pool.stop();
    await head.close();
  }
});
