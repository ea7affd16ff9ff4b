import type { CheckpointReason } from '../checkpoint/format.js';
import type { ServeConfig } from '../config/load.js';
import { dataPaths } from '../log/data-dir.js';
import type { RecoveredLog } from '../log/recovery.js';
import type { ReceivedFrame } from '../receive/frame.js';
import type { FrameSink } from '../receive/sink.js';
import { Checkpointer } from './checkpointer.js';
import { Sequencer } from './sequencer.js';
import { StorageClient } from './storage-client.js';
import { WriteQueue } from './write-queue.js';

/**
 * Datagrams are refused past this many queued bytes (a multiple of the TCP high-water mark).
 * Twice, not four times: under a UDP flood beyond what can be chained, four times let the
 * daemon grow past 300 MB for no fewer losses (bench/ingest at 100,000 datagrams/s).
 */
const UDP_HARD_LIMIT_FACTOR = 2;
/** How long the storage thread has to confirm it gave up: longer than one SQLite busy wait (5 s). */
const ABANDON_WAIT_MS = 6_000;

/** Queued bytes past which datagrams are refused (the start gate holds no more than this either). */
export function datagramLimitBytes(cfg: Pick<ServeConfig, 'queueHighWaterBytes'>): number {
  return cfg.queueHighWaterBytes * UDP_HARD_LIMIT_FACTOR;
}

/** Where the pipeline reports commit and checkpoint failures (the daemon's log). */
export interface IngestLog {
  error(message: string): void;
  debug(message: string): void;
}

/** The pipeline's counters, for status.json and the metrics page. */
export interface IngestStats {
  queuedFrames: number;
  /** Received and not yet committed: queued, or handed to storage. */
  pendingBytes: number;
  /** Entries committed in this run. */
  committed: number;
  commitFailures: number;
  lastCommitError: string | undefined;
  lastCommittedSeq: number;
  nextSeq: number;
  block: number;
  checkpoints: number;
  lastCheckpointAtUs: number | undefined;
}

/** What a stop whose time ran out leaves unwritten: sequence numbers first to last (none when last < first). */
export interface Unwritten {
  first: number;
  last: number;
  /** The storage thread confirmed it gave up: nothing after `first - 1` was written. */
  confirmed: boolean;
  why: string;
}

/**
 * The write path from frames to committed rows: the write queue batches what the listeners
 * accept, the sequencer parses, numbers and MACs each batch, the storage client hands it to the
 * storage thread, and the checkpointer closes blocks. They know nothing of each other: this
 * wires them with callbacks.
 */
export class Ingest {
  private readonly storage: StorageClient;
  private readonly sequencer: Sequencer;
  private readonly queue: WriteQueue;
  private readonly checkpointer: Checkpointer;
  /** The first sequence number of this run: everything before it was committed by an earlier one. */
  private readonly firstSeqThisRun: number;
  /** Frames' commit callbacks (RELP acknowledgements) by sequence number, in order; fired from `ackHead` on. */
  private readonly acks: { seq: number; fn: () => void }[] = [];
  private ackHead = 0;

  /** Starts the storage thread and continues the chain where recovery left it. */
  constructor(cfg: ServeConfig, rec: RecoveredLog, log: IngestLog) {
    const paths = dataPaths(cfg.dataDir);
    this.firstSeqThisRun = rec.nextSeq;
    this.storage = new StorageClient(paths.database, (error, pending) =>
      log.error(`commit failed; ${pending} sealed batches kept in memory and retried: ${error}`),
    );
    this.sequencer = new Sequencer({ nextSeq: rec.nextSeq, head: rec.head, block: rec.keyState.block, blockKey: rec.keyState.blockKey, blockFirstSeq: rec.blockFirstSeq, blockFloorUs: rec.blockFloorUs, latestInBlockUs: rec.latestInBlockUs }, this.storage.allocate);
    this.queue = new WriteQueue({
      maxDelayMs: cfg.commitDelayMs,
      maxBatch: cfg.commitBatch,
      highWaterBytes: cfg.queueHighWaterBytes,
      hardLimitBytes: datagramLimitBytes(cfg),
      commit: (frames) => this.seal(frames),
      inFlightBytes: () => this.storage.unackedBytes,
    });
    this.checkpointer = new Checkpointer(rec.identity, rec.keyState, rec.previousCheckpointHash, this.sequencer, this.storage, {
      keyStatePath: paths.keyState,
      maxEntries: cfg.checkpointEntries,
      intervalMs: cfg.checkpointIntervalSec * 1000,
      flushQueue: () => this.queue.flushNow(),
      onError: (e) => log.error(`checkpoint failed: ${e.message}`),
      onCheckpoint: (j, n, reason) => log.debug(`checkpoint ${j} (${reason}): ${n} entries`),
    });
    this.storage.onCommitted(() => {
      this.fireAcks(this.storage.lastCommittedSeq);
      this.queue.storageProgressed();
    });
  }

