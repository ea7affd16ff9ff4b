// The disk fills up under a real daemon: its data directory is a small tmpfs this test mounts
// (so it needs root), and a filler file takes the last free page. Commits, block switches,
// checkpoints and key-state writes then fail with ENOSPC for real. While full the daemon stays
// up, pushes back on TCP and counts the datagrams it drops; once space returns everything it
// accepted lands, in order, and checkpoints go on. Stopped while the disk stays full, it exits
// within 30 s and says exactly which accepted messages it could not write.

import { createSocket } from 'node:dgram';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { query, runCli, startDaemon, waitFor, type RunningDaemon } from '../helpers/daemon.js';
import { fill, metric, mountTmpfs, scrape, unmountAll } from '../helpers/disk-fill.js';
import { osloMessage, sleep, tagOf, waitExit } from '../helpers/tamper-log.js';

/** What SIGTERM may take at most, the disk full or not (the bound). */
const STOP_BOUND_MS = 30_000;

const probe = mountTmpfs();
const skipReason = 'skip' in probe ? probe.skip : undefined;
if (skipReason) console.warn(`disk-full tests skipped: ${skipReason}`);

afterAll(unmountAll);

/** Creates empty files in `dir` until the filesystem has no inode left. */
function takeInodes(dir: string): void {
  for (let i = 0; ; i++) {
    try {
      closeSync(openSync(join(dir, `i${Date.now()}-${i}`), 'wx'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw e;
    }
  }
}

/** A steady TCP stream of `tcp-N` messages that waits whenever the daemon pushes back. */
class TcpStream {
  sent = 0;
  private stopped = false;
  private readonly socket: Socket;
  private readonly done: Promise<void>;

  constructor(port: number, private readonly perTick = 20) {
    this.socket = connect({ port, host: '127.0.0.1' });
    this.socket.on('error', () => {});
    this.done = new Promise((resolve) => this.socket.on('close', () => resolve()));
    this.socket.once('connect', () => void this.run());
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const msgs: Buffer[] = [];
      for (let i = 0; i < this.perTick; i++) msgs.push(osloMessage(`tcp-${this.sent++}`), Buffer.from('\n'));
      if (!this.socket.write(Buffer.concat(msgs))) await new Promise<void>((r) => this.socket.once('drain', () => r()));
      await sleep(10);
    }
  }

  /** Stops producing; `end` also closes the connection once all written bytes went out. */
  async stop(end: boolean): Promise<void> {
    this.stopped = true;
    if (end) {
      this.socket.end();
      await this.done;
    }
  }

  destroy(): void {
    this.stopped = true;
    this.socket.destroy();
  }
}

/** `udp-N` datagrams at a steady rate. */
class UdpStream {
  sent = 0;
  private readonly socket = createSocket('udp4');
  private readonly timer: NodeJS.Timeout;

  constructor(port: number) {
    this.timer = setInterval(() => {
      for (let i = 0; i < 5; i++) this.socket.send(osloMessage(`udp-${this.sent++}`), port, '127.0.0.1');
    }, 20);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await sleep(200);
    this.socket.close();
  }
}

/** Polls the metrics endpoint (status.json cannot be rewritten while the disk is full). */
async function waitCommitFailures(port: number, takeAll: () => void, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    // Whatever the daemon freed (a temp file it removed) is taken back at once.
    takeAll();
    const n = metric(await scrape(port), 'immutalog_commit_failures_total');
    if (n >= 1 || Date.now() - t0 > timeoutMs) return n;
    await sleep(200);
  }
}

async function stopTimed(d: RunningDaemon): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  d.child.kill('SIGTERM');
  const r = await waitExit(d, STOP_BOUND_MS + 30_000);
  return { code: r.code, ms: Date.now() - t0 };
}

const auditorKey = (dir: string): string => join(dir, 'auditor-key.pem');

