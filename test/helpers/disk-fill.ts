// A disk that really fills up: a small tmpfs mounted for the test (so it needs root), and the
// filler that takes its last free page. Used by the tests of what the daemon does while full.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Small enough to fill in a moment, big enough for a new log and SQLite's write-ahead log at its
 * working size: SQLite checkpoints it only at 1000 pages (32 MB at the log's 32 KB pages), so on
 * a smaller filesystem the WAL alone fills it and no free space is left to give back.
 */
const TMPFS_SIZE = '64m';
/** Few, so that taking the last ones is quick; plenty for the log's own files. */
const TMPFS_INODES = 200;

const mounts: string[] = [];

/** Mounts a fresh tmpfs; the reason it cannot, when it cannot. Undone by unmountAll. */
export function mountTmpfs(prefix = 'immutalog-diskfull-'): { dir: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'not root: cannot mount a small tmpfs to fill' };
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},nr_inodes=${TMPFS_INODES},mode=0750`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmdirSync(dir);
    return { skip: `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}` };
  }
  mounts.push(dir);
  return { dir };
}

/** Unmounts (lazily) and removes every tmpfs mountTmpfs made. */
export function unmountAll(): void {
  for (const d of mounts.splice(0)) {
    spawnSync('umount', ['-l', d]);
    rmSync(d, { recursive: true, force: true });
  }
}

/** Writes to `path` until the filesystem has no page left. */
export function fill(path: string): void {
  const fd = openSync(path, 'a');
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 0x55);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The daemon's metrics page (status.json cannot be rewritten while the disk is full). */
export function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The first sample of `name` on a metrics page; NaN when absent. */
export function metric(body: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}
