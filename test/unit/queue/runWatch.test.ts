/** `run --queue`'s watchdog: units unwritten and no row for --stall-timeout → a report; twice as long → STALLED. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunWatch } from '../../../coordinator/queue/runWatch.ts';

const stuck = { pending: 1, answeredPending: 0, readyActors: 2, gateways: 2 };

test('units on the queue and no row for the stall timeout: one report with the numbers, then STALLED after a second period', () => {
  const w = new RunWatch(60_000, 0);
  assert.equal(w.check(stuck, 59_000), null);
  const warn = w.check(stuck, 60_000);
  assert.equal(warn?.kind, 'warn');
  assert.match(
    warn!.report,
    /no row written for 60s with 1 unit\(s\) on the queue unwritten .*0 answered.*1 unanswered.*2 ready actor\(s\) on 2 live gateway\(s\)/,
  );
  assert.equal(w.check(stuck, 90_000), null, 'said once');
  assert.equal(w.check(stuck, 120_000)?.kind, 'fail');
});

test('a row written starts the clock again; nothing pending is never a stall', () => {
  const w = new RunWatch(60_000, 0);
  w.progressed(50_000);
  assert.equal(w.check(stuck, 100_000), null);
  assert.equal(w.check({ ...stuck, pending: 0 }, 1_000_000), null);
  assert.equal(w.check(stuck, 1_050_000), null, 'the idle time counts from when work was last pending-free');
});
