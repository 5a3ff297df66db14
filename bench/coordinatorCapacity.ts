/**
 * Coordinator capacity: how many batches a second one coordinator hands to 1, 100 and 1000
 * actors that answer at once (Node clients speaking the real protocol), its own cost per dispatch
 * (a result frame arriving → the next batch frame handed to the socket) and the batch round trip,
 * both p99, the bytes on the actors' sockets a second (counted by their TCP sockets over a window of
 * batches, bench/window.ts), and its peak memory over a 10k- and a 1M-input manifest. The actors
 * cost nothing, so every number here is the coordinator's own ceiling. The other figures come from
 * the coordinator's JSON summary (--summary-json), not from scraping its text.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { RunSummary } from '../coordinator/api/summary.ts';
import { startCoordinator } from '../test/support/coordinatorProcess.ts';
import { SimulatedActor } from '../test/support/simulatedActor.ts';
import { writeTestPngs } from '../test/support/testImages.ts';
import { CountedWindow, SocketBytes } from './window.ts';

export interface BenchOptions {
  quick: boolean;
  log: (s: string) => void;
  notes: string[];
}

interface RunResult {
  /** Frame bytes sent per input (the summary's wire figure). */
  bytesPerImage: number;
  dispatchPerSec: number;
  /** Bytes on the actors' sockets (both ways) a second and a batch, over the counted window; the share the coordinator sent. */
  mbPerSec: number;
  socketBytesPerBatch: number;
  toActorsShare: number;
  p99DispatchMs: number;
  p99RoundTripMs: number;
  peakRssMB: number;
  /** From spawning the coordinator to its worker URL (the dataset planned: counted, ids checked), and to its exit. */
  startupMs: number;
  totalMs: number;
  batches: number;
  summary: RunSummary | null;
}

/** Connecting more at once overruns the listen backlog (511), and refused SYNs retry a second later. */
const CONNECT_WAVE = 100;
const RSS_POLL_MS = 200;
const MB = 1e6;

/** Writes a .jsonl manifest of `n` unique ids cycling over `pngs` (paths relative to the manifest). */
export async function writeManifest(file: string, n: number, pngs: string[], url?: (i: number) => string): Promise<void> {
  const out = createWriteStream(file);
  const chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    chunk.push(`{"id":"i${String(i).padStart(7, '0')}","path":"${url ? url(i) : pngs[i % pngs.length]}"}\n`);
    if (chunk.length === 10_000 || i === n - 1) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk.length = 0;
    }
  }
  out.end();
  await once(out, 'finish');
}

/** VmHWM (peak resident memory) of a live process, in MB; null once it has exited. */
export async function readPeakRssMB(pid: number): Promise<number | null> {
  try {
    const text = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return (Math.max(kb('VmRSS'), kb('VmHWM')) * 1024) / MB;
  } catch {
    return null;
  }
}

/** Connects `count` instant actors in waves; `onBatch` sees every batch before it is answered. */
export async function connectActors(
  workerUrl: string,
  count: number,
  onReady: () => void,
  onBatch: () => void,
  meter?: SocketBytes,
): Promise<SimulatedActor[]> {
  const actors: SimulatedActor[] = [];
  for (let start = 0; start < count; start += CONNECT_WAVE) {
    const wave = Array.from({ length: Math.min(CONNECT_WAVE, count - start) }, (_, i) => {
      return new SimulatedActor(workerUrl, {
        mode: 'instant',
        hostId: `bench-${process.pid}-${start + i}`,
        onReady,
        onBatch: async (batch, actor) => {
          onBatch();
          actor.send(await actor.answer(batch));
        },
      });
    });
    if (meter) for (const a of wave) meter.attach(a.ws);
    actors.push(...wave);
    await Promise.all(wave.map((a) => a.opened));
  }
  return actors;
}

/** What a run may add: more flags, and an output left in place (for --resume). */
export interface RunExtra {
  args?: string[];
  /** The output path; when given, it is kept as it is (not removed first). */
  out?: string;
  /** The inputs the run dispatches: the socket bytes are counted over its first 95% of batches (from every actor ready). */
  items?: number;
}

