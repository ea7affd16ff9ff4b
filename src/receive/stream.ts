import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Allowlist } from './allowlist.js';
import { newCounters, type ListenerCounters } from './counters.js';
import { FLAG_INCOMPLETE, FLAG_TRUNCATED } from './flags.js';
import { StreamFramer, type FramingMode, type FramedMessage } from './framing.js';
import type { FrameSink, Warn } from './sink.js';
import { nowUs, utf8Flag } from './stamp.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (RFC 5425 mutual auth). */
  clientCa?: Buffer;
}

export interface StreamListenerOptions {
  host: string;
  port: number;
  tls?: TlsMaterial;
  maxMessageBytes: number;
  maxConnections: number;
  /** A connection holding a partial frame with no progress for this long is closed (slow senders). */
  frameTimeoutMs: number;
  framing: FramingMode;
  allow: Allowlist;
  sink: FrameSink;
  warn: Warn;
}

/** TCP or TLS syslog listener (RFC 6587 / RFC 5425 framing via StreamFramer). */
export class StreamListener {
  readonly counters: ListenerCounters = newCounters();
  name = '';
  private server: Server | undefined;
  /** Open connections, each with the function that flushes its partial frame and forgets it. */
  private readonly sockets = new Map<Socket, () => void>();
  private readonly paused = new Set<Socket>();
  private unsubscribeDrain: (() => void) | undefined;

  constructor(private readonly opts: StreamListenerOptions) {}

  get transport(): 'tcp' | 'tls' {
    return this.opts.tls ? 'tls' : 'tcp';
  }

  get connections(): number {
    return this.sockets.size;
  }

  async start(): Promise<void> {
    const o = this.opts;
    const server = o.tls
      ? createTlsServer({
          cert: o.tls.cert,
          key: o.tls.key,
          ...(o.tls.clientCa ? { ca: o.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
          handshakeTimeout: o.frameTimeoutMs,
        })
      : createTcpServer();
    server.maxConnections = o.maxConnections;
    server.on('drop', (d) => {
      this.counters.rejectedConnections++;
      o.warn('connection-limit', `${this.name}: connection from ${d?.remoteAddress} refused: ${o.maxConnections} connections already open`);
    });
    if (o.tls) {
      server.on('tlsClientError', (e: Error, s: TLSSocket) => {
        this.counters.tlsFailures++;
        o.warn('tls-failure', `${this.name}: TLS handshake with ${s.remoteAddress} failed: ${e.message}`);
      });
      server.on('secureConnection', (s: TLSSocket) => this.onConnection(s));
    } else {
      server.on('connection', (s: Socket) => this.onConnection(s));
    }
    server.on('error', (e) => o.warn('listener-error', `${this.name}: ${e.message}`));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: o.host, port: o.port, ipv6Only: o.host.includes(':') && o.host !== '::' }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    if (a && typeof a === 'object') this.name = `${this.transport}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    this.unsubscribeDrain = o.sink.onDrain(() => this.resumeAll());
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  private onConnection(socket: Socket): void {
    const o = this.opts;
    const peerAddress = socket.remoteAddress ?? '';
    const peerPort = socket.remotePort ?? 0;
    if (!o.allow.allows(peerAddress)) {
      this.counters.rejectedSources++;
      o.warn('source-rejected', `${this.name}: connection from ${peerAddress} is not in the allowlist; closed`);
      socket.destroy();
      return;
    }
    const framer = new StreamFramer({ maxFrameBytes: o.maxMessageBytes, mode: o.framing });
    let closed = false;
    const deliver = (frames: FramedMessage[]): void => {
      const c = this.counters;
      const at = nowUs();
      for (const f of frames) {
        if (f.flags & FLAG_TRUNCATED) c.truncated++;
        if (f.flags & FLAG_INCOMPLETE) c.incomplete++;
        const u = utf8Flag(f.raw);
        if (u) c.invalidUtf8++;
        c.received++;
        o.sink.accept({
          raw: f.raw, flags: f.flags | u, receivedAtUs: at, transport: this.transport,
          listener: this.name, peerAddress, peerPort,
        });
      }
    };
    const finish = (): void => {
      if (closed) return;
      closed = true;
      deliver(framer.end());
      this.counters.emptyFrames += framer.emptyFrames;
      this.sockets.delete(socket);
      this.paused.delete(socket);
    };
    this.sockets.set(socket, finish);
    socket.setTimeout(o.frameTimeoutMs);
    socket.on('timeout', () => {
      // A quiet connection is normal (Python's handler keeps one open for hours); only a
      // half-sent frame that stopped moving is a slow or stuck sender.
      // A socket we paused for backpressure is not stalled by its sender: its bytes wait in the kernel.
      if (!framer.inFrame || this.paused.has(socket)) return;
      this.counters.idleTimeouts++;
      o.warn('frame-timeout', `${this.name}: ${peerAddress}:${peerPort} sent part of a frame and stalled for ${o.frameTimeoutMs} ms; storing it as incomplete and closing`);
      finish();
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      this.counters.bytes += chunk.length;
      deliver(framer.push(chunk));
      if (o.sink.congested && !this.paused.has(socket)) {
        socket.pause();
        this.paused.add(socket);
      }
    });
    socket.on('error', (e) => {
      this.counters.connectionErrors++;
      o.warn('connection-error', `${this.name}: ${peerAddress}:${peerPort}: ${e.message}`);
    });
    socket.on('end', () => {
      finish();
      socket.end();
    });
    socket.on('close', finish);
  }

  private resumeAll(): void {
    for (const s of this.paused) {
      s.resume();
      // Its frame timer may have fired (and been ignored) while paused; it only restarts on activity.
      s.setTimeout(this.opts.frameTimeoutMs);
    }
    this.paused.clear();
  }

  /** Stops accepting, then ends every connection so its partial frame is flushed. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.unsubscribeDrain?.();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets.keys()) {
      s.resume();
      s.end();
      s.destroySoon?.();
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    // The server reports closed once its last connection is destroyed, before the sockets' own
    // 'close' events run: flush each partial frame now, while the sink still takes frames.
    for (const [s, finish] of [...this.sockets]) {
      s.destroy();
      finish();
    }
    this.server = undefined;
  }
}
