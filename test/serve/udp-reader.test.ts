// The UDP readers on a real loopback socket, the C drain thread (src/serve/udp-drain.ts) and the JS
// reader thread (src/serve/udp-reader.ts): while the write queue is congested nothing reaches the
// listener, and once it drains every datagram does, in the order sent, with its peer and a receive
// time between its sending and its arrival; past the reader's memory limit datagrams are dropped
// and counted; a port in use is refused. Loaded from dist/ (npm test builds it first), because the
// JS thread's own module is the compiled udp-reader-thread.js.
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { describe, expect, it as vitestIt } from 'vitest';
import { waitFor } from '../helpers/daemon.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { sendUdp } from '../helpers/send.js';
import type { OpenDatagramSource } from '../../src/receive/udp.js';
import { needClients } from '../clients/available.js';

const { threadSource } = (await import(join(REPO_ROOT, 'dist', 'serve', 'udp-reader.js'))) as { threadSource: OpenDatagramSource };
const { drainSource } = (await import(join(REPO_ROOT, 'dist', 'serve', 'udp-drain.js'))) as { drainSource: OpenDatagramSource };
const { nowUs } = (await import(join(REPO_ROOT, 'dist', 'chain', 'clock.js'))) as { nowUs: () => number };
const drain = needClients('udp-drain');

/** A write queue stand-in whose congestion the test sets. */
function flow(): { congested: boolean; onDrain(fn: () => void): () => void; drain(): void } {
  const fns = new Set<() => void>();
  return {
    congested: true,
    onDrain: (fn) => (fns.add(fn), () => fns.delete(fn)),
    drain: () => fns.forEach((fn) => fn()),
  };
}

const SOURCES: [string, OpenDatagramSource][] = [['the C drain thread', drainSource], ['the JS reader thread', threadSource]];

describe.each(SOURCES)('%s', (name, source) => {
  const it = name.startsWith('the C') ? drain.it : vitestIt;
  it('holds datagrams while the queue is congested and hands every one on, in order, once it drains', async () => {
    const f = flow();
    const got: { text: string; peer: string }[] = [];
    const times: number[] = [];
    const src = await source({ host: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 }, f, (msg, address, port, at) => {
      got.push({ text: msg.toString(), peer: `${address}:${port}` });
      times.push(at);
    }, (e) => {
      throw e;
    });
    try {
      const msgs = Array.from({ length: 300 }, (_, i) => `<13>held ${i}`);
      const before = nowUs();
      await sendUdp(src.address.port, msgs);
      const after = nowUs();
      // Sent and read (the kernel's counter of the socket is empty) but not handed on.
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual([]);
      f.congested = false;
      f.drain();
      await waitFor(() => got.length, (n) => n >= msgs.length, 20_000);
      expect(got.map((g) => g.text)).toEqual(msgs);
      expect(new Set(got.map((g) => g.peer)).size).toBe(1);
      expect(got[0]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
      // Stamped when read off the socket, on the clock nowUs() reads: not when handed on.
      expect(Math.min(...times)).toBeGreaterThanOrEqual(before);
      expect(Math.max(...times)).toBeLessThanOrEqual(after + 5_000);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      // Not congested: straight through.
      await sendUdp(src.address.port, ['<13>after']);
      await waitFor(() => got.length, (n) => n > msgs.length, 20_000);
      expect(got.at(-1)!.text).toBe('<13>after');
      expect(src.dropped).toBe(0);
    } finally {
      await src.close();
    }
  });

  it('refuses a port in use with the reason, and frees its port on close', async () => {
    const taken = createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', r));
    const port = taken.address().port;
    const noop = (): void => {};
    await expect(source({ host: '127.0.0.1', port, recvBufferSize: 1 << 20 }, flow(), noop, noop)).rejects.toThrow(/EADDRINUSE/);
    taken.close();
    const src = await source({ host: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 }, flow(), noop, noop);
    const freed = src.address.port;
    await src.close();
    const again = createSocket('udp4');
    await new Promise<void>((r, j) => (again.once('error', j), again.bind(freed, '127.0.0.1', () => r())));
    again.close();
  });

  it('reads IPv6 on ::1 with the peer as Node names it', async () => {
    const f = flow();
    f.congested = false;
    const got: string[] = [];
    const src = await source({ host: '::1', port: 0, recvBufferSize: 1 << 20 }, f, (msg, address) => got.push(`${address} ${msg.toString()}`), (e) => {
      throw e;
    });
    try {
      expect(src.address).toMatchObject({ address: '::1', family: 'IPv6' });
      const sock = createSocket('udp6');
      await new Promise<void>((r, j) => sock.send('<13>six', src.address.port, '::1', (e) => (e ? j(e) : r())));
      sock.close();
      await waitFor(() => got.length, (n) => n >= 1, 20_000);
      expect(got).toEqual(['::1 <13>six']);
    } finally {
      await src.close();
    }
  });

  it('past its memory limit while congested, drops datagrams and counts them, and hands on the rest in order', async () => {
    const f = flow();
    const got: number[] = [];
    const src = await source({ host: '127.0.0.1', port: 0, recvBufferSize: 4 << 20 }, f, (msg) => got.push(msg.readUInt32BE(0)), (e) => {
      throw e;
    });
    try {
      // 12 MB of datagrams against the readers' 8 MiB, paced so that the kernel's buffer keeps up.
      const n = 3000;
      const msgs = Array.from({ length: n }, (_, i) => {
        const b = Buffer.alloc(4000, 0x61);
        b.writeUInt32BE(i, 0);
        return b;
      });
      await sendUdp(src.address.port, msgs, 20);
      await waitFor(() => src.dropped ?? 0, (d) => d > 0, 20_000);
      // Counted as they are dropped, while the queue is still congested.
      expect(src.dropped).toBeGreaterThan(0);
      f.congested = false;
      f.drain();
      await waitFor(() => got.length + (src.dropped ?? 0), (t) => t >= n, 20_000);
      expect(got.length + (src.dropped ?? 0)).toBe(n);
      expect(got.length).toBeGreaterThan(1500);
      expect(got).toEqual([...got].sort((a, b) => a - b));
    } finally {
      await src.close();
    }
  }, 60_000);
});
