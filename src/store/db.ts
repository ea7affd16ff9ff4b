import Database from 'better-sqlite3';
import { SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';

/** The one SQLite connection a LogStore's parts share (better-sqlite3 is imported here only). */
export type Db = Database.Database;
export type Statement = Database.Statement;

/**
 * 32 KiB pages. Takes effect only when the file is created. For rows of a few hundred bytes,
 * 16 KiB pages cost a third less per insert than the 4 KiB default, and 32 KiB another tenth.
 */
const PAGE_SIZE = 32768;
/** How long a statement waits for another connection's lock (a reader's checkpoint, a bundle export) before failing. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * A connection to any SQLite file, no schema, no pragmas: file-lock.ts uses SQLite only for its
 * POSIX locks. `timeout` 0 makes a held lock an answer, not a wait.
 */
export function openBareSqlite(path: string, o: { timeout: number }): Db {
  return new Database(path, { timeout: o.timeout });
}

export class StoreError extends Error {
  constructor(readonly code: 'STORE_SCHEMA_MISMATCH' | 'STORE_NOT_INITIALISED' | 'STORE_OPEN_FAILED', message: string) {
    super(message);
  }
}

export interface OpenOptions {
  create: boolean;
  readonly?: boolean;
}

/**
 * Opens (creating if asked) a log's database; WAL and synchronous=FULL so a commit survives
 * power loss. A writable open adds the tables a log lacks; either refuses a database of another
 * schema version.
 */
export function openDb(path: string, opts: OpenOptions): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: !opts.create });
  } catch (e) {
    throw new StoreError('STORE_OPEN_FAILED', `cannot open database ${path}: ${(e as Error).message}`);
  }
  if (!opts.readonly) prepareForWriting(db);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const version = schemaVersion(db);
  if (version !== String(SCHEMA_VERSION)) {
    db.close();
    throw new StoreError('STORE_SCHEMA_MISMATCH', `database ${path}: expected schema version ${SCHEMA_VERSION}, got ${version ?? 'none'}`);
  }
  return db;
}

function prepareForWriting(db: Db): void {
  db.pragma(`page_size = ${PAGE_SIZE}`);
  // The default, made explicit: Entries.rangeForVerify relies on it.
  db.pragma("encoding = 'UTF-8'");
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA_SQL);
  if (schemaVersion(db) === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
}

/** Undefined when there is none, or no meta table (a read-only open of a file that is not a log). */
function schemaVersion(db: Db): string | undefined {
  try {
    return (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined)?.value;
  } catch {
    return undefined;
  }
}

/**
 * The connection's life and its transactions. Synchronous by design: better-sqlite3 commits in
 * the calling thread, which keeps the order of commits the order of sequence numbers.
 */
export class Connection {
  protected constructor(protected readonly db: Db) {}

  close(): void {
    this.db.close();
  }

  /** Several writes that must land together (a checkpoint and the block it opens), across parts. */
  atomically<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Several reads that must see one state of the database. */
  protected atomicallyRead<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  /**
   * Starts one read transaction: every read on this connection until endRead() sees the
   * database as it is now, whatever a live writer commits meanwhile (WAL keeps the snapshot).
   */
  beginRead(): void {
    this.db.exec('BEGIN DEFERRED');
    // A deferred transaction takes its snapshot at its first read: take it now.
    this.db.prepare('SELECT count(*) FROM meta').get();
  }

  endRead(): void {
    if (this.db.inTransaction) this.db.exec('COMMIT');
  }

  /**
   * After a commit failed for want of space: folds the write-ahead log into the database and
   * truncates it. The WAL holds every committed version of each page until a checkpoint, and
   * SQLite only checkpoints by itself once it reaches 1000 pages (32 MB at this page size), so on
   * a small or nearly full disk the WAL alone can keep the disk full after space was freed.
   * Returns the error when it could not (the disk is still full, or a reader held it back).
   */
  truncateWal(): string | undefined {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }
}