describe.skipIf(skipReason !== undefined)('a full disk', () => {
  /**
   * Runs the stream, takes the filesystem's last free `what` for a while, gives it back and
   * checks that everything accepted landed and the daemon goes on as before.
   */
  async function fullThenFreed(what: 'space' | 'inodes'): Promise<void> {
    const dir = (what === 'space' ? probe : mountTmpfs()) as { dir: string };
    const data = join(dir.dir, 'data');
    const fillers = join(dir.dir, 'fillers');
    mkdirSync(fillers);
    const d = await startDaemon({
      dataDir: data,
      args: ['--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--checkpoint-interval', '1', '--queue-high-water-bytes', String(1 << 20)],
    });
    const metricsPort = d.status().metrics_port as number;
    const tcp = new TcpStream(d.tcpPort);
    const udp = new UdpStream(d.udpPort);
    const takeAll = (): void => (what === 'space' ? fill(join(fillers, 'filler')) : takeInodes(fillers));
    try {
      await sleep(1500);
      takeAll();
      if (what === 'space') {
        expect(await waitCommitFailures(metricsPort, takeAll, 30_000), d.stderr()).toBeGreaterThanOrEqual(1);
      } else {
        // No file can be created, so the key state cannot be advanced after a checkpoint, while
        // SQLite, writing only to files it already has, goes on committing.
        const s = await waitFor(() => d.stderr(), (e) => /checkpoint failed: .*ENOSPC/.test(e), 30_000, 100);
        expect(s).toMatch(/checkpoint failed: .*ENOSPC/);
      }
      // Full for a while: several checkpoint intervals and many more messages.
      const sentWhenFull = tcp.sent;
      for (let i = 0; i < 8; i++) {
        await sleep(500);
        takeAll();
      }
      expect(d.child.exitCode, d.stderr()).toBeNull();
      expect(d.child.signalCode).toBeNull();
      if (what === 'space') expect(metric(await scrape(metricsPort), 'immutalog_commit_failures_total')).toBeGreaterThanOrEqual(1);
      expect(tcp.sent).toBeGreaterThan(sentWhenFull);

      rmSync(fillers, { recursive: true });
      await sleep(2000);
      // The sender's last bytes go out once the daemon reads again.
      const ended = await Promise.race([tcp.stop(true).then(() => true), sleep(60_000).then(() => false)]);
      expect(ended, `TCP sender still held back a minute after space returned:\n${d.stderr()}`).toBe(true);
      await udp.stop();
      // Every TCP message received and committed, and checkpoints written after that.
      const s = await waitFor(
        () => d.status(),
        (v) => v?.queue?.frames === 0 && v.queue.bytes === 0 && v.last_committed_seq === v.next_seq - 1 && v.listeners.find((l: any) => l.transport === 'tcp')?.counters.received === tcp.sent,
        60_000,
        100,
      );
      expect(s?.last_committed_seq, `${JSON.stringify(s)}\n${d.stderr()}`).toBe(s?.next_seq - 1);
      const cps = s.checkpoints_this_run as number;
      const after = await waitFor(() => d.status(), (v) => (v?.checkpoints_this_run ?? 0) > cps + 1, 30_000, 100);
      expect(after.checkpoints_this_run, d.stderr()).toBeGreaterThan(cps + 1);
      expect(after.queue.last_error).toBeNull();

      const stop = await stopTimed(d);
      expect(stop.code, d.stderr()).toBe(0);
      expect(stop.ms).toBeLessThan(STOP_BOUND_MS);
      expect(d.stderr()).not.toMatch(/seal of block/);

      const rows = query(data);
      expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i));
      const tags = rows.map((r) => tagOf(Buffer.from(r.raw, 'base64')));
      const tcpTags = tags.filter((t) => t.startsWith('tcp-'));
      // Each TCP message exactly once, in the order sent.
      expect(tcpTags.length).toBe(tcp.sent);
      expect(tcpTags.every((t, i) => t === `tcp-${i}`)).toBe(true);
      // Each datagram stored at most once, and each missing one counted as dropped.
      const udpTags = tags.filter((t) => t.startsWith('udp-'));
      expect(new Set(udpTags).size).toBe(udpTags.length);
      const c = d.status().listeners.find((l: any) => l.transport === 'udp').counters;
      expect(udp.sent - udpTags.length, JSON.stringify(c)).toBe(c.queueDrops + c.kernelDrops);
      expect(c.received).toBe(udpTags.length + c.queueDrops);

      const v = runCli(['verify', '--data-dir', data, '--auditor-key', auditorKey(data)]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    } finally {
      tcp.destroy();
      await udp.stop().catch(() => {});
      rmSync(fillers, { recursive: true, force: true });
      if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
    }
  }

  it('holds TCP senders, counts UDP drops, loses nothing accepted, and resumes commits and checkpoints once space returns', async () => {
    await fullThenFreed('space');
  });

  it('with no inode left the key state cannot be advanced after a checkpoint; once one is free it is, and no block is closed twice', async () => {
    await fullThenFreed('inodes');
  });

  it('stopped while the disk stays full: exits within 30 s, names the accepted messages it could not write, and a restart verifies', async () => {
    const m = mountTmpfs();
    if ('skip' in m) throw new Error(m.skip);
    const data = join(m.dir, 'data');
    const filler = join(m.dir, 'filler');
    const d = await startDaemon({
      dataDir: data,
      args: ['--tcp', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--checkpoint-interval', '1', '--queue-high-water-bytes', String(1 << 20)],
    });
    const tcp = new TcpStream(d.tcpPort);
    try {
      await sleep(1500);
      fill(filler);
      expect(await waitCommitFailures(d.status().metrics_port as number, () => fill(filler), 30_000), d.stderr()).toBeGreaterThanOrEqual(1);
      await sleep(2000);
      fill(filler);
      await tcp.stop(false);

      const stop = await stopTimed(d);
      expect(stop.ms, d.stderr()).toBeLessThan(STOP_BOUND_MS);
      // Non-zero, so that the service manager records a stop that lost messages.
      expect(stop.code).toBe(1);
      const log = d.stderr();
      const lost = /(\d+) accepted messages could not be written \(sequence numbers (\d+) to (\d+)\)/.exec(log);
      expect(lost, log).not.toBeNull();
      const [n, first, last] = [Number(lost![1]), Number(lost![2]), Number(lost![3])];
      expect(n).toBeGreaterThan(0);
      expect(last - first + 1).toBe(n);
      tcp.destroy();

      rmSync(filler);
      // The restart finds every committed message, closes the interrupted checkpoint, verifies.
      const again = await startDaemon({ dataDir: data, args: ['--tcp', '127.0.0.1:0', '--checkpoint-interval', '3600'] });
      expect((await stopTimed(again)).code, again.stderr()).toBe(0);
      const rows = query(data);
      expect(rows.length).toBe(first);
      expect(rows.map((r) => tagOf(Buffer.from(r.raw, 'base64')))).toEqual(rows.map((_, i) => `tcp-${i}`));
      const v = runCli(['verify', '--data-dir', data, '--auditor-key', auditorKey(data)]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    } finally {
      tcp.destroy();
      rmSync(filler, { force: true });
      if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
    }
  });
});
