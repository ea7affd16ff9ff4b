// The UDP reader thread (src/serve/udp-reader.ts) on a real loopback socket: while the write
// queue is congested nothing reaches the listener, and once it drains every datagram does, in the
// order sent, with its peer; a port in use is refused. Loaded from dist/ (npm test builds it
// first), because the thread's own module is the compiled udp-reader-thread.js.
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/daemon.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { sendUdp } from '../helpers/send.js';
import type { OpenDatagramSource } from '../../src/receive/udp.js';

const { threadSource } = (await import(join(REPO_ROOT, 'dist', 'serve', 'udp-reader.js'))) as { threadSource: OpenDatagramSource };

/** A write queue stand-in whose congestion the test sets. */
function flow(): { congested: boolean; onDrain(fn: () => void): () => void; drain(): void } {
  const fns = new Set<() => void>();
  return {
    congested: true,
    onDrain: (fn) => (fns.add(fn), () => fns.delete(fn)),
    drain: () => fns.forEach((fn) => fn()),
  };
}

describe('the UDP reader thread', () => {
  it('holds datagrams while the queue is congested and hands every one on, in order, once it drains', async () => {
    const f = flow();
    const got: { text: string; peer: string }[] = [];
    const src = await threadSource({ host: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 }, f, (msg, address, port) => got.push({ text: msg.toString(), peer: `${address}:${port}` }), (e) => {
      throw e;
    });
    try {
      const msgs = Array.from({ length: 300 }, (_, i) => `<13>held ${i}`);
      await sendUdp(src.address.port, msgs);
      // Sent and read (the kernel's counter of the socket is empty) but not handed on.
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual([]);
      f.congested = false;
      f.drain();
      await waitFor(() => got.length, (n) => n >= msgs.length, 20_000);
      expect(got.map((g) => g.text)).toEqual(msgs);
      expect(new Set(got.map((g) => g.peer)).size).toBe(1);
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
    await expect(threadSource({ host: '127.0.0.1', port, recvBufferSize: 1 << 20 }, flow(), noop, noop)).rejects.toThrow(/EADDRINUSE/);
    taken.close();
    const src = await threadSource({ host: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 }, flow(), noop, noop);
    const freed = src.address.port;
    await src.close();
    const again = createSocket('udp4');
    await new Promise<void>((r, j) => (again.once('error', j), again.bind(freed, '127.0.0.1', () => r())));
    again.close();
  });
});
