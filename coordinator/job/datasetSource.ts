/**
 * The in-process job's work source: the dataset, read ahead of the actors within a bounded window
 * (items and bytes) into the host. Inputs that cannot be read or are no images get their error rows
 * here, before any tab sees them.
 */
import type { ActorInputs } from '../../shared/actorApi.ts';
import type { Dataset } from '../io/dataset.ts';
import { DatasetFeeder, type InputReader, type UrlResolver } from '../io/datasetFeeder.ts';
import type { IdLookup } from '../io/idSet.ts';
import type { OutputRow } from '../io/outputRow.ts';
import type { HostIntake, WorkSource } from '../host/ports.ts';

/** Read ahead at most this many bytes of inputs, whatever the pool's size. */
const MAX_READ_AHEAD_BYTES = 256 * 2 ** 20;

export interface DatasetSourceDeps {
  dataset: Dataset;
  /** What the actor reads: how an input is checked as it is read. */
  inputs: ActorInputs;
  /** Ids already in the output (resume). */
  skip: IdLookup;
  /** Inputs to keep waiting in the host, rows waiting for the disk included. */
  readAheadItems: number;
  /**
   * Rows answered and not yet on disk: when the disk falls behind the actors, reading (and so
   * dispatch) waits for it, rather than rows piling up in memory without bound.
   */
  unwritten?(): number;
  writeErrors(rows: OutputRow[]): Promise<void>;
  /** The job stopped reading (it drains or ended). */
  stopped(): boolean;
  log(line: string): void;
  read?: InputReader;
  resolveUrl?: UrlResolver;
}

export class DatasetSource implements WorkSource {
  private readonly feeder: DatasetFeeder;
  private allRead = false;
  /** Resolves once the whole dataset has been read into the host (or the job stopped reading). */
  readonly allReadIn: Promise<void>;

  constructor(
    private readonly intake: HostIntake,
    private readonly d: DatasetSourceDeps,
  ) {
    this.feeder = new DatasetFeeder(
      d.dataset,
      {
        skip: d.skip,
        wantsMore: () => intake.pendingItems + (d.unwritten?.() ?? 0) < d.readAheadItems && intake.pendingBytes < MAX_READ_AHEAD_BYTES,
        add: (item) => intake.add([item]),
        writeErrors: (rows) => d.writeErrors(rows),
        stopped: () => d.stopped(),
        log: (line) => d.log(line),
      },
      d.inputs,
      d.read,
      d.resolveUrl,
    );
    let resolve!: () => void;
    this.allReadIn = new Promise((r) => (resolve = r));
    this.markAllRead = resolve;
  }

  private readonly markAllRead: () => void;

  get exhausted(): boolean {
    return this.allRead;
  }

  /** Reads the dataset to its end (or until the job stops reading). */
  async run(): Promise<void> {
    await this.feeder.run();
    this.stop();
  }

  /** No more reading (the job drains): what is not read stays for --resume. */
  stop(): void {
    if (this.allRead) return;
    this.allRead = true;
    this.markAllRead();
    this.feeder.wake();
  }

  wake(): void {
    if (this.intake.pendingItems < this.d.readAheadItems) this.feeder.wake();
  }
}
