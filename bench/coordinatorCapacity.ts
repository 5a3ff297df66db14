/**
 * Coordinator capacity: how many batches a second one coordinator hands to 1, 100 and 1000
 * actors that answer at once (Node clients speaking the real protocol), a batch's p99 round trip
 * as the coordinator measures it, and whether its peak memory stays flat from a 10k- to a
 * 1M-input manifest. The actors cost nothing, so every number here is the coordinator's own ceiling.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { encodeBatchFrame } from '../shared/batchFrame.ts';
import { startCoordinator } from '../test/support/coordinatorProcess.ts';
import { SimulatedActor, type ReceivedBatch } from '../test/support/simulatedActor.ts';
import { writeTestPngs } from '../test/support/testImages.ts';

/** What happened that a reader of the numbers should know (fallbacks, batch sizes, failures). */
export const notes: string[] = [];

export interface BenchOptions {
  quick: boolean;
  log: (s: string) => void;
}

/** The part of `/api/status` this bench reads; `dispatch` and `wire` are absent on older coordinators. */
interface StatusSnapshot {
  progress: { total: number | null; done: number };
  dispatch?: { count: number; p50Ms: number | null; p99Ms: number | null };
  wire?: { batches?: number; bytesSent: number; itemBytes: number; images: number };
}

interface RunResult {
  dispatchPerSec: number;
  mbPerSec: number;
  p99DispatchMs: number;
  peakRssMB: number;
  /** Seconds from every actor ready to the last batch handed out. */
  steadySeconds: number;
  /** Batches the actors received in that time, and in the whole run. */
  steadyBatches: number;
  batches: number;
}

interface RunSpec {
  label: string;
  actors: number;
  items: number;
  batchSize: number;
  /** The whole run (coordinator start to exit) is cut off after this. */
  timeoutMs: number;
}

const PNG_COUNT = 4;
/** Connecting more at once overruns the listen backlog (511), and refused SYNs retry a second later. */
const CONNECT_WAVE = 100;
/** Only a fallback for the summary lines; each poll sorts the coordinator's latency reservoir. */
const STATUS_POLL_MS = 1000;
const RSS_POLL_MS = 200;
const MB = 1e6;

/** The CLI summary's lines; `round trip ` is optional so either wording of the line matches. */
const SUMMARY_DISPATCH = /dispatch: (\d+) batches, (?:round trip )?p50 ([\d.]+) ms, p99 ([\d.]+) ms/;
const SUMMARY_WIRE = /wire: ([\d.]+) bytes\/image sent/;
/** Once every actor is gone the coordinator waits --join-timeout for more; stop it sooner. */
const ORPHAN_GRACE_MS = 3000;

/** Writes a .jsonl manifest of `n` unique ids cycling over `pngs` (paths relative to the manifest). */
async function writeManifest(file: string, n: number, pngs: string[]): Promise<void> {
  const out = createWriteStream(file);
  const chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    chunk.push(`{"id":"i${String(i).padStart(7, '0')}","path":"${pngs[i % pngs.length]}"}\n`);
    if (chunk.length === 10_000 || i === n - 1) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk.length = 0;
    }
  }
  out.end();
  await once(out, 'finish');
}

