/**
 * Jobs on real tabs (headless Chromium, the test build of the worker page): the pipeline's steady
 * throughput, and against it the model's raw ceiling on the same tabs — `session.run` alone on a
 * ready-made tensor, measured once every tab has loaded the model, all tabs at once (the state the
 * pipeline runs in), after a warm-up long enough for wasm's optimising tier to take over.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { chromiumArgs, findChromium } from '../coordinator/browser/launcher.ts';
import type { RunSummary } from '../coordinator/cli/summary.ts';
import { startCoordinator } from '../test/support/coordinatorProcess.ts';
import type {} from '../web/testing/hooks.ts';

export interface TabsRun {
  model: string;
  data: string;
  ep: 'wasm' | 'webgpu';
  tabs: number;
  batchSize: number;
  /** Seconds of `session.run` before the measurement counts, and of the measurement. */
  warmSeconds: number;
  rawSeconds: number;
  extra?: string[];
}

export interface TabsResult {
  /** Rows a second from the pool being ready to the last row. */
  imgPerSec: number;
  rawPerTab: number[];
  rawSum: number;
  wireBytesPerImage: number;
  fileBytesPerImage: number;
  preprocessMsPerImage: number;
  adapter: string;
  summary: RunSummary;
}

export async function tabsRun(o: TabsRun): Promise<TabsResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-tabs-'));
  const out = path.join(dir, 'out.jsonl');
  const summaryFile = path.join(dir, 'summary.json');
  const c = await startCoordinator(
    [
      '--model',
      o.model,
      '--data',
      o.data,
      '--out',
      out,
      '--ep',
      o.ep,
      '--pool',
      String(o.tabs),
      '--batch-size',
      String(o.batchSize),
      '--quiet',
      '--summary-json',
      summaryFile,
      ...(o.extra ?? []),
    ],
    { env: { TABPOOL_WEB_BUILD: 'test' } },
  );
  const browser = await chromium.launch({ executablePath: findChromium(), args: chromiumArgs() });
  try {
    const pages: Page[] = [];
    for (let i = 0; i < o.tabs; i++) pages.push(await (await browser.newContext()).newPage());
    await Promise.all(pages.map((p) => p.goto(`${c.workerUrl}&holdReady=1`)));
    // Every tab has its model loaded and waits: now measure the ceiling, all tabs at once.
    await Promise.all(
      pages.map((p) => p.waitForFunction(() => window.__tabpool?.held() === true, null, { timeout: 600_000, polling: 100 })),
    );
    const measure = async (seconds: number): Promise<{ images: number; ms: number }[]> => {
      const got = await Promise.all(
        pages.map((p) => p.evaluate(([b, s]) => window.__tabpool!.measureRaw(b, s), [o.batchSize, seconds] as const)),
      );
      return got.map((r) => {
        if (!r) throw new Error('the actor has no raw speed (a records actor)');
        return r;
      });
    };
    await measure(o.warmSeconds);
    const raw = (await measure(o.rawSeconds)).map((r) => (r.images * 1000) / r.ms);
    await Promise.all(pages.map((p) => p.evaluate(() => window.__tabpool!.release())));
    const code = await c.exited;
    if (code !== 0) throw new Error(`bench job exited ${code}:\n${c.stderr()}`);
    const summary = JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary;
    return {
      imgPerSec: summary.steadyImagesPerSecond ?? NaN,
      rawPerTab: raw,
      rawSum: raw.reduce((a, b) => a + b, 0),
      wireBytesPerImage: summary.wire?.bytesPerImage ?? NaN,
      fileBytesPerImage: summary.wire?.fileBytesPerImage ?? NaN,
      preprocessMsPerImage: summary.decodeMsPerImage ?? NaN,
      adapter: (await pages[0]!.locator('[data-field="adapter"]').textContent()) ?? 'unknown',
      summary,
    };
  } finally {
    await browser.close();
    c.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  }
}
