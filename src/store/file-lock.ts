import { openBareSqlite, type Db } from './db.js';

export class FileLockError extends Error {
  readonly code = 'FILE_LOCK_FAILED';
}

/**
 * Locks held by this process. A lock's SQLite connection must stay reachable: when the garbage
 * collector finalises a better-sqlite3 Database it closes it, and the lock goes with it (seen:
 * a handle kept only in a local was collected within a second and a second process got the lock).
 */
const held = new Set<FileLock>();

/**
 * An exclusive lock on one file for as long as this process holds it or lives.
 *
 * Why SQLite: Node 20 has no flock, and the lock must die with the process, SIGKILL included,
 * so that a crash never leaves a stale lock (an O_EXCL pid file or a lock directory outlives a
 * SIGKILL and would keep the service down until someone removed it). SQLite's unix VFS takes
 * POSIX (fcntl) record locks, which the kernel drops when the process ends; with
 * locking_mode=EXCLUSIVE and a write transaction left open, the connection holds the exclusive
 * lock until it is closed. better-sqlite3 is already the storage dependency, so this needs no
 * new one. The file stays empty (journal in memory): it is only a lock.
 *
 * Caveats of fcntl locks, and why they do not bite here: they belong to the process, and closing
 * ANY descriptor of the file drops them, so nothing else may open this file in the process
 * (SQLite itself keeps track of its own descriptors for exactly this); a second tryTake in the
 * same process is refused by SQLite's own per-file bookkeeping.
 */
export class FileLock {
  private constructor(private db: Db | undefined) {}

  /** The lock, or undefined when another process (or connection) holds it. */
  static tryTake(path: string): FileLock | undefined {
    let db: Db;
    try {
      // timeout 0: a held lock is an answer, not something to wait for.
      db = openBareSqlite(path, { timeout: 0 });
    } catch (e) {
      throw new FileLockError(`cannot open lock file ${path}: ${(e as Error).message}`);
    }
    try {
      db.pragma('journal_mode = MEMORY');
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (e) {
      db.close();
      if ((e as { code?: string }).code === 'SQLITE_BUSY') return undefined;
      throw new FileLockError(`cannot lock ${path}: ${(e as Error).message} (it is only a lock: remove it when no immutalog writer runs)`);
    }
    const lock = new FileLock(db);
    held.add(lock);
    return lock;
  }

  release(): void {
    if (!this.db) return;
    this.db.close();
    this.db = undefined;
    held.delete(this);
  }
}
