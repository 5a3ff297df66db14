/**
 * What a liar gets through verification. `verify.wrongRowsPerLiar.*`: three honest actors and a
 * liar (every batch, or a tenth of them: each class shifted by one), all speaking the real protocol,
 * default --verify. A liar is caught once and barred (the actor only: each liar joins from a host
 * of its own, and a second liar on one host would bar the host), so one liar tells a handful of
 * lies: the run goes on, a fresh liar joining each time the last is barred, until LIARS have been
 * caught, then drains (Ctrl-C). Every liar's lies are counted (batches and rows it altered) and
 * each wrong row in the output is put down to the liar that sent it; the figure is per liar, from
 * joining to being barred. Checks go to peers (the other hosts' actors) as the job sends them, so a
 * liar is also handed others' checks as ordinary batches, and lies on those as on any other.
 * (`verify.overhead` is measured on real tabs in bench.ts.)
 *
 * The actors run the model on onnxruntime-node, once per distinct image: the manifest cycles over
 * a few hundred PNGs under distinct ids, and an answer computed once is reused for the same bytes
 * (the same rows the model gives), so the run is long enough for many liars in seconds.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureBuiltinModel } from '../coordinator/builtin/resnetBuilder.ts';
import { CLOSE } from '../shared/closeCodes.ts';
import type { RunSummary } from '../coordinator/api/summary.ts';
import type { ItemResult, ResultMessage } from '../shared/protocol.ts';
import { CACHE_DIR, startCoordinator } from '../test/support/coordinatorProcess.ts';
import { readRows, referencePredictions } from '../test/support/reference.ts';
import { SimulatedActor, type ReceivedBatch } from '../test/support/simulatedActor.ts';
import { mulberry32, writeTestPngs } from '../test/support/testImages.ts';
import { writeManifest } from './coordinatorCapacity.ts';

export interface TrustOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
}

/** The verifier's hold limit (coordinator/verify/verifier.ts HELD_LIMIT): the README's bound is (1 − q) × this. */
export const HELD_LIMIT = 256;
const DISTINCT_IMAGES = 300;
/** Images a second each actor works at: as fast as the coordinator reads inputs for all four, so batches are sized by speed. */
const SPEED = 1000;

/** A lie: every class the row names shifted by one, scores untouched, the row well-formed. */
export function shiftClasses(row: Record<string, unknown>): void {
  const topk = row.topk as { class: number; label: string }[];
  for (const e of topk) {
    e.class = (e.class + 1) % 1000;
    e.label = `class ${e.class}`;
  }
  row.class = topk[0]!.class;
  row.label = topk[0]!.label;
}

/** The model's answers, computed once per distinct image (by bytes) and shared by every actor of the run. */
class AnswerCache {
  private readonly items = new Map<string, ItemResult>();

  async answer(batch: ReceivedBatch, actor: SimulatedActor): Promise<ResultMessage> {
    const keys = batch.items.map((b) =>
      createHash('sha1')
        .update(b as Uint8Array)
        .digest('hex'),
    );
    const missing = keys.flatMap((k, i) => (this.items.has(k) ? [] : [i]));
    if (missing.length > 0) {
      const computed = await actor.answer({
        batchId: batch.batchId,
        ids: missing.map((i) => batch.ids[i]!),
        items: missing.map((i) => batch.items[i]!),
      });
      for (const [j, i] of missing.entries()) this.items.set(keys[i]!, computed.items[j]!);
    }
    const items = keys.map((k) => structuredClone(this.items.get(k)!));
    return { type: 'result', batchId: batch.batchId, items, timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } };
  }
}

/** One liar, from joining to being barred: what it was given, what it altered. */
interface Liar {
  batches: number;
  liedBatches: number;
  liedRows: number;
  caught: boolean;
  wrongRows: number;
}

interface LiarRun {
  liars: Liar[];
  /** Wrong rows no liar had sent (an honest answer the reference disagrees with): should be 0. */
  unexplained: number;
  rows: number;
  liarBatchSizes: number[];
  /** The run's checks (summary): all of them, those a peer computed, and peer checks the reference decided. */
  checks: { batches: number; peer: number; arbitrations: number };
}

