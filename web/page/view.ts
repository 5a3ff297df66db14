/** The page as a person sees it: one panel of fields, rendered from the actor's state. */
import { formatError, type SerializedError } from '../../shared/errors.ts';

export interface ViewState {
  state: string;
  /** Where this tab runs the model, in words: the GPU (WebGPU) or the CPU (WebAssembly), once it knows. */
  runsOn: string;
  /** On a standing pool: the job this tab serves now (`name (id)`), or null (idle, or a job's own coordinator). */
  serving: string | null;
  /** Times the actor was started afresh (--recycle-after, --recycle-above). */
  recycled: number;
  actorId: string | null;
  hostId: string;
  adapter: string;
  ep: string;
  /** The wasm threads the actor runs, and whence: its host's share, or the job's --num-cpus. */
  threads: string;
  batches: number;
  images: number;
  imagesPerSecond: number | null;
  /** How the model is fed: preprocessing workers, and the share of time it sat waiting for input. */
  feed: string;
  /** `img` for image inputs, `item` for records: the page speaks of what the job reads. */
  unit: 'img' | 'item';
  model: string;
  reason: string | null;
  /** What a person should know about this browser whatever the state (no WebGPU and why, bad URL parameters). */
  notice: string | null;
  error: SerializedError | null;
}

function setField(name: string, text: string): HTMLElement | null {
  const el = document.querySelector<HTMLElement>(`[data-field="${name}"]`);
  if (el && el.textContent !== text) el.textContent = text;
  return el;
}

export function render(v: ViewState): void {
  setField('state', v.state);
  setField('runs-on', v.runsOn);
  setField('serving', v.serving ?? '–');
  setField('recycled', String(v.recycled));
  setField('actor', v.actorId ?? '–');
  setField('host', v.hostId);
  setField('adapter', v.adapter);
  setField('ep', v.ep);
  setField('threads', v.threads);
  setField('batches', String(v.batches));
  setField('images', String(v.images));
  setField('rate', v.imagesPerSecond === null ? '–' : `${v.imagesPerSecond.toFixed(2)} ${v.unit}/s`);
  setField('feed', v.feed);
  setField('model', v.model);
  const reason = setField('reason', v.reason ?? '');
  if (reason) reason.hidden = !v.reason;
  const notice = setField('notice', v.notice ?? '');
  if (notice) notice.hidden = !v.notice;
  const error = setField('error', v.error ? formatError(v.error) : '');
  if (error) error.hidden = !v.error;
  document.title = `tabpool actor · ${v.state}`;
}
