/**
 * The preprocessing worker: decodes and preprocesses the next batch while the actor worker runs
 * the current one, so preprocessing never stalls inference.
 */
import * as Comlink from 'comlink';
import type { PrepareWorkerApi } from '../workerApi.ts';
import { prepareBatch } from './prepareBatch.ts';

const api: PrepareWorkerApi = {
  async prepare(frame, slices, ids, job) {
    const prepared = await prepareBatch(frame, slices, ids, job);
    return prepared.kind === 'image' ? Comlink.transfer(prepared, [prepared.input.buffer]) : prepared;
  },
};

Comlink.expose(api);
