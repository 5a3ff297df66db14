/** The test build's actor worker: the shipped runtime plus hooks that break it on purpose. */
import * as Comlink from 'comlink';
import { createActorApi, currentDevice } from '../worker/actorRuntime.ts';

export interface ActorTestApi {
  loseDevice(): Promise<boolean>;
  crash(): Promise<void>;
  freeze(): Promise<void>;
}

const testApi: ActorTestApi = {
  async loseDevice() {
    const device = currentDevice();
    if (!device) return false;
    device.destroy();
    return true;
  },
  async crash() {
    setTimeout(() => {
      throw new Error('test hook: simulated worker crash');
    });
  },
  async freeze() {
    setTimeout(() => {
      for (;;) {
        // Never yields: the page sees a worker that no longer answers.
      }
    });
  },
};

Comlink.expose({ ...createActorApi(), ...testApi });
