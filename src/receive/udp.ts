import { createSocket } from 'node:dgram';
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

/** Where a UDP listener's datagrams come from: its own socket here, or a thread that reads one (serve/). */
export interface DatagramSource {
  readonly address: { address: string; family: string; port: number };
  /** The receive buffer the kernel granted, in bytes (Linux reports twice it: the other half is its bookkeeping, socket(7)). */
  readonly grantedBytes: number;
  /** Datagrams the source itself dropped (a reader thread over its memory limit). */
  readonly dropped?: number;
  close(): Promise<void>;
}

/**
 * Binds `host:port`, asking for `recvBufferSize`; hands each datagram to `onDatagram` with its
 * receive time. A source that can hold datagrams itself waits while `flow` is congested.
 */
export type OpenDatagramSource = (
  bind: { host: string; port: number; recvBufferSize: number },
  flow: Pick<FrameSink, 'congested' | 'onDrain'>,
  onDatagram: (msg: Buffer, address: string, port: number, receivedAtUs: number) => void,
  onError: (e: Error) => void,
) => Promise<DatagramSource>;

export interface UdpListenerOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  allow: Allowlist;
  sink: FrameSink;
  warn: Warn;
  /** Default: a socket on this thread (socketSource). */
  source?: OpenDatagramSource;
}

/** A socket read on this thread, between the write path's other work. */
export const socketSource: OpenDatagramSource = async ({ host, port, recvBufferSize }, _flow, onDatagram, onError) => {
  const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(host) && host !== '::', recvBufferSize });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.removeAllListeners('error');
      resolve();
    });
  });
  socket.on('error', onError);
  socket.on('message', (msg, rinfo) => onDatagram(msg, rinfo.address, rinfo.port, nowUs()));
  return {
    address: socket.address(),
    grantedBytes: Math.floor(socket.getRecvBufferSize() / 2),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
};

export class UdpListener {
  readonly counters: ListenerCounters = newCounters();
  name = '';
  private source: DatagramSource | undefined;
  /** Queue drops counted here; the source's own are added by refreshDrops(). */
  private queueDropsHere = 0;
  /** The source's drops already counted (they were received, then dropped: both counters hold them). */
  private sourceDropsSeen = 0;

  constructor(private readonly opts: UdpListenerOptions) {}

  async start(): Promise<void> {
    const { host, port } = this.opts;
    const open = this.opts.source ?? socketSource;
    const source = await open({ host, port, recvBufferSize: UDP_RECV_BUFFER_BYTES }, this.opts.sink, (msg, address, peerPort, at) => this.deliver(msg, address, peerPort, at), (e) => {
      this.counters.connectionErrors++;
      this.opts.warn('udp-error', `${this.name}: ${e.message}`);
    }).catch((e: Error) => {
      throw new Error(`${`udp://${isIPv6(host) ? `[${host}]` : host}:${port}`}: ${e.message}`);
    });
    this.source = source;
    const addr = source.address;
    this.name = `udp://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    const granted = source.grantedBytes;
    if (granted < UDP_RECV_BUFFER_BYTES) {
      const mib = (n: number): string => `${+(n / 1048576).toFixed(2)} MiB`;
      this.opts.warn('udp-buffer', `${this.name}: receive buffer ${mib(granted)}, expected ${mib(UDP_RECV_BUFFER_BYTES)} (net.core.rmem_max caps it); bursts beyond it are lost in the kernel. Install etc/sysctl.d/60-immutalog.conf or run: sysctl -w net.core.rmem_max=${UDP_RECV_BUFFER_BYTES}`);
    }
  }

  get port(): number {
    return this.source?.address.port ?? 0;
  }

  /** One datagram, received at `receivedAtUs`: checked, counted and handed to the sink. */
  deliver(msg: Buffer, address: string, port: number, receivedAtUs: number): void {
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
      raw, flags, receivedAtUs, transport: 'udp', listener: this.name, peerAddress: address, peerPort: port,
    });
    if (!queued) {
      this.queueDropsHere++;
      this.refreshDrops();
      this.opts.warn('udp-queue-full', `${this.name}: write queue over its hard limit; datagram dropped`);
    }
  }

  /** Brings received and queueDrops up to date with the drops of the source (read for status). */
  refreshDrops(): void {
    const seen = this.source?.dropped ?? this.sourceDropsSeen;
    if (seen > this.sourceDropsSeen) this.opts.warn('udp-queue-full', `${this.name}: ${seen - this.sourceDropsSeen} datagrams dropped by the reader: the write queue stayed congested while they came`);
    this.counters.received += seen - this.sourceDropsSeen;
    this.sourceDropsSeen = seen;
    this.counters.queueDrops = this.queueDropsHere + seen;
  }

  async stop(): Promise<void> {
    const s = this.source;
    if (!s) return;
    await s.close();
    this.refreshDrops();
    this.source = undefined;
  }
}
