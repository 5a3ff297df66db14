/**
 * `npm run bench [-- --quick]`: how much of the actors' raw speed reaches the output, how it scales
 * with tabs, how far one coordinator goes, and how it compares with onnxruntime-node on this
 * machine. Every ratio is measured within this one run. Writes bench/results.json and
 * bench/RESULTS.md with the machine's description.
 *
 * Sections (SECTIONS below): `--skip-<section>` leaves one out; `--only=<section>[,<section>…]` runs
 * those alone and prints their results and report on stdout, writing no results files.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { findChromium } from '../coordinator/browser/launcher.ts';
import { ensureWebBuild } from '../coordinator/browser/webBuild.ts';
import { ensureBuiltinModel } from '../coordinator/builtin/resnetBuilder.ts';
import { ensureSampleDataset, sampleNames } from '../coordinator/builtin/sampleImages.ts';
import { CACHE_DIR, ROOT } from '../test/support/coordinatorProcess.ts';
import { benchActors } from './actors.ts';
import { benchAtSpeed } from './atSpeed.ts';
import { benchCoordinator } from './coordinatorCapacity.ts';
import { benchFeed } from './feed.ts';
import { benchMixed } from './mixed.ts';
import { benchModelServe } from './modelServe.ts';
import { benchLlm } from './llm.ts';
import { benchQueue } from './queue.ts';
import { markdown, nest } from './report.ts';
import { benchResumeMemory } from './resumeMemory.ts';
import { benchScale } from './scale.ts';
import { benchTabMemory } from './tabMemory.ts';
import { benchWebgpu, tabsRun, type TabsResult } from './tabs.ts';
import { benchColdStart } from './coldStart.ts';
import { benchTrust } from './trust.ts';

const quick = process.argv.includes('--quick');
const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
const results: Record<string, number> = {};
const notes: string[] = [];
let adapter = 'not measured';

async function nativeCpu(modelPath: string, batchSize: number, seconds: number, size = 224): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath);
  const input = new Float32Array(batchSize * 3 * size * size);
  for (let i = 0; i < input.length; i++) input[i] = ((i * 2654435761) % 1000) / 500 - 1;
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', input, [batchSize, 3, size, size]) };
  await session.run(feeds);
  let images = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await session.run(feeds);
    images += batchSize;
  }
  const ms = performance.now() - start;
  await session.release();
  return (images * 1000) / ms;
}

function machine(): Record<string, string> {
  let browser = 'unknown';
  try {
    browser = execFileSync(findChromium(), ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    /* reported as unknown */
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: String(os.cpus().length),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    browser,
  };
}

async function manifestOf(sampleDir: string, count: number, name: string): Promise<string> {
  const file = path.join(sampleDir, '..', `${name}-${count}.txt`);
  await fs.writeFile(
    file,
    sampleNames()
      .slice(0, count)
      .map((n) => `sample/${n}`)
      .join('\n') + '\n',
  );
  return file;
}

/** Sections, in the order they run: `--only=a,b` runs those alone (and writes no results files), `--skip-X` leaves X out. */
const SECTIONS = [
  'tabs',
  'coldStart',
  'webgpu',
  'native',
  'feed',
  'actor',
  'modelServe',
  'llm',
  'trust',
  'atSpeed',
  'mixed',
  'coordinator',
  'resume',
  'queue',
  'scale',
  'tabMemory',
] as const;
type Section = (typeof SECTIONS)[number];
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
  .filter(Boolean);
