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
import { chromiumArgs, findChromium, launchedUrl } from '../coordinator/browser/launcher.ts';
import type { RunSummary } from '../coordinator/api/summary.ts';
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
  /** The measurement in this many calls of rawSeconds / rawChunks each (their spread shows how steady the tab's speed is). */
  rawChunks?: number;
  extra?: string[];
  /** The output's file name (default out.jsonl; a .parquet name writes a Parquet dataset). */
  out?: string;
}

export interface TabsResult {
  /** Rows a second from the pool being ready to the last row. */
  imgPerSec: number;
  rawPerTab: number[];
  rawSum: number;
  /** Each raw chunk's speed, all tabs together (one value without rawChunks). */
  rawChunkSums: number[];
  /** Each tab's model inside the job: its images ÷ the sum of the inference times its results reported. */
  inPipelinePerTab: number[];
  wireBytesPerImage: number;
  fileBytesPerImage: number;
  preprocessMsPerImage: number;
  adapter: string;
  /** The wasm threads each tab's actor ran, as its page shows them. */
  threads: string[];
  summary: RunSummary;
}

declare global {
  interface Window {
    __benchInference?: { images: number; ms: number };
  }
}

/**
 * Run in each tab before the page's scripts (Playwright's addInitScript; nothing in the page changes): sums
 * the `timing.inferenceMs` and the items of every result the page sends, so the bench knows how fast the
 * model ran inside the job, at the same time, in the same state.
 */
function countInference(): void {
  const send = WebSocket.prototype.send;
  const total = (window.__benchInference = { images: 0, ms: 0 });
  WebSocket.prototype.send = function (this: WebSocket, data: Parameters<WebSocket['send']>[0]) {
    if (typeof data === 'string' && data.startsWith('{"type":"result"')) {
      const at = data.lastIndexOf('"timing":');
      const timing = JSON.parse(data.slice(at + '"timing":'.length, -1)) as { inferenceMs: number };
      total.ms += timing.inferenceMs;
      total.images += data.split('{"ok":').length - 1;
    }
    return send.call(this, data);
  };
}

export async function tabsRun(o: TabsRun): Promise<TabsResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-tabs-'));
  const out = path.join(dir, o.out ?? 'out.jsonl');
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
    for (let i = 0; i < o.tabs; i++) {
      const page = await (await browser.newContext()).newPage();
      await page.addInitScript(countInference);
      pages.push(page);
    }
    // The tabs share this machine as --launch's do: each declares its share of the cores (and its actor runs that many threads).
    await Promise.all(pages.map((p) => p.goto(`${launchedUrl(c.workerUrl, o.tabs)}&holdReady=1`)));
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
    const chunks: { images: number; ms: number }[][] = [];
    for (let i = 0; i < (o.rawChunks ?? 1); i++) chunks.push(await measure(o.rawSeconds / (o.rawChunks ?? 1)));
    const raw = pages.map((_, t) => {
      const images = chunks.reduce((n, c) => n + c[t]!.images, 0);
      return (images * 1000) / chunks.reduce((n, c) => n + c[t]!.ms, 0);
    });
    const rawChunkSums = chunks.map((c) => c.reduce((n, r) => n + (r.images * 1000) / r.ms, 0));
    const threads = await Promise.all(pages.map(async (p) => (await p.locator('[data-field="threads"]').textContent()) ?? '?'));
    await Promise.all(pages.map((p) => p.evaluate(() => window.__tabpool!.release())));
    const code = await c.exited;
    if (code !== 0) throw new Error(`bench job exited ${code}:\n${c.stderr()}`);
    const inPipeline = await Promise.all(pages.map((p) => p.evaluate(() => window.__benchInference ?? { images: 0, ms: 0 })));
    const summary = JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary;
    return {
      imgPerSec: summary.steadyImagesPerSecond ?? NaN,
      rawPerTab: raw,
      rawSum: raw.reduce((a, b) => a + b, 0),
      rawChunkSums,
      inPipelinePerTab: inPipeline.map((r) => (r.images * 1000) / r.ms),
      wireBytesPerImage: summary.wire?.bytesPerImage ?? NaN,
      fileBytesPerImage: summary.wire?.fileBytesPerImage ?? NaN,
      preprocessMsPerImage: summary.decodeMsPerImage ?? NaN,
      adapter: (await pages[0]!.locator('[data-field="adapter"]').textContent()) ?? 'unknown',
      threads,
      summary,
    };
  } finally {
    await browser.close();
    c.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export interface WebgpuOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
  /** A manifest of the first `count` sample images. */
  manifestOf(count: number, name: string): Promise<string>;
  batchSize: number;
}

