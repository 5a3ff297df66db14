/**
 * The actor host's behaviours, proved once against both ways a job runs: in this process, and on a
 * gateway fed from a real NATS JetStream queue (test/support/hostModes.ts). Before the one host
 * (issue 17) the gateway had a copy of the scheduler of its own, without tail copies, stuck-load
 * eviction, halving, a fallback cap, the lost-actor weight or speed-sized batches.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CLOSE } from '../../../shared/closeCodes.ts';
import { LOAD_DEADLINE_MS } from '../../../coordinator/host/deadlines.ts';
import { inProcess, ODD_PNG, onQueue, type Mode, type ModeRun } from '../../support/hostModes.ts';
import type { FakeLink } from '../../support/jobHarness.ts';
import { okItems, TINY_PNG } from '../../support/jobHarness.ts';
import type { ItemResult } from '../../../shared/protocol.ts';
import { startNats, type NatsServer } from '../../support/natsServer.ts';

let nats: NatsServer;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats.stop();
});

const modes: Mode[] = [inProcess, onQueue(() => nats)];

/** How many of each link's batches the test has dealt with: a retried batch comes again under its id. */
const handled = new WeakMap<FakeLink, number>();
/** The batches sent to `l` since the test last looked, marked as dealt with. */
function unanswered(l: FakeLink): FakeLink['batches'] {
  const from = handled.get(l) ?? 0;
  handled.set(l, l.batches.length);
  return l.batches.slice(from);
}

/** Answers every batch the links hold (those `hold` keeps aside excepted) until `done()`, `stepMs` of test time apart. */
async function answerUntil(
  run: ModeRun,
  links: FakeLink[],
  done: () => boolean,
  stepMs = 100,
  hold: (l: FakeLink) => boolean = () => false,
): Promise<void> {
  await run.until('the job to get there', () => {
    for (const l of links) {
      if (l.closed || hold(l)) continue;
      for (const b of unanswered(l)) {
        run.clock.advance(stepMs);
        run.answer(l, b.batchId);
      }
    }
    // Time passes for the host's once-a-second planning (tail copies, deadlines).
    run.clock.advance(250);
    return done();
  });
}

function expectAll(rows: { id: string; error: string | null }[], n: number, errors: Record<string, string> = {}): void {
  assert.equal(rows.length, n, 'one row per input');
  assert.equal(new Set(rows.map((r) => r.id)).size, n, 'no input twice');
  assert.deepEqual(Object.fromEntries(rows.filter((r) => r.error).map((r) => [r.id, r.error])), errors);
}

