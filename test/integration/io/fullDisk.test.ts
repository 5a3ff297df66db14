/**
 * The output's disk filling mid-job (a 48 KiB tmpfs this test mounts and removes): the job fails
 * with OUTPUT_WRITE_FAILED naming the output and the cause, exit 1, every row before kept; the
 * output moved to a roomy disk, the same run with --resume finishes it exactly. Skipped, saying
 * why, where this process may not mount (it needs root or CAP_SYS_ADMIN).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ensureBuiltinModel } from '../../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR, startCoordinator } from '../../support/coordinatorProcess.ts';
import { jobArgv, type JobFlags } from '../../support/jobArgv.ts';
import { assertCompleteAndCorrect } from '../../support/outputCheck.ts';
import { referencePredictions } from '../../support/reference.ts';
import { startActors } from '../../support/simulatedActor.ts';
import { writeTestPngs } from '../../support/testImages.ts';

function tryMount(dir: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48k', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mounting a tmpfs is not allowed here (${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()})`;
  }
}

test('the output disk full mid-job: OUTPUT_WRITE_FAILED naming it, exit 1; --resume on a roomy disk finishes exactly', async (t) => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-full-'));
  const small = path.join(tmp, 'small');
  await fs.mkdir(small);
  const refused = tryMount(small);
  if (refused) {
    t.skip(refused);
    await fs.rm(tmp, { recursive: true, force: true });
    return;
  }
  try {
    const files = await writeTestPngs(path.join(tmp, 'data'), 40, 64, 64, 51);
    const reference = await referencePredictions((await ensureBuiltinModel(CACHE_DIR, 'tiny')).path, files);
    const common: JobFlags = { model: 'resnet18-tiny', launch: 0, data: path.join(tmp, 'data'), batchSize: 2, verify: 0 };
    // --logits: ~10 KB a row, so the 48 KiB disk fills after a few rows.
    const full = path.join(small, 'out.jsonl');
    const first = await startCoordinator(jobArgv({ ...common, logits: true, out: full }));
    await startActors(first.workerUrl, 2, { mode: 'real' });
    assert.equal(await first.exited, 1, first.stderr());
    assert.match(first.stderr(), /OUTPUT_WRITE_FAILED: --out \S+out\.jsonl could not be written: its disk is full/);
    const kept = (await fs.readFile(full, 'utf8')).split('\n').length - 1;
    assert.ok(kept > 0 && kept < files.length, `${kept} whole rows kept on the full disk`);
    const roomy = path.join(tmp, 'out.jsonl');
    await fs.copyFile(full, roomy);
    const second = await startCoordinator(jobArgv({ ...common, logits: true, out: roomy, resume: true }));
    await startActors(second.workerUrl, 2, { mode: 'real' });
    assert.equal(await second.exited, 0, second.stderr());
    await assertCompleteAndCorrect(roomy, files, reference);
  } finally {
    execFileSync('umount', [small]);
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
