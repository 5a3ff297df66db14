/**
 * A tab's memory over a long run: `tab.memory.wasm.growthPer10kBatches` and
 * `tab.memory.webgpu.growthPer10kBatches` (MB): one tab, the test-sized model, batch 1, never
 * recycled (--recycle-after 0); the page's memory (performance.measureUserAgentSpecificMemory: its
 * JS heaps, workers and wasm memory) measured after its first batches and again near the end, the
 * growth scaled to 10,000 batches. WebGPU runs on the software adapter here (SwiftShader): few
 * batches, so its figure is an extrapolation, and says so.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { chromiumArgs, findChromium } from '../coordinator/browser/launcher.ts';
import { ROUTES, TOKEN_PARAM } from '../shared/routes.ts';
import type { JobStatus } from '../shared/status.ts';
import { startCoordinator } from '../test/support/coordinatorProcess.ts';
import { writeTestPngs } from '../test/support/testImages.ts';
import { writeManifest, type BenchOptions } from './coordinatorCapacity.ts';

async function done(statusUrl: string): Promise<number> {
  const u = new URL(statusUrl);
  const res = await fetch(`${u.origin}${ROUTES.statusApi}?${TOKEN_PARAM}=${u.searchParams.get(TOKEN_PARAM)}`).catch(() => null);
  return res?.ok ? ((await res.json()) as JobStatus).progress.done : -1;
}

async function pageBytes(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const p = performance as unknown as { measureUserAgentSpecificMemory(): Promise<{ bytes: number }> };
    return (await p.measureUserAgentSpecificMemory()).bytes;
  });
}

async function growth(ep: 'wasm' | 'webgpu', batches: number, o: BenchOptions): Promise<{ perTenK: number; note: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `tabpool-bench-tabmem-${ep}-`));
  const browser = await chromium.launch({
    executablePath: findChromium(),
    args: [...chromiumArgs(), '--enable-blink-features=ForceEagerMeasureMemory'],
    headless: true,
  });
  try {
    const pngs = (await writeTestPngs(path.join(dir, 'png'), 8, 64, 64)).map((f) => path.relative(dir, f.path));
    const manifest = path.join(dir, 'manifest.jsonl');
    await writeManifest(manifest, batches, pngs);
    const c = await startCoordinator([
      '--model',
      'resnet18-tiny',
      '--data',
      manifest,
      '--out',
      path.join(dir, 'out.jsonl'),
      '--batch-size',
      '1',
      '--pool',
      '1',
      '--ep',
      ep,
      ...(ep === 'webgpu' ? ['--allow-software-gpu'] : []),
      '--recycle-after',
      '0',
      '--verify',
      '0',
      '--quiet',
    ]);
    const page = await (await browser.newContext()).newPage();
    await page.goto(c.workerUrl);
    // A measurement can take seconds while the tab keeps working: a job that ends meanwhile (its coordinator gone, the
    // status unreachable) ends the waiting too, with every batch done.
    let ended = false;
    void c.exited.then(() => (ended = true));
    let seen = 0;
    const progress = async (): Promise<number> => (ended ? batches : (seen = Math.max(seen, await done(c.statusUrl))));
    const first = Math.max(20, Math.floor(batches * 0.1));
    while ((await progress()) < first) await new Promise((r) => setTimeout(r, 100));
    const a = { done: await progress(), bytes: await pageBytes(page) };
    const last = Math.floor(batches * 0.9);
    while ((await progress()) < last) await new Promise((r) => setTimeout(r, 100));
    const b = { done: await progress(), bytes: await pageBytes(page) };
    await c.exited;
    const perTenK = ((b.bytes - a.bytes) / 1e6 / Math.max(1, b.done - a.done)) * 10_000;
    const note =
      `tab.memory.${ep}.growthPer10kBatches: the page's memory (measureUserAgentSpecificMemory) ${(a.bytes / 1e6).toFixed(1)} MB ` +
      `after ${a.done} batches, ${(b.bytes / 1e6).toFixed(1)} MB after ${b.done}: ${perTenK.toFixed(1)} MB per 10,000 batches ` +
      `(batch 1, resnet18-tiny, never recycled${ep === 'webgpu' ? '; SwiftShader, so few batches: an extrapolation' : ''})`;
    o.log(`  ${note}`);
    return { perTenK, note };
  } finally {
    await browser.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export async function benchTabMemory(o: BenchOptions): Promise<Record<string, number>> {
  const wasm = await growth('wasm', o.quick ? 2000 : 10_000, o);
  const webgpu = await growth('webgpu', o.quick ? 200 : 600, o);
  o.notes.push(wasm.note, webgpu.note);
  return { 'tab.memory.wasm.growthPer10kBatches': wasm.perTenK, 'tab.memory.webgpu.growthPer10kBatches': webgpu.perTenK };
}
