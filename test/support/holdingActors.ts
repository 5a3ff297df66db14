/** Simulated actors that stop answering on cue: a job held mid-way (resume and drain tests). */
import { freshHostId, type SimulatedActorOptions } from './simulatedActor.ts';

/**
 * Actors that answer `limit` batches between them, then hold every further one until `release()` or their socket closes. One host:
 * only the reference checks a one-host pool, so no peer check (an ordinary batch) uses up the limit; `limit` batches are rows.
 */
export function actorsHoldingAfter(limit: number): { options: SimulatedActorOptions; release(): void } {
  let answered = 0;
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    release,
    options: {
      mode: 'real',
      hostId: freshHostId('holding'),
      declared: { cpus: 8, gpus: 2, memoryBytes: 16 * 2 ** 30 },
      onBatch: async (batch, actor) => {
        if (answered >= limit) await Promise.race([released, actor.closed]);
        if (!actor.isOpen) return;
        answered++;
        actor.send(await actor.answer(batch));
      },
    },
  };
}
