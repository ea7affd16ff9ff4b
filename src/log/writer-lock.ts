import { readFileSync, unlinkSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';
import { FileLock } from '../store/file-lock.js';
import { dataPaths } from './data-dir.js';
import { prepareDataDir } from './data-dir-check.js';

export class WriterLockedError extends Error {
  readonly code = 'WRITER_LOCKED';
  constructor(readonly dir: string, readonly holderPid: number | undefined) {
    super(
      `${dir} is in use by another immutalog writer (${holderPid !== undefined ? `pid ${holderPid}` : 'pid not yet recorded: it has just started'}): ` +
        'only one `serve` or `keys init` may write a log at a time, or the two break its chain. ' +
        'Stop that one first (systemctl stop immutalog), or give this one another --data-dir.',
    );
  }
}

/** The one writer of a data directory, until release() or the end of the process. */
export interface WriterLock {
  release(): void;
}

function readHolder(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the data directory's writer lock (src/store/file-lock.ts: released by the kernel when the
 * process dies, so never stale) before `serve` or `keys init` reads or writes anything there,
 * and records this process's pid beside it for the message a second writer prints. The pid file
 * alone proves nothing (it outlives a crash); it is read only when the lock is held, and then
 * names the holder, which wrote it after taking the lock. Read-only commands (status, query,
 * verify, export) take no lock: an auditor verifies while the daemon runs.
 */
export function takeWriterLock(dir: string): WriterLock {
  const p = dataPaths(dir);
  prepareDataDir(dir);
  const lock = FileLock.tryTake(p.lockFile);
  if (!lock) throw new WriterLockedError(dir, readHolder(p.pidFile));
  try {
    writeFileAtomic(p.pidFile, `${process.pid}\n`, 0o640);
  } catch (e) {
    lock.release();
    throw e;
  }
  return {
    release: () => {
      // Removed while still holding the lock, so a pid file never names a process that let go.
      try {
        if (readHolder(p.pidFile) === process.pid) unlinkSync(p.pidFile);
      } catch {
        // Already gone with its directory: nothing names this process any more.
      } finally {
        lock.release();
      }
    },
  };
}
