import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Allowlist } from './allowlist.js';
import { newCounters, type ListenerCounters } from './counters.js';
import { FLAG_TRUNCATED, utf8Flag } from '../chain/entry-format.js';
import type { FrameSink, Warn } from './sink.js';
import { nowUs } from '../chain/clock.js';

/**
 * Asked-for kernel receive buffer. Bursts from many Tacker workers, and the first second after a
 * start (V8 has not optimised the receive path yet), arrive faster than they are chained; the
 * kernel caps this at net.core.rmem_max (often 4 MiB), which etc/sysctl.d/60-immutalog.conf
 * raises to this size.
 */
export const UDP_RECV_BUFFER_BYTES = 32 * 1024 * 1024;

export interface UdpListenerOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  allow: Allowlist;
  sink: FrameSink;
  warn: Warn;
}

export class UdpListener {
  readonly counters: ListenerCounters = newCounters();
  name = '';
  private socket: Socket | undefined;

  constructor(private readonly opts: UdpListenerOptions) {}

  async start(): Promise<void> {
    const { host, port } = this.opts;
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(host) && host !== '::', recvBufferSize: UDP_RECV_BUFFER_BYTES });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (e: Error) => reject(new Error(`${`udp://${isIPv6(host) ? `[${host}]` : host}:${port}`}: ${e.message}`)));
      socket.bind(port, host, () => {
        socket.removeAllListeners('error');
        resolve();
      });
    });
    const addr = socket.address();
    this.name = `udp://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    socket.on('error', (e) => {
      this.counters.connectionErrors++;
      this.opts.warn('udp-error', `${this.name}: ${e.message}`);
    });
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
    // Linux reports twice the size it granted: the other half is its bookkeeping (socket(7)).
    const granted = Math.floor(socket.getRecvBufferSize() / 2);
    if (granted < UDP_RECV_BUFFER_BYTES) {
      const mib = (n: number): string => `${+(n / 1048576).toFixed(2)} MiB`;
      this.opts.warn('udp-buffer', `${this.name}: receive buffer ${mib(granted)}, expected ${mib(UDP_RECV_BUFFER_BYTES)} (net.core.rmem_max caps it); bursts beyond it are lost in the kernel. Install etc/sysctl.d/60-immutalog.conf or run: sysctl -w net.core.rmem_max=${UDP_RECV_BUFFER_BYTES}`);
    }
  }

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  private onMessage(msg: Buffer, address: string, port: number): void {
    const c = this.counters;
    if (!this.opts.allow.allows(address)) {
      c.rejectedSources++;
      this.opts.warn('source-rejected', `${this.name}: datagram from ${address} is not in the allowlist; dropped`);
      return;
    }
    if (msg.length === 0) {
      c.emptyFrames++;
      return;
    }
    let flags = 0;
    let raw = msg;
    if (msg.length > this.opts.maxMessageBytes) {
      raw = msg.subarray(0, this.opts.maxMessageBytes);
      flags |= FLAG_TRUNCATED;
      c.truncated++;
    }
    const u = utf8Flag(raw);
    if (u) c.invalidUtf8++;
    flags |= u;
    c.received++;
    c.bytes += msg.length;
    const queued = this.opts.sink.accept({
      raw, flags, receivedAtUs: nowUs(), transport: 'udp', listener: this.name, peerAddress: address, peerPort: port,
    });
    if (!queued) {
      c.queueDrops++;
      this.opts.warn('udp-queue-full', `${this.name}: write queue over its hard limit; datagram dropped`);
    }
  }

  async stop(): Promise<void> {
    const s = this.socket;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    this.socket = undefined;
  }
}
