/**
 * The tab's feed (issue 19): how fast a real headless Chromium tab prepares inputs — decode, Resize(256),
 * CenterCrop(224), ToTensor, Normalize, on its prepare workers (web/page/preparePool.ts) — with 1 worker and with
 * as many as this machine has cores (`&prepare=N`), against the same preparation done natively with sharp (libvips)
 * on as many cores, in the same run.
 *
 * The model's cost is taken out: the job runs a model that only averages its 224×224 input (GlobalAveragePool +
 * Flatten, 3 "classes"), and the tab's speed is read off its own result messages (Playwright's init script, as
 * bench/tabs.ts does; nothing in the page changes): images ÷ the sum of the `timing.decodeMs` the tab reported,
 * which is the prepare pool's wall time for each batch. One batch is held at a time (--max-tasks-in-flight 1), so
 * no two batches' preparations overlap and those wall times add up; the first batch (workers starting, code not
 * yet optimised) is left out. Each figure is the best of a few rounds (a job each for the tab, a pass for sharp): on
 * a shared machine other work only ever slows a round down.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { chromiumArgs, findChromium } from '../coordinator/browser/launcher.ts';
import { encodeModel, floatValueInfo, intAttr, irVersionForOpset, node } from '../coordinator/builtin/onnxGraph.ts';
import { sampleNames } from '../coordinator/builtin/sampleImages.ts';
import { decodeImage } from '../test/support/nodeDecode.ts';
import { preprocessInto, preprocessSpecFor } from '../shared/preprocess.ts';
import { ROOT, startCoordinator } from '../test/support/coordinatorProcess.ts';
import { MAX_PREPARE_WORKERS, prepareWorkerCount } from '../web/page/preparePool.ts';

export interface FeedOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
  /** The built-in sample's folder, and a manifest of its first `count` images. */
  sampleDir: string;
  manifestOf(count: number, name: string): Promise<string>;
}

const BATCH = 16;

const list = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(', ');

declare global {
  interface Window {
    __benchFeed?: { images: number; decodeMs: number; inferenceMs: number }[];
  }
}

/** Run in the tab before the page's scripts: keeps each result's item count and timings, in the order sent. */
function recordFeed(): void {
  const send = WebSocket.prototype.send;
  const batches: NonNullable<Window['__benchFeed']> = (window.__benchFeed = []);
  WebSocket.prototype.send = function (this: WebSocket, data: Parameters<WebSocket['send']>[0]) {
    if (typeof data === 'string' && data.startsWith('{"type":"result"')) {
      const msg = JSON.parse(data) as { items: unknown[]; timing: { decodeMs: number; inferenceMs: number } };
      batches.push({ images: msg.items.length, decodeMs: msg.timing.decodeMs, inferenceMs: msg.timing.inferenceMs });
    }
    return send.call(this, data);
  };
}

/** A model that costs next to nothing: [batch, 3, 224, 224] → GlobalAveragePool → Flatten → [batch, 3]. */
async function writeMeanModel(file: string): Promise<void> {
  const opset = 17;
  const bytes = encodeModel({
    irVersion: irVersionForOpset(opset),
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'tabpool-bench',
    graph: {
      name: 'feed_mean',
      node: [
        node('GlobalAveragePool', 'pool', ['input'], ['pooled']),
        node('Flatten', 'flat', ['pooled'], ['logits'], [intAttr('axis', 1)]),
      ],
      initializer: [],
      input: [floatValueInfo('input', ['batch', 3, 224, 224])],
      output: [floatValueInfo('logits', ['batch', 3])],
    },
  });
  await fs.writeFile(file, bytes);
}

interface TabFeed {
  imgPerSec: number;
  /** Images counted (all but the first batch's). */
  images: number;
  inferenceMsPerImage: number;
}

async function tabFeed(browser: Browser, dir: string, model: string, manifest: string, workers: number): Promise<TabFeed> {
  const out = path.join(dir, `out-${workers}.jsonl`);
  const c = await startCoordinator(
    ['--model', model, '--data', manifest, '--out', out, '--overwrite', '--ep', 'wasm', '--pool', '1'].concat([
      '--batch-size',
      String(BATCH),
      '--max-tasks-in-flight',
      '1',
      '--verify',
      '0',
      '--quiet',
    ]),
    { env: { TABPOOL_WEB_BUILD: 'test' } },
  );
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.addInitScript(recordFeed);
    await page.goto(`${c.workerUrl}&prepare=${workers}`);
    const code = await c.exited;
    if (code !== 0) throw new Error(`feed job (${workers} prepare workers) exited ${code}:\n${c.stderr()}`);
    const batches = await page.evaluate(() => window.__benchFeed ?? []);
    const counted = batches.slice(1);
    if (counted.length === 0) throw new Error(`feed job (${workers} prepare workers): the tab reported ${batches.length} batch(es)`);
    const images = counted.reduce((n, b) => n + b.images, 0);
    const decodeMs = counted.reduce((n, b) => n + b.decodeMs, 0);
    const inferenceMs = counted.reduce((n, b) => n + b.inferenceMs, 0);
    return { imgPerSec: (images * 1000) / decodeMs, images, inferenceMsPerImage: inferenceMs / images };
  } finally {
    await context.close();
    c.kill('SIGKILL');
  }
}

interface NativeFeed {
  /** Each pass's images a second. */
  passes: number[];
  sharp: string;
  vips: string;
}

/** bench/feedNative.ts in a child process whose libuv pool has a thread per lane. */
async function nativeFeed(lanes: number, passes: number, files: string[]): Promise<NativeFeed> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'bench', 'feedNative.ts'), String(lanes), String(passes), ...files],
    { cwd: ROOT, env: { ...process.env, UV_THREADPOOL_SIZE: String(lanes) }, maxBuffer: 1 << 20 },
  );
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as { images: number; passMs: number[]; sharp: string; vips: string };
  return { passes: r.passMs.map((ms) => (r.images * 1000) / ms), sharp: r.sharp, vips: r.vips };
}

