/**
 * `npm run bench [-- --quick]`: how much of the actors' raw speed reaches the output, how it scales
 * with tabs, how far one coordinator goes, and how it compares with onnxruntime-node on this
 * machine. Every ratio is measured within this one run. Writes bench/results.json and
 * bench/RESULTS.md with the machine's description.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { chromium, type Page } from 'playwright-core';
import { chromiumArgs, findChromium } from '../coordinator/browser/launcher.ts';
import { ensureBuiltinModel } from '../coordinator/builtin/resnetBuilder.ts';
import { ensureSampleDataset, sampleNames } from '../coordinator/builtin/sampleImages.ts';
import { CACHE_DIR, ROOT, startCoordinator } from '../test/support/coordinatorProcess.ts';
import { benchCoordinator, notes as coordinatorNotes } from './coordinatorCapacity.ts';

const quick = process.argv.includes('--quick');
const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
const results: Record<string, number> = {};
const notes: string[] = [];

interface E2E {
  imgPerSec: number;
  rawSum: number;
  rawPerTab: number[];
  wireBytesPerImage: number;
  fileBytesPerImage: number;
  preprocessMsPerImage: number;
  adapter: string;
}

function num(re: RegExp, text: string): number {
  const m = re.exec(text);
  if (!m) throw new Error(`bench: ${re} not found in:\n${text}`);
  return Number(m[1]);
}

/** One job over `data` with K tabs that first measure `session.run` alone, then do the job's work. */
async function e2eRun(opts: { model: string; data: string; ep: 'wasm' | 'webgpu'; tabs: number; batchSize: number; rawSeconds: number; extra?: string[] }): Promise<E2E> {
  const out = path.join(os.tmpdir(), `tabpool-bench-${process.pid}.jsonl`);
  const c = await startCoordinator(['--model', opts.model, '--data', opts.data, '--out', out, '--overwrite', '--ep', opts.ep, '--pool', String(opts.tabs), '--batch-size', String(opts.batchSize), '--quiet', ...(opts.extra ?? [])]);
  const browser = await chromium.launch({ executablePath: findChromium(), args: chromiumArgs() });
  try {
    const pages: Page[] = [];
    for (let i = 0; i < opts.tabs; i++) {
      const page = await (await browser.newContext()).newPage();
      pages.push(page);
    }
    const url = `${c.workerUrl}&bench=raw&benchBatch=${opts.batchSize}&benchSeconds=${opts.rawSeconds}`;
    await Promise.all(pages.map((p) => p.goto(url)));
    const code = await c.exited;
    if (code !== 0) throw new Error(`bench job exited ${code}:\n${c.stderr()}`);
    const raw = await Promise.all(pages.map((p) => p.evaluate(() => (globalThis as unknown as { __tabpool: { benchResult(): { imgPerSec: number } | null } }).__tabpool.benchResult())));
    const adapter = await pages[0]!.locator('[data-field="adapter"]').textContent();
    const stdout = c.stdout();
    return {
      imgPerSec: num(/steady throughput \(from the pool being ready to the last row\): ([\d.]+) img\/s/, stdout),
      rawPerTab: raw.map((r) => r!.imgPerSec),
      rawSum: raw.reduce((s, r) => s + r!.imgPerSec, 0),
      wireBytesPerImage: num(/wire: ([\d.]+) bytes\/image sent/, stdout),
      fileBytesPerImage: num(/sent for ([\d.]+) bytes\/image of files/, stdout),
      preprocessMsPerImage: num(/worker decode \+ preprocess: ([\d.]+) ms\/image/, stdout),
      adapter: adapter ?? 'unknown',
    };
  } finally {
    await browser.close();
    c.kill('SIGKILL');
    await fs.rm(out, { force: true });
  }
}

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

