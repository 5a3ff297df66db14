/**
 * Starting a tab's actor afresh, for a tab that serves for days: onnxruntime-web never gives wasm
 * memory back (microsoft/onnxruntime#21673) and WebGPU buffers can leak, so after `afterBatches`
 * batches, or once the page holds more than `aboveBytes` (measured with
 * performance.measureUserAgentSpecificMemory where the browser has it), a new worker loads the
 * actor (the model from cache) while the old one goes on; new batches go to the new one, and the
 * old worker ends once the batches it runs are answered. Nothing is lost or run twice: every
 * batch runs on exactly one worker, and the coordinator sees one actor throughout.
 */
import type { RecycleSpec } from '../../shared/protocol.ts';

const MEMORY_CHECK_MS = 30_000;

type MemoryMeasure = () => Promise<{ bytes: number }>;

export class Recycler {
  /** Times the actor was started afresh. */
  count = 0;
  private batches = 0;
  private overMemory = false;
  private busy = false;
  private renewAgain = false;
  private readonly running = new Map<object, number>();
  private readonly retired = new Map<object, Worker>();
  private readonly timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly spec: RecycleSpec,
    /** Starts the fresh actor and swaps it in; false when it could not (the old one goes on). */
    private readonly fresh: () => Promise<boolean>,
    private readonly changed: () => void,
  ) {
    const measure = (performance as { measureUserAgentSpecificMemory?: MemoryMeasure }).measureUserAgentSpecificMemory;
    if (spec.aboveBytes !== null && measure && globalThis.crossOriginIsolated) {
      const limit = spec.aboveBytes;
      this.timer = setInterval(() => {
        measure.call(performance).then(
          (m) => void (this.overMemory = m.bytes > limit),
          () => undefined,
        );
      }, MEMORY_CHECK_MS);
    }
  }

  /** `actor` starts a batch; call what it returns when the batch ends. */
  run(actor: object): () => void {
    this.running.set(actor, (this.running.get(actor) ?? 0) + 1);
    return () => {
      const n = (this.running.get(actor) ?? 1) - 1;
      if (n > 0) return void this.running.set(actor, n);
      this.running.delete(actor);
      const worker = this.retired.get(actor);
      if (worker) {
        this.retired.delete(actor);
        worker.terminate();
      }
    };
  }

  /** The old actor, swapped out: its worker ends once the batches it runs do. */
  retire(actor: object, worker: Worker): void {
    if ((this.running.get(actor) ?? 0) === 0) worker.terminate();
    else this.retired.set(actor, worker);
  }

  /** A batch was answered: starts the fresh actor when one is due (one at a time, in the background). */
  answered(): void {
    this.batches++;
    const due = (this.spec.afterBatches !== null && this.batches >= this.spec.afterBatches) || this.overMemory;
    if (due) this.start(true);
  }

  /**
   * A fresh actor now, whatever the schedule (its thread count was re-planned): loaded in the
   * background as a recycled one is. One already loading is followed by another, which reads the latest plan.
   */
  renew(): void {
    if (this.busy) this.renewAgain = true;
    else this.start(false);
  }

  private start(recycled: boolean): void {
    if (this.busy) return;
    this.busy = true;
    void this.fresh()
      .then((ok) => {
        if (!ok) return;
        this.batches = 0;
        this.overMemory = false;
        if (recycled) this.count++;
        this.changed();
      })
      .finally(() => {
        this.busy = false;
        if (this.renewAgain) {
          this.renewAgain = false;
          this.start(false);
        }
      });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const w of this.retired.values()) w.terminate();
    this.retired.clear();
  }
}
