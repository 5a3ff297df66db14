/**
 * A standing pool with real tabs (issue 21's acceptance): `tabpool serve`, two headless Chromium
 * tabs opened once, and jobs from `tabpool run --on` coming and going: three in a row, two at once
 * on one-GPU hosts (budgets held across jobs, from /api/status sampled throughout), one cancelled
 * then resumed, one whose head is SIGKILLed mid-job and started again. Every row equals
 * onnxruntime-node; the pages load once; the second job loads its model from the browser's cache.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import type { PoolStatus } from '../../shared/poolStatus.ts';
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import { CACHE_DIR, runCli, spawnCli, startHeadProcess, type RunningHeadProcess } from '../support/coordinatorProcess.ts';
import { maxRelativeDifference, readRows, referencePredictions, type ReferencePrediction } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, serveArgv, test, type JobFlags } from './fixtures.ts';

const WEB = { TABPOOL_WEB_BUILD: 'test' };

async function poolStatus(head: RunningHeadProcess): Promise<PoolStatus> {
  const res = await fetch(`${head.origin}${ROUTES.statusApi}?${TOKEN_PARAM}=${head.submitToken}`);
  return (await res.json()) as PoolStatus;
}

async function rowsIn(out: string): Promise<number> {
  return (await fs.readFile(out, 'utf8').catch(() => '')).split('\n').length - 1;
}

/** Every input once, each row onnxruntime-node's prediction. */
async function expectReference(out: string, ref: Map<string, ReferencePrediction>): Promise<void> {
  const rows = await readRows(out);
  expect(rows.map((r) => r.id).sort()).toEqual([...ref.keys()].sort());
  for (const row of rows) {
    const want = ref.get(row.id)!;
    expect(row.error, `${row.id} has an error row`).toBeNull();
    expect(row.class, `${row.id}: top-1`).toBe(want.top1);
    expect(maxRelativeDifference(row.logits!, want.logits), `${row.id}: logits vs onnxruntime-node`).toBeLessThan(1e-3);
  }
}