/** One coordinator run: `actors` instant actors over a manifest of `items` inputs. */
export async function runOnce(
  label: string,
  actors: number,
  manifest: string,
  batchSize: number,
  timeoutMs: number,
  dir: string,
  o: BenchOptions,
  extra: RunExtra = {},
): Promise<RunResult> {
  const out = extra.out ?? path.join(dir, `out-${label}.jsonl`);
  const summaryFile = path.join(dir, `summary-${label}.json`);
  if (!extra.out) await fs.rm(out, { force: true });
  await fs.rm(summaryFile, { force: true });
  // Instant actors answer far faster than any model: lift the per-socket flood limit (default 2000/s) for them.
  const args = [
    '--model',
    'resnet18-tiny',
    '--data',
    manifest,
    '--out',
    out,
    '--batch-size',
    String(batchSize),
    '--pool',
    String(actors),
    '--quiet',
    '--join-timeout',
    '120s',
    '--max-messages-per-second',
    '1000000',
    '--summary-json',
    summaryFile,
    '--verify',
    '0',
    ...(extra.args ?? []),
  ];
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: BENCH_COORDINATOR_NODE_OPTIONS="--import ./bench/cpuProfileHook.mjs"
  // profiles the coordinator.
  const profile = process.env.BENCH_COORDINATOR_NODE_OPTIONS;
  const spawnedAt = performance.now();
  const c = await startCoordinator(args, { env: profile ? { NODE_OPTIONS: profile } : {} });
  const startupMs = performance.now() - spawnedAt;
  const pid = c.process.pid!;
  let peakRss = 0;
  const rssTimer = setInterval(() => void readPeakRssMB(pid).then((mb) => (peakRss = Math.max(peakRss, mb ?? 0))), RSS_POLL_MS);
  let ready = 0;
  let t0 = 0;
  let batches = 0;
  let batchesAtT0 = 0;
  let lastBatchAt = 0;
  const meter = new SocketBytes();
  const counted = new CountedWindow(extra.items ? Math.floor(0.95 * Math.ceil(extra.items / batchSize)) : Infinity, () => meter.now());
  const timeout = setTimeout(() => {
    o.notes.push(
      `${label}: cut off after ${(timeoutMs / 1000).toFixed(0)}s; its throughput covers the part that ran, its p99s are missing`,
    );
    c.kill('SIGKILL');
  }, timeoutMs);
  let connected: SimulatedActor[] = [];
  try {
    connected = await connectActors(
      c.workerUrl,
      actors,
      () => {
        if (++ready === actors) {
          t0 = performance.now();
          batchesAtT0 = batches;
          counted.open(batches);
        }
      },
      () => {
        batches++;
        lastBatchAt = performance.now();
        counted.batch(batches);
      },
      meter,
    );
    const code = await c.exited;
    if (code !== 0 && code !== 128)
      o.notes.push(`${label}: coordinator exited ${code}: ${c.stderr().trim().split('\n').slice(-2).join(' | ')}`);
  } finally {
    clearTimeout(timeout);
    clearInterval(rssTimer);
    c.kill('SIGKILL');
    for (const a of connected) a.terminate();
  }
  const totalMs = performance.now() - spawnedAt;
  const summary = JSON.parse(await fs.readFile(summaryFile, 'utf8').catch(() => 'null')) as RunSummary | null;
  const steadySeconds = (lastBatchAt - t0) / 1000;
  const dispatchPerSec = t0 > 0 && steadySeconds > 0 ? (batches - batchesAtT0) / steadySeconds : NaN;
  // Bytes on the sockets, both ways, over exactly the window's batches.
  const span = counted.span();
  const socketBytes = span ? span.end.toActors - span.start.toActors + span.end.fromActors - span.start.fromActors : NaN;
  const r: RunResult = {
    bytesPerImage: summary?.wire?.bytesPerImage ?? NaN,
    dispatchPerSec,
    mbPerSec: span ? socketBytes / span.seconds / MB : NaN,
    socketBytesPerBatch: span ? socketBytes / span.batches : NaN,
    toActorsShare: span ? (span.end.toActors - span.start.toActors) / socketBytes : NaN,
    p99DispatchMs: summary?.dispatch?.p99Ms ?? NaN,
    p99RoundTripMs: summary?.dispatch?.roundTripP99Ms ?? NaN,
    peakRssMB: peakRss,
    startupMs,
    totalMs,
    batches,
    summary,
  };
  o.log(
    `  ${label}: ${batches} batches, ${dispatchPerSec.toFixed(0)}/s steady, dispatch p99 ${r.p99DispatchMs.toFixed(3)} ` +
      `ms, round trip p99 ${r.p99RoundTripMs.toFixed(1)} ms, peak RSS ${peakRss.toFixed(0)} MB` +
      (span ? `, ${r.mbPerSec.toFixed(2)} MB/s on the sockets (${r.socketBytesPerBatch.toFixed(0)} B a batch)` : ''),
  );
  return r;
}

