/**
 * The Parquet output survives a SIGKILL: a child process commits some rows, holds more in a part
 * not yet written, and is killed; resume then counts only the committed rows. A process test, so
 * it lives here and not in test/unit/io/parquetSink.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { OutputRow } from '../../../coordinator/io/outputRow.ts';
import { classifierColumns, predictionRow } from '../../support/classifierRows.ts';
import { ParquetSink, type ParquetSinkOptions, type ParquetSinkTuning } from '../../../coordinator/io/parquetSink.ts';
import { IMAGENET_LABELS } from '../../../shared/imagenetLabels.ts';
import { readDataset } from '../../support/parquetReader.ts';

const FRESH: ParquetSinkOptions = { resume: false, overwrite: false, columns: classifierColumns() };
const RESUME: ParquetSinkOptions = { ...FRESH, resume: true };
const NO_TIMER = { maxDelayMs: 600_000 };
const LIMIT = { timeout: 20_000 };

const pred = (id: string) => predictionRow(id, [{ class: 207, score: 0.5 }], IMAGENET_LABELS);

async function openSink(t: TestContext, dir: string, opts: ParquetSinkOptions, tuning: ParquetSinkTuning): Promise<ParquetSink> {
  const sink = await ParquetSink.open(dir, opts, tuning);
  t.after(() => sink.close().catch(() => undefined));
  return sink;
}

async function tmpdir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'tabpool-parquet-'));
}

async function writeRest(sink: ParquetSink, rows: OutputRow[]): Promise<void> {
  const written = sink.write(rows);
  await sink.close();
  await written;
}

/** Runs a sink in a child process that commits `committed` rows, buffers `buffered` more, and is then SIGKILLed. */
/** Runs a sink in a child process that commits `committed` rows, buffers `buffered` more, and is then SIGKILLed. */
async function crashMidJob(t: TestContext, dir: string, committed: string[], buffered: string[]): Promise<void> {
  const sinkModule = fileURLToPath(new URL('../../../coordinator/io/parquetSink.ts', import.meta.url));
  const rowsModule = fileURLToPath(new URL('../../support/classifierRows.ts', import.meta.url));
  const script = `
    import { ParquetSink } from ${JSON.stringify(sinkModule)};
    import { classifierColumns } from ${JSON.stringify(rowsModule)};
    const [dir, committed, buffered] = JSON.parse(process.argv[1]);
    const row = (id) => ({ id, class: 1, label: 'goldfish', score: 0.5, topk: [{ class: 1, label: 'goldfish', score: 0.5 }], error: null });
    const fresh = { resume: false, overwrite: false, columns: classifierColumns() };
    const sink = await ParquetSink.open(dir, fresh, { rowsPerPart: 3, maxDelayMs: 600000 });
    await sink.write(committed.map(row));
    void sink.write(buffered.map(row));
    process.stdout.write('committed\\n');`;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify([dir, committed, buffered])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let said = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('committed\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the writer exited (${code}) before committing its rows`)));
  });
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
}

test('after a SIGKILL mid-job, resume counts only committed rows and finishing gives every id exactly once', LIMIT, async (t) => {
  const dir = path.join(await tmpdir(), 'preds.parquet');
  const all = Array.from({ length: 11 }, (_, i) => `img-${i}.png`);
  await crashMidJob(t, dir, all.slice(0, 6), all.slice(6, 8));
  const sink = await openSink(t, dir, RESUME, { rowsPerPart: 3, ...NO_TIMER });
  assert.deepEqual([...sink.written].sort(), all.slice(0, 6).sort());
  await writeRest(
    sink,
    all.filter((id) => !sink.written.has(id)).map((id) => pred(id)),
  );
  const ids = (await readDataset(dir)).map((r) => r.id as string);
  assert.deepEqual([...ids].sort(), [...all].sort());
  assert.equal(new Set(ids).size, ids.length);
});
