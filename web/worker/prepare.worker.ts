/**
 * The preprocessing worker: decodes and preprocesses the next batch while the actor worker runs
 * the current one, so preprocessing never stalls inference.
 */
import * as Comlink from 'comlink';
import { transferList, type PrepareWorkerApi } from '../workerApi.ts';
import { prepareBatch } from './prepareBatch.ts';

const api: PrepareWorkerApi = {
  async prepare(frame, slices, ids, job) {
    const prepared = await prepareBatch(frame, slices, ids, job);
    return Comlink.transfer(prepared, transferList(prepared));
  },
};

Comlink.expose(api);