/** VmRSS and VmHWM of a live process, in MB; null once it has exited. */
async function readRssMB(pid: number): Promise<number | null> {
  try {
    const text = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return (Math.max(kb('VmRSS'), kb('VmHWM')) * 1024) / MB;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a live process has used; null once it has exited. */
async function readCpuSeconds(pid: number): Promise<number | null> {
  try {
    const fields = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    // Fields 14 and 15 of stat (utime, stime), counted from after the command name; in clock ticks (100/s on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

async function fetchStatus(statusUrl: string): Promise<StatusSnapshot | null> {
  const url = new URL('/api/status', statusUrl);
  url.searchParams.set('token', new URL(statusUrl).searchParams.get('token') ?? '');
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as StatusSnapshot) : null;
  } catch {
    return null;
  }
}

/** Connects `count` instant actors in waves; `onBatch` sees every batch before it is answered. */
async function connectActors(workerUrl: string, count: number, onReady: () => void, onBatch: (b: ReceivedBatch) => void): Promise<SimulatedActor[]> {
  const actors: SimulatedActor[] = [];
  for (let start = 0; start < count; start += CONNECT_WAVE) {
    const wave = Array.from({ length: Math.min(CONNECT_WAVE, count - start) }, (_, i) => {
      return new SimulatedActor(workerUrl, {
        mode: 'instant',
        hostId: `bench-${process.pid}-${start + i}`,
        onReady,
        onBatch: async (batch, actor) => {
          onBatch(batch);
          actor.send(await actor.answer(batch));
          actor.answered++;
        },
      });
    });
    actors.push(...wave);
    await Promise.all(wave.map((a) => a.opened));
  }
  return actors;
}

/** One coordinator run: `actors` instant actors over a manifest of `items` inputs. */
async function runOnce(spec: RunSpec, manifest: string, dir: string, frameBytes: (batchSize: number) => number, log: (s: string) => void): Promise<RunResult> {
  const out = path.join(dir, `out-${spec.label}.jsonl`);
  await fs.rm(out, { force: true });
  const args = ['--model', 'resnet18-tiny', '--launch', '0', '--data', manifest, '--out', out, '--batch-size', String(spec.batchSize)];
  // Instant actors answer far faster than any model: lift the per-socket flood limit (default 2000/s) for them.
  args.push('--pool', String(spec.actors), '--max-tasks-in-flight', '2', '--quiet', '--join-timeout', '120s', '--max-messages-per-second', '1000000');
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: BENCH_COORDINATOR_NODE_OPTIONS="--import ./bench/cpuProfileHook.mjs" profiles the coordinator.
  const profile = process.env.BENCH_COORDINATOR_NODE_OPTIONS;
  const started = performance.now();
  const coordinator = await startCoordinator(args, { env: profile ? { NODE_OPTIONS: profile } : {} });
  const pid = coordinator.process.pid!;
  let exited = false;
  void coordinator.exited.then(() => (exited = true));
  let peakRss = 0;
  const rssTimer = setInterval(() => {
    void readRssMB(pid).then((mb) => {
      if (mb !== null) peakRss = Math.max(peakRss, mb);
    });
  }, RSS_POLL_MS);
  let lastStatus: StatusSnapshot | null = null;
  let lastCpu: { at: number; seconds: number } | null = null;
  const statusTimer = setInterval(() => {
    void fetchStatus(coordinator.statusUrl).then((s) => {
      if (s && !exited) lastStatus = s;
    });
    void readCpuSeconds(pid).then((seconds) => {
      if (seconds !== null) lastCpu = { at: performance.now(), seconds };
    });
  }, STATUS_POLL_MS);

  let ready = 0;
  let t0 = 0;
  let cpuAtT0: number | null = null;
  let benchCpuAtT0: NodeJS.CpuUsage | null = null;
  let benchCpu: { at: number; usage: NodeJS.CpuUsage } | null = null;
  let lastBatchAt = 0;
  let batches = 0;
  let batchesAtT0 = 0;
  let actors: SimulatedActor[] = [];
  /** Close codes of actors the coordinator dropped before the job ended (4000 is "job done"). */
  const cutOff: number[] = [];
  /** Why this bench stopped the coordinator, when it did. */
  let stoppedBecause: string | null = null;
  const stop = (why: string): void => {
    stoppedBecause ??= why;
    coordinator.kill('SIGKILL');
  };
  const timeout = setTimeout(() => stop(`cut off after ${(spec.timeoutMs / 1000).toFixed(0)}s; its numbers cover the part that ran`), spec.timeoutMs);
  let orphanTimer: NodeJS.Timeout | undefined;
  try {
    actors = await connectActors(
      coordinator.workerUrl,
      spec.actors,
      () => {
        if (++ready === spec.actors) {
          t0 = performance.now();
          batchesAtT0 = batches;
          benchCpuAtT0 = process.cpuUsage();
          void readCpuSeconds(pid).then((c) => (cpuAtT0 = c));
          log(`  ${spec.label}: ${spec.actors} actor(s) ready after ${((t0 - started) / 1000).toFixed(1)}s`);
        }
      },
      () => {
        batches++;
        lastBatchAt = performance.now();
        // Sampled, not read per batch: the actors' own cost is what this measures against.
        if (benchCpuAtT0 && (batches & 63) === 0) benchCpu = { at: lastBatchAt, usage: process.cpuUsage(benchCpuAtT0) };
      },
    );
    for (const a of actors) void a.closed.then((c) => !exited && !stoppedBecause && c.code !== 4000 && cutOff.push(c.code));
    void Promise.all(actors.map((a) => a.closed)).then(() => {
      orphanTimer = setTimeout(() => {
        if (!exited) stop('every actor was gone and the coordinator still waited for more; stopped it');
      }, ORPHAN_GRACE_MS).unref();
    });
    const code = await coordinator.exited;
    if (stoppedBecause) notes.push(`${spec.label}: ${stoppedBecause}`);
    else if (code !== 0) notes.push(`${spec.label}: coordinator exited ${code}${coordinator.stderr().trim() ? `: ${coordinator.stderr().trim().split('\n').slice(-2).join(' | ')}` : ''}`);
  } finally {
    clearTimeout(timeout);
    clearTimeout(orphanTimer);
    clearInterval(rssTimer);
    clearInterval(statusTimer);
    coordinator.kill('SIGKILL');
    for (const a of actors) a.terminate();
  }

  const problems = actors.flatMap((a) => a.problems);
  if (problems.length > 0) notes.push(`${spec.label}: actors reported ${problems.length} problem(s), e.g. ${problems[0]}`);
  if (cutOff.length > 0) {
    const why = cutOff.includes(1008) ? ' (1008 = policy violation: the per-socket limit of messages per second takes a fast actor for a flood)' : '';
    notes.push(`${spec.label}: the coordinator closed ${cutOff.length} actor(s) mid-job, codes ${[...new Set(cutOff)].join(', ')}${why}`);
  }

  // With every actor dropped mid-job (the flood limit) the few batches before it say nothing.
  const noneLasted = cutOff.length >= spec.actors;
  const steady = batches - batchesAtT0;
  const steadySeconds = t0 > 0 && lastBatchAt > t0 ? (lastBatchAt - t0) / 1000 : NaN;
  const dispatchPerSec = steady / steadySeconds;
  const stdout = coordinator.stdout();
  const summary = SUMMARY_DISPATCH.exec(stdout);
  const wireLine = SUMMARY_WIRE.exec(stdout);
  const status = lastStatus as StatusSnapshot | null;
  let bytesPerBatch = frameBytes(spec.batchSize);
  if (wireLine) bytesPerBatch = Number(wireLine[1]) * spec.batchSize;
  else if (status?.wire && status.wire.images > 0) bytesPerBatch = (status.wire.bytesSent / status.wire.images) * spec.batchSize;
  else notes.push(`${spec.label}: no wire stats from the coordinator; MB/s counts ${bytesPerBatch.toFixed(0)} bytes per batch frame`);
  // The summary covers the whole run; the last status poll misses its end.
  const p99 = summary ? Number(summary[3]) : (status?.dispatch?.p99Ms ?? NaN);
  if (Number.isNaN(p99) && !noneLasted) notes.push(`${spec.label}: p99 is NaN: the coordinator reported no round trips (no \`dispatch:\` summary line, no /api/status \`dispatch\`)`);
  if (summary && Number(summary[1]) !== batches) notes.push(`${spec.label}: the coordinator counted ${summary[1]} dispatches, the actors ${batches}`);
  const cpu = lastCpu as { at: number; seconds: number } | null;
  const cpuShare = cpu && cpuAtT0 !== null && cpu.at > t0 ? (cpu.seconds - cpuAtT0) / ((cpu.at - t0) / 1000) : NaN;
  const own = benchCpu as { at: number; usage: NodeJS.CpuUsage } | null;
  const benchShare = own ? (own.usage.user + own.usage.system) / 1000 / (own.at - t0) : NaN;
  log(`  ${spec.label}: ${steady} batches in ${steadySeconds.toFixed(2)}s steady → ${dispatchPerSec.toFixed(0)}/s, p99 ${p99.toFixed(2)} ms, CPU: coordinator ${(cpuShare * 100).toFixed(0)}%, actors ${(benchShare * 100).toFixed(0)}%, peak RSS ${peakRss.toFixed(0)} MB, run ${((performance.now() - started) / 1000).toFixed(1)}s`);
  if (noneLasted) {
    notes.push(`${spec.label}: no actor lasted the job, so its throughput and p99 are NaN`);
    return { dispatchPerSec: NaN, mbPerSec: NaN, p99DispatchMs: NaN, peakRssMB: peakRss, steadySeconds, steadyBatches: steady, batches };
  }
  return { dispatchPerSec, mbPerSec: (dispatchPerSec * bytesPerBatch) / MB, p99DispatchMs: p99, peakRssMB: peakRss, steadySeconds, steadyBatches: steady, batches };
}

/**
 * Runs every scenario and returns the numbers under `coordinator.*` keys; `notes` explains any
 * fallback. Quick mode aims at ~6 s of steady dispatch per throughput run.
 */
export async function benchCoordinator(opts: BenchOptions): Promise<Record<string, number>> {
  const { log } = opts;
  notes.length = 0;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-'));
  const benchStarted = performance.now();
  const steadyTarget = opts.quick ? 6 : 20;
  /** Quick mode's whole budget: the 1M-input run gets what the others leave of it. */
  const quickBudgetMs = 170_000;
  const manifests = new Map<number, string>();
  const result: Record<string, number> = {};
  try {
    const written = await writeTestPngs(path.join(dir, 'png'), PNG_COUNT, 32, 32);
    const pngs = written.map((f) => path.relative(dir, f.path));
    const sizes = await Promise.all(written.map(async (f) => (await fs.stat(f.path)).size));
    const pngBytes = await Promise.all(written.map((f) => fs.readFile(f.path)));
    const meanItem = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    log(`images: ${PNG_COUNT} PNGs of 32×32, ${sizes.join(', ')} bytes`);
    const frameBytes = (batchSize: number): number => {
      const items = Array.from({ length: batchSize }, (_, i) => pngBytes[i % pngBytes.length]!);
      return encodeBatchFrame(123_456, items).byteLength - items.reduce((a, b) => a + b.byteLength, 0) + meanItem * batchSize;
    };
    const manifestOf = async (n: number): Promise<string> => {
      let file = manifests.get(n);
      if (!file) {
        file = path.join(dir, `manifest-${n}.jsonl`);
        await writeManifest(file, n, pngs);
        manifests.set(n, file);
      }
      return file;
    };
    const run = async (label: string, actors: number, items: number, batchSize = 1, timeoutMs = opts.quick ? 60_000 : 600_000): Promise<RunResult | null> => {
      log(`${label}: ${actors} actor(s), ${items} inputs, batch size ${batchSize}`);
      try {
        return await runOnce({ label, actors, items, batchSize, timeoutMs }, await manifestOf(items), dir, frameBytes, log);
      } catch (err) {
        notes.push(`${label}: failed: ${(err as Error).message.split('\n')[0]}`);
        return null;
      }
    };
    const sized = (rate: number): number => Math.round(Math.min(opts.quick ? 150_000 : 1_000_000, Math.max(5_000, rate * steadyTarget)) / 1000) * 1000;

    const probe = await run('calibrate', 100, 5_000);
    let rate = probe && Number.isFinite(probe.dispatchPerSec) ? probe.dispatchPerSec : 5_000;

    for (const actors of [100, 1, 1000]) {
      const r = await run(`a${actors}`, actors, sized(rate));
      if (actors === 100 && r && Number.isFinite(r.dispatchPerSec)) rate = r.dispatchPerSec;
      result[`coordinator.a${actors}.dispatchPerSec`] = r?.dispatchPerSec ?? NaN;
      result[`coordinator.a${actors}.mbPerSec`] = r?.mbPerSec ?? NaN;
      result[`coordinator.a${actors}.p99DispatchMs`] = r?.p99DispatchMs ?? NaN;
    }
    result['coordinator.dispatchPerSec'] = result['coordinator.a100.dispatchPerSec']!;
    result['coordinator.mbPerSec'] = result['coordinator.a100.mbPerSec']!;
    result['coordinator.p99DispatchMs'] = result['coordinator.a100.p99DispatchMs']!;

    // A million single-image batches at the rate seen would outlast quick mode: batch 16 for both RSS runs, so they compare.
    const secondsAt1 = 1_000_000 / rate;
    const rssBatch = secondsAt1 > (opts.quick ? 60 : 400) ? 16 : 1;
    if (rssBatch !== 1) notes.push(`RSS runs use --batch-size ${rssBatch}: 1M single-image batches at ${rate.toFixed(0)}/s would take ${secondsAt1.toFixed(0)}s`);
    const m10k = await run('m10k', 100, 10_000, rssBatch);
    await fs.rm(path.join(dir, 'out-m10k.jsonl'), { force: true });
    const m1MItems = 1_000_000;
    const manifest1M = await manifestOf(m1MItems);
    log(`wrote a ${m1MItems}-line manifest (${((await fs.stat(manifest1M)).size / MB).toFixed(0)} MB)`);
    const m1MTimeout = opts.quick ? Math.max(45_000, quickBudgetMs - (performance.now() - benchStarted)) : 900_000;
    const m1M = await run('m1M', 100, m1MItems, rssBatch, m1MTimeout);
    if (m1M && m1M.batches * rssBatch < m1MItems) {
      notes.push(`m1M: ${m1M.batches * rssBatch} of ${m1MItems} inputs dispatched before the cut-off (${((m1M.batches * rssBatch * 100) / m1MItems).toFixed(0)}%), so its peak RSS and rssRatio are lower bounds`);
    }
    result['coordinator.rssMB.m10k'] = m10k?.peakRssMB ?? NaN;
    result['coordinator.rssMB.m1M'] = m1M?.peakRssMB ?? NaN;
    result['coordinator.rssRatio'] = (m1M?.peakRssMB ?? NaN) / (m10k?.peakRssMB ?? NaN);
    return result;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
