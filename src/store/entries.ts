import type { StoredEntryColumns } from '../chain/encoding.js';
import { visitSealedRows, type SealedRowView } from '../chain/batch.js';
import type { Db } from './db.js';
import { entryQuery, type EntryFilter } from './query.js';
import { rowsPath, type RowsPath } from './rows-extension.js';
import { VerifyReader, type FieldsVouch, type VerifyRow } from './verify-read.js';

const COLUMNS = 'seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, raw, mac, fields';

/** An entries row: the MAC'd columns, the block it is filed under, its MAC and parsed fields. */
export interface EntryRow extends StoredEntryColumns {
  block: number;
  mac: Buffer;
  fields: string;
}

/** A row to insert whose field JSON is already UTF-8 bytes: a sealed batch's row, less its leaf input. */
export type EntryInsert = Omit<SealedRowView, 'leafInput'>;

/** Called once per row, in order, inside append's transaction. */
export type InsertRow = (r: EntryInsert) => void;

/** The entries table: the storage thread's insert, and the readers of recovery, verify and query. */
export class Entries {
  /** Whether the database's text encoding is UTF-8 (openDb creates every log so). */
  private readonly utf8: boolean;
  private readonly appendTx: (each: (insert: InsertRow) => void) => void;
  private readonly appendSealedTx: (batches: readonly Buffer[]) => void;
  private verifyReader: VerifyReader | undefined;
  /** How this connection's rows go in and out (rows-extension.ts): 'native' once the extension is loaded. */
  readonly rows: RowsPath;

  constructor(private readonly db: Db) {
    this.utf8 = db.pragma('encoding', { simple: true }) === 'UTF-8';
    // The extension writes text as UTF-8 bytes: a database in another encoding takes the SQL path.
    this.rows = this.utf8 ? rowsPath(db) : 'sql';
    const insert = this.rowInserter();
    this.appendTx = db.transaction((each: (insert: InsertRow) => void) => each(insert));
    const insertBatch = this.rows === 'native'
      ? db.prepare(`INSERT INTO entries (${COLUMNS}) SELECT ${COLUMNS} FROM immutalog_batch(?)`)
      : undefined;
    this.appendSealedTx = db.transaction((batches: readonly Buffer[]) => {
      for (const b of batches) {
        if (insertBatch) insertBatch.run(b);
        else visitSealedRows(b, insert);
      }
    });
  }

  /**
   * The field JSON bound as bytes and cast to TEXT by SQLite: a JS string would be decoded from
   * UTF-8 on the storage thread only for better-sqlite3 to encode it back. The cast reads the
   * bytes in the database's encoding, so a database in another one gets the string.
   */
  private rowInserter(): InsertRow {
    const insertEntry = this.db.prepare(
      `INSERT INTO entries (seq, block, received_at_us, transport, flags, listener, peer_address, peer_port, raw, mac, fields)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ${this.utf8 ? 'CAST(? AS TEXT)' : '?'})`,
    );
    const fields = this.utf8 ? (b: Uint8Array): Uint8Array | string => b : (b: Uint8Array): Uint8Array | string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
    // Positional binding: named parameters cost several microseconds per row at ingest rates.
    return (r: EntryInsert): void => {
      insertEntry.run(r.seq, r.block, r.received_at_us, r.transport, r.flags, r.listener, r.peer_address, r.peer_port, r.raw, r.mac, fields(r.fieldsUtf8));
    };
  }

  /**
   * Rows in one transaction (one fsync), all or none: `each` calls `insert` once per row, in
   * order. The row passed may be reused by the caller once `insert` returns; its field JSON must
   * be valid UTF-8 (it is stored as TEXT). The caller advances its chain state only after this
   * returns.
   */
  append(each: (insert: InsertRow) => void): void {
    this.appendTx(each);
  }

  /**
   * The rows of sealed batches (chain/batch.ts) in one transaction (one fsync), all or none, in
   * order: through the rows extension one BLOB per batch, else row by row as append() does.
   */
  appendSealed(batches: readonly Buffer[]): void {
    this.appendSealedTx(batches);
  }

  /** Entries in a sequence range [from, to), in order; streamed. */
  *range(from: number, to: number): IterableIterator<EntryRow> {
    yield* this.db.prepare('SELECT * FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq').iterate(from, to) as IterableIterator<EntryRow>;
  }

  /**
   * range() for verification, which reads every row of the log: the same rows, read in chunks
   * (verify-read.ts). A database in another text encoding than UTF-8 (openDb makes every log
   * UTF-8) is read with range().
   */
  rangeForVerify(from: number, to: number, vouch?: FieldsVouch): IterableIterator<VerifyRow> {
    if (!this.utf8) return this.range(from, to);
    this.verifyReader ??= new VerifyReader(this.db, this.rows);
    return this.verifyReader.range(from, to, vouch);
  }

  /** Entries that pass `immutalog query`'s filter, in sequence order; streamed so memory does not grow with the log. */
  *query(filter: EntryFilter = {}): IterableIterator<EntryRow> {
    const { sql, params } = entryQuery(filter);
    yield* this.db.prepare(sql).iterate(params) as IterableIterator<EntryRow>;
  }

  /**
   * The RELP listeners' entries from `from` on, in order, with the columns the redelivery rule
   * reads (receive/redelivery.ts); the other rows are skipped by SQLite without being read out.
   */
  *relpHistory(from: number): IterableIterator<Pick<EntryRow, 'seq' | 'listener' | 'peer_address' | 'peer_port' | 'raw'>> {
    yield* this.db
      .prepare("SELECT seq, listener, peer_address, peer_port, raw FROM entries WHERE seq >= ? AND (substr(listener, 1, 7) = 'relp://' OR substr(listener, 1, 11) = 'relp-tls://') ORDER BY seq")
      .iterate(from) as IterableIterator<Pick<EntryRow, 'seq' | 'listener' | 'peer_address' | 'peer_port' | 'raw'>>;
  }

  last(): EntryRow | undefined {
    return this.db.prepare('SELECT * FROM entries ORDER BY seq DESC LIMIT 1').get() as EntryRow | undefined;
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n;
  }

  /** The lowest and highest sequence numbers stored, or undefined for no entries. */
  seqSpan(): { first: number; last: number } | undefined {
    const r = this.db.prepare('SELECT min(seq) AS a, max(seq) AS b FROM entries').get() as { a: number | null; b: number | null };
    return r.a === null || r.b === null ? undefined : { first: r.a, last: r.b };
  }

  /** The latest receive time among the entries from `seq` on (the writer's open block). */
  latestReceivedAtFrom(seq: number): number | undefined {
    const r = this.db.prepare('SELECT max(received_at_us) AS t FROM entries WHERE seq >= ?').get(seq) as { t: number | null };
    return r.t ?? undefined;
  }
}
