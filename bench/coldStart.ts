/**
 * Cold start, as a person opening the worker page meets it: `e2e.firstRowSeconds.cold` from opening
 * the page in a fresh browser profile (the page, the model downloaded, its session made, the warm-up
 * run, the first batch) to the first row on disk; `.warm` the same for a second job on the same
 * origin and profile, the model read from the tab's cache. The full ResNet-18 (45 MB) on wasm, one
 * tab, --verify 0, the shipped page (no test hooks).
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { chromiumArgs, findChromium, launchedUrl } from '../coordinator/browser/launcher.ts';
import { startCoordinator } from '../test/support/coordinatorProcess.ts';

export interface ColdStartOptions {
  log: (s: string) => void;
  notes: string[];
  manifest: string;
}

/** A port free now: both jobs listen on it, so the second is the same origin (the tab's model cache is per origin). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Seconds from opening the page in `context` to the job's first row on disk. */
async function firstRowSeconds(context: BrowserContext, manifest: string, port: number, dir: string, label: string): Promise<number> {
  const out = path.join(dir, `out-${label}.jsonl`);
  const c = await startCoordinator(
    [
      '--port',
      String(port),
      '--model',
      'resnet18',
      '--data',
      manifest,
      '--out',
      out,
      '--ep',
      'wasm',
      '--pool',
      '1',
      '--verify',
      '0',
      '--quiet',
    ],
    {},
  );
  try {
    const page = await context.newPage();
    const opened = performance.now();
    await page.goto(launchedUrl(c.workerUrl, 1));
    // A bench, not a test: the first row is looked for every 20 ms.
    for (;;) {
      const size = await fs.stat(out).then(
        (s) => s.size,
        () => 0,
      );
      if (size > 0) break;
      if (c.process.exitCode !== null) throw new Error(`the ${label} job exited before its first row:\n${c.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - opened) / 1000;
    const code = await c.exited;
    if (code !== 0) throw new Error(`the ${label} job exited ${code}:\n${c.stderr()}`);
    await page.close();
    return seconds;
  } finally {
    c.kill('SIGKILL');
  }
}

export async function benchColdStart(o: ColdStartOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-cold-'));
  const browser = await chromium.launch({ executablePath: findChromium(), args: chromiumArgs() });
  try {
    const port = await freePort();
    const context = await browser.newContext();
    const cold = await firstRowSeconds(context, o.manifest, port, dir, 'cold');
    const warm = await firstRowSeconds(context, o.manifest, port, dir, 'warm');
    o.log(`  first row ${cold.toFixed(2)} s from a fresh profile, ${warm.toFixed(2)} s with the model in the tab's cache`);
    o.notes.push(
      `e2e.firstRowSeconds.cold: from opening the shipped worker page in a fresh browser profile to the job's first row on ` +
        `disk (page, the full ResNet-18 fetched from the coordinator over loopback and checked by sha256, its wasm ` +
        `session, the warm-up run, the first batch), one tab, --ep wasm: ${cold.toFixed(2)} s. .warm: a second job on ` +
        `the same origin and profile, the model read from the tab's Cache Storage: ${warm.toFixed(2)} s. With --ep ` +
        `auto and a usable GPU the tab also measures each EP first (up to 20 s each; not part of this figure).`,
    );
    return { 'e2e.firstRowSeconds.cold': cold, 'e2e.firstRowSeconds.warm': warm };
  } finally {
    await browser.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
