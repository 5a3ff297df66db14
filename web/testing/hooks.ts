/**
 * The test build's hooks (never in the shipped page): end-to-end tests and the benchmark reach a
 * tab through `window.__tabpool`, typed here, so tests call them without casts.
 */
import type { RawSpeed } from '../workerApi.ts';
import type { ViewState } from '../page/view.ts';

export interface TabpoolTestHooks {
  /** The page's view state, as rendered. */
  view: ViewState;
  /** Destroys the WebGPU device, as a lost GPU would; false on wasm. */
  loseDevice(): Promise<boolean>;
  /** An uncaught error in the actor worker, as a crash would raise. */
  crashWorker(): Promise<void>;
  /** The actor worker stops answering (a busy loop), as a hung GPU driver would. */
  freezeWorker(): Promise<void>;
  /**
   * Benchmark: with `&holdReady=1` in the URL the tab loads the model and waits here before it
   * says ready. `measureRaw` times the actor's `call` alone meanwhile; `release` lets it join the work.
   */
  held(): boolean;
  measureRaw(batchSize: number, seconds: number): Promise<RawSpeed | null>;
  release(): void;
}

declare global {
  interface Window {
    __tabpool?: TabpoolTestHooks;
  }
}