/** Every scenario, as `coordinator.*` keys. Quick mode aims at ~6 s of steady dispatch per throughput run. */
export async function benchCoordinator(o: BenchOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-'));
  const result: Record<string, number> = {};
  const manifests = new Map<number, string>();
  try {
    const written = await writeTestPngs(path.join(dir, 'png'), 4, 32, 32);
    const pngs = written.map((f) => path.relative(dir, f.path));
    const manifestOf = async (n: number): Promise<string> => {
      let file = manifests.get(n);
      if (!file) {
        file = path.join(dir, `manifest-${n}.jsonl`);
        await writeManifest(file, n, pngs);
        manifests.set(n, file);
      }
      return file;
    };
    const run = async (label: string, actors: number, items: number, batchSize: number, timeoutMs: number): Promise<RunResult | null> => {
      o.log(`${label}: ${actors} actor(s), ${items} inputs, batch size ${batchSize}`);
      try {
        return await runOnce(label, actors, await manifestOf(items), batchSize, timeoutMs, dir, o, { items });
      } catch (err) {
        o.notes.push(`${label}: failed: ${(err as Error).message.split('\n')[0]}`);
        return null;
      }
    };
    const steadyTarget = o.quick ? 6 : 20;
    const calibrate = await run('calibrate', 100, 5_000, 1, 60_000);
    const rate = calibrate && Number.isFinite(calibrate.dispatchPerSec) ? calibrate.dispatchPerSec : 5_000;
    const items = Math.round(Math.min(o.quick ? 150_000 : 1_000_000, Math.max(5_000, rate * steadyTarget)) / 1000) * 1000;
    const wire: string[] = [];
    for (const actors of [1, 100, 1000]) {
      const r = await run(`a${actors}`, actors, items, 1, o.quick ? 90_000 : 600_000);
      result[`coordinator.a${actors}.dispatchPerSec`] = r?.dispatchPerSec ?? NaN;
      result[`coordinator.a${actors}.mbPerSec`] = r?.mbPerSec ?? NaN;
      result[`coordinator.a${actors}.p99DispatchMs`] = r?.p99DispatchMs ?? NaN;
      result[`coordinator.a${actors}.p99RoundTripMs`] = r?.p99RoundTripMs ?? NaN;
      if (r)
        wire.push(
          `a${actors} ${r.mbPerSec.toFixed(2)} MB/s, ${r.socketBytesPerBatch.toFixed(0)} B a batch ` +
            `(${(r.toActorsShare * 100).toFixed(0)}% of it to the actors)`,
        );
    }
    result['coordinator.a100OverA1000'] = result['coordinator.a100.dispatchPerSec']! / result['coordinator.a1000.dispatchPerSec']!;
    o.notes.push(
      "coordinator.aN.mbPerSec: bytes on the simulated actors' TCP sockets, both ways (batch frames, results, WebSocket " +
        "headers; as Node's socket counters see them), over the batches from every actor ready to the 95th percent of the " +
        `job's batches, ÷ that window's time; 32×32 PNGs, batch size 1: ${wire.join('; ')}.`,
    );
    // URL inputs (as on a CDN or a bucket): instant actors do not fetch them, so this is the coordinator's own cost.
    const urls = path.join(dir, 'manifest-urls.jsonl');
    await writeManifest(
      urls,
      items,
      pngs,
      (i) => `https://images.example.com/dataset/shard-${String(i % 1000).padStart(4, '0')}/image-${String(i).padStart(8, '0')}.jpg`,
    );
    o.log(`u100: 100 actor(s), ${items} URL inputs, batch size 1`);
    const u = await runOnce('u100', 100, urls, 1, o.quick ? 90_000 : 600_000, dir, o, { items }).catch(
      (err: Error) => (o.notes.push(`u100: failed: ${err.message.split('\n')[0]}`), null),
    );
    result['coordinator.urlInputs.a100.dispatchPerSec'] = u?.dispatchPerSec ?? NaN;
    result['wire.urlInputs.bytesPerImage'] = u?.bytesPerImage ?? NaN;
    o.notes.push(
      'URL inputs: https URLs of ~80 characters in a .jsonl manifest; the coordinator sends each as its URL ' +
        'in the batch frame and never reads its bytes.',
    );
    // Memory: batches of 16 so the 1M-input run ends in time; the same for the 10k run, so they compare.
    const m10k = await run('m10k', 100, 10_000, 16, 120_000);
    const m1M = await run('m1M', 100, 1_000_000, 16, o.quick ? 240_000 : 900_000);
    if (m1M && m1M.batches * 16 < 1_000_000)
      o.notes.push(`m1M: ${m1M.batches * 16} of 1,000,000 inputs dispatched before the cut-off: its peak RSS is a lower bound`);
    const rss10k = m10k?.peakRssMB ?? NaN;
    const rss1M = m1M?.peakRssMB ?? NaN;
    result['coordinator.memory.rssMB.m10k'] = rss10k;
    result['coordinator.memory.rssMB.m1M'] = rss1M;
    result['coordinator.memory.rssRatio'] = rss1M / rss10k;
    // What each 100k inputs cost above the 10k run (which carries the runtime's own baseline).
    result['coordinator.memory.mbPer100kInputs'] = (rss1M - rss10k) / ((1_000_000 - 10_000) / 100_000);
    return result;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
