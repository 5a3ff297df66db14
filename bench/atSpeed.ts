/**
 * Verification at the pool's speed (issue 19). 100 simulated actors speaking the real protocol, 10
 * to a host on 10 hosts, each working at 500 img/s (50,000 img/s in all) and reporting that speed
 * when ready, as a tab's probe does; one of them (on the last host) lies on a tenth of its batches.
 * The same job runs with --verify 0 and with the default --verify: `verify.atSpeed.overhead` is the
 * steady throughput of the second over the first; `verify.atSpeed.coordinatorCpuCores` the
 * coordinator process's CPU time (every thread: the main one, the reference worker, onnxruntime's
 * and libuv's) ÷ wall time, from every actor ready to 95% of the inputs handed out;
 * `verify.atSpeed.wrongRows` the wrong rows the liar got into the output. A second verified run with
 * the liar lying on every batch gives `verify.atSpeed.wrongRowsEveryBatch`.
 *
 * The actors' honest answers are cheap: the manifest cycles over a few hundred small PNGs under
 * distinct ids, and one actor runs the tiny model on onnxruntime-node once per distinct image (by
 * bytes); every actor answers from that. The coordinator's reference still runs the model for what
 * it decides (arbitrations, checks no peer can take). The actors share this machine's cores with
 * the coordinator, so the rate reached is what these cores allow, recorded beside the target.
 */
import { createHash, randomInt } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureBuiltinModel } from '../coordinator/builtin/resnetBuilder.ts';
import type { RunSummary } from '../coordinator/api/summary.ts';
import { AUTO_MAX_BATCH, TARGET_BATCH_SECONDS } from '../coordinator/host/batchPlan.ts';
import { CLOSE } from '../shared/closeCodes.ts';
import type { ItemResult, ResultMessage } from '../shared/protocol.ts';
import { CACHE_DIR, startCoordinator } from '../test/support/coordinatorProcess.ts';
import { readRows, referencePredictions } from '../test/support/reference.ts';
import { SimulatedActor, type ReceivedBatch } from '../test/support/simulatedActor.ts';
import { mulberry32, writeTestPngs } from '../test/support/testImages.ts';
import { writeManifest } from './coordinatorCapacity.ts';
import { cpuSecondsNow, threadCpu } from './window.ts';
import { HELD_LIMIT, shiftClasses } from './trust.ts';

export interface AtSpeedOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
}

const ACTORS = 100;
const HOSTS = 10;
const SPEED = 500;
const TARGET = ACTORS * SPEED;
const DISTINCT_IMAGES = 300;
const LIE_SHARE = 0.1;
/** What --batch-size auto gives an actor of SPEED: about 1.5 s of its work, at most 64 (coordinator/host/batchPlan.ts). */
const AUTO_BATCH = Math.min(Math.round(SPEED * TARGET_BATCH_SECONDS), AUTO_MAX_BATCH);

/** The model's answer per distinct image (by bytes), computed once by one actor and shared by all. */
class SharedAnswers {
  private readonly items = new Map<string, Promise<ItemResult>>();

  constructor(private readonly computer: Promise<SimulatedActor>) {}

  async answer(batch: ReceivedBatch): Promise<ResultMessage> {
    const items = await Promise.all(
      batch.items.map((bytes, i) => {
        const key = createHash('sha1')
          .update(bytes as Uint8Array)
          .digest('hex');
        let item = this.items.get(key);
        if (!item) {
          const one = { batchId: batch.batchId, ids: [batch.ids[i]!], items: [bytes] };
          item = this.computer.then(async (c) => (await c.answer(one)).items[0]!);
          this.items.set(key, item);
        }
        return item;
      }),
    );
    return { type: 'result', batchId: batch.batchId, items, timing: { decodeMs: 0, inferenceMs: 0, totalMs: 0 } };
  }
}

/** BENCH_COORDINATOR_NODE_OPTIONS="--import ./bench/cpuProfileHook.mjs" profiles the coordinator (as in coordinatorCapacity.ts). */
const profileEnv = (): { env: NodeJS.ProcessEnv } => {
  const profile = process.env.BENCH_COORDINATOR_NODE_OPTIONS;
  return { env: profile ? { NODE_OPTIONS: profile } : {} };
};

/**
 * How long the actors sat with no batch to work on (between answering their last and receiving the next), over a
 * window: a pool that waits on the coordinator idles; one that is slow itself does not.
 */
