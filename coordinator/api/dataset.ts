/**
 * The API a Ray Data user recognises: a dataset (`readImages`, `readManifest`, `readRecords`),
 * `mapBatches(Actor, { compute: ActorPool(...), numGpus, batchSize })`, and a write
 * (`writeParquet`, `writeJsonl`, `writeCsv`) that starts the job and returns its handle, or
 * `iterRows()` for the rows in memory. Options are checked when the write is called, before
 * anything starts: a bad one is thrown there as the CLI's coded error.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Classifier from '../../actors/classifier.ts';
import Generator from '../../actors/generator.ts';
import { GENERATE } from '../actor/builtinGenerator.ts';
import { TabpoolError } from '../../shared/errors.ts';
import { DEFAULT_CACHE } from '../options/rawOptions.ts';
import { checkedOptions, type MapBatchesOptions, type WriteOptions } from './apiOptions.ts';
import { TabpoolJob, type Logger } from './tabpoolJob.ts';

/**
 * An actor: its class (sent to tabs as its source: it may not use imports or outer variables), a module's path,
 * or the built-in classifier.
 */
export type ActorRef = string | (abstract new () => unknown) | typeof Classifier | typeof Generator;

/** One output row, as the JSONL output holds it: the id, then the actor's columns (or `error`). */
export type Row = Record<string, unknown> & { id: string };

export interface JobHooks {
  /** Where the job's lines go (`console` will do); without one, nothing is printed. */
  logger?: Logger;
}

/** Rows in memory as the job writes them, and the job that computes them. */
export interface RowStream extends AsyncIterable<Row> {
  readonly job: TabpoolJob;
}

export class Dataset {
  /** @internal */
  constructor(private readonly data: string | null) {}

  /** Runs `actor` over every input in batches, on a pool of tabs: nothing starts until a write method (or iterRows) is called. */
  mapBatches(actor: ActorRef, options: MapBatchesOptions & JobHooks = {}): MappedDataset {
    return new MappedDataset(this.data, actor, options);
  }
}

export class MappedDataset {
  /** @internal */
  constructor(
    private readonly data: string | null,
    private readonly actor: ActorRef,
    private readonly options: MapBatchesOptions & JobHooks,
  ) {}

  /** Writes a Parquet dataset (a directory of part files) and returns the running job. */
  writeParquet(out: string, write: WriteOptions = {}): TabpoolJob {
    return this.start(withExtension(out, '.parquet', 'writeParquet'), write);
  }

  /** Writes JSON Lines (one row a line) and returns the running job. */
  writeJsonl(out: string, write: WriteOptions = {}): TabpoolJob {
    return this.start(withExtension(out, '.jsonl', 'writeJsonl'), write);
  }

  /** Writes CSV (a header, then one record a row) and returns the running job. */
  writeCsv(out: string, write: WriteOptions = {}): TabpoolJob {
    return this.start(withExtension(out, '.csv', 'writeCsv'), write);
  }

  /**
   * The rows as the job writes them (each input once, verified as any output is). They pass through a
   * JSONL file in a temporary folder, removed at the end; stopping the loop early cancels the job.
   */
  iterRows(): RowStream {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tabpool-rows-'));
    const out = path.join(dir, 'rows.jsonl');
    const job = this.start(out, {});
    return { job, [Symbol.asyncIterator]: () => rowsOf(job, out, dir) };
  }

  private start(out: string, write: WriteOptions): TabpoolJob {
    const { logger, ...options } = this.options;
    const cacheDir = path.resolve(options.cacheDir ?? DEFAULT_CACHE);
    const settings = checkedOptions({ data: this.data, actor: actorModule(this.actor, cacheDir), out }, options, write);
    return new TabpoolJob(settings, logger ? { logger } : {});
  }
}

/** A folder of images (every image file under it). */
export function readImages(dir: string): Dataset {
  return new Dataset(path.resolve(dir));
}

