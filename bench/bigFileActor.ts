/**
 * The bench's actor for a large named file (`--model weights=…`): each tab reads the whole file
 * (`ctx.models.weights`, fetched and checked by sha256) and reports its size in every row; the
 * coordinator's own copy never touches it, so what the coordinator's memory does is the serving alone.
 */
import type { ActorContext, ActorRow, RecordBatch } from '../shared/actorApi.ts';

export default class BigFile {
  static inputs = 'record' as const;
  static outputs = { bytes: 'int64' } as const;

  private bytes = -1;

  init(ctx: ActorContext): void {
    if (ctx.role === 'tab') this.bytes = ctx.models.weights?.byteLength ?? -1;
  }

  call(batch: RecordBatch): ActorRow[] {
    return batch.ids.map(() => ({ bytes: this.bytes }));
  }
}