/**
 * The WebGPU row, on the test-sized model (SwiftShader runs the full ResNet-18 at ~0.1 img/s). A
 * software adapter's speed wanders (its "GPU" is threads on the machine's cores): the job is long
 * enough (256 images, ~15 s) and the ceiling measured as long, in chunks whose spread is reported.
 */
export async function benchWebgpu(o: WebgpuOptions): Promise<{ adapter: string; results: Record<string, number> }> {
  const images = 256;
  const gpu = await tabsRun({
    model: 'resnet18-tiny',
    data: await o.manifestOf(images, 'bench-gpu'),
    ep: 'webgpu',
    tabs: 1,
    batchSize: o.batchSize,
    warmSeconds: 5,
    rawSeconds: o.quick ? 15 : 30,
    rawChunks: o.quick ? 5 : 10,
    extra: ['--allow-software-gpu', '--verify', '0'],
  });
  const chunks = gpu.rawChunkSums;
  const inPipeline = gpu.inPipelinePerTab[0]!;
  o.log(
    `  steady ${gpu.imgPerSec.toFixed(2)} img/s, raw ${gpu.rawSum.toFixed(2)} img/s ` +
      `(chunks ${chunks.map((c) => c.toFixed(1)).join(', ')}), the model inside the job ${inPipeline.toFixed(2)} img/s`,
  );
  o.notes.push(
    `WebGPU rows: adapter "${gpu.adapter}"; the test-sized model (64×64 input) because the full ResNet-18 runs ~0.1 img/s on ` +
      `SwiftShader; ${images} images, batch ${o.batchSize} (the raw batch too); the raw ceiling over ${o.quick ? 15 : 30} s in ` +
      `${chunks.length} chunks after a 5 s warm-up, once the tab was ready: ${gpu.rawSum.toFixed(2)} img/s, the chunks ` +
      `${Math.min(...chunks).toFixed(1)}–${Math.max(...chunks).toFixed(1)} img/s. raw.webgpu.k1.inPipelineImgPerSec: the ` +
      `same model inside the job, the tab's images ÷ the sum of the inference times its results reported (read from the ` +
      `page's socket by the bench): ${inPipeline.toFixed(2)} img/s, so the job ran at ` +
      `${((gpu.imgPerSec / inPipeline) * 100).toFixed(0)}% of what its own model did meanwhile.`,
  );
  return {
    adapter: gpu.adapter,
    results: {
      'raw.webgpu.k1.imgPerSec': gpu.rawSum,
      'e2e.webgpu.k1.imgPerSec': gpu.imgPerSec,
      // The ceiling is the tab's own model inside the job (its images ÷ its inference time): same tab, same time.
      'efficiency.webgpu.k1': gpu.imgPerSec / inPipeline,
      'efficiency.webgpu.k1.overRawBefore': gpu.imgPerSec / gpu.rawSum,
      'raw.webgpu.k1.inPipelineImgPerSec': inPipeline,
      'raw.webgpu.k1.chunkMinImgPerSec': Math.min(...chunks),
      'raw.webgpu.k1.chunkMaxImgPerSec': Math.max(...chunks),
    },
  };
}
