/**
 * Mixed pools. `mixed.makespanOverIdeal`: 100 simulated actors speaking the real protocol, speeds
 * spread 1:10:100, job time ÷ (images ÷ the sum of their speeds), with --batch-size auto and, beside
 * it, a fixed --batch-size 16; each actor reports its exact speed when ready (`.noPrior`: none
 * reports one; `.wrongPrior`: all claim 10 img/s), so the figures show what measuring buys.
 * `mixed.tabs.slowdown`: real tabs, two wasm tabs from a browser without WebGPU, then the same two
 * plus a tab from a browser whose only adapter is SwiftShader, pinned to it with &ep=webgpu: mixed
 * job time ÷ two-tab job time.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { chromiumArgs, findChromium } from '../coordinator/browser/launcher.ts';
import type { RunSummary } from '../coordinator/api/summary.ts';
import { workerUrlWith } from '../shared/pageParams.ts';
import { startCoordinator } from '../test/support/coordinatorProcess.ts';
import { SimulatedActor } from '../test/support/simulatedActor.ts';
import { writeTestPngs } from '../test/support/testImages.ts';
import { writeManifest } from './coordinatorCapacity.ts';

export interface MixedOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
  /** A manifest of the built-in sample (for the real-tab runs). */
  sampleManifest: string;
}

const ACTORS = 100;
const SPREAD = [1, 10, 100] as const;
/** What every actor claims under `wrongPrior`: right for the middle third, 10× off for the others. */
const WRONG_PRIOR = 10;

async function summaryOf(file: string): Promise<RunSummary> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as RunSummary;
}

/** What each actor reports as its own speed when ready: its true speed, nothing, or one figure for all. */
type Prior = 'exact' | 'none' | number;

/** One job over `images` tiny inputs with ACTORS simulated actors at speeds base × 1, 10, 100. */
async function simulatedRun(
  dir: string,
  manifest: string,
  images: number,
  base: number,
  batchSize: string,
  label: string,
  o: MixedOptions,
  prior: Prior = 'exact',
): Promise<number> {
  const summary = path.join(dir, `summary-${label}.json`);
  const args = [
    '--model',
    'resnet18-tiny',
    '--data',
    manifest,
    '--out',
    path.join(dir, `out-${label}.jsonl`),
    '--overwrite',
    '--batch-size',
    batchSize,
    '--pool',
    String(ACTORS),
    '--quiet',
    '--max-messages-per-second',
    '1000000',
    '--summary-json',
    summary,
    '--verify',
    '0',
  ];
  const c = await startCoordinator(args);
  const speeds = Array.from({ length: ACTORS }, (_, i) => base * SPREAD[i % SPREAD.length]!);
  // Each works at its speed, and reports it as a tab's EP probe would (or reports nothing, or the same wrong figure).
  const reported = (v: number): number | undefined => (prior === 'exact' ? v : prior === 'none' ? undefined : prior);
  const actors = speeds.map(
    (v, i) =>
      new SimulatedActor(c.workerUrl, { mode: 'instant', hostId: `mixed-${label}-${i}`, imagesPerSecond: v, reportSpeed: reported(v) }),
  );
  try {
    const code = await c.exited;
    if (code !== 0) throw new Error(`${label}: coordinator exited ${code}: ${c.stderr().slice(-2000)}`);
  } finally {
    c.kill('SIGKILL');
    for (const a of actors) a.terminate();
  }
  const s = await summaryOf(summary);
  const ideal = images / speeds.reduce((a, b) => a + b, 0);
  const actual = images / (s.steadyImagesPerSecond ?? NaN);
  o.log(
    `  ${label}: ${actual.toFixed(1)} s for ${images} images, ideal ${ideal.toFixed(1)} s → ` +
      `${(actual / ideal).toFixed(3)}×, ${s.dispatch?.batches} batches`,
  );
  return actual / ideal;
}

