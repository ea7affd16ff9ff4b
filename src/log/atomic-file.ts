import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open as openAsync, rename as renameAsync } from 'node:fs/promises';
import { dirname } from 'node:path';

// Durable whole-file writes for the small files beside the database (key state, writer pid,
// status, verify state): a crash leaves either the old file or the new one, never a mix.

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `content` to `path` so that a crash leaves either the old file or the new one whole. */
export function writeFileAtomic(path: string, content: string | Buffer, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    removeFailedTemp(tmp);
    throw e;
  }
  fsyncDir(dirname(path));
}

/**
 * A write that failed (ENOSPC, EIO) leaves its partial temp file: removed, so that it holds no
 * space on a full disk and the retry starts afresh.
 */
function removeFailedTemp(tmp: string): void {
  try {
    unlinkSync(tmp);
  } catch {
    // Never created, or already renamed.
  }
}

/**
 * writeFileAtomic on the libuv thread pool: the same write, fsync, rename and directory fsync,
 * without stalling the thread that receives datagrams while the disk flushes.
 */
export async function writeFileAtomicAsync(path: string, content: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await openAsync(tmp, 'w', mode);
  try {
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await renameAsync(tmp, path);
  } catch (e) {
    removeFailedTemp(tmp);
    throw e;
  }
  const dh = await openAsync(dirname(path), 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