for (const mode of modes) {
  test(
    `${mode.name}: a slow actor holding the tail is covered by an idle one; the first answer wins and the ` + `late one is no failure`,
    async () => {
      const run = await mode.start({ items: 24, options: { batchSize: 4, maxTasksInFlight: 1, maxRetries: 3, pool: { min: 2, max: 2 } } });
      try {
        const slow = await run.join('slow', { speed: 50 });
        const fast = await run.join('fast', { speed: 50 });
        let finished = false;
        void run.rows().then(() => (finished = true));
        await answerUntil(
          run,
          [slow, fast],
          () => slow.json.some((m) => m.type === 'cancel'),
          100,
          (l) => l === slow,
        );
        const cancelled = slow.json.find((m) => m.type === 'cancel');
        // Its copy answers late: ignored, not a failure, not a second row.
        if (cancelled?.type === 'cancel') run.answer(slow, cancelled.batchId);
        assert.ok(
          slow.closed === null || slow.closed.code === CLOSE.jobDone,
          `a late answer is no violation: ${JSON.stringify(slow.closed)}`,
        );
        await answerUntil(run, [fast], () => finished);
        expectAll(await run.rows(), 24);
        assert.match(run.logs(), /tail: batch \d+ \(\d+ images\), held by actor-1 and expected last, also sent to idle actor-2/);
      } finally {
        await run.close();
      }
    },
  );

  test(
    `${mode.name}: a tab stuck loading the model is evicted after ${LOAD_DEADLINE_MS / 60_000} minutes, ` + `and its slot goes to another`,
    async () => {
      const run = await mode.start({ items: 8, options: { batchSize: 4, maxTasksInFlight: 1, maxRetries: 3, pool: { min: 1, max: 1 } } });
      try {
        const stuck = await run.join('stuck', { ready: false });
        const waiting = await run.join('waiting', { ready: false });
        assert.ok(
          waiting.json.some((m) => m.type === 'welcome' && m.status === 'standby'),
          'the pool of one is full',
        );
        for (let t = 0; t <= LOAD_DEADLINE_MS + 2000 && !stuck.closed; t += 1000) run.clock.advance(1000);
        assert.equal(stuck.closed?.code, CLOSE.evicted);
        assert.match(run.logs(), /did not finish loading the model in 10 min: evicting it/);
        await run.until('the standby tab promoted', () => waiting.json.some((m) => m.type === 'admission' && m.status === 'admitted'));
      } finally {
        await run.close();
      }
    },
  );

  test(
    `${mode.name}: an input that fails every batch it is in is isolated by halving within --max-retries; ` + `the rest go through`,
    async () => {
      const run = await mode.start({
        items: 16,
        odd: [5],
        options: { batchSize: 8, maxTasksInFlight: 1, maxRetries: 1, pool: { min: 3, max: 3 } },
      });
      try {
        const tabs = [await run.join('a'), await run.join('b'), await run.join('c')];
        let finished = false;
        void run.rows().then(() => (finished = true));
        await run.until('every input answered or given up', () => {
          for (const l of tabs) {
            if (l.closed) continue;
            for (const b of unanswered(l)) {
              run.clock.advance(100);
              if (b.sizes.includes(ODD_PNG.byteLength)) run.failBatch(l, b.batchId);
              else run.answer(l, b.batchId);
            }
          }
          return finished;
        });
        expectAll(await run.rows(), 16, { 'img-0005': 'RETRIES_EXHAUSTED' });
      } finally {
        await run.close();
      }
    },
  );

  test(`${mode.name}: URL inputs no tab can fetch are fetched here, at most 16 at once, and sent again with their bytes`, async () => {
    let active = 0;
    let most = 0;
    const read = async (): Promise<{ bytes: Uint8Array }> => {
      most = Math.max(most, ++active);
      // A slow server: fetches overlap, so the cap is what bounds them.
      await new Promise((r) => setTimeout(r, 30));
      active--;
      return { bytes: TINY_PNG };
    };
    const run = await mode.start({
      items: 48,
      urls: { read },
      options: { batchSize: 48, maxTasksInFlight: 1, maxRetries: 3, pool: { min: 1, max: 1 } },
    });
    try {
      const tab = await run.join('cors-refused');
      let finished = false;
      void run.rows().then(() => (finished = true));
      await run.until('every input answered', () => {
        for (const b of unanswered(tab)) {
          run.clock.advance(100);
          // URL items (size 0 in the frame) cannot be fetched by this tab; inline ones are answered.
          run.answer(
            tab,
            b.batchId,
            b.sizes.map((s): ItemResult => (s === 0 ? { ok: false, code: 'TAB_FETCH_FAILED', message: 'CORS refused' } : okItems(1)[0]!)),
          );
        }
        return finished;
      });
      expectAll(await run.rows(), 48);
      assert.ok(most > 1 && most <= 16, `${most} fetches at once`);
    } finally {
      await run.close();
    }
  });

  test(
    `${mode.name}: tabs lost with a batch cost it a quarter of a failure each: after four losses under ` +
      `--max-retries 1 it is still whole`,
    async () => {
      // More inputs than the read-ahead, so no batch is cut smaller for the job's tail; the first one holds ODD_PNG.
      const run = await mode.start({
        items: 64,
        odd: [0],
        options: { batchSize: 8, maxTasksInFlight: 1, maxRetries: 1, pool: { min: 1, max: 1 } },
      });
      try {
        for (let i = 0; i < 4; i++) {
          const quitter = await run.join(`quitter-${i}`);
          await run.until(`quitter ${i} holds the first batch`, () => quitter.batches.some((b) => b.sizes.includes(ODD_PNG.byteLength)));
          run.leave(quitter);
        }
        const honest = await run.join('honest');
        let finished = false;
        void run.rows().then(() => (finished = true));
        await answerUntil(run, [honest], () => finished);
        expectAll(await run.rows(), 64);
        // Four losses weigh 1.0, not over --max-retries 1: the batch was not split (a full failure each would have).
        const lost = honest.batches.filter((b) => b.sizes.includes(ODD_PNG.byteLength));
        assert.deepEqual(
          lost.map((b) => b.items),
          [8],
        );
      } finally {
        await run.close();
      }
    },
  );

  test(
    `${mode.name}: batches are sized to each actor's speed, across unit boundaries: a fast tab gets many ` + `more inputs than a slow one`,
    async () => {
      const run = await mode.start({
        items: 2000,
        options: { batchSize: 'auto', maxTasksInFlight: 1, maxRetries: 3, pool: { min: 2, max: 2 } },
      });
      try {
        const slow = await run.join('slow', { speed: 10 });
        const fast = await run.join('fast', { speed: 1000 });
        await run.until('both have a batch', () => slow.batches.length > 0 && fast.batches.length > 0);
        // ~1.5 s of each one's work: 15 inputs for the slow tab; the fast one's capped by its memory budget, past one 16-input unit.
        assert.equal(slow.batches[0]!.items, 15);
        assert.ok(fast.batches[0]!.items > 16, `fast: ${fast.batches[0]!.items}`);
      } finally {
        await run.close();
      }
    },
  );
}
