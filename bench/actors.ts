/**
 * Your own actor (issues 18 and 29). `actor.rawPixels.*`: a raw-pixel actor (bench/pixelActor.ts,
 * `preprocess = 'none'`) on resnet18-features in 2 wasm tabs over 224 × 224 PNGs, its steady
 * throughput against its own `call` on ready-made 224 × 224 images in the same tabs. `actor.embed.*`:
 * the embeddings example (examples/embed.ts on the built-in `resnet18-features`, a 512-value vector
 * an image) in 2 wasm tabs over the sample, to
 * Parquet: its steady throughput, and against it the raw speed of the same actor's `call` on a
 * ready-made batch in the same tabs, measured as the classifier's ceiling is (tabs.ts).
 * `actor.records.itemsPerSec`: the records example (examples/score.ts on the built-in `scorer`)
 * with the README's command (`--launch 2`, defaults otherwise) over generated records.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { RunSummary } from '../coordinator/api/summary.ts';
import { ROOT, startCoordinator } from '../test/support/coordinatorProcess.ts';
import { mulberry32, writeTestPngs } from '../test/support/testImages.ts';
import { tabsRun } from './tabs.ts';

export interface ActorBenchOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
  /** A manifest of the built-in sample, and how many images it names. */
  manifest: string;
  count: number;
  raw: { warmSeconds: number; rawSeconds: number };
}

const EMBED_TABS = 2;
const RECORD_TABS = 2;

/** `n` records as the built-in sample's: `{"id", "features": [8 numbers], "group"}`, seeded. */
async function writeRecords(file: string, n: number): Promise<void> {
  const rand = mulberry32(0x5c0e);
  const out = createWriteStream(file);
  const chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    const features = Array.from({ length: 8 }, () => Math.round((rand() * 4 - 2) * 1000) / 1000);
    chunk.push(`${JSON.stringify({ id: `rec-${String(i).padStart(7, '0')}`, features, group: 'abcd'[i % 4] })}\n`);
    if (chunk.length === 10_000 || i === n - 1) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk.length = 0;
    }
  }
  out.end();
  await once(out, 'finish');
}

async function embeddings(o: ActorBenchOptions): Promise<Record<string, number>> {
  o.log(`embeddings: examples/embed.ts, resnet18-features, ${EMBED_TABS} wasm tabs, ${o.count} images, to Parquet…`);
  const r = await tabsRun({
    model: 'resnet18-features',
    data: o.manifest,
    ep: 'wasm',
    tabs: EMBED_TABS,
    batchSize: 16,
    ...o.raw,
    out: 'embeddings.parquet',
    extra: ['--actor', path.join(ROOT, 'examples', 'embed.ts'), '--verify', '0'],
  });
  const s = r.summary;
  if (s.rows.written !== o.count || s.rows.errors !== 0)
    o.notes.push(`actor.embed: ${s.rows.written} rows (${s.rows.errors} errors) for ${o.count} images`);
  o.log(`  steady ${r.imgPerSec.toFixed(2)} images/s, raw ${r.rawPerTab.map((x) => x.toFixed(2)).join(' + ')} images/s`);
  o.notes.push(
    `actor.embed: examples/embed.ts (--actor) on resnet18-features, ${EMBED_TABS} wasm tabs, batch 16, --verify 0, the ` +
      `${o.count}-image sample to a Parquet dataset; raw = the actor's own call (session.run and its 512-value rows) on a ` +
      `ready-made batch of 16 in the same tabs, measured as the classifier's (${r.rawPerTab.map((x) => x.toFixed(2)).join(' + ')} ` +
      `images/s), steady ${r.imgPerSec.toFixed(2)} images/s.`,
  );
  return {
    'actor.embed.itemsPerSec': r.imgPerSec,
    'actor.embed.rawItemsPerSec': r.rawSum,
    'actor.embed.efficiency': r.imgPerSec / r.rawSum,
    'actor.embed.inPipelineItemsPerSec': r.inPipelinePerTab.reduce((x, y) => x + y, 0),
  };
}

