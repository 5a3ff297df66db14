/**
 * The wasm threads a tab's actor runs. The coordinator plans them (its share of its host's cores,
 * or the job's --num-cpus) and re-plans them when another actor joins or leaves the host.
 * onnxruntime-web sizes its thread pool once, when its wasm starts, so a new count means a fresh
 * actor: loaded in the background (the model from cache) and swapped in between batches, as a
 * recycled one is.
 */
import type { ExecutionProvider } from '../../shared/protocol.ts';

export class ThreadShare {
  private ep: ExecutionProvider | null = null;
  private running: number | null = null;
  /** The latest plan while it differs from what runs. */
  private planned: number | null = null;

  constructor(
    /** Whether the page is cross-origin isolated: without it a page runs one thread whatever it is told. */
    private readonly isolated: boolean,
    private readonly show: (text: string) => void,
  ) {}

  /** Threads the running actor has, once loaded. */
  get threads(): number | null {
    return this.running;
  }

  /** The count a fresh actor loads with: the latest plan, else what runs now. */
  wanted(fallback: number): number {
    return this.planned ?? this.running ?? fallback;
  }

  /** The actor loaded: what it runs. Returns true when a plan that came meanwhile asks for a fresh one. */
  loaded(ep: ExecutionProvider, threads: number): boolean {
    this.ep = ep;
    this.running = threads;
    return this.plan(this.planned ?? threads);
  }

  /** A plan from the coordinator. Returns true when the actor must start afresh to follow it. */
  plan(n: number): boolean {
    this.planned = n;
    if (this.running === null) return false;
    // A GPU actor's wasm threads run only what WebGPU leaves to the CPU: not worth a reload.
    if (this.ep !== 'wasm' || !this.isolated || n === this.running) {
      this.planned = null;
      this.display();
      return false;
    }
    this.show(`${this.running} → ${n} (loading the actor afresh with ${n})`);
    return true;
  }

  /** A fresh actor was swapped in, running `threads`. Returns true when that differs from before (the coordinator hears it). */
  swapped(threads: number): boolean {
    const changed = threads !== this.running;
    this.running = threads;
    if (this.planned === threads) this.planned = null;
    this.display();
    return changed;
  }

  reset(): void {
    this.ep = null;
    this.running = null;
    this.planned = null;
    this.show('–');
  }

  private display(): void {
    if (this.running === null) return this.show('–');
    const note =
      this.ep === 'webgpu' ? ' (the CPU side of a WebGPU actor)' : this.isolated ? '' : ' (the page is not cross-origin isolated)';
    this.show(`${this.running}${note}`);
  }
}
