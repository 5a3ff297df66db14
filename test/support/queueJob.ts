/**
 * Helpers for the queue tests: `tabpool run --queue` and `tabpool gateway` as child processes
 * (always torn down), and bounded waits for states other processes reach.
 */
import fs from 'node:fs/promises';
import { startCoordinator, type RunningCoordinator } from './coordinatorProcess.ts';
import { gatewayArgv, jobArgv, type GatewayArgvFlags, type JobFlags } from './jobArgv.ts';

export class QueueProcesses {
  private readonly running = new Set<RunningCoordinator>();

  constructor(
    private readonly natsUrl: () => string,
    private readonly data: () => string,
  ) {}

  /** `tabpool run --queue` with no tabs of its own, 4-input batches, the tiny model; `flags` add to these or replace them. */
  async run(job: string, out: string, flags: JobFlags = {}): Promise<RunningCoordinator> {
    return this.track(
      await startCoordinator(
        jobArgv({
          queue: this.natsUrl(),
          job,
          model: 'resnet18-tiny',
          launch: 0,
          data: this.data(),
          out,
          batchSize: 4,
          verify: 0,
          ...flags,
        }),
      ),
    );
  }

  async gateway(job: string, flags: GatewayArgvFlags = {}): Promise<RunningCoordinator> {
    return this.track(await startCoordinator(gatewayArgv({ queue: this.natsUrl(), job, ...flags }), { command: 'gateway' }));
  }

  private track(c: RunningCoordinator): RunningCoordinator {
    this.running.add(c);
    void c.exited.then(() => this.running.delete(c));
    return c;
  }

  async killAll(): Promise<void> {
    for (const c of this.running) c.kill('SIGKILL');
    await Promise.all([...this.running].map((c) => c.exited));
  }
}

/** Polls until `check` holds (bounded): for states another process reaches, never a fixed sleep. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Complete lines in an output file so far. */
export async function rowsIn(out: string): Promise<number> {
  return (await fs.readFile(out, 'utf8').catch(() => '')).split('\n').length - 1;
}