async function records(o: ActorBenchOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-records-'));
  try {
    const n = o.quick ? 100_000 : 300_000;
    const data = path.join(dir, 'records.jsonl');
    await writeRecords(data, n);
    o.log(`records: examples/score.ts, scorer, --launch ${RECORD_TABS} --ep wasm, ${n} records…`);
    const summaryFile = path.join(dir, 'summary.json');
    const c = await startCoordinator([
      ...['--actor', path.join(ROOT, 'examples', 'score.ts'), '--model', 'scorer', '--data', data, '--out', path.join(dir, 'scores.jsonl')],
      ...['--launch', String(RECORD_TABS), '--ep', 'wasm', '--quiet', '--summary-json', summaryFile],
    ]);
    const code = await c.exited;
    if (code !== 0) throw new Error(`records bench job exited ${code}: ${c.stderr().slice(-2000)}`);
    const s = JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary;
    const rate = s.steadyImagesPerSecond ?? NaN;
    const batches = s.dispatch?.batches ?? NaN;
    o.log(`  steady ${rate.toFixed(0)} items/s, ${batches} batches, round trip p50 ${s.dispatch?.roundTripP50Ms?.toFixed(1)} ms`);
    o.notes.push(
      `actor.records: examples/score.ts on the built-in scorer (an 8-16-1 MLP), --launch ${RECORD_TABS} --ep wasm and ` +
        `the defaults (--batch-size auto, at most 64; --verify ${s.verify?.rate ?? 0}), ${n} generated records like the ` +
        `built-in sample's: ${s.rows.written} rows, ${batches} batches (${(s.rows.written / batches).toFixed(1)} records a ` +
        `batch), round trip p50 ${s.dispatch?.roundTripP50Ms?.toFixed(1)} ms, ${s.verify?.batchesChecked ?? 0} verification checks.`,
    );
    return { 'actor.records.itemsPerSec': rate };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function rawPixels(o: ActorBenchOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-pixels-'));
  try {
    await writeTestPngs(dir, o.count, 224, 224, 0x91e);
    o.log(`raw pixels: bench/pixelActor.ts (preprocess 'none'), resnet18-features, ${EMBED_TABS} wasm tabs, ${o.count} 224×224 PNGs…`);
    const r = await tabsRun({
      model: 'resnet18-features',
      data: dir,
      ep: 'wasm',
      tabs: EMBED_TABS,
      batchSize: 16,
      ...o.raw,
      extra: ['--actor', path.join(ROOT, 'bench', 'pixelActor.ts'), '--verify', '0'],
    });
    const s = r.summary;
    if (s.rows.written !== o.count || s.rows.errors !== 0)
      o.notes.push(`actor.rawPixels: ${s.rows.written} rows (${s.rows.errors} errors) for ${o.count} images`);
    o.log(`  steady ${r.imgPerSec.toFixed(2)} images/s, raw ${r.rawPerTab.map((x) => x.toFixed(2)).join(' + ')} images/s`);
    o.notes.push(
      `actor.rawPixels: bench/pixelActor.ts (static preprocess = 'none': batch.pixels, the actor normalises them itself) on ` +
        `resnet18-features, ${EMBED_TABS} wasm tabs, batch 16, --verify 0, ${o.count} seeded 224×224 PNGs; raw = the same ` +
        `call on ready-made black 224×224 images in the same tabs (${r.rawPerTab.map((x) => x.toFixed(2)).join(' + ')} images/s), ` +
        `steady ${r.imgPerSec.toFixed(2)} images/s.`,
    );
    return {
      'actor.rawPixels.itemsPerSec': r.imgPerSec,
      'actor.rawPixels.rawItemsPerSec': r.rawSum,
      'actor.rawPixels.efficiency': r.imgPerSec / r.rawSum,
      'actor.rawPixels.inPipelineItemsPerSec': r.inPipelinePerTab.reduce((x, y) => x + y, 0),
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export async function benchActors(o: ActorBenchOptions): Promise<Record<string, number>> {
  return { ...(await embeddings(o)), ...(await rawPixels(o)), ...(await records(o)) };
}
