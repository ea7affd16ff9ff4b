// Senders for the tests: syslog bytes to a daemon's loopback listeners, over UDP or one TCP
// connection, each resolving once the bytes have left (a datagram sent, a connection closed).
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Datagrams one by one (each awaited, a short pause every `pauseEvery`), so loopback does not
 * drop any: a burst of large datagrams can fill a socket buffer the receiver has not drained yet.
 */
export async function sendUdp(port: number, msgs: readonly (Buffer | string)[], pauseEvery = 10): Promise<void> {
  const sock = createSocket('udp4');
  try {
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      await new Promise<void>((resolve, reject) => sock.send(typeof m === 'string' ? Buffer.from(m) : m, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      if (i % pauseEvery === pauseEvery - 1) await sleep(5);
    }
  } finally {
    sock.close();
  }
}

/** One TCP connection carrying `bytes` as they are (framed by the caller); resolves once it closed cleanly. */
export async function sendStream(port: number, bytes: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', reject);
    s.on('connect', () => s.end(bytes));
    // Whatever the daemon writes back (nothing, today) must not hold the close up.
    s.resume();
    s.on('close', (hadError) => (hadError ? reject(new Error('tcp send failed')) : resolve()));
  });
}

/** One TCP connection, LF-framed, written in order; resolves once the socket closed cleanly. */
export function sendTcp(port: number, msgs: readonly Buffer[]): Promise<void> {
  return sendStream(port, Buffer.concat(msgs.flatMap((m) => [m, Buffer.from('\n')])));
}