/**
 * The tab's resize + crop + ToTensor + Normalize alone (shared/preprocess.ts, the code its prepare workers run) in
 * Node's V8 on one core, the images decoded beforehand: how much of the tab's time is that JavaScript, not decoding.
 */
async function jsPreprocessMsPerImage(files: string[]): Promise<number> {
  const pixels = await Promise.all(files.map(async (f) => decodeImage(new Uint8Array(await fs.readFile(f)))));
  const spec = preprocessSpecFor(224, 224);
  const out = new Float32Array(3 * 224 * 224);
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    for (const px of pixels) preprocessInto(px, spec, out, 0);
    best = Math.min(best, (performance.now() - start) / pixels.length);
  }
  return best;
}

export async function benchFeed(o: FeedOptions): Promise<Record<string, number>> {
  const count = o.quick ? 160 : 256;
  const rounds = o.quick ? 3 : 5;
  const cores = os.cpus().length;
  const load = os.loadavg()[0]!;
  // With the model's cost taken out, the feed may have every core; the page's default leaves one to the model.
  const wMax = Math.min(MAX_PREPARE_WORKERS, cores);
  const manifest = await o.manifestOf(count, 'bench-feed');
  const files = sampleNames()
    .slice(0, count)
    .map((n) => path.join(o.sampleDir, n));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-feed-'));
  try {
    const model = path.join(dir, 'feed-mean.onnx');
    await writeMeanModel(model);
    const browser = await chromium.launch({ executablePath: findChromium(), args: chromiumArgs() });
    const counts = wMax > 1 ? [1, wMax] : [1];
    const tab: Record<number, TabFeed[]> = Object.fromEntries(counts.map((w) => [w, []]));
    try {
      o.log(`feed: a tab on ${counts.join(' then ')} prepare worker(s), ${rounds} rounds, ${count} images, a model that only averages…`);
      for (let r = 0; r < rounds; r++)
        for (const w of counts) {
          const got = await tabFeed(browser, dir, model, manifest, w);
          tab[w]!.push(got);
          o.log(
            `  ${w} worker(s): ${got.imgPerSec.toFixed(1)} img/s prepared (the model: ${got.inferenceMsPerImage.toFixed(3)} ms an image)`,
          );
        }
    } finally {
      await browser.close();
    }
    o.log(`feed: sharp (libvips) in Node, ${wMax} image(s) at once, ${rounds} passes over the same ${count} images…`);
    const native = await nativeFeed(wMax, rounds, files);
    const js = await jsPreprocessMsPerImage(files);
    o.log(`  ${list(native.passes)} img/s; the tab's resize + normalise alone in Node: ${js.toFixed(2)} ms an image`);
    const best = (xs: number[]): number => Math.max(...xs);
    const w1 = best(tab[1]!.map((t) => t.imgPerSec));
    const max = best(tab[wMax]!.map((t) => t.imgPerSec));
    const nativeBest = best(native.passes);
    const inferenceMs = tab[wMax]!.reduce((n, t) => n + t.inferenceMsPerImage, 0) / rounds;
    const counted = tab[1]![0]!.images;
    o.notes.push(
      `feed.*: decode + Resize(256) + CenterCrop(224) + ToTensor + Normalize over the first ${count} sample images ` +
        `(mixed PNG/JPEG, 96–640 px a side), each figure the best of ${rounds} rounds (other work on the same cores only ` +
        `slows a round; load average ${load.toFixed(1)} when the section started). feed.tab.*: a headless Chromium tab ` +
        `(the test build's page; its prepare workers are the shipped ones), a job of its own each round, on a model that ` +
        `only averages its input (${inferenceMs.toFixed(3)} ms an image inside the job), batch ${BATCH}, one batch held ` +
        `at a time; images ÷ the sum of the prepare wall times the tab reported (timing.decodeMs: timed inside the worker ` +
        `on 1 worker; on several, the pool's wall time around the parts, splitting and merging included), the first ` +
        `batch left out (${counted} images counted). w1 (&prepare=1) rounds: ${list(tab[1]!.map((t) => t.imgPerSec))} ` +
        `img/s; wMax (&prepare=${wMax}, every core of this ${cores}-core machine; the page's own default here would be ` +
        `${prepareWorkerCount(cores, null)}, a core left to the model): ${list(tab[wMax]!.map((t) => t.imgPerSec))} ` +
        `img/s. feed.native: sharp ${native.sharp} (libvips ${native.vips}) decoding, resizing (linear kernel) and ` +
        `cropping, ToTensor + Normalize in JS, ${wMax} images at once (sharp.concurrency(1), UV_THREADPOOL_SIZE=${wMax}), ` +
        `after a warm-up pass; passes: ${list(native.passes)} img/s. feed.ratio = feed.tab.wMax ÷ feed.native, both on ` +
        `${wMax} cores. feed.js.msPerImage: the tab's own resize + crop + normalise code (shared/preprocess.ts) alone in ` +
        `Node on one core, images decoded beforehand (best of 3 passes), against the tab's ${(1000 / w1).toFixed(2)} ms ` +
        `an image on 1 worker.`,
    );
    return {
      'feed.tab.w1.imgPerSec': w1,
      'feed.tab.wMax.imgPerSec': max,
      'feed.tab.wMax.workers': wMax,
      'feed.native.imgPerSec': nativeBest,
      'feed.ratio': max / nativeBest,
      'feed.js.msPerImage': js,
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