/** One job: 3 honest actors, and liars one after another until `target` of them are caught; then Ctrl-C. */
async function liarRun(
  dir: string,
  manifest: string,
  topOf: (id: string) => number,
  lieShare: number,
  seed: number,
  target: number,
  o: TrustOptions,
): Promise<LiarRun> {
  const label = `${lieShare}-${seed}`;
  const out = path.join(dir, `out-${label}.jsonl`);
  const summaryFile = path.join(dir, `summary-${label}.json`);
  const c = await startCoordinator([
    '--summary-json',
    summaryFile,
    '--model',
    'resnet18-tiny',
    '--data',
    manifest,
    '--out',
    out,
    '--pool',
    '4',
    '--quiet',
    '--max-messages-per-second',
    '1000000',
  ]);
  const cache = new AnswerCache();
  const rand = mulberry32(seed);
  const liars: Liar[] = [];
  /** Each id a liar altered → the last liar to alter it (a discarded lie is computed again, maybe by a later liar). */
  const liedBy = new Map<string, number>();
  const actors: SimulatedActor[] = [];
  const liarBatchSizes: number[] = [];
  let stopped = false;
  const timeout = setTimeout(
    () => {
      o.notes.push(
        `verify.wrongRowsPerLiar (${label}): stopped after ${o.quick ? 180 : 600} s with ` +
          `${liars.filter((l) => l.caught).length} liar(s) caught`,
      );
      stop();
    },
    (o.quick ? 180 : 600) * 1000,
  );
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    c.kill('SIGINT');
  };
  const startLiar = (): void => {
    const k = liars.length;
    const liar: Liar = { batches: 0, liedBatches: 0, liedRows: 0, caught: false, wrongRows: 0 };
    liars.push(liar);
    const a = new SimulatedActor(c.workerUrl, {
      mode: 'real',
      imagesPerSecond: SPEED,
      hostId: `liar-${label}-${k}`,
      onBatch: async (batch, actor) => {
        const answer = await cache.answer(batch, actor);
        liar.batches++;
        liarBatchSizes.push(batch.items.length);
        if (rand() < lieShare) {
          liar.liedBatches++;
          for (const [i, item] of answer.items.entries())
            if (item.ok) {
              shiftClasses(item.row);
              liar.liedRows++;
              liedBy.set(batch.ids[i]!, k);
            }
        }
        actor.send(answer);
      },
    });
    actors.push(a);
    void a.closed.then(({ code }) => {
      if (code !== CLOSE.barred) return;
      liar.caught = true;
      if (liars.filter((l) => l.caught).length >= target) stop();
      else if (!stopped) startLiar();
    });
  };
  try {
    startLiar();
    for (let i = 0; i < 3; i++)
      actors.push(
        new SimulatedActor(c.workerUrl, {
          mode: 'real',
          imagesPerSecond: SPEED,
          onBatch: async (b, a) => a.send(await cache.answer(b, a)),
        }),
      );
    const code = await c.exited;
    if (code !== 0 && code !== 130) throw new Error(`trust bench job exited ${code}: ${c.stderr().slice(-1000)}`);
    if (!stopped)
      o.notes.push(
        `verify.wrongRowsPerLiar (${label}): the job ended with ${liars.filter((l) => l.caught).length} of ${target} liars caught`,
      );
  } finally {
    clearTimeout(timeout);
    c.kill('SIGKILL');
    for (const a of actors) a.terminate();
  }
  const rows = await readRows(out);
  const verify = (JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary).verify;
  let unexplained = 0;
  for (const r of rows) {
    if (r.error !== null || r.class === topOf(r.id)) continue;
    const k = liedBy.get(r.id);
    if (k === undefined) unexplained++;
    else liars[k]!.wrongRows++;
  }
  const caught = liars.filter((l) => l.caught);
  o.log(
    `  lying on ${lieShare * 100}% of batches (seed ${seed}): ${caught.length} liar(s) caught, ${rows.length} rows written; ` +
      `lies told ${liars.reduce((n, l) => n + l.liedBatches, 0)} batches / ${liars.reduce((n, l) => n + l.liedRows, 0)} rows; ` +
      `wrong rows written per liar: ${liars.map((l) => l.wrongRows).join(', ')}${unexplained ? `; ${unexplained} unexplained` : ''}`,
  );
  return {
    liars,
    unexplained,
    rows: rows.length,
    liarBatchSizes,
    checks: { batches: verify?.batchesChecked ?? NaN, peer: verify?.peerChecks ?? NaN, arbitrations: verify?.arbitrations ?? NaN },
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

export async function benchTrust(o: TrustOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-trust-'));
  try {
    const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
    const files = await writeTestPngs(path.join(dir, 'png'), DISTINCT_IMAGES, 64, 64, 113);
    const reference = await referencePredictions(model.path, files);
    // Manifest ids i0000000… cycle over the files in order (writeManifest), so an id's image is its number modulo their count.
    const tops = files.map((f) => reference.get(f.id)!.top1);
    const topOf = (id: string): number => tops[Number(id.slice(1)) % files.length]!;
    const manifest = path.join(dir, 'manifest.jsonl');
    const inputs = o.quick ? 400_000 : 2_000_000;
    await writeManifest(
      manifest,
      inputs,
      files.map((f) => path.relative(dir, f.path)),
    );

    const always = await liarRun(dir, manifest, topOf, 1, 1, 3, o);
    const q = 0.1;
    const seeds = o.quick ? [2, 3, 4] : [2, 3, 4, 5, 6];
    const perSeed = o.quick ? 15 : 30;
    const runs: LiarRun[] = [];
    for (const seed of seeds) runs.push(await liarRun(dir, manifest, topOf, q, seed, perSeed, o));
    // A liar still lying when the run stopped is left out of the per-liar figures (it was not caught); its rows are in the totals.
    const all = runs.flatMap((r) => r.liars);
    const caught = all.filter((l) => l.caught);
    const wrong = caught.map((l) => l.wrongRows);
    const mean = wrong.length ? sum(wrong) / wrong.length : NaN;
    const sizes = runs.flatMap((r) => r.liarBatchSizes).sort((a, b) => a - b);
    o.notes.push(
      `verify.wrongRowsPerLiar: 3 honest actors and liars one after another (each from a host of its own, barred when ` +
        `caught; the next joins then), the tiny model on onnxruntime-node, real protocol, each actor at ${SPEED} img/s, ` +
        `default --verify and --batch-size auto (the liars' batches: median ${sizes[sizes.length >> 1] ?? NaN}, ` +
        `${sizes[0] ?? NaN}–${sizes.at(-1) ?? NaN} inputs). Lying on every batch: ${always.liars.filter((l) => l.caught).length} ` +
        `liars caught after ${always.liars.map((l) => l.batches).join(', ')} batches, ${sum(always.liars.map((l) => l.wrongRows))} ` +
        `wrong rows. Lying on ${q * 100}%: ${seeds.length} runs (seeds ${seeds.join(', ')}), ${caught.length} liars caught; ` +
        `they were given ${sum(all.map((l) => l.batches))} batches and lied on ${sum(all.map((l) => l.liedBatches))} ` +
        `(${sum(all.map((l) => l.liedRows))} rows); ${sum(all.map((l) => l.wrongRows))} wrong rows were written (per caught ` +
        `liar: ${wrong.join(', ')}; mean ${mean.toFixed(1)} against the README's (1 − q) × ${HELD_LIMIT} = ` +
        `${((1 - q) * HELD_LIMIT).toFixed(1)}). The runs' checks: ${sum(runs.map((r) => r.checks.batches))}, ` +
        `${sum(runs.map((r) => r.checks.peer))} of them computed by a peer (an actor of another host), ` +
        `${sum(runs.map((r) => r.checks.arbitrations))} decided by the reference. Wrong rows no liar sent: ` +
        `${sum(runs.map((r) => r.unexplained)) + always.unexplained}.`,
    );
    return {
      'verify.wrongRowsPerLiar.always': sum(always.liars.map((l) => l.wrongRows)),
      'verify.wrongRowsPerLiar.tenPercent': mean,
      'verify.wrongRowsPerLiar.tenPercentMax': wrong.length ? Math.max(...wrong) : NaN,
      'verify.tenPercent.liars': caught.length,
      'verify.tenPercent.liesTold.batches': sum(all.map((l) => l.liedBatches)),
      'verify.tenPercent.liesTold.rows': sum(all.map((l) => l.liedRows)),
      'verify.tenPercent.wrongRowsWritten': sum(all.map((l) => l.wrongRows)),
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