test('a standing pool: two tabs opened once serve jobs in a row, at once, cancelled and resumed, and across a SIGKILLed head', async ({
  browser,
  tmp,
}, testInfo) => {
  test.setTimeout(10 * 60_000);
  const tiny = (await ensureBuiltinModel(CACHE_DIR, 'tiny')).path;
  const full = (await ensureBuiltinModel(CACHE_DIR, 'resnet18')).path;
  const small = path.join(tmp, 'small');
  const large = path.join(tmp, 'large');
  const refSmall = await referencePredictions(tiny, await writeTestPngs(small, 8, 64, 64, 21));
  const refLarge = await referencePredictions(full, await writeTestPngs(large, 40, 224, 224, 22));
  const state = path.join(tmp, 'state');
  const heads: RunningHeadProcess[] = [];
  const pages: Page[] = [];
  const loads: number[] = [];
  try {
    let head = await startHeadProcess(serveArgv({ state, port: 0 }), WEB);
    heads.push(head);
    for (let i = 0; i < 2; i++) {
      const page = await (await browser.newContext()).newPage();
      loads.push(0);
      page.on('load', () => loads[i]!++);
      await page.goto(head.workerUrl);
      pages.push(page);
    }
    await expect.poll(async () => (await poolStatus(head)).tabs.length).toBe(2);
    await expect(pages[0]!.locator('[data-field="state"]')).toHaveText('idle');
    /** `tabpool run --on` this head (whichever it is by then), with --logits. */
    const onHead = (flags: JobFlags): string[] => [
      'run',
      ...jobArgv({ on: head.origin, submitToken: head.submitToken, cacheDir: CACHE_DIR, logits: true, ...flags }),
    ];
    const run = (flags: JobFlags) => runCli(onHead(flags));

    // Three jobs one after another; the second and third find the model in the tabs' cache.
    for (let i = 0; i < 3; i++) {
      const out = path.join(tmp, `row-${i}.jsonl`);
      const r = await run({ model: tiny, data: small, out, ep: 'wasm', pool: 2 });
      expect(r.code, r.stderr).toBe(0);
      await expectReference(out, refSmall);
      const ready = r.stderr.match(/ready on wasm: model (from cache|downloaded)/g) ?? [];
      expect(ready.length, r.stderr).toBeGreaterThanOrEqual(2);
      if (i > 0)
        expect(
          ready.every((l) => l.endsWith('from cache')),
          r.stderr,
        ).toBe(true);
    }

    // Two at once, each asking one GPU per actor of hosts with one GPU each: never two GPU actors on a host.
    const samples: PoolStatus[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await poolStatus(head));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const gpu: JobFlags = { model: tiny, data: small, ep: 'webgpu', allowSoftwareGpu: true, numGpus: 1, pool: '1..2' };
    const both = await Promise.all([0, 1].map((i) => run({ ...gpu, out: path.join(tmp, `gpu-${i}.jsonl`) })));
    sampling = false;
    await sampler;
    for (const r of both) expect(r.code, r.stderr).toBe(0);
    for (const i of [0, 1]) await expectReference(path.join(tmp, `gpu-${i}.jsonl`), refSmall);
    expect(samples.length).toBeGreaterThan(5);
    for (const s of samples)
      for (const h of s.hosts)
        expect(h.gpuActors, `host ${h.id}: ${h.gpuActors} GPU actors, ${h.capacity.gpus} GPU`).toBeLessThanOrEqual(1);
    expect(Math.max(...samples.map((s) => s.hosts.reduce((n, h) => n + h.gpuActors, 0))), 'both hosts serve').toBe(2);

    // The status page, as a person watching the pool sees it (kept as the test's artifact).
    const statusPage = await (await browser.newContext()).newPage();
    await statusPage.goto(head.statusUrl);
    await expect(statusPage.locator('#jobs tbody tr')).toHaveCount(5);
    await expect(statusPage.locator('#tabs tbody tr')).toHaveCount(2);
    const shot = testInfo.outputPath('pool-status.png');
    await statusPage.screenshot({ path: shot, fullPage: true });
    await testInfo.attach('pool-status', { path: shot, contentType: 'image/png' });
    await statusPage.close();

    // Cancelled mid-job (tabpool cancel), then --resume: exact.
    const slow: JobFlags = { model: full, data: large, ep: 'wasm', batchSize: 1, pool: 2 };
    const cancelledOut = path.join(tmp, 'cancelled.jsonl');
    const first = spawnCli(onHead({ ...slow, out: cancelledOut }));
    await expect.poll(() => rowsIn(cancelledOut), { timeout: 120_000 }).toBeGreaterThanOrEqual(4);
    const jobId = /as job (j[0-9a-f]+)/.exec(first.stdout())![1]!;
    const cancel = await runCli(['cancel', jobId, '--on', head.origin, '--submit-token', head.submitToken]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(await first.exited, first.stderr()).toBe(130);
    expect(await rowsIn(cancelledOut)).toBeLessThan(40);
    const resumed = await run({ ...slow, out: cancelledOut, resume: true });
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectReference(cancelledOut, refLarge);

    // The head SIGKILLed mid-job and started again on the same --state: the tabs come back by themselves, the job finishes exactly.
    const killedOut = path.join(tmp, 'killed.jsonl');
    const job = spawnCli(onHead({ ...slow, out: killedOut }));
    await expect.poll(() => rowsIn(killedOut), { timeout: 120_000 }).toBeGreaterThanOrEqual(4);
    head.kill('SIGKILL');
    await head.exited;
    head = await startHeadProcess(serveArgv({ state }), WEB);
    heads.push(head);
    expect(await job.exited, job.stderr()).toBe(0);
    await expectReference(killedOut, refLarge);
    expect(job.stderr()).toMatch(/reattached to the head/);
    await expect.poll(async () => (await poolStatus(head)).tabs.length).toBe(2);

    expect(loads, 'each page loaded once').toEqual([1, 1]);
  } finally {
    for (const h of heads) h.kill('SIGKILL');
  }
});
