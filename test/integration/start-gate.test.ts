// A start binds its listeners before it touches the log, and what arrives before recovery is done
// waits in the start gate (datagrams held, streams paused) and is stored after the restart
// checkpoint, none lost. IMMUTALOG_FAULT=hold-start (src/ingest/fault.ts) holds the start between
// the two until the test releases it, so the window is not a race.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/daemon.js';
import { logFileHashes } from '../helpers/log-files.js';
import { CLI } from '../helpers/paths.js';
import { BIG_AGE, expectVerified, fingerprintOf, osloMessage, range, readLog, scratchForFile, sendUdp, storedTags, summary, verifyCli } from '../helpers/tamper-log.js';

const scratch = scratchForFile();

/** Bounds the waits for a start that never reaches the point waited for (a failure, not a speed). */
const START_BOUND_MS = 60_000;
const ARGS = ['--checkpoint-entries', '1000', '--checkpoint-interval', '3600'];

/** Writes LF-framed messages on one connection and half-closes it, without waiting for the peer (which may be paused). */
function writeTcp(port: number, msgs: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', reject);
    s.on('connect', () => s.end(Buffer.concat(msgs.flatMap((m) => [m, Buffer.from('\n')])), () => resolve()));
  });
}

/** `serve` under IMMUTALOG_FAULT=hold-start: its output so far, and its exit (code, signal). */
function heldServe(dir: string): { child: ChildProcess; out: () => string; exited: Promise<[number | null, NodeJS.Signals | null]> } {
  const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dir, '--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', ...ARGS], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, IMMUTALOG_FAULT: 'hold-start' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, sig) => r([c, sig])));
  return { child, out: () => out, exited };
}

describe('the start gate', () => {
  it('listeners are bound before the log is touched; TCP and UDP messages sent then are stored after the restart checkpoint, in order, none lost', async () => {
    const dir = scratch.dir('immutalog-gate-');
    await scratch.stoppedLog(dir, ARGS, range(3, 'before'));
    const checkpointsBefore = readLog(dir).checkpoints.length;
    const before = logFileHashes(dir);

    const { child, out: output, exited: ended } = heldServe(dir);
    const exited = ended.then(([code]) => code);
    try {
      const statusFile = join(dir, 'status.json');
      const running = (): any => {
        try {
          const s = JSON.parse(readFileSync(statusFile, 'utf8'));
          return s.pid === child.pid && s.state === 'running' ? s : undefined;
        } catch {
          return undefined;
        }
      };
      // The ports, from the line the daemon prints once bound (or, were it to serve at once, from its status).
      const bound = await waitFor(() => /listening on udp:\/\/127\.0\.0\.1:(\d+), tcp:\/\/127\.0\.0\.1:(\d+)/.exec(output()) ?? running(), (v) => v !== undefined, START_BOUND_MS);
      expect(bound, output()).toBeDefined();
      const [udpPort, tcpPort] = Array.isArray(bound) ? [Number(bound[1]), Number(bound[2])] : [bound.listeners[0].port, bound.listeners[1].port];
      // Reachable, and the log not yet touched: no restart checkpoint, byte for byte as it was.
      expect(logFileHashes(dir), `the log was written before the listeners were bound:\n${output()}`).toEqual(before);

      const tcp = range(40, 'tcp');
      const udp = range(40, 'udp');
      await writeTcp(tcpPort, tcp.map(osloMessage));
      await sendUdp(udpPort, udp.map(osloMessage));
      expect(logFileHashes(dir)).toEqual(before);

      writeFileSync(join(dir, 'fault-release-start'), '');
      const s = await waitFor(running, (v) => v !== undefined || child.exitCode !== null, START_BOUND_MS);
      expect(s, output()).toBeDefined();
      const committed = await waitFor(() => running()?.last_committed_seq ?? -1, (n) => n >= 82, START_BOUND_MS);
      expect(committed, output()).toBe(82);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }

    const tags = storedTags(dir);
    expect(tags.slice(0, 3)).toEqual(range(3, 'before'));
    expect(tags.filter((t) => t.startsWith('tcp-'))).toEqual(range(40, 'tcp'));
    expect(tags.filter((t) => t.startsWith('udp-'))).toEqual(range(40, 'udp'));
    expect(tags.length).toBe(83);
    // The restart checkpoint sealed the old entries first; everything held came after it.
    const log = readLog(dir);
    const restart = log.checkpoints.find((c, i) => i >= checkpointsBefore && c.cp.reason === 'restart')!;
    expect(restart, 'a restart checkpoint').toBeDefined();
    expect(log.entries.filter((e) => e.seq >= 3).every((e) => e.block > restart.idx)).toBe(true);
    expect(existsSync(join(dir, 'fault-release-start'))).toBe(true);
    expectVerified(dir);
  });
});

describe('a stop asked for during the start', () => {
  it('SIGTERM while the start is held: the start finishes, what arrived is stored, then it stops cleanly (exit 0)', async () => {
    const dir = scratch.dir('immutalog-gate-term-');
    const d0 = await scratch.daemon(dir, ARGS);
    expect(await d0.stop()).toBe(0);
    const { child, out: output, exited } = heldServe(dir);
    try {
      const bound = await waitFor(() => /listening on udp:\/\/127\.0\.0\.1:(\d+), tcp:\/\/127\.0\.0\.1:(\d+)/.exec(output()) ?? undefined, (v) => v !== undefined, START_BOUND_MS);
      expect(bound, output()).toBeDefined();
      await sendUdp(Number(bound![1]), range(20, 'held').map(osloMessage));
      child.kill('SIGTERM');
      // Still alive: the signal waits for the start.
      await new Promise((r) => setTimeout(r, 300));
      expect(child.exitCode, output()).toBeNull();
      writeFileSync(join(dir, 'fault-release-start'), '');
      expect(await exited, output()).toEqual([0, null]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(storedTags(dir)).toEqual(range(20, 'held'));
    const r = verifyCli(dir, ['--identity', fingerprintOf(dir), ...BIG_AGE]);
    expect(r.code, summary(r)).toBe(0);
  });
});
