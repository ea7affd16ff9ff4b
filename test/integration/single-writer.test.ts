// One writer per data directory (issue 10, item 3): `serve` and `keys init` take an exclusive
// lock on the data directory before they read or write anything, and `serve` binds its
// listeners before it writes: a second writer, or a start that cannot bind, leaves the log
// exactly as it was. Real daemons on loopback, real SQLite files.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logFileHashes } from '../helpers/log-files.js';
import { runCli } from '../helpers/daemon.js';
import {
  BIG_AGE,
  expectVerified,
  range,
  readLog,
  refusedServe,
  scratchForFile,
  sendCommitted,
  storedTags,
  verifyCli,
} from '../helpers/tamper-log.js';

const scratch = scratchForFile();

/** A TCP port held by another socket, so that a listener asking for it cannot bind. */
async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

const ARGS = ['--checkpoint-entries', '5', '--checkpoint-interval', '3600'];

describe('one writer per data directory', () => {
  it('a second serve on the same data directory (other ports) exits 2 naming the first one\'s pid and changes nothing; the first keeps receiving and its log verifies', async () => {
    const dir = scratch.dir('immutalog-lock-second-');
    const d1 = await scratch.daemon(dir, ARGS);
    const first = range(12, 'a');
    await sendCommitted(d1, first);
    const before = logFileHashes(dir);

    const r = await refusedServe(dir, ARGS);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain(`pid ${d1.child.pid}`);
    expect(logFileHashes(dir)).toEqual(before);

    const more = range(8, 'b');
    await sendCommitted(d1, more, 12);
    expect(await d1.stop()).toBe(0);
    expect(storedTags(dir)).toEqual([...first, ...more]);
    expect(readLog(dir).checkpoints.filter((c) => c.cp.reason === 'restart')).toEqual([]);
    expectVerified(dir);
  });

  it('a serve whose listener cannot bind exits non-zero and leaves the existing log byte-identical (no restart or shutdown checkpoint)', async () => {
    const dir = scratch.dir('immutalog-lock-bind-');
    await scratch.stoppedLog(dir, ARGS, range(7, 'c'));
    const checkpointsBefore = readLog(dir).checkpoints.length;
    const before = logFileHashes(dir);

    const taken = await occupiedPort();
    try {
      const r = await refusedServe(dir, [...ARGS, '--tcp', `127.0.0.1:${taken.port}`]);
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toMatch(/EADDRINUSE/);
    } finally {
      taken.server.close();
    }
    expect(readLog(dir).checkpoints.length).toBe(checkpointsBefore);
    expect(logFileHashes(dir)).toEqual(before);
  });

  it('keys init on a data directory a serve holds exits 2 naming the holder', async () => {
    const dir = scratch.dir('immutalog-lock-init-');
    const d = await scratch.daemon(dir, ARGS);
    const before = logFileHashes(dir);
    const r = runCli(['keys', 'init', '--data-dir', dir, '--auditor-key-out', join(dir, 'other-auditor.pem')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`pid ${d.child.pid}`);
    expect(existsSync(join(dir, 'other-auditor.pem'))).toBe(false);
    expect(logFileHashes(dir)).toEqual(before);
    expect(await d.stop()).toBe(0);
  });

  it('a SIGKILLed holder leaves no stale lock: the next serve starts, and a third is refused naming the new holder', async () => {
    const dir = scratch.dir('immutalog-lock-kill-');
    const d1 = await scratch.daemon(dir, ARGS);
    await sendCommitted(d1, range(3, 'd'));
    await d1.kill();

    const d2 = await scratch.daemon(dir, ARGS);
    expect(d2.status().pid).toBe(d2.child.pid);
    const r = await refusedServe(dir, ARGS);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain(`pid ${d2.child.pid}`);
    expect(r.output).not.toContain(`pid ${d1.child.pid}`);

    await sendCommitted(d2, range(3, 'e'), 3);
    expect(await d2.stop()).toBe(0);
    expect(storedTags(dir)).toEqual([...range(3, 'd'), ...range(3, 'e')]);
    expectVerified(dir);
  });

  it('read-only commands (status, query, verify) run while serve holds the lock', async () => {
    const dir = scratch.dir('immutalog-lock-readers-');
    const d = await scratch.daemon(dir, ARGS);
    await sendCommitted(d, range(5, 'f'));
    expect(runCli(['status', '--data-dir', dir]).code).toBe(0);
    expect(storedTags(dir)).toEqual(range(5, 'f'));
    expect(verifyCli(dir, BIG_AGE).code).toBe(0);
    expect(await d.stop()).toBe(0);
  });
});
