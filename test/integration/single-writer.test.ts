// One writer per data directory (issue 10, item 3): `serve` and `keys init` take an exclusive
// lock on the data directory before they read or write anything, and `serve` binds its
// listeners before it writes: a second writer, or a start that cannot bind, leaves the log
// exactly as it was. Real daemons on loopback, real SQLite files.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { logFileHashes } from '../helpers/log-files.js';
import { query, runCli } from '../helpers/daemon.js';
import {
  BIG_AGE,
  fingerprintOf,
  osloMessage,
  readLog,
  Scratch,
  sendTcp,
  serveUntilExit,
  summary,
  tagOf,
  verifyCli,
  waitCommitted,
} from '../helpers/tamper-log.js';

const scratch = new Scratch();
afterAll(async () => {
  await scratch.cleanup();
});

/**
 * A refused start ends at once; one that is not refused keeps serving. Past this it is taken to
 * be serving (and killed): the bound only ends a test that would otherwise hang on the old code.
 */
const REFUSED_WITHIN_MS = 30_000;

const range = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const tagsIn = (dir: string): string[] => query(dir).map((r) => tagOf(Buffer.from(r.raw, 'base64')));

function expectVerified(dir: string): void {
  const r = verifyCli(dir, ['--identity', fingerprintOf(dir), '--auditor-key', join(dir, 'auditor-key.pem'), ...BIG_AGE]);
  expect(r.code, summary(r)).toBe(0);
}

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
    await sendTcp(d1.tcpPort, first.map(osloMessage));
    await waitCommitted(d1, 11);
    const before = logFileHashes(dir);

    const r = await serveUntilExit(dir, ARGS, {}, REFUSED_WITHIN_MS);
    expect(r.timedOut, `the second serve must be refused, not run alongside:\n${r.output}`).toBe(false);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain(`pid ${d1.child.pid}`);
    expect(logFileHashes(dir)).toEqual(before);

    const more = range(8, 'b');
    await sendTcp(d1.tcpPort, more.map(osloMessage));
    await waitCommitted(d1, 19);
    expect(await d1.stop()).toBe(0);
    expect(tagsIn(dir)).toEqual([...first, ...more]);
    expect(readLog(dir).checkpoints.filter((c) => c.cp.reason === 'restart')).toEqual([]);
    expectVerified(dir);
  });

  it('a serve whose listener cannot bind exits non-zero and leaves the existing log byte-identical (no restart or shutdown checkpoint)', async () => {
    const dir = scratch.dir('immutalog-lock-bind-');
    const d = await scratch.daemon(dir, ARGS);
    await sendTcp(d.tcpPort, range(7, 'c').map(osloMessage));
    await waitCommitted(d, 6);
    expect(await d.stop()).toBe(0);
    const checkpointsBefore = readLog(dir).checkpoints.length;
    const before = logFileHashes(dir);

    const taken = await occupiedPort();
    try {
      const r = await serveUntilExit(dir, [...ARGS, '--tcp', `127.0.0.1:${taken.port}`], {}, REFUSED_WITHIN_MS);
      expect(r.timedOut, r.output).toBe(false);
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
    await sendTcp(d1.tcpPort, range(3, 'd').map(osloMessage));
    await waitCommitted(d1, 2);
    await d1.kill();

    const d2 = await scratch.daemon(dir, ARGS);
    expect(d2.status().pid).toBe(d2.child.pid);
    const r = await serveUntilExit(dir, ARGS, {}, REFUSED_WITHIN_MS);
    expect(r.timedOut, r.output).toBe(false);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toContain(`pid ${d2.child.pid}`);
    expect(r.output).not.toContain(`pid ${d1.child.pid}`);

    await sendTcp(d2.tcpPort, range(3, 'e').map(osloMessage));
    await waitCommitted(d2, 5);
    expect(await d2.stop()).toBe(0);
    expect(tagsIn(dir)).toEqual([...range(3, 'd'), ...range(3, 'e')]);
    expectVerified(dir);
  });

  it('read-only commands (status, query, verify) run while serve holds the lock', async () => {
    const dir = scratch.dir('immutalog-lock-readers-');
    const d = await scratch.daemon(dir, ARGS);
    await sendTcp(d.tcpPort, range(5, 'f').map(osloMessage));
    await waitCommitted(d, 4);
    expect(runCli(['status', '--data-dir', dir]).code).toBe(0);
    expect(tagsIn(dir)).toEqual(range(5, 'f'));
    expect(verifyCli(dir, BIG_AGE).code).toBe(0);
    expect(await d.stop()).toBe(0);
  });
});