async function main(): Promise<void> {
  const started = Date.now();
  const full = await ensureBuiltinModel(CACHE_DIR, 'resnet18');
  await ensureBuiltinModel(CACHE_DIR, 'tiny');
  const sampleDir = await ensureSampleDataset(CACHE_DIR);
  const count = quick ? 160 : 256;
  const manifest = path.join(sampleDir, '..', `bench-${count}.txt`);
  await fs.writeFile(manifest, sampleNames().slice(0, count).map((n) => `sample/${n}`).join('\n') + '\n');
  const batchSize = 16;
  const rawSeconds = quick ? 4 : 10;

  const runs: Record<string, E2E> = {};
  for (const k of [1, 2]) {
    log(`wasm, ${k} tab(s), full ResNet-18, ${count} images…`);
    runs[`wasm.k${k}`] = await e2eRun({ model: 'resnet18', data: manifest, ep: 'wasm', tabs: k, batchSize, rawSeconds });
  }
  const k1 = runs['wasm.k1']!;
  const k2 = runs['wasm.k2']!;
  results['raw.wasm.imgPerSec'] = k1.rawSum;
  results['raw.wasm.k2.imgPerSec'] = k2.rawSum;
  results['e2e.wasm.k1.imgPerSec'] = k1.imgPerSec;
  results['e2e.wasm.k2.imgPerSec'] = k2.imgPerSec;
  results['efficiencyPerTabs.wasm.k1'] = k1.imgPerSec / k1.rawSum;
  results['efficiencyPerTabs.wasm.k2'] = k2.imgPerSec / k2.rawSum;
  results['efficiency.wasm'] = Math.min(results['efficiencyPerTabs.wasm.k1'], results['efficiencyPerTabs.wasm.k2']);
  results['scaling.wasm.k2OverK1'] = k2.imgPerSec / k1.imgPerSec;
  results['wire.bytesPerImage'] = k2.wireBytesPerImage;
  results['wire.fileBytesPerImage'] = k2.fileBytesPerImage;
  results['wire.overhead'] = k2.wireBytesPerImage / k2.fileBytesPerImage - 1;
  results['preprocess.msPerImage'] = k1.preprocessMsPerImage;

  // SwiftShader runs the full model at ~0.1 img/s: the WebGPU rows use the test-sized model.
  log('webgpu (software adapter), 1 tab, test-sized model…');
  const gpuCount = quick ? 64 : 256;
  const gpuManifest = path.join(sampleDir, '..', `bench-gpu-${gpuCount}.txt`);
  await fs.writeFile(gpuManifest, sampleNames().slice(0, gpuCount).map((n) => `sample/${n}`).join('\n') + '\n');
  const gpu = await e2eRun({ model: 'resnet18-tiny', data: gpuManifest, ep: 'webgpu', tabs: 1, batchSize, rawSeconds, extra: ['--allow-software-gpu'] });
  results['raw.webgpu.imgPerSec'] = gpu.rawSum;
  results['e2e.webgpu.k1.imgPerSec'] = gpu.imgPerSec;
  results['efficiency.webgpu'] = gpu.imgPerSec / gpu.rawSum;
  notes.push(`WebGPU rows: adapter "${gpu.adapter}"; test-sized model (64×64 input) because the full ResNet-18 runs ~0.1 img/s on SwiftShader.`);

  log('onnxruntime-node (CPU), same model…');
  results['native.cpu.imgPerSec'] = await nativeCpu(full.path, batchSize, quick ? 4 : 10);
  results['ratio.wasm.vsNative'] = k2.imgPerSec / results['native.cpu.imgPerSec'];
  const tiny = await ensureBuiltinModel(CACHE_DIR, 'tiny');
  results['native.cpu.tiny.imgPerSec'] = await nativeCpu(tiny.path, batchSize, quick ? 3 : 10, 64);
  results['ratio.webgpu.vsNative'] = gpu.imgPerSec / results['native.cpu.tiny.imgPerSec'];
  notes.push('native.cpu: onnxruntime-node session.run on ready-made tensors (its default threads, both cores), batch 16; ratio.wasm.vsNative compares the 2-tab end-to-end run with it; native.cpu.tiny and ratio.webgpu.vsNative do the same for the test-sized model the WebGPU rows use.');

  if (!process.argv.includes('--skip-coordinator')) {
    log('coordinator capacity (simulated actors)…');
    Object.assign(results, await benchCoordinator({ quick, log }));
    notes.push(...coordinatorNotes);
  }

  const m = machine();
  m.adapter = gpu.adapter;
  const report = { machine: m, quick, date: new Date().toISOString(), seconds: Math.round((Date.now() - started) / 1000), results: nest(results), notes };
  await fs.writeFile(path.join(ROOT, 'bench', 'results.json'), JSON.stringify(report, null, 2) + '\n');
  await fs.writeFile(path.join(ROOT, 'bench', 'RESULTS.md'), markdown(report.machine, results, notes, quick, report.seconds));
  log(`wrote bench/results.json and bench/RESULTS.md in ${report.seconds}s`);
}

/** `{"a.b.c": 1}` → `{a: {b: {c: 1}}}`, so results.json reads the way the keys are named. */
function nest(flat: Record<string, number>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat).sort()) {
    const parts = key.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) {
      if (typeof node[p] !== 'object' || node[p] === null) node[p] = typeof node[p] === 'number' ? { value: node[p] } : (node[p] ?? {});
      node = node[p] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1]!;
    if (typeof node[last] === 'object' && node[last] !== null) (node[last] as Record<string, unknown>).value = value;
    else node[last] = value;
  }
  return out;
}

const TARGETS: [string, string, (r: Record<string, number>) => boolean | null][] = [
  ['efficiency.wasm (1 and 2 tabs)', '≥ 0.95', (r) => r['efficiency.wasm']! >= 0.95],
  ['e2e.wasm.k2 / e2e.wasm.k1', '≥ 1.8', (r) => r['scaling.wasm.k2OverK1']! >= 1.8],
  ['coordinator.dispatchPerSec (100 actors)', '≥ 20,000', (r) => (r['coordinator.dispatchPerSec'] ?? 0) >= 20_000],
  ['coordinator.p99DispatchMs (100 actors)', '< 5 ms', (r) => (r['coordinator.p99DispatchMs'] ?? Infinity) < 5],
  ['coordinator.rssMB m1M / m10k', '≤ 1.5', (r) => (r['coordinator.rssRatio'] ?? Infinity) <= 1.5],
  ['wire.bytesPerImage vs file size', 'within 2%', (r) => r['wire.overhead']! <= 0.02],
];

