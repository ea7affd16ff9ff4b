import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * SHA-256 of each file that holds the log: the database, its WAL and the key state. An empty WAL
 * counts as none (a read-only reader, such as the tests' readLog, leaves an empty one behind
 * that the next writer removes); the -shm file is left out: it is SQLite's index of the WAL,
 * rebuilt from it, not part of the log.
 */
export function logFileHashes(dir: string): Record<string, string | null> {
  const hash = (f: string): string | null => {
    const p = join(dir, f);
    if (!existsSync(p)) return null;
    const b = readFileSync(p);
    return f.endsWith('-wal') && b.length === 0 ? null : createHash('sha256').update(b).digest('hex');
  };
  return Object.fromEntries(['immutalog.sqlite', 'immutalog.sqlite-wal', 'keystate.json'].map((f) => [f, hash(f)]));
}
