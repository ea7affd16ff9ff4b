import type { Db, Statement } from './db.js';

export interface BlockRow {
  block: number;
  first_seq: number;
  opened_at_us: number;
  escrow: Buffer;
}

/** The blocks table: one row per block, written when the block opens, before any of its entries. */
export class Blocks {
  private readonly insertStmt: Statement;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare('INSERT INTO blocks (block, first_seq, opened_at_us, escrow) VALUES (@block, @first_seq, @opened_at_us, @escrow)');
  }

  insert(row: BlockRow): void {
    this.insertStmt.run(row);
  }

  /** Block 0 of a log being (re)created before it has any entry. */
  replaceFirst(row: BlockRow): void {
    this.db.prepare('INSERT OR REPLACE INTO blocks (block, first_seq, opened_at_us, escrow) VALUES (@block, @first_seq, @opened_at_us, @escrow)').run(row);
  }

  get(block: number): BlockRow | undefined {
    return this.db.prepare('SELECT * FROM blocks WHERE block = ?').get(block) as BlockRow | undefined;
  }

  last(): BlockRow | undefined {
    return this.db.prepare('SELECT * FROM blocks ORDER BY block DESC LIMIT 1').get() as BlockRow | undefined;
  }

  all(): BlockRow[] {
    return this.db.prepare('SELECT * FROM blocks ORDER BY block').all() as BlockRow[];
  }

  /** Block rows after `block`, in order (a writer has at most one: switched, its checkpoint not yet written). */
  after(block: number): BlockRow[] {
    return this.db.prepare('SELECT * FROM blocks WHERE block > ? ORDER BY block').all(block) as BlockRow[];
  }
}