/** A manifest: a .txt file of paths or URLs, one a line, or a .jsonl/.csv file with a path (or url) and id per row. */
export function readManifest(file: string): Dataset {
  return new Dataset(path.resolve(file));
}

/** Records (a .jsonl, .csv or .parquet file, a row each) for an actor whose `static inputs = 'record'`. */
export function readRecords(file: string): Dataset {
  return new Dataset(path.resolve(file));
}

/** The built-in sample: 256 images the built-in classifier runs on (what `tabpool run` reads without --data). */
export function sampleImages(): Dataset {
  return new Dataset(null);
}

function withExtension(out: string, ext: string, method: string): string {
  if (path.extname(out).toLowerCase() !== ext)
    throw new TabpoolError('BAD_ARGUMENT', `${method}(${JSON.stringify(out)}): the output's name must end in ${ext}`);
  return out;
}

/** The module the job loads: a path as given, the built-in classifier as none, a class written out as its own source. */
function actorModule(actor: ActorRef, cacheDir: string): string | null {
  if (actor === Classifier) return null;
  if (actor === Generator || actor === GENERATE) return GENERATE;
  if (typeof actor === 'string') return path.resolve(actor);
  if (typeof actor !== 'function' || !/^class[\s{]/.test(Function.prototype.toString.call(actor)))
    throw new TabpoolError(
      'BAD_ACTOR',
      'mapBatches: the actor must be a class (with init and call), a module path, Classifier or Generator',
    );
  const source =
    `// ${actor.name}, passed by value to mapBatches: its source alone (no imports, no outer variables)\n` +
    ESBUILD_HELPERS +
    `export default ${Function.prototype.toString.call(actor)}\n`;
  const sha = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = path.join(cacheDir, 'api-actors');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${actor.name || 'Actor'}-${sha}.mjs`);
  writeFileSync(file, source);
  return file;
}

/**
 * The helpers esbuild (tsx, Vite) writes calls to inside a class it compiled (keepNames, class fields): a class
 * passed by value from such code names them without carrying them.
 */
const ESBUILD_HELPERS =
  'var __defProp = Object.defineProperty;\n' +
  'var __name = (target, value) => __defProp(target, "name", { value, configurable: true });\n' +
  'var __publicField = (obj, key, value) => (__defProp(obj, typeof key !== "symbol" ? key + "" : key, ' +
  '{ enumerable: true, configurable: true, writable: true, value }), value);\n';

/** Follows the job's JSONL output as it grows, yielding whole lines as rows; removes the folder at the end. */
async function* rowsOf(job: TabpoolJob, out: string, dir: string): AsyncGenerator<Row> {
  let offset = 0;
  let rest = '';
  let ended = false;
  let failure: unknown = null;
  job.done.then(
    () => (ended = true),
    (err: unknown) => ((ended = true), (failure = err)),
  );
  try {
    for (;;) {
      const finished = ended;
      const handle = await fs.open(out, 'r').catch(() => null);
      if (handle) {
        try {
          const { size } = await handle.stat();
          if (size > offset) {
            const buf = Buffer.alloc(size - offset);
            await handle.read(buf, 0, buf.length, offset);
            offset = size;
            const lines = (rest + buf.toString('utf8')).split('\n');
            rest = lines.pop()!;
            for (const line of lines) if (line) yield JSON.parse(line) as Row;
          }
        } finally {
          await handle.close();
        }
      }
      if (finished) break;
      // The next row written (a progress event), the end of the job, or a second: whichever comes first.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 1000);
        function done(): void {
          clearTimeout(timer);
          job.off('progress', done);
          resolve();
        }
        job.once('progress', done);
        job.done.then(done, done);
      });
    }
    if (failure) throw failure;
  } finally {
    if (!ended) {
      job.cancel('the caller stopped reading iterRows()');
      await job.done.catch(() => undefined);
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
}