  /** Calls the commit callbacks of every entry up to `lastSeq` (committed), in sequence order. */
  private fireAcks(lastSeq: number): void {
    const a = this.acks;
    while (this.ackHead < a.length && a[this.ackHead]!.seq <= lastSeq) {
      const { fn } = a[this.ackHead]!;
      a[this.ackHead++] = undefined as never;
      fn();
    }
    // Compacted once the fired head outweighs what waits, so the array stays as long as the backlog.
    if (this.ackHead > 1024 && this.ackHead * 2 > a.length) {
      a.splice(0, this.ackHead);
      this.ackHead = 0;
    }
  }

  /**
   * The write queue's batch, sealed and posted. Split at the block's remaining room, so a block
   * closes at its size (while a checkpoint is being written, the next block takes whatever
   * arrives and closes right after it).
   */
  private seal(frames: ReceivedFrame[]): void {
    for (let i = 0; i < frames.length; ) {
      const n = Math.min(frames.length - i, this.checkpointer.room);
      const firstSeq = this.sequencer.nextSeq;
      for (let j = 0; j < n; j++) {
        const fn = frames[i + j]!.onCommitted;
        if (fn) this.acks.push({ seq: firstSeq + j, fn });
      }
      this.storage.post(this.sequencer.seal(i === 0 && n === frames.length ? frames : frames.slice(i, i + n)));
      i += n;
      this.checkpointer.afterSeal();
    }
  }

  /** Where the listeners deliver (through the start gate): the write queue. */
  get sink(): FrameSink {
    return this.queue;
  }

  checkpoint(reason: CheckpointReason): Promise<void> {
    return this.checkpointer.request(reason);
  }

  stats(): IngestStats {
    return {
      queuedFrames: this.queue.queuedFrames,
      pendingBytes: this.queue.queuedBytes + this.storage.unackedBytes,
      committed: this.storage.committed,
      commitFailures: this.storage.commitFailures,
      lastCommitError: this.storage.lastCommitError,
      lastCommittedSeq: this.storage.lastCommittedSeq,
      nextSeq: this.sequencer.nextSeq,
      block: this.sequencer.block,
      checkpoints: this.checkpointer.checkpoints,
      lastCheckpointAtUs: this.checkpointer.lastCheckpointAtUs,
    };
  }

  /**
   * Commits everything accepted, writes the shutdown checkpoint and closes the database, unless
   * storage keeps failing (a full disk) past `deadline` (ms since the epoch): then it gives up and
   * resolves with what was not written.
   */
  async stop(deadline: number): Promise<Unwritten | undefined> {
    this.queue.flushNow();
    // Storage keeps retrying a failed commit; a stop waits for it, but not for ever.
    const finished = (async () => {
      await this.checkpointer.shutdown();
      await this.storage.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      finished.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
    return inTime ? undefined : this.giveUp();
  }

  /** The stop's time is up with storage still failing: drop what it holds, and say what that is. */
  private async giveUp(): Promise<Unwritten> {
    this.checkpointer.abandon();
    const confirmed = await this.storage.abandon(ABANDON_WAIT_MS);
    return {
      first: Math.max(this.storage.lastCommittedSeq + 1, this.firstSeqThisRun),
      last: this.sequencer.nextSeq - 1,
      confirmed,
      why: this.storage.lastCommitError ?? 'storage did not finish in time',
    };
  }
}