class IdleClock {
  private readonly held = new Map<SimulatedActor, number>();
  private readonly since = new Map<SimulatedActor, number>();
  private idleMs = 0;
  private openedAt: number | null = null;
  private closedAt: number | null = null;

  received(a: SimulatedActor, now: number): void {
    this.held.set(a, (this.held.get(a) ?? 0) + 1);
    const since = this.since.get(a);
    if (since !== undefined) this.add(since, now);
    this.since.delete(a);
  }

  answered(a: SimulatedActor, now: number): void {
    const held = Math.max(0, (this.held.get(a) ?? 1) - 1);
    this.held.set(a, held);
    if (held === 0) this.since.set(a, now);
  }

  open(now: number, actors: SimulatedActor[]): void {
    this.openedAt = now;
    for (const a of actors) if (!this.held.get(a)) this.since.set(a, now);
  }

  close(now: number): void {
    for (const since of this.since.values()) this.add(since, now);
    this.closedAt = now;
  }

  /** The share of the actors' time over the window spent holding nothing. */
  share(actors: number): number {
    if (this.openedAt === null || this.closedAt === null) return NaN;
    return this.idleMs / (actors * (this.closedAt - this.openedAt));
  }

  private add(since: number, now: number): void {
    if (this.openedAt === null || this.closedAt !== null) return;
    this.idleMs += now - Math.max(since, this.openedAt);
  }
}

interface RunResult {
  imgPerSec: number;
  /** Coordinator CPU seconds ÷ wall seconds over the window, in all and by thread name. */
  cores: number;
  byThread: Record<string, number>;
  /** The bench process's own (the 100 actors') CPU ÷ wall over the same window. */
  actorCores: number;
  /** The share of the actors' time they held no batch, over the window. */
  actorsIdle: number;
  windowSeconds: number;
  /** Inputs per batch handed to the actors (checks included), and the 1-minute load average when the run started. */
  inputsPerBatch: number;
  load: number;
  rows: number;
  wrongRows: number;
  unexplained: number;
  liar: { batches: number; liedBatches: number; liedRows: number; caught: boolean };
  summary: RunSummary;
}

