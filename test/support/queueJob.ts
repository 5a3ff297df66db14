/**
 * Helpers for the queue tests: `tabpool run --queue` and `tabpool gateway` as child processes
 * (always torn down), actors that stop answering at a known point, and bounded waits for states
 * other processes reach.
 */
import fs from 'node:fs/promises';
import { startCoordinator, type RunningCoordinator } from './coordinatorProcess.ts';
import type { SimulatedActorOptions } from './simulatedActor.ts';

export class QueueProcesses {
  private readonly running = new Set<RunningCoordinator>();

  constructor(
    private readonly natsUrl: () => string,
    private readonly data: () => string,
  ) {}

  /** `tabpool run --queue` with no tabs of its own, 4-input batches, the tiny model. */
  async run(job: string, out: string, ...extra: string[]): Promise<RunningCoordinator> {
    return this.track(await startCoordinator(['--queue', this.natsUrl(), '--job', job, '--model', 'resnet18-tiny', '--launch', '0', '--data', this.data(), '--out', out, '--batch-size', '4', '--verify', '0', ...extra]));
  }

  async gateway(job: string, ...extra: string[]): Promise<RunningCoordinator> {
    return this.track(await startCoordinator(['--queue', this.natsUrl(), '--job', job, ...extra], { command: 'gateway' }));
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

/** Actors that answer `limit` batches between them, then hold every further one until `release()` or their socket closes. */
export function answeringOnly(limit: number): { options: SimulatedActorOptions; release(): void } {
  let answered = 0;
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    release,
    options: {
      mode: 'real',
      onBatch: async (batch, actor) => {
        if (answered >= limit) await Promise.race([released, actor.closed]);
        if (!actor.isOpen) return;
        answered++;
        actor.send(await actor.answer(batch));
      },
    },
  };
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