async function makespan(o: MixedOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-mixed-'));
  try {
    const pngs = await writeTestPngs(path.join(dir, 'png'), 4, 32, 32);
    const base = 1;
    const total = SPREAD.reduce((a, v, i) => a + v * Math.ceil((ACTORS - i) / SPREAD.length), 0) * base;
    const seconds = o.quick ? 15 : 30;
    const images = Math.round(total * seconds);
    const manifest = path.join(dir, 'manifest.jsonl');
    await writeManifest(
      manifest,
      images,
      pngs.map((f) => path.relative(dir, f.path)),
    );
    o.log(`mixed: ${ACTORS} simulated actors at ${SPREAD.join(':')} × ${base} img/s (sum ${total} img/s), ${images} images`);
    const auto = await simulatedRun(dir, manifest, images, base, 'auto', 'auto', o);
    const fixed = await simulatedRun(dir, manifest, images, base, '16', 'fixed16', o);
    const noPrior = await simulatedRun(dir, manifest, images, base, 'auto', 'noPrior', o, 'none');
    const wrongPrior = await simulatedRun(dir, manifest, images, base, 'auto', 'wrongPrior', o, WRONG_PRIOR);
    o.notes.push(
      `mixed.makespanOverIdeal: ${ACTORS} simulated actors (real protocol) at ${SPREAD.join(':')} img/s, ` +
        `${images} images (${seconds} s ideal: images ÷ the sum of their true speeds); job time from the pool being ready ` +
        `to the last row. The plain figure and fixedBatch16: each reports its own speed when ready, as a tab's EP ` +
        `measurement does. noPrior: none reports a speed (the coordinator knows only what it measures from results): ` +
        `${noPrior.toFixed(3)}×; wrongPrior: every one claims ${WRONG_PRIOR} img/s: ${wrongPrior.toFixed(3)}×, against ` +
        `${auto.toFixed(3)}× with exact figures, all --batch-size auto.`,
    );
    return {
      'mixed.makespanOverIdeal': auto,
      'mixed.makespanOverIdeal.fixedBatch16': fixed,
      'mixed.makespanOverIdeal.noPrior': noPrior,
      'mixed.makespanOverIdeal.wrongPrior': wrongPrior,
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** One job over the sample with two wasm tabs, and optionally a third pinned to the software GPU. */
async function tabsJob(o: MixedOptions, withGpuTab: boolean): Promise<number> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-mixed-tabs-'));
  const summary = path.join(dir, 'summary.json');
  const c = await startCoordinator([
    '--model',
    'resnet18',
    '--data',
    o.sampleManifest,
    '--out',
    path.join(dir, 'out.jsonl'),
    '--ep',
    'auto',
    '--allow-software-gpu',
    '--pool',
    '1..3',
    '--quiet',
    '--summary-json',
    summary,
    '--verify',
    '0',
  ]);
  const browsers: Browser[] = [];
  try {
    // Without --enable-unsafe-webgpu Chromium finds no adapter: its tabs run wasm.
    const noGpu = await chromium.launch({
      executablePath: findChromium(),
      args: chromiumArgs().filter((a) => a !== '--enable-unsafe-webgpu'),
    });
    browsers.push(noGpu);
    const opens = [0, 1].map(async () => (await (await noGpu.newContext()).newPage()).goto(c.workerUrl));
    if (withGpuTab) {
      const gpu = await chromium.launch({ executablePath: findChromium(), args: chromiumArgs() });
      browsers.push(gpu);
      opens.push((await (await gpu.newContext()).newPage()).goto(workerUrlWith(c.workerUrl, { ep: 'webgpu' })));
    }
    await Promise.all(opens);
    const code = await c.exited;
    if (code !== 0) throw new Error(`mixed tabs job exited ${code}: ${c.stderr().slice(-2000)}`);
    const s = await summaryOf(summary);
    o.log(
      `  ${withGpuTab ? '2 wasm + 1 software-GPU tab' : '2 wasm tabs'}: ${s.elapsedSeconds?.toFixed(1)} s; ` +
        `${s.actors.map((a) => `${a.id} ${a.ep} ${a.images} images`).join(', ')}`,
    );
    return s.elapsedSeconds ?? NaN;
  } finally {
    for (const b of browsers) await b.close();
    c.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export async function benchMixed(o: MixedOptions): Promise<Record<string, number>> {
  const results = await makespan(o);
  o.log('mixed tabs: two wasm tabs, then the same plus a tab pinned to the software GPU…');
  const two = await tabsJob(o, false);
  const three = await tabsJob(o, true);
  results['mixed.tabs.twoWasmSeconds'] = two;
  results['mixed.tabs.withSoftwareGpuSeconds'] = three;
  results['mixed.tabs.slowdown'] = three / two;
  o.notes.push(
    'mixed.tabs: the full ResNet-18 over the built-in sample, --ep auto --allow-software-gpu --pool 1..3; ' +
      'two tabs from a Chromium without --enable-unsafe-webgpu (no adapter: wasm), then the same two plus ' +
      'a tab from a Chromium whose only adapter is SwiftShader, pinned with &ep=webgpu; times are whole jobs, start to last row.',
  );
  return results;
}
