/**
 * The queue (issue 13): dispatches a second through NATS JetStream with 1 and 2 gateways
 * (`queue.gateways{1,2}.dispatchPerSec`: 100 instant actors speaking the real protocol, batch size
 * 1, a real nats-server), and the cost of the hop (`queue.hopOverheadMs`: one actor in series,
 * the time per batch with --queue minus the time without). Every process shares this machine's
 * cores, so the CPU each one spent per dispatch (`queue.cpuMsPerDispatch.*`, from /proc, over a
 * counted window of batches) is what projects to N machines: gateways scale out, `run` and the NATS
 * server are shared by all. `queue.gateway.a1000.*`: one gateway serving 1,000 instant actors.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunSummary } from '../coordinator/api/summary.ts';
import { startCoordinator, type RunningCoordinator } from '../test/support/coordinatorProcess.ts';
import { startNats } from '../test/support/natsServer.ts';
import type { SimulatedActor } from '../test/support/simulatedActor.ts';
import { writeTestPngs } from '../test/support/testImages.ts';
import { connectActors, runOnce, writeManifest, type BenchOptions } from './coordinatorCapacity.ts';
import { CountedWindow, cpuSecondsNow } from './window.ts';

interface QueueRun {
  dispatchPerSec: number;
  batches: number;
  /** CPU ms per dispatch over the counted window: run, the gateways together, the NATS server. */
  cpuMs: { run: number; gateways: number; nats: number };
  /** The counted window: batches in it and its seconds. */
  window: { batches: number; seconds: number } | null;
}

export async function queueRun(
  label: string,
  gateways: number,
  actors: number,
  manifest: string,
  items: number,
  dir: string,
  timeoutMs: number,
  o: BenchOptions,
): Promise<QueueRun> {
  // BENCH_COORDINATOR_NODE_OPTIONS="--import ./bench/cpuProfileHook.mjs" profiles the run and the gateways (SIGUSR2 at the end).
  const profile = process.env.BENCH_COORDINATOR_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_COORDINATOR_NODE_OPTIONS } : {};
  const nats = await startNats();
  const procs: RunningCoordinator[] = [];
  let connected: SimulatedActor[] = [];
  try {
    const out = path.join(dir, `out-${label}.jsonl`);
    const summary = path.join(dir, `summary-${label}.json`);
    const flood = ['--max-messages-per-second', '1000000'];
    const run = await startCoordinator(
      [
        '--queue',
        nats.url,
        '--job',
        label,
        '--model',
        'resnet18-tiny',
        '--data',
        manifest,
        '--out',
        out,
        '--batch-size',
        '1',
        '--pool',
        String(actors),
        '--launch',
        '0',
        '--quiet',
        '--join-timeout',
        '120s',
        '--verify',
        '0',
        '--summary-json',
        summary,
        ...flood,
      ],
      { env: profile },
    );
    procs.push(run);
    for (let g = 0; g < gateways; g++)
      procs.push(await startCoordinator(['--queue', nats.url, '--job', label, '--quiet', ...flood], { command: 'gateway', env: profile }));
    let ready = 0;
    let batches = 0;
    let atT0 = 0;
    let t0 = 0;
    let last = 0;
    const pids = [run.process.pid!, ...procs.slice(1).map((p) => p.process.pid!), nats.pid];
    // CPU read at once (from /proc) when every actor is ready and at the 95th percent of the job's batches (batch size 1),
    // so CPU per dispatch divides what was spent over exactly the batches counted.
    const counted = new CountedWindow(Math.floor(0.95 * items), () => pids.map(cpuSecondsNow));
    const timer = setTimeout(() => {
      o.notes.push(`${label}: cut off after ${(timeoutMs / 1000).toFixed(0)}s; its figures cover the part that ran`);
      run.kill('SIGKILL');
    }, timeoutMs);
    for (let g = 0; g < gateways; g++) {
      const share = Math.floor(actors / gateways) + (g < actors % gateways ? 1 : 0);
      const wave = await connectActors(
        procs[1 + g]!.workerUrl,
        share,
        () => {
          if (++ready === actors) {
            t0 = performance.now();
            atT0 = batches;
            counted.open(batches);
          }
        },
        () => {
          batches++;
          last = performance.now();
          counted.batch(batches);
        },
      );
      connected = connected.concat(wave);
    }
    const code = await run.exited;
    clearTimeout(timer);
    if (code !== 0 && code !== 128) o.notes.push(`${label}: run exited ${code}: ${run.stderr().trim().split('\n').slice(-2).join(' | ')}`);
    const s = JSON.parse(await fs.readFile(summary, 'utf8').catch(() => 'null')) as RunSummary | null;
    if (s && s.rows.written !== batches && code === 0) o.notes.push(`${label}: ${s.rows.written} rows for ${batches} batches handed out`);
    const seconds = (last - t0) / 1000;
    const dispatched = batches - atT0;
    const span = counted.span();
    if (!span) o.notes.push(`${label}: the CPU window (every actor ready → batch ${counted.endAt}) never closed`);
    const perDispatch = (i: number): number => (span ? ((span.end[i]! - span.start[i]!) * 1000) / span.batches : NaN);
    const gatewayMs = procs.slice(1).reduce((n, _p, g) => n + perDispatch(1 + g), 0);
    const r = {
      dispatchPerSec: t0 > 0 && seconds > 0 ? dispatched / seconds : NaN,
      batches,
      cpuMs: { run: perDispatch(0), gateways: gatewayMs, nats: perDispatch(pids.length - 1) },
      window: span ? { batches: span.batches, seconds: span.seconds } : null,
    };
    o.log(
      `  ${label}: ${batches} batches, ${r.dispatchPerSec.toFixed(0)}/s steady; CPU ms per dispatch: run ` +
        `${r.cpuMs.run.toFixed(3)}, gateway(s) ${r.cpuMs.gateways.toFixed(3)}, nats-server ${r.cpuMs.nats.toFixed(3)}`,
    );
    return r;
  } finally {
    for (const a of connected) a.terminate();
    if (profile.NODE_OPTIONS) for (const p of procs.slice(1)) p.kill('SIGUSR2');
    if (profile.NODE_OPTIONS) await new Promise((r) => setTimeout(r, 2000)); // the profiles written (bench-only, profiling runs)
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await nats.stop();
  }
}

