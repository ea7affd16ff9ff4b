import type { Db } from './db.js';

/** A signed checkpoint: the bytes are the record, time_us a copy for lookups. */
export interface CheckpointRow {
  idx: number;
  time_us: number;
  bytes: Buffer;
}

/** The checkpoints table. Which of them wait for an anchor is the anchors' business (anchors.ts). */
export class Checkpoints {
  constructor(private readonly db: Db) {}

  insert(row: CheckpointRow): void {
    this.db.prepare('INSERT INTO checkpoints (idx, time_us, bytes) VALUES (?, ?, ?)').run(row.idx, row.time_us, row.bytes);
  }

  get(idx: number): CheckpointRow | undefined {
    return this.db.prepare('SELECT * FROM checkpoints WHERE idx = ?').get(idx) as CheckpointRow | undefined;
  }

  last(): CheckpointRow | undefined {
    return this.db.prepare('SELECT * FROM checkpoints ORDER BY idx DESC LIMIT 1').get() as CheckpointRow | undefined;
  }

  /** From checkpoint `fromIdx` on, in order; streamed. */
  *iterate(fromIdx = 0): IterableIterator<CheckpointRow> {
    yield* this.db.prepare('SELECT * FROM checkpoints WHERE idx >= ? ORDER BY idx').iterate(fromIdx) as IterableIterator<CheckpointRow>;
  }

  /** Every checkpoint index, in order (to walk them while querying others: an open iterate() holds the connection). */
  indexes(): number[] {
    return (this.db.prepare('SELECT idx FROM checkpoints ORDER BY idx').pluck().all() as number[]);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM checkpoints').get() as { n: number }).n;
  }
}
