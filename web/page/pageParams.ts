/** What the person opening the page put in its URL: the join token and declared resources. */
import { parseSize } from '../../shared/units.ts';
import type { DeclaredResources } from '../../shared/protocol.ts';

export interface PageParams {
  token: string;
  declared: DeclaredResources;
  /** `bench=raw`: measure session.run alone (batch size `benchBatch`, `benchSeconds`) before joining the job's work. */
  bench: { batchSize: number; seconds: number } | null;
  /** Problems with the URL, in words; shown on the page, and the bad value is ignored. */
  warnings: string[];
}

export function readPageParams(search: string): PageParams {
  const q = new URLSearchParams(search);
  const warnings: string[] = [];
  const declared: DeclaredResources = {};
  const num = (name: 'gpus' | 'cpus'): void => {
    const raw = q.get(name);
    if (raw === null) return;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v) || v < 0) warnings.push(`URL parameter ${name}=${raw} is not a non-negative number; ignored`);
    else declared[name] = v;
  };
  num('gpus');
  num('cpus');
  const mem = q.get('memory');
  if (mem !== null) {
    const v = parseSize(mem);
    if (v === null) warnings.push(`URL parameter memory=${mem} is not a size like 16GiB; ignored`);
    else declared.memoryBytes = v;
  }
  const bench = q.get('bench') === 'raw' ? { batchSize: Number(q.get('benchBatch') ?? 16) || 16, seconds: Number(q.get('benchSeconds') ?? 5) || 5 } : null;
  return { token: q.get('token') ?? '', declared, warnings, bench };
}
