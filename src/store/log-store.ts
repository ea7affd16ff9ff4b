import { Anchors } from './anchors.js';
import { Blocks } from './blocks.js';
import { Bundle } from './bundle.js';
import { Checkpoints } from './checkpoints.js';
import { Connection, openDb, type Db, type OpenOptions } from './db.js';
import { Entries } from './entries.js';
import { Meta } from './meta.js';

export type { AnchorProofRow, AnchorRow, AnchorState, AnchorVersion } from './anchors.js';
export type { BlockRow } from './blocks.js';
export type { CheckpointRow } from './checkpoints.js';
export { StoreError } from './db.js';
export type { EntryInsert, EntryRow } from './entries.js';
export type { EntryFilter } from './query.js';
export type { FieldsVouch, PlainRow, PreparedRow, VerifyRow } from './verify-read.js';

/** What status and the metrics page show of the log, read in one transaction. */
export interface LogFacts {
  storedEntries: number;
  checkpoints: number;
  newestCheckpointTimeUs: number | null;
  oldestUnanchoredCheckpointTimeUs: number | null;
  unanchoredCheckpoints: number;
  feesSpentSats: number;
  anchorsByState: Record<string, number>;
}

/**
 * A log's database: one SQLite connection (db.ts: its life, transactions and read snapshot) and
 * a part per concern over it. The only way into SQLite outside src/store.
 */
export class LogStore extends Connection {
  readonly meta: Meta;
  readonly entries: Entries;
  readonly blocks: Blocks;
  readonly checkpoints: Checkpoints;
  readonly anchors: Anchors;
  readonly bundle: Bundle;

  private constructor(db: Db) {
    super(db);
    this.meta = new Meta(db);
    this.entries = new Entries(db);
    this.blocks = new Blocks(db);
    this.checkpoints = new Checkpoints(db);
    this.anchors = new Anchors(db);
    this.bundle = new Bundle(db);
  }

  /** Opens (creating if asked) a log's database; see openDb. */
  static open(path: string, opts: OpenOptions): LogStore {
    return new LogStore(openDb(path, opts));
  }

  /** Receive-side facts for status and metrics, in one read transaction. */
  logFacts(): LogFacts {
    return this.atomicallyRead(() => {
      const last = this.entries.last();
      const cp = this.checkpoints.last();
      const unanchored = this.anchors.unanchoredSummary();
      return {
        storedEntries: last ? last.seq + 1 : 0,
        checkpoints: cp ? cp.idx + 1 : 0,
        newestCheckpointTimeUs: cp?.time_us ?? null,
        oldestUnanchoredCheckpointTimeUs: unanchored.oldestTimeUs,
        unanchoredCheckpoints: unanchored.count,
        feesSpentSats: this.anchors.feesSpentSats(),
        anchorsByState: this.anchors.countByState(),
      };
    });
  }
}
