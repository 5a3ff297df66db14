/**
 * The built-in records sample (`--data` for a records actor when none is given): 512 JSON Lines
 * records `{ "id": "rec-0000", "features": [8 numbers], "group": "a" }`, seeded, written once to
 * `<cacheDir>/sample-records.jsonl`, the same bytes on every machine.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Prng } from './prng.ts';
import { SCORER_FEATURES } from './scorerBuilder.ts';

export const SAMPLE_RECORDS = 512;

export function sampleRecordsText(): string {
  const r = new Prng(0x2ec0, 7);
  const lines: string[] = [];
  for (let i = 0; i < SAMPLE_RECORDS; i++) {
    const features = Array.from({ length: SCORER_FEATURES }, () => Math.round((r.uniform() * 4 - 2) * 1000) / 1000);
    lines.push(JSON.stringify({ id: `rec-${String(i).padStart(4, '0')}`, features, group: 'abcd'[i % 4] }));
  }
  return `${lines.join('\n')}\n`;
}

export async function ensureSampleRecords(cacheDir: string): Promise<string> {
  const file = join(cacheDir, 'sample-records.jsonl');
  const text = sampleRecordsText();
  if ((await readFile(file, 'utf8').catch(() => null)) === text) return file;
  await mkdir(cacheDir, { recursive: true });
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
  return file;
}