/** The measured reasons behind each gap (profiles and earlier runs are in bench/HISTORY.md). */
const WHY: Record<string, (r: Record<string, number>) => string> = {
  'efficiency.wasm (1 and 2 tabs)': (r) => {
    const pre = r['preprocess.msPerImage']!;
    const infer = 1000 / (r['raw.wasm.imgPerSec'] ?? 1);
    return `1 tab ${r['efficiencyPerTabs.wasm.k1']!.toFixed(3)}, 2 tabs ${r['efficiencyPerTabs.wasm.k2']!.toFixed(3)}. Each image costs ${pre.toFixed(1)} ms of decode + preprocessing against ${infer.toFixed(0)} ms of inference (${((100 * pre) / infer).toFixed(1)}%). Preprocessing runs in its own worker, pipelined with inference, but on 2 cores with single-threaded wasm sessions it, the page threads and the coordinator compete with inference for the same cores; successive runs here differ by several hundredths (bench/HISTORY.md lists them), so neither a miss nor a pass by a few hundredths is a firm result.`;
  },
  'coordinator.dispatchPerSec (100 actors)': (r) =>
    `measured ${r['coordinator.dispatchPerSec']!.toFixed(0)}/s with 100 actors, ${r['coordinator.a1.dispatchPerSec']?.toFixed(0) ?? '–'}/s with 1. The simulated actors run in a second Node process on the same 2 cores, and every single-image dispatch costs the coordinator a WebSocket send and receive, a schema validation, a row formatted and written (fsync shared by group commit) and an input read: ~140 µs of CPU. The profile is spread over these with no single hot spot left (file reads were ~40% before they went synchronous). Reaching 20,000/s would need batching results per message or a second coordinator process; not done.`,
  'coordinator.p99DispatchMs (100 actors)': () => 'measured from a result arriving to the next batch on the wire.',
  'coordinator.rssMB m1M / m10k': (r) =>
    `${r['coordinator.rssMB.m10k']!.toFixed(0)} MB for 10k inputs, ${r['coordinator.rssMB.m1M']!.toFixed(0)} MB for 1M. The JS heap stays flat (heap total ~90 MB measured at 200k inputs; the id set for a million ids is ~19 MB): the growth is V8 sizing its heap and the allocator keeping freed image buffers over a long run, while the 10k run ends before that steady state. ~100 MB of the baseline is the TypeScript loader and modules.`,
};

function markdown(m: Record<string, string>, r: Record<string, number>, n: string[], isQuick: boolean, seconds: number): string {
  const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));
  const lines = [
    '# tabpool benchmark results',
    '',
    `Run: \`npm run bench${isQuick ? ' -- --quick' : ''}\`, ${new Date().toISOString()}, ${seconds} s. Every ratio below comes from this one run.`,
    '',
    '| machine | |',
    '|---|---|',
    ...Object.entries(m).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Targets',
    '',
    '| target | goal | measured | met |',
    '|---|---|---|---|',
    ...TARGETS.map(([name, goal, ok]) => {
      const key = { 'efficiency.wasm (1 and 2 tabs)': 'efficiency.wasm', 'e2e.wasm.k2 / e2e.wasm.k1': 'scaling.wasm.k2OverK1', 'coordinator.dispatchPerSec (100 actors)': 'coordinator.dispatchPerSec', 'coordinator.p99DispatchMs (100 actors)': 'coordinator.p99DispatchMs', 'coordinator.rssMB m1M / m10k': 'coordinator.rssRatio', 'wire.bytesPerImage vs file size': 'wire.overhead' }[name]!;
      return `| ${name} | ${goal} | ${r[key] === undefined ? '–' : fmt(r[key]!)} | ${ok(r) ? 'yes' : 'no'} |`;
    }),
    '',
    '## All numbers',
    '',
    '| key | value |',
    '|---|---|',
    ...Object.entries(r).sort().map(([k, v]) => `| \`${k}\` | ${fmt(v)} |`),
    '',
    '## Where a target is missed, and why',
    '',
    ...TARGETS.filter(([, , ok]) => !ok(r)).map(([name]) => `- **${name}**: ${WHY[name]?.(r) ?? 'see bench/HISTORY.md'}`),
    '',
    '## Notes',
    '',
    ...n.map((x) => `- ${x}`),
    `- wasm rows: the full ResNet-18 (224×224), 1 wasm thread per tab, batch 16, the built-in sample images (mixed PNG/JPEG, assorted sizes); raw = \`session.run\` alone on a ready-made tensor in the same tabs just before they take work.`,
    '- e2e img/s is the steady throughput from the moment the pool is ready to the last row written (start-up is reported separately as time to first prediction).',
    '',
  ];
  return lines.join('\n');
}

await main();