for (const s of only ?? [])
  if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: no section ${s} (${SECTIONS.join(', ')})`);
const runs = (s: Section): boolean => (only ? only.includes(s) : !process.argv.includes(`--skip-${s}`));

async function main(): Promise<void> {
  const started = Date.now();
  const full = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  const tiny = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const sampleDir = await ensureSampleDataset(CACHE_DIR);
  await ensureWebBuild('test');
  const count = quick ? 160 : 256;
  const manifest = await manifestOf(sampleDir, count, 'bench');
  const batchSize = 16;
  const raw = { warmSeconds: quick ? 3 : 5, rawSeconds: quick ? 6 : 10 };

  if (runs('tabs')) {
    const k: Record<number, TabsResult> = {};
    for (const n of [1, 2]) {
      log(`wasm, ${n} tab(s), full ResNet-18, ${count} images…`);
      k[n] = await tabsRun({ model: 'resnet18', data: manifest, ep: 'wasm', tabs: n, batchSize, ...raw, extra: ['--verify', '0'] });
      log(
        `  steady ${k[n]!.imgPerSec.toFixed(2)} img/s, raw ${k[n]!.rawPerTab.map((r) => r.toFixed(2)).join(' + ')} img/s, ` +
          `the model inside the job ${k[n]!.inPipelinePerTab.map((r) => r.toFixed(2)).join(' + ')} img/s`,
      );
    }
    log(`wasm, 1 tab pinned to 1 thread (--num-cpus 1), full ResNet-18, ${count} images…`);
    const t1 = await tabsRun({
      model: 'resnet18',
      data: manifest,
      ep: 'wasm',
      tabs: 1,
      batchSize,
      ...raw,
      extra: ['--verify', '0', '--num-cpus', '1'],
    });
    log(`  steady ${t1.imgPerSec.toFixed(2)} img/s, raw ${t1.rawSum.toFixed(2)} img/s`);
    const k1 = k[1]!;
    const k2 = k[2]!;
    const sumOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    results['raw.wasm.k1.imgPerSec'] = k1.rawSum;
    results['raw.wasm.k2.imgPerSec'] = k2.rawSum;
    results['e2e.wasm.k1.imgPerSec'] = k1.imgPerSec;
    results['e2e.wasm.k2.imgPerSec'] = k2.imgPerSec;
    // The ceiling is each tab's own model inside the job (its images ÷ its inference time): same tabs, same time.
    results['efficiency.wasm.k1'] = k1.imgPerSec / sumOf(k1.inPipelinePerTab);
    results['efficiency.wasm.k2'] = k2.imgPerSec / sumOf(k2.inPipelinePerTab);
    results['efficiency.wasm.k1.overRawBefore'] = k1.imgPerSec / k1.rawSum;
    results['efficiency.wasm.k2.overRawBefore'] = k2.imgPerSec / k2.rawSum;
    results['raw.wasm.k1.threads1.imgPerSec'] = t1.rawSum;
    results['e2e.wasm.k1.threads1.imgPerSec'] = t1.imgPerSec;
    results['scaling.wasm.threads2OverThreads1'] = k1.rawSum / t1.rawSum;
    results['scaling.wasm.threads2OverThreads1.e2e'] = k1.imgPerSec / t1.imgPerSec;
    results['scaling.wasm.k2OverK1'] = k2.imgPerSec / t1.imgPerSec;
    notes.push(
      `Threads (issue 32): each bench tab declares its share of the machine's cores (&cpus=, as --launch does), and ` +
        `with --num-cpus unset its actor runs that many wasm threads (1 tab: 2, 2 tabs: 1 each); the pinned run uses --num-cpus 1. ` +
        `scaling.wasm.threads2OverThreads1: one tab's raw model speed at 2 threads ÷ at 1 (same model, batch, ` +
        `tensors); .e2e the same for the whole job. scaling.wasm.k2OverK1 compares 2 tabs with the 1-thread tab, so ` +
        `it still measures what a second tab on its own core adds.`,
    );
    results['wire.bytesPerImage'] = k2.wireBytesPerImage;
    results['wire.fileBytesPerImage'] = k2.fileBytesPerImage;
    results['wire.overhead'] = k2.wireBytesPerImage / k2.fileBytesPerImage - 1;
    results['preprocess.msPerImage'] = k1.preprocessMsPerImage;
    results['raw.wasm.k1.inPipelineImgPerSec'] = sumOf(k1.inPipelinePerTab);
    results['raw.wasm.k2.inPipelineImgPerSec'] = sumOf(k2.inPipelinePerTab);
    notes.push(
      "raw.*.inPipelineImgPerSec: each tab's model inside the job, its images ÷ the sum of the inference times its results " +
        "reported (the bench reads them off the page's socket), summed over the tabs: the ceiling's speed while the job ran, " +
        "decode and all sharing the cores. efficiency.* divides the job's steady rows a second by it: the ceiling is " +
        'measured on the same tabs, in the same conditions, at the same time as the job, so it is at most 1 by ' +
        "construction (a tab runs one batch at a time, so its inference time is within the job's wall time) and " +
        'below 1 only where the model waited for input. efficiency.*.overRawBefore keeps the older ratio, against ' +
        'the model alone on ready-made tensors measured before the job, which differs in warm-up, batch and what else runs.',
    );

    log('wasm, 2 tabs, with the default verification…');
    const verified = await tabsRun({ model: 'resnet18', data: manifest, ep: 'wasm', tabs: 2, batchSize, ...raw });
    results['verify.overhead'] = verified.imgPerSec / k2.imgPerSec;
    results['e2e.wasm.k2.verified.imgPerSec'] = verified.imgPerSec;
    notes.push(
      `verify.overhead: steady throughput of 2 wasm tabs with the default --verify ÷ the same with --verify ` +
        `0 (${verified.summary.verify?.inputsChecked ?? '?'} of ${count} inputs checked on the coordinator, ` +
        `whose reference shares the 2 cores with the tabs).`,
    );
  }

  if (runs('coldStart')) {
    log('cold start: the first row from a fresh browser profile, then with the model cached…');
    Object.assign(results, await benchColdStart({ log, notes, manifest: await manifestOf(sampleDir, 16, 'bench-cold') }));
  }

  if (runs('webgpu')) {
    log('webgpu (software adapter), 1 tab, test-sized model…');
    const gpu = await benchWebgpu({ quick, log, notes, manifestOf: (n, name) => manifestOf(sampleDir, n, name), batchSize });
    adapter = gpu.adapter;
    Object.assign(results, gpu.results);
  }

  if (runs('native')) {
    log('onnxruntime-node (CPU), same models…');
    results['native.cpu.imgPerSec'] = await nativeCpu(full.path, batchSize, quick ? 4 : 10);
    results['native.cpu.tiny.imgPerSec'] = await nativeCpu(tiny.path, batchSize, quick ? 3 : 10, 64);
    if (results['e2e.wasm.k2.imgPerSec'] !== undefined)
      results['ratio.wasm.k2VsNative'] = results['e2e.wasm.k2.imgPerSec'] / results['native.cpu.imgPerSec'];
    if (results['e2e.webgpu.k1.imgPerSec'] !== undefined)
      results['ratio.webgpu.k1VsNative'] = results['e2e.webgpu.k1.imgPerSec'] / results['native.cpu.tiny.imgPerSec'];
    notes.push(
      'native.cpu: onnxruntime-node session.run on ready-made tensors (its default threads, both cores), ' +
        'batch 16; ratio.wasm.k2VsNative compares the 2-tab end-to-end run with it; native.cpu.tiny and ' +
        'ratio.webgpu.k1VsNative do the same for the test-sized model the WebGPU row uses.',
    );
  }

  if (runs('feed')) {
    log("the tab's feed: its prepare workers against sharp on as many cores…");
    Object.assign(results, await benchFeed({ quick, log, notes, sampleDir, manifestOf: (n, name) => manifestOf(sampleDir, n, name) }));
  }

  if (runs('actor')) {
    log('your own actor: embeddings (examples/embed.ts) and records (examples/score.ts)…');
    Object.assign(results, await benchActors({ quick, log, notes, manifest, count, raw }));
  }

  if (runs('modelServe')) {
    Object.assign(results, await benchModelServe({ quick, log, notes }));
  }
  if (runs('llm')) {
    log('text generation: batching in a tab, and the cost of checking an answer…');
    Object.assign(results, await benchLlm({ quick, log, notes }));
  }

  if (runs('trust')) {
    log('trust: liars among honest actors…');
    Object.assign(results, await benchTrust({ quick, log, notes }));
  }

  if (runs('atSpeed')) {
    log("verification at the pool's speed (100 simulated actors on 10 hosts)…");
    Object.assign(results, await benchAtSpeed({ quick, log, notes }));
  }

  if (runs('mixed')) {
    log('mixed pools…');
    Object.assign(
      results,
      await benchMixed({ quick, log, notes, sampleManifest: await manifestOf(sampleDir, quick ? 160 : 256, 'bench-mixed') }),
    );
  }

  if (runs('coordinator')) {
    log('coordinator capacity (simulated actors)…');
    Object.assign(results, await benchCoordinator({ quick, log, notes }));
  }

  if (runs('resume')) {
    log('resume memory and the id set…');
    Object.assign(results, await benchResumeMemory({ quick, log, notes }));
  }

  if (runs('queue')) {
    log('queue (NATS JetStream, simulated actors)…');
    Object.assign(results, await benchQueue({ quick, log, notes }));
  }

  if (runs('scale')) {
    log('ten million inputs, resume at that size, heartbeats…');
    Object.assign(results, await benchScale({ quick, log, notes }));
  }

  if (runs('tabMemory')) {
    log("a tab's memory over a long run…");
    Object.assign(results, await benchTabMemory({ quick, log, notes }));
  }

  const m = { ...machine(), adapter };
  const seconds = Math.round((Date.now() - started) / 1000);
  const date = new Date().toISOString();
  if (only) {
    // A partial run: printed, never written over the full run's files.
    process.stdout.write(`${JSON.stringify({ only, seconds, results, notes }, null, 2)}\n`);
    process.stdout.write(markdown(m, results, notes, quick, seconds, date));
    return;
  }
  const report = { machine: m, quick, date, seconds, results: nest(results), notes };
  await fs.writeFile(path.join(ROOT, 'bench', 'results.json'), JSON.stringify(report, null, 2) + '\n');
  await fs.writeFile(path.join(ROOT, 'bench', 'RESULTS.md'), markdown(m, results, notes, quick, seconds, date));
  log(`wrote bench/results.json and bench/RESULTS.md in ${seconds}s`);
}

await main();
