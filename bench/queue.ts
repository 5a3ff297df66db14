/**
 * The queue (issue 13): dispatches a second through NATS JetStream with 1 and 2 gateways
 * (`queue.gateways{1,2}.dispatchPerSec`: 100 instant actors speaking the real protocol, batch size
 * 1, a real nats-server), and the cost of the hop (`queue.hopOverheadMs`: one actor in series,
 * the time per batch with --queue minus the time without). Every process shares this machine's
 * cores, so the CPU each one spent per dispatch (`queue.cpuMsPerDispatch.*`, from /proc) is what
 * projects to N machines: gateways scale out, `run` and the NATS server are shared by all.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunSummary } from '../coordinator/cli/summary.ts';
import { startCoordinator, type RunningCoordinator } from '../test/support/coordinatorProcess.ts';
import { startNats } from '../test/support/natsServer.ts';
import type { SimulatedActor } from '../test/support/simulatedActor.ts';
import { writeTestPngs } from '../test/support/testImages.ts';
import { connectActors, runOnce, writeManifest, type BenchOptions } from './coordinatorCapacity.ts';

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const fields = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
    // After the command: field 3 is state, so utime and stime (fields 14 and 15) are at 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

interface QueueRun {
  dispatchPerSec: number;
  batches: number;
  /** CPU ms per dispatch over the steady window: run, each gateway together, the NATS server. */
  cpuMs: { run: number; gateways: number; nats: number };
}

async function queueRun(
  label: string,
  gateways: number,
  actors: number,
  manifest: string,
  dir: string,
  timeoutMs: number,
  o: BenchOptions,
): Promise<QueueRun> {
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
      { env: process.env.BENCH_COORDINATOR_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_COORDINATOR_NODE_OPTIONS } : {} },
    );
    procs.push(run);
    for (let g = 0; g < gateways; g++)
      procs.push(await startCoordinator(['--queue', nats.url, '--job', label, '--quiet', ...flood], { command: 'gateway' }));
    let ready = 0;
    let batches = 0;
    let atT0 = 0;
    let t0 = 0;
    let last = 0;
    let cpu0: number[] = [];
    const pids = [run.process.pid!, ...procs.slice(1).map((p) => p.process.pid!), nats.pid];
    const timer = setTimeout(() => {
      o.notes.push(`${label}: cut off after ${(timeoutMs / 1000).toFixed(0)}s; its figures cover the part that ran`);
      run.kill('SIGKILL');
    }, timeoutMs);
    // The run's last CPU reading is taken as the last batch is handed out, before the process ends.
    let cpu1: number[] = [];
    for (let g = 0; g < gateways; g++) {
      const share = Math.floor(actors / gateways) + (g < actors % gateways ? 1 : 0);
      const wave = await connectActors(
        procs[1 + g]!.workerUrl,
        share,
        () => {
          if (++ready === actors) {
            t0 = performance.now();
            atT0 = batches;
            void Promise.all(pids.map(cpuSeconds)).then((c) => (cpu0 = c));
          }
        },
        () => {
          batches++;
          last = performance.now();
          if (batches % 500 === 0) void Promise.all(pids.map(cpuSeconds)).then((c) => (cpu1 = c));
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
    const perDispatch = (i: number): number => (cpu1.length && cpu0.length ? ((cpu1[i]! - cpu0[i]!) * 1000) / dispatched : NaN);
    const gatewayMs = procs.slice(1).reduce((n, _p, g) => n + perDispatch(1 + g), 0);
    const r = {
      dispatchPerSec: t0 > 0 && seconds > 0 ? dispatched / seconds : NaN,
      batches,
      cpuMs: { run: perDispatch(0), gateways: gatewayMs, nats: perDispatch(pids.length - 1) },
    };
    o.log(
      `  ${label}: ${batches} batches, ${r.dispatchPerSec.toFixed(0)}/s steady; CPU ms per dispatch: run ` +
        `${r.cpuMs.run.toFixed(3)}, gateway(s) ${r.cpuMs.gateways.toFixed(3)}, nats-server ${r.cpuMs.nats.toFixed(3)}`,
    );
    return r;
  } finally {
    for (const a of connected) a.terminate();
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
    const load = await manifest(o.quick ? 8_000 : 30_000);
    const timeout = o.quick ? 120_000 : 400_000;
    o.log('queue: 1 gateway, 100 actors, batch size 1');
    const g1 = await queueRun('g1', 1, 100, load, dir, timeout, o);
    o.log('queue: 2 gateways, 50 actors each, batch size 1');
    const g2 = await queueRun('g2', 2, 100, load, dir, timeout, o);
    result['queue.gateways1.dispatchPerSec'] = g1.dispatchPerSec;
    result['queue.gateways2.dispatchPerSec'] = g2.dispatchPerSec;
    result['queue.cpuMsPerDispatch.run'] = g2.cpuMs.run;
    result['queue.cpuMsPerDispatch.gateway'] = g2.cpuMs.gateways;
    result['queue.cpuMsPerDispatch.natsServer'] = g2.cpuMs.nats;

    // The hop: one actor in series, so each batch waits for the one before; the difference per batch is what the queue adds.
    const hopItems = o.quick ? 1_500 : 5_000;
    const hopManifest = await manifest(hopItems);
    o.log('queue hop: 1 actor, batch size 1, without and with --queue');
    const local = await runOnce('hop-local', 1, hopManifest, 1, timeout, dir, o);
    const queued = await queueRun('hop-queue', 1, 1, hopManifest, dir, timeout, o);
    result['queue.hopOverheadMs'] = 1000 / queued.dispatchPerSec - 1000 / local.dispatchPerSec;
    result['queue.a1.dispatchPerSec'] = queued.dispatchPerSec;
    result['queue.local.a1.dispatchPerSec'] = local.dispatchPerSec;

    const perCoreGateway = 1000 / g2.cpuMs.gateways;
    const runCeiling = 1000 / g2.cpuMs.run;
    const natsCeiling = 1000 / g2.cpuMs.nats;
    o.notes.push(
      `queue: everything on this machine's ${os.cpus().length} cores (nats-server, run, the gateways and ` +
        `the 100 simulated actors), so 2 gateways cannot scale here. ` +
        `CPU per dispatch over the 2-gateway run: run ${g2.cpuMs.run.toFixed(3)} ms, gateways ` +
        `${g2.cpuMs.gateways.toFixed(3)} ms, nats-server ${g2.cpuMs.nats.toFixed(3)} ms. ` +
        `A gateway on a core of its own would carry ~${perCoreGateway.toFixed(0)} dispatches/s; N gateway ` +
        `machines add that each until the shared parts saturate: run at ~${runCeiling.toFixed(0)}/s on one ` +
        `core, nats-server at ~${natsCeiling.toFixed(0)}/s on one core (it uses more cores when it has them). ` +
        'At batch size 1; a batch of B inputs divides every per-dispatch cost by about B.',
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
