import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission } from '../../../coordinator/host/admission.ts';
import type { ActorRoster } from '../../../coordinator/pool/actorRoster.ts';

test('a thousand tabs joining a shared pool at once cost two passes over the job pool, not a thousand', async () => {
  let passes = 0;
  let running = 0;
  const shared = {
    sync: async () => {
      passes++;
      assert.equal(++running, 1, 'passes never overlap');
      await new Promise((r) => setImmediate(r));
      running--;
      return [];
    },
    readyCount: () => 0,
  };
  const roster = { promote: () => [] } as unknown as ActorRoster;
  const admission = new Admission(
    roster,
    shared,
    () => null as never,
    () => undefined,
  );
  const first = admission.sync();
  await Promise.resolve(); // the first pass under way: later calls wait for one more pass, which serves them all
  const rest = Array.from({ length: 999 }, () => admission.sync());
  await Promise.all([first, ...rest]);
  assert.ok(passes <= 2, `${passes} passes`);
  const before = passes;
  await admission.sync();
  assert.equal(passes, before + 1, 'a call after they settle runs a pass of its own');
});
