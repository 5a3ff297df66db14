/**
 * Faults of whole processes, with real browsers: a browser whose entire process tree is
 * SIGSTOPped (a closed laptop lid: its sockets stay open and nothing is sent) is dropped within
 * --heartbeat, its batches run elsewhere, and after SIGCONT the job ends exact.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from '@playwright/test';
import { chromiumArgs, findChromium } from '../../coordinator/browser/launcher.ts';
import { ensureBuiltinModel } from '../../coordinator/builtin/resnetBuilder.ts';
import { CACHE_DIR } from '../support/coordinatorProcess.ts';
import { readRows, referencePredictions } from '../support/reference.ts';
import { writeTestPngs } from '../support/testImages.ts';
import { expect, jobArgv, openTab, status, test } from './fixtures.ts';

/** A process and every descendant (Chromium's zygote, renderers, GPU and utility processes), from /proc. */
function processTree(root: number): number[] {
  const table: [number, number][] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      table.push([Number(entry), ppid]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of table) if (ppid === out[i]) out.push(pid);
  return out;
}

test('a browser whose whole process tree is SIGSTOPped is dropped within --heartbeat; after SIGCONT the job is exact', async ({
  browser,
  tmp,
  coordinator: start,
}) => {
  const model = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const files = await writeTestPngs(path.join(tmp, 'data'), 96, 224, 224, 31);
  const out = path.join(tmp, 'out.jsonl');
  // Enough work that the job outlasts the heartbeat by far: the other tab alone needs ~10 s for it.
  const heartbeat = 3;
  const c = await start(
    jobArgv({ data: path.join(tmp, 'data'), out, ep: 'wasm', batchSize: 2, pool: '1..2', heartbeat: `${heartbeat}s`, verify: 0 }),
  );
  // Its own browser process, so that only it freezes.
  const server = await chromium.launchServer({ executablePath: findChromium(), args: chromiumArgs(), headless: true });
  const frozenBrowser = await chromium.connect(server.wsEndpoint());
  try {
    await openTab(frozenBrowser, c.workerUrl);
    await openTab(browser, c.workerUrl);
    await expect.poll(async () => (await status(c)).actors.filter((a) => a.batchesDone > 0).length, { timeout: 120_000 }).toBe(2);
    const tree = processTree(server.process().pid!);
    for (const pid of tree) process.kill(pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    await expect.poll(() => /silent for [0-9.]+ s/.test(c.stderr()), { timeout: 60_000, message: c.stderr() }).toBe(true);
    const detected = (Date.now() - stoppedAt) / 1000;
    // Silence is looked for twelve times a heartbeat: a silent tab is dropped within 13/12 of it (the poll adds its own interval).
    expect(detected, c.stderr()).toBeLessThan((heartbeat * 13) / 12 + 1.5);
    for (const pid of tree) process.kill(pid, 'SIGCONT');
    expect(await c.exited, c.stderr()).toBe(0);
    const rows = await readRows(out);
    expect(rows.map((r) => r.id).sort()).toEqual(files.map((f) => f.id).sort());
    const ref = await referencePredictions(model.path, files);
    expect(rows.filter((r) => r.error !== null || r.class !== ref.get(r.id)!.top1).map((r) => r.id)).toEqual([]);
  } finally {
    for (const pid of processTree(server.process().pid!)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone already
      }
    }
    await frozenBrowser.close().catch(() => undefined);
    await server.close();
  }
});