export async function benchQueue(o: BenchOptions): Promise<Record<string, number>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-bench-queue-'));
  const result: Record<string, number> = {};
  try {
    const written = await writeTestPngs(path.join(dir, 'png'), 4, 32, 32);
    const pngs = written.map((f) => path.relative(dir, f.path));
    const manifest = async (n: number): Promise<string> => {
      const file = path.join(dir, `manifest-${n}.jsonl`);
      await writeManifest(file, n, pngs);
      return file;
    };
    const loadItems = o.quick ? 8_000 : 30_000;
    const load = await manifest(loadItems);
    const timeout = o.quick ? 120_000 : 400_000;
    o.log('queue: 1 gateway, 100 actors, batch size 1');
    const g1 = await queueRun('g1', 1, 100, load, loadItems, dir, timeout, o);
    o.log('queue: 2 gateways, 50 actors each, batch size 1');
    const g2 = await queueRun('g2', 2, 100, load, loadItems, dir, timeout, o);
    // One gateway with many actors: the gateway's own cost per dispatch at 1,000 sockets, not 50.
    const manyItems = o.quick ? 15_000 : 60_000;
    o.log('queue: 1 gateway, 1000 actors, batch size 1');
    const a1000 = await queueRun('g1-a1000', 1, 1000, await manifest(manyItems), manyItems, dir, timeout, o);
    result['queue.gateway.a1000.dispatchPerSec'] = a1000.dispatchPerSec;
    result['queue.gateway.a1000.cpuMsPerDispatch'] = a1000.cpuMs.gateways;
    result['queue.gateways1.dispatchPerSec'] = g1.dispatchPerSec;
    result['queue.gateways2.dispatchPerSec'] = g2.dispatchPerSec;
    result['queue.gateways1OverA1000'] = g1.dispatchPerSec / a1000.dispatchPerSec;
    result['queue.cpuMsPerDispatch.run'] = g2.cpuMs.run;
    result['queue.cpuMsPerDispatch.gateway'] = g2.cpuMs.gateways;
    result['queue.cpuMsPerDispatch.natsServer'] = g2.cpuMs.nats;

    // The hop: one actor in series, so each batch waits for the one before; the difference per batch is what the queue adds.
    const hopItems = o.quick ? 1_500 : 5_000;
    const hopManifest = await manifest(hopItems);
    o.log('queue hop: 1 actor, batch size 1, without and with --queue');
    const local = await runOnce('hop-local', 1, hopManifest, 1, timeout, dir, o);
    const queued = await queueRun('hop-queue', 1, 1, hopManifest, hopItems, dir, timeout, o);
    result['queue.hopOverheadMs'] = 1000 / queued.dispatchPerSec - 1000 / local.dispatchPerSec;
    result['queue.a1.dispatchPerSec'] = queued.dispatchPerSec;
    result['queue.local.a1.dispatchPerSec'] = local.dispatchPerSec;

    const perCoreGateway = 1000 / g2.cpuMs.gateways;
    const runCeiling = 1000 / g2.cpuMs.run;
    const natsCeiling = 1000 / g2.cpuMs.nats;
    const windowOf = (r: QueueRun): string =>
      r.window ? `${r.window.batches} batches over ${r.window.seconds.toFixed(1)} s` : 'no window (cut off)';
    o.notes.push(
      `queue: everything on this machine's ${os.cpus().length} cores (nats-server, run, the gateways and ` +
        `the simulated actors), so 2 gateways cannot scale here. Actor counts: queue.gateways1 100 actors on 1 gateway, ` +
        `queue.gateways2 and queue.cpuMsPerDispatch.* 100 actors as 50 on each of 2 gateways, queue.gateway.a1000.* ` +
        `1,000 actors on 1 gateway, all instant, batch size 1. CPU per dispatch (user + system from /proc, read when every ` +
        `actor is ready and at the 95th percent of the job's batches, ÷ the batches between: ${windowOf(g2)} for the ` +
        `2-gateway run, ${windowOf(a1000)} for 1,000 actors): run ${g2.cpuMs.run.toFixed(3)} ms, gateways ` +
        `${g2.cpuMs.gateways.toFixed(3)} ms, nats-server ${g2.cpuMs.nats.toFixed(3)} ms at 50 actors a gateway; the ` +
        `gateway ${a1000.cpuMs.gateways.toFixed(3)} ms at 1,000 (run ${a1000.cpuMs.run.toFixed(3)} ms, nats-server ` +
        `${a1000.cpuMs.nats.toFixed(3)} ms). A gateway on a core of its own would carry ~${perCoreGateway.toFixed(0)} ` +
        `dispatches/s at 50 actors, ~${(1000 / a1000.cpuMs.gateways).toFixed(0)}/s at 1,000; N gateway machines add that ` +
        `each until the shared parts saturate: run at ~${runCeiling.toFixed(0)}/s on one core, nats-server at ` +
        `~${natsCeiling.toFixed(0)}/s on one core (it uses more cores when it has them). At batch size 1; a batch of B ` +
        'inputs divides every per-dispatch cost by about B.',
    );
    o.notes.push(
      `queue.hopOverheadMs: one actor answering at once, batch size 1: ${(1000 / local.dispatchPerSec).toFixed(2)} ` +
        `ms per batch without --queue, ${(1000 / queued.dispatchPerSec).toFixed(2)} ms with (publish, fetch, ` +
        `result, collect, ack); a real batch takes 100s of ms on a tab, and gateways take the next unit while ` +
        `one computes (--max-tasks-in-flight).`,
    );
    return result;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
