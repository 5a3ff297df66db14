/**
 * The worker page's URL parameters: the join token, the resources the person opening the page
 * declares (`&gpus=1&cpus=16&memory=16GiB`), an EP pin (`&ep=webgpu` or `&ep=wasm`), and how many
 * preprocessing workers the tab runs (`&prepare=4`; default: its CPUs less one). The page reads
 * them; the CLI, the README and the tests write them.
 */
import type { DeclaredResources, ExecutionProvider } from './protocol.ts';
import { TOKEN_PARAM } from './routes.ts';
import { parseSize } from './units.ts';

export const PAGE_PARAMS = { token: TOKEN_PARAM, gpus: 'gpus', cpus: 'cpus', memory: 'memory', ep: 'ep', prepare: 'prepare' } as const;

export interface PageParams {
  token: string;
  declared: DeclaredResources;
  /** The EP this tab must run, or null to let the job (and, with --ep auto, a measurement) decide. */
  pinnedEp: ExecutionProvider | null;
  /** Preprocessing workers asked for in the URL, or null for the default (the host's CPUs less one). */
  prepareWorkers: number | null;
  /** Problems with the URL, in words; shown on the page, and the bad value is ignored. */
  warnings: string[];
}

/** Reads the parameters from `get` (URLSearchParams.get, or any lookup). */
export function readPageParams(get: (name: string) => string | null): PageParams {
  const warnings: string[] = [];
  const declared: DeclaredResources = {};
  for (const name of [PAGE_PARAMS.gpus, PAGE_PARAMS.cpus] as const) {
    const raw = get(name);
    if (raw === null) continue;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v) || v < 0)
      warnings.push(`URL parameter ${name}=${raw} is not a non-negative number; ignored`);
    else declared[name] = v;
  }
  const mem = get(PAGE_PARAMS.memory);
  if (mem !== null) {
    const v = parseSize(mem);
    if (v === null) warnings.push(`URL parameter ${PAGE_PARAMS.memory}=${mem} is not a size like 16GiB; ignored`);
    else declared.memoryBytes = v;
  }
  const ep = get(PAGE_PARAMS.ep);
  let pinnedEp: ExecutionProvider | null = null;
  if (ep === 'webgpu' || ep === 'wasm') pinnedEp = ep;
  else if (ep !== null) warnings.push(`URL parameter ${PAGE_PARAMS.ep}=${ep} is neither webgpu nor wasm; ignored`);
  const prep = get(PAGE_PARAMS.prepare);
  let prepareWorkers: number | null = null;
  if (prep !== null) {
    const v = Number(prep);
    if (Number.isInteger(v) && v >= 1 && v <= 32) prepareWorkers = v;
    else warnings.push(`URL parameter ${PAGE_PARAMS.prepare}=${prep} is not a whole number from 1 to 32; ignored`);
  }
  return { token: get(PAGE_PARAMS.token) ?? '', declared, pinnedEp, prepareWorkers, warnings };
}

/** Appends declared resources and an EP pin to a worker URL (`…/worker/?token=T`). */
export function workerUrlWith(
  workerUrl: string,
  extra: { gpus?: number; cpus?: number; memory?: string; ep?: ExecutionProvider; prepare?: number },
): string {
  let url = workerUrl;
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) url += `${url.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(String(value))}`;
  }
  return url;
}