const threadsOf = (r: RunResult): string =>
  Object.entries(r.byThread)
    .filter(([, v]) => v >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');

async function atSpeedRun(
  dir: string,
  manifest: string,
  inputs: number,
  topOf: (id: string) => number,
  label: string,
  verify: boolean,
  lieShare: number,
  seed: number,
  o: AtSpeedOptions,
): Promise<RunResult> {
  const out = path.join(dir, `out-${label}.jsonl`);
  const summaryFile = path.join(dir, `summary-${label}.json`);
  const c = await startCoordinator(
    [
      ...['--model', 'resnet18-tiny', '--data', manifest, '--out', out, '--pool', String(ACTORS), '--quiet'],
      ...['--max-messages-per-second', '1000000', '--join-timeout', '120s', '--summary-json', summaryFile],
      ...(verify ? [] : ['--verify', '0']),
    ],
    profileEnv(),
  );
  const pid = c.process.pid!;
  const load = os.loadavg()[0]!;
  let computerReady: (a: SimulatedActor) => void = () => undefined;
  const answers = new SharedAnswers(new Promise((resolve) => (computerReady = resolve)));
  const rand = mulberry32(seed);
  const liar = { batches: 0, liedBatches: 0, liedRows: 0, caught: false };
  const liedBy = new Set<string>();
  let ready = 0;
  let handedOut = 0;
  let handedBatches = 0;
  type Probe = { at: number; total: number; threads: ReturnType<typeof threadCpu>; own: NodeJS.CpuUsage };
  const probe = (): Probe => ({ at: performance.now(), total: cpuSecondsNow(pid), threads: threadCpu(pid), own: process.cpuUsage() });
  let start: Probe | null = null;
  let end: Probe | null = null;
  const idle = new IdleClock();
  const actors: SimulatedActor[] = Array.from({ length: ACTORS }, (_, i) => {
    const lying = i === ACTORS - 1;
    return new SimulatedActor(c.workerUrl, {
      mode: i === 0 ? 'real' : 'instant',
      hostId: `atspeed-${label}-host${i % HOSTS}`,
      imagesPerSecond: SPEED,
      reportSpeed: SPEED,
      onReady: (a) => {
        if (i === 0) computerReady(a);
        if (++ready === ACTORS) {
          start = probe();
          idle.open(start.at, actors);
        }
      },
      onBatch: async (batch, a) => {
        const answer = await answers.answer(batch);
        if (lying) {
          liar.batches++;
          if (rand() < lieShare) {
            liar.liedBatches++;
            answer.items = answer.items.map((item, k) => {
              if (!item.ok) return item;
              const row = structuredClone(item.row);
              shiftClasses(row);
              liar.liedRows++;
              liedBy.add(batch.ids[k]!);
              return { ok: true, row };
            });
          }
        }
        a.send(answer);
        idle.answered(a, performance.now());
      },
    });
  });
  for (const a of actors)
    a.ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      idle.received(a, performance.now());
      handedBatches++;
      handedOut += a.batchSizes.at(-1) ?? 0;
      if (start && !end && handedOut >= 0.95 * inputs) {
        end = probe();
        idle.close(end.at);
      }
    });
  void actors.at(-1)!.closed.then(({ code }) => (liar.caught = code === CLOSE.barred));
  const timeoutS = o.quick ? 150 : 900;
  const timeout = setTimeout(() => {
    o.notes.push(`verify.atSpeed (${label}): cut off after ${timeoutS} s`);
    c.kill('SIGINT');
  }, timeoutS * 1000);
  try {
    const code = await c.exited;
    if (code !== 0) o.notes.push(`verify.atSpeed (${label}): the coordinator exited ${code}: ${c.stderr().trim().slice(-300)}`);
  } finally {
    clearTimeout(timeout);
    c.kill('SIGKILL');
    for (const a of actors) a.terminate();
  }
  const summary = JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary;
  const rows = await readRows(out);
  let wrongRows = 0;
  let unexplained = 0;
  for (const r of rows) {
    if (r.error !== null || r.class === topOf(r.id)) continue;
    if (liedBy.has(r.id)) wrongRows++;
    else unexplained++;
  }
  const s = start as Probe | null;
  const e = end as Probe | null;
  const wall = s && e ? (e.at - s.at) / 1000 : NaN;
  const byThread: Record<string, number> = {};
  // The process's own figure counts threads that ended within the window too; the breakdown, the live ones.
  const cpu = s && e ? e.total - s.total : NaN;
  if (s && e)
    for (const [tid, t] of e.threads) byThread[t.name] = (byThread[t.name] ?? 0) + (t.seconds - (s.threads.get(tid)?.seconds ?? 0)) / wall;
  const ownCpu = s && e ? (e.own.user - s.own.user + e.own.system - s.own.system) / 1e6 : NaN;
  await fs.rm(out, { force: true });
  const r: RunResult = {
    imgPerSec: summary.steadyImagesPerSecond ?? NaN,
    cores: cpu / wall,
    byThread,
    actorCores: ownCpu / wall,
    actorsIdle: idle.share(ACTORS),
    windowSeconds: wall,
    inputsPerBatch: handedOut / handedBatches,
    load,
    rows: rows.length,
    wrongRows,
    unexplained,
    liar,
    summary,
  };
  o.log(
    `  ${label}: ${r.imgPerSec.toFixed(0)} img/s steady (${((100 * r.imgPerSec) / TARGET).toFixed(1)}% of ${TARGET}), ` +
      `${rows.length} rows, ${handedBatches} batches handed out (${r.inputsPerBatch.toFixed(1)} inputs a batch, checks ` +
      `included), load ${load.toFixed(1)} at the start; coordinator ${r.cores.toFixed(2)} cores over ${wall.toFixed(1)} s ` +
      `(${threadsOf(r)}), actors ${r.actorCores.toFixed(2)} cores, idle ${(100 * r.actorsIdle).toFixed(0)}% of the time; ` +
      `liar: ${liar.batches} batches, lied on ${liar.liedBatches} (${liar.liedRows} rows), ` +
      `${liar.caught ? 'barred' : 'not barred'}, ${wrongRows} wrong rows written${unexplained ? `, ${unexplained} unexplained` : ''}`,
  );
  return r;
}

/** Coordinator CPU milliseconds per row written: its cores over the window ÷ the steady rows a second. */
const msPerImage = (r: RunResult): number => (1000 * r.cores) / r.imgPerSec;

/** Why the pool ran below its speed, from how much its actors idled. */
const waitedOn = (r: RunResult): string =>
  r.actorsIdle > 0.5
    ? 'the pool mostly waited on the coordinator for batches, not on its own speed'
    : 'the actors were busy most of the time, so they themselves (100 of them in one process) were slower than their speed';

export async function benchAtSpeed(o: AtSpeedOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-atspeed-'));
  try {
    const model = await ensureBuiltinModel(CACHE_DIR, 'tiny');
    const files = await writeTestPngs(path.join(dir, 'png'), DISTINCT_IMAGES, 32, 32, 1919);
    const reference = await referencePredictions(model.path, files);
    // Ids i0000000… cycle over the files in order (writeManifest): an id's image is its number modulo their count.
    const tops = files.map((f) => reference.get(f.id)!.top1);
    const topOf = (id: string): number => tops[Number(id.slice(1)) % files.length]!;
    const inputs = o.quick ? 100_000 : 1_000_000;
    // The liar on every batch is caught within its first batches (probation): a shorter job shows it.
    const shortInputs = inputs / 5;
    const manifest = path.join(dir, 'manifest.jsonl');
    const shortManifest = path.join(dir, 'manifest-short.jsonl');
    const pngs = files.map((f) => path.relative(dir, f.path));
    await writeManifest(manifest, inputs, pngs);
    await writeManifest(shortManifest, shortInputs, pngs);
    // A fresh seed each bench run: one liar is one draw, and a fixed seed would make every run the same draw.
    const seed = randomInt(2 ** 31);
    o.log(`atSpeed: ${ACTORS} actors on ${HOSTS} hosts at ${SPEED} img/s each (${TARGET} img/s), ${inputs} inputs, seed ${seed}`);
    // Unverified and verified twice, interleaved (A B A B): each run is a few seconds on shared cores, so one pair is a noisy
    // ratio; the overhead is the pairs' summed throughputs, each pair's ratio reported beside it.
    const plain = await atSpeedRun(dir, manifest, inputs, topOf, 'unverified', false, LIE_SHARE, seed, o);
    const verified = await atSpeedRun(dir, manifest, inputs, topOf, 'verified', true, LIE_SHARE, seed, o);
    const plain2 = await atSpeedRun(dir, manifest, inputs, topOf, 'unverified-2', false, LIE_SHARE, seed + 1, o);
    const verified2 = await atSpeedRun(dir, manifest, inputs, topOf, 'verified-2', true, LIE_SHARE, seed + 1, o);
    const always = await atSpeedRun(dir, shortManifest, shortInputs, topOf, 'everyBatch', true, 1, seed, o);
    const v = verified.summary.verify;
    o.notes.push(
      `verify.atSpeed: ${ACTORS} simulated actors (real protocol), ${ACTORS / HOSTS} on each of ${HOSTS} hosts, each working ` +
        `at ${SPEED} img/s (a target load of ${TARGET} img/s) and reporting it when ready, one lying on ${LIE_SHARE * 100}% ` +
        `of its batches; ${inputs} inputs (32×32 PNGs, ${DISTINCT_IMAGES} distinct), --batch-size auto. Honest answers come ` +
        `from one onnxruntime-node run per distinct image; the coordinator's reference runs the model for what it decides. ` +
        `Reached: ${plain.imgPerSec.toFixed(0)} img/s unverified, ${verified.imgPerSec.toFixed(0)} verified: ` +
        `${((100 * verified.imgPerSec) / TARGET).toFixed(1)}% of the target load. This machine has ${os.cpus().length} cores, ` +
        `shared with whatever else runs (1-minute load average ${plain.load.toFixed(1)} and ${verified.load.toFixed(1)} as ` +
        `the two runs started); of them the 100 actors (one Node process: frames parsed, answers hashed and sent) used ` +
        `${plain.actorCores.toFixed(2)} and ${verified.actorCores.toFixed(2)} cores, the coordinator ${plain.cores.toFixed(2)} ` +
        `and ${verified.cores.toFixed(2)} (unverified, verified). Batches averaged ${plain.inputsPerBatch.toFixed(1)} and ` +
        `${verified.inputsPerBatch.toFixed(1)} inputs (checks included) against the ${AUTO_BATCH} a ${SPEED} img/s actor ` +
        `is sized for, and the actors held no batch ${(100 * plain.actorsIdle).toFixed(0)}% and ` +
        `${(100 * verified.actorsIdle).toFixed(0)}% of the time: ${waitedOn(verified)}. The overhead is measured at the ` +
        `load these cores carry, not at ` +
        `${TARGET} img/s; the coordinator's CPU per row, ${msPerImage(verified).toFixed(3)} ms verified and ` +
        `${msPerImage(plain).toFixed(3)} ms without, would come to ${((msPerImage(verified) * TARGET) / 1000).toFixed(1)} ` +
        `cores at ${TARGET} img/s. Coordinator CPU by thread (cores; "node" is every other thread: libuv's pool, V8's helpers, ` +
        `the reference worker and onnxruntime's), verified: ` +
        `${threadsOf(verified)}; unverified: ${threadsOf(plain)}. The verified run's checks: ${v?.batchesChecked ?? '?'} ` +
        `(${v?.inputsChecked ?? '?'} inputs), ${v?.peerChecks ?? '?'} by a peer, ${v?.arbitrations ?? '?'} decided by the ` +
        `reference; the liar was given ${verified.liar.batches} batches, lied on ${verified.liar.liedBatches} ` +
        `(${verified.liar.liedRows} rows), was ${verified.liar.caught ? '' : 'not '}barred, and got ${verified.wrongRows} ` +
        `wrong rows written (seed ${seed}; one liar: one sample against the README's mean bound (1 − q) × ${HELD_LIMIT} = ` +
        `${((1 - LIE_SHARE) * HELD_LIMIT).toFixed(1)}; verify.wrongRowsPerLiar.tenPercent is the mean over many). Lying ` +
        `on every batch: ${always.liar.batches} batches given, ${always.liar.caught ? '' : 'not '}barred, ` +
        `${always.wrongRows} wrong rows. Wrong rows no liar sent: ` +
        `${plain.unexplained + verified.unexplained + plain2.unexplained + verified2.unexplained + always.unexplained}. ` +
        `The second pair (seed ${seed + 1}): ${plain2.imgPerSec.toFixed(0)} and ${verified2.imgPerSec.toFixed(0)} img/s, ` +
        `coordinator ${plain2.cores.toFixed(2)} and ${verified2.cores.toFixed(2)} cores; its liar lied on ` +
        `${verified2.liar.liedBatches} of ${verified2.liar.batches} batches, was ${verified2.liar.caught ? '' : 'not '}barred, ` +
        `${verified2.wrongRows} wrong rows. verify.atSpeed.overhead is (verified + verified-2) ÷ (unverified + unverified-2) ` +
        `throughput; verify.atSpeed.coordinatorCpuCores the mean of the two verified runs.`,
    );
    return {
      'verify.atSpeed.overhead': (verified.imgPerSec + verified2.imgPerSec) / (plain.imgPerSec + plain2.imgPerSec),
      'verify.atSpeed.overhead.pair1': verified.imgPerSec / plain.imgPerSec,
      'verify.atSpeed.overhead.pair2': verified2.imgPerSec / plain2.imgPerSec,
      'verify.atSpeed.imgPerSec': verified.imgPerSec,
      'verify.atSpeed.unverified.imgPerSec': plain.imgPerSec,
      'verify.atSpeed.targetImgPerSec': TARGET,
      'verify.atSpeed.coordinatorCpuCores': (verified.cores + verified2.cores) / 2,
      'verify.atSpeed.unverified.coordinatorCpuCores': plain.cores,
      'verify.atSpeed.coordinatorCpuMsPerImage': msPerImage(verified),
      'verify.atSpeed.unverified.coordinatorCpuMsPerImage': msPerImage(plain),
      'verify.atSpeed.actorsCpuCores': verified.actorCores,
      'verify.atSpeed.inputsPerBatch': verified.inputsPerBatch,
      'verify.atSpeed.actorsIdleShare': verified.actorsIdle,
      'verify.atSpeed.unverified.actorsIdleShare': plain.actorsIdle,
      'verify.atSpeed.unverified.inputsPerBatch': plain.inputsPerBatch,
      'verify.atSpeed.wrongRows': (verified.wrongRows + verified2.wrongRows) / 2,
      'verify.atSpeed.liarCaught': (verified.liar.caught ? 1 : 0) + (verified2.liar.caught ? 1 : 0),
      'verify.atSpeed.liarLiedBatches': verified.liar.liedBatches + verified2.liar.liedBatches,
      'verify.atSpeed.wrongRowsEveryBatch': always.wrongRows,
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
