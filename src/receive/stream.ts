import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Allowlist } from './allowlist.js';
import { ConnectionSlots } from './conn-slots.js';
import { newCounters, type ListenerCounters } from './counters.js';
import { FLAG_INCOMPLETE, FLAG_TRUNCATED, utf8Flag } from '../chain/entry-format.js';
import { StreamFramer, type FramingMode, type FramedMessage } from './framing.js';
import type { FrameSink, Warn } from './sink.js';
import { nowUs } from '../chain/clock.js';

/**
 * TCP keepalive probes start after this much silence. A sender whose host vanished (power cut,
 * cable) without a FIN or RST leaves a half-open connection that would hold its slot forever; the
 * probes find it (after the kernel's probe count and interval, some 11 minutes on Linux defaults),
 * while a healthy quiet sender's kernel answers them and its application never notices.
 */
const KEEPALIVE_DELAY_MS = 60_000;

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
  /** Connections holding a slot, TLS handshakes included (see ConnectionSlots for who makes room). */
  maxConnections: number;
  maxConnectionsPerSource: number;
  /** A TLS handshake not finished this long after the accept is closed (a deadline, not an idle timer). */
  handshakeTimeoutMs: number;
  /** A connection that sends no byte for this long is closed; 0: never. */
  idleTimeoutMs: number;
  /** A connection holding a partial frame with no progress for this long is closed (slow senders). */
  frameTimeoutMs: number;
  framing: FramingMode;
  allow: Allowlist;
  sink: FrameSink;
  warn: Warn;
}

/** The options of node:tls's secure context: what a reload may replace. */
function contextOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.clientCa ? { ca: m.clientCa } : {}) };
}

/** What a reload may change in a running listener: it applies to connections accepted from then on. */
export type StreamLimits = Pick<StreamListenerOptions, 'maxConnections' | 'maxConnectionsPerSource' | 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'frameTimeoutMs'>;

/** One accepted connection, from the accept to its close. */
export interface Conn {
  readonly raw: Socket;
  readonly peerAddress: string;
  readonly peerPort: number;
  /** Where frames are read: the raw socket for TCP, the TLS socket once its handshake is done. */
  data: Socket | undefined;
  handshakeTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** Stores the partial frame (flagged incomplete), once; set while frames are read. */
  finish: (() => void) | undefined;
  /** Why we closed it: the TLS error its close then raises is ours, not the peer's. */
  closedBy: string | undefined;
  /** Set by a protocol that pauses its socket for reasons of its own (RELP): the drain's resume. */
  resume?: () => void;
}

/**
 * The socket node:tls wrapped. tls.Server keeps it in `_parent` (every Node version since 0.11)
 * and names it in no public API; the connection table is keyed by it.
 */
function wrappedSocket(s: TLSSocket): Socket | undefined {
  return (s as unknown as { _parent?: Socket })._parent;
}

/**
 * TCP or TLS syslog listener (RFC 6587 / RFC 5425 framing via StreamFramer). For both, a plain
 * net.Server accepts: the allowlist and the connection limits are applied to the raw socket, and
 * only then is a TLS socket handed to tls.Server, so a refused peer never gets a TLS byte.
 */
export class StreamListener {
  readonly counters: ListenerCounters = newCounters();
  name = '';
  protected server: Server | undefined;
  private tlsServer: TlsServer | undefined;
  /** Open connections by raw socket, from the accept until their close. */
  protected readonly conns = new Map<Socket, Conn>();
  /** The same, never emptied: node:tls reports a handshake error after the raw socket closed. */
  private readonly connOf = new WeakMap<Socket, Conn>();
  protected readonly slots: ConnectionSlots<Socket>;
  /** Connections paused because the write queue is congested, resumed at its drain. */
  protected readonly paused = new Set<Conn>();
  protected unsubscribeDrain: (() => void) | undefined;

  constructor(protected readonly opts: StreamListenerOptions) {
    this.slots = new ConnectionSlots({ total: opts.maxConnections, perSource: opts.maxConnectionsPerSource });
  }

  /** The transport stored in its entries. */
  get transport(): 'tcp' | 'tls' {
    return this.opts.tls ? 'tls' : 'tcp';
  }

  /** What happens to a frame cut off by a frame timeout, for the log line. */
  protected get partialFrameFate(): string {
    return 'storing it as incomplete and closing';
  }

  /** What status shows and its name starts with (`tcp://…`). */
  get kind(): string {
    return this.transport;
  }

  /** Connections holding a slot, TLS handshakes included. */
  get connections(): number {
    return this.slots.size;
  }

  /** Of those, TLS connections whose handshake has not finished. */
  get handshaking(): number {
    let n = 0;
    for (const c of this.conns.values()) if (!c.data && !c.closedBy) n++;
    return n;
  }

  async start(): Promise<void> {
    const o = this.opts;
    const server = createTcpServer();
    if (o.tls) {
      const tlsServer = createTlsServer({
        ...contextOptions(o.tls),
        ...(o.tls.clientCa ? { requestCert: true, rejectUnauthorized: true } : {}),
        // Node's own handshake timer is an idle timer (a byte every few seconds keeps it alive);
        // ours (onAccept) is a deadline.
        handshakeTimeout: 0,
      });
      tlsServer.on('tlsClientError', (e: Error, s: TLSSocket) => this.onTlsError(e, s));
      tlsServer.on('secureConnection', (s: TLSSocket) => this.onSecure(s));
      this.tlsServer = tlsServer;
    }
    server.on('connection', (s: Socket) => this.onAccept(s));
    this.server = server;
    // Named as configured until bound, so a bind error names the listener it concerns.
    this.name = `${this.kind}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: Error) => reject(new Error(`${this.name}: ${e.message}`)));
      server.listen({ host: o.host, port: o.port, ipv6Only: o.host.includes(':') && o.host !== '::' }, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    // Only after the bind: a bind error is the start's error (reported once, by the caller).
    server.on('error', (e) => o.warn('listener-error', `${this.name}: ${e.message}`));
    const a = server.address();
    if (a && typeof a === 'object') this.name = `${this.kind}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    this.unsubscribeDrain = o.sink.onDrain(() => this.resumeAll());
  }

  /**
   * New TLS material for handshakes from now on; open connections keep theirs. Throws (and keeps
   * the old material) when it does not make a context: bad PEM, a key that does not match the
   * certificate. Whether client certificates are asked for is fixed at start.
   */
  reloadTls(m: TlsMaterial): void {
    if (!this.tlsServer) return;
    // setSecureContext stores the options on the server before it builds the context: built
    // here first, a bad file throws before anything of the old material is touched.
    createSecureContext(contextOptions(m));
    this.tlsServer.setSecureContext(contextOptions(m));
    this.opts.tls = m;
  }

  setLimits(l: StreamLimits): void {
    Object.assign(this.opts, l);
    this.slots.setLimits({ total: l.maxConnections, perSource: l.maxConnectionsPerSource });
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** Before any byte is read or sent: the allowlist, then the limits. */
  private onAccept(raw: Socket): void {
    const o = this.opts;
    const peerAddress = raw.remoteAddress;
    const peerPort = raw.remotePort ?? 0;
    if (peerAddress === undefined) {
      // Reset by the peer before we got to it: nothing to refuse or serve.
      raw.destroy();
      return;
    }
    if (!o.allow.allows(peerAddress)) {
      this.counters.rejectedSources++;
      o.warn('source-rejected', `${this.name}: connection from ${peerAddress} is not in the allowlist; closed`);
      raw.destroy();
      return;
    }
    const verdict = this.slots.admit(raw, peerAddress, Date.now());
    if (!verdict.admitted) {
      if (verdict.reason === 'source-limit') {
        this.counters.rejectedPerSource++;
        o.warn('source-limit', `${this.name}: connection from ${peerAddress} refused: that source holds ${o.maxConnectionsPerSource} connections already (max_connections_per_source)`);
      } else {
        this.counters.rejectedConnections++;
        o.warn('connection-limit', `${this.name}: connection from ${peerAddress} refused: ${o.maxConnections} connections open and none can make room (max_connections)`);
      }
      raw.destroy();
      return;
    }
    if (verdict.evict) {
      const victim = this.conns.get(verdict.evict)!;
      this.counters.evictedConnections++;
      o.warn('connection-evicted', `${this.name}: ${victim.peerAddress}:${victim.peerPort} closed to make room for a connection from ${peerAddress} (${o.maxConnections} connections open, max_connections)`);
      this.close(victim, 'evicted');
    }
    const conn: Conn = { raw, peerAddress, peerPort, data: undefined, handshakeTimer: undefined, idleTimer: undefined, finish: undefined, closedBy: undefined };
    this.conns.set(raw, conn);
    this.connOf.set(raw, conn);
    raw.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    if (!this.tlsServer) {
      this.attach(conn, raw);
      return;
    }
    // The TLS socket reports what goes wrong (tlsClientError, or its own 'error' once secured).
    raw.on('error', () => {});
    raw.on('close', () => {
      if (!conn.data) this.forget(conn);
    });
    conn.handshakeTimer = setTimeout(() => {
      this.counters.handshakeTimeouts++;
      o.warn('handshake-timeout', `${this.name}: ${peerAddress}:${peerPort} did not finish its TLS handshake within ${o.handshakeTimeoutMs} ms; closed`);
      this.close(conn, 'handshake-timeout');
    }, o.handshakeTimeoutMs);
    this.tlsServer.emit('connection', raw);
  }

  private onSecure(s: TLSSocket): void {
    const raw = wrappedSocket(s);
    const conn = raw && this.connOf.get(raw);
    if (!conn || conn.closedBy) {
      s.destroy();
      return;
    }
    clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = undefined;
    this.attach(conn, s);
  }

  private onTlsError(e: Error, s: TLSSocket): void {
    const raw = wrappedSocket(s);
    const conn = raw && this.connOf.get(raw);
    s.destroy();
    raw?.destroy();
    if (conn?.closedBy) return;
    this.counters.tlsFailures++;
    this.opts.warn('tls-failure', `${this.name}: TLS handshake with ${conn?.peerAddress ?? raw?.remoteAddress ?? s.remoteAddress ?? 'a peer already gone'} failed: ${e.message}`);
  }

  /** Closes a connection on our side; its partial frame, if any, is stored incomplete. */
  protected close(conn: Conn, reason: string): void {
    if (conn.closedBy) return;
    conn.closedBy = reason;
    this.slots.release(conn.raw);
    conn.finish?.();
    conn.data?.destroy();
    conn.raw.destroy();
  }

  /** The connection is gone: its partial frame stored, its slot and timers freed. */
  protected forget(conn: Conn): void {
    clearTimeout(conn.handshakeTimer);
    clearTimeout(conn.idleTimer);
    conn.finish?.();
    this.slots.release(conn.raw);
    this.conns.delete(conn.raw);
    this.paused.delete(conn);
  }

  /**
   * The frame timeout (half a frame that stopped moving) and the idle timeout of a connection.
   * `inFrame`: part of a frame is held; `heldByUs`: we paused its socket, so it is not the sender
   * that stalls.
   */
  protected watchTimers(conn: Conn, socket: Socket, inFrame: () => boolean, heldByUs: () => boolean): void {
    const o = this.opts;
    const { peerAddress, peerPort } = conn;
    socket.setTimeout(o.frameTimeoutMs);
    socket.on('timeout', () => {
      // A quiet connection is normal (Python's handler keeps one open for hours); only a
      // half-sent frame that stopped moving is a slow or stuck sender.
      // A socket we paused for backpressure is not stalled by its sender: its bytes wait in the kernel.
      if (!inFrame() || heldByUs()) return;
      this.counters.frameTimeouts++;
      o.warn('frame-timeout', `${this.name}: ${peerAddress}:${peerPort} sent part of a frame and stalled for ${o.frameTimeoutMs} ms; ${this.partialFrameFate}`);
      this.close(conn, 'frame-timeout');
    });
    if (o.idleTimeoutMs > 0) {
      conn.idleTimer = setTimeout(() => {
        if (heldByUs()) {
          conn.idleTimer?.refresh();
          return;
        }
        this.counters.idleTimeouts++;
        o.warn('idle-timeout', `${this.name}: ${peerAddress}:${peerPort} sent nothing for ${o.idleTimeoutMs} ms (idle_timeout); closed`);
        this.close(conn, 'idle-timeout');
      }, o.idleTimeoutMs);
    }
  }

  /** Pauses a connection's socket while the write queue is congested (resumed at its drain). */
  protected pauseIfCongested(conn: Conn, socket: Socket): void {
    if (this.opts.sink.congested && !this.paused.has(conn)) {
      socket.pause();
      this.paused.add(conn);
      this.slots.setPinned(conn.raw, true);
    }
  }

  /** Reads frames from `socket` (the raw one, or the TLS one once secured). */
  protected attach(conn: Conn, socket: Socket): void {
    const o = this.opts;
    const { raw, peerAddress, peerPort } = conn;
    conn.data = socket;
    const framer = new StreamFramer({ maxFrameBytes: o.maxMessageBytes, mode: o.framing });
    let done = false;
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
    conn.finish = (): void => {
      if (done) return;
      done = true;
      deliver(framer.end());
      this.counters.emptyFrames += framer.emptyFrames;
    };
    this.watchTimers(conn, socket, () => framer.inFrame, () => this.paused.has(conn));
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      this.counters.bytes += chunk.length;
      conn.idleTimer?.refresh();
      const frames = framer.push(chunk);
      if (frames.length > 0) this.slots.spoke(raw, Date.now());
      else this.slots.touch(raw, Date.now());
      deliver(frames);
      this.pauseIfCongested(conn, socket);
    });
    socket.on('error', (e) => {
      this.counters.connectionErrors++;
      o.warn('connection-error', `${this.name}: ${peerAddress}:${peerPort}: ${e.message}`);
    });
    socket.on('end', () => {
      conn.finish?.();
      socket.end();
    });
    socket.on('close', () => this.forget(conn));
  }

  private resumeAll(): void {
    const paused = [...this.paused];
    this.paused.clear();
    for (const c of paused) {
      this.slots.setPinned(c.raw, false);
      // Its frame timer may have fired (and been ignored) while paused; it only restarts on activity.
      c.data?.setTimeout(this.opts.frameTimeoutMs);
      c.idleTimer?.refresh();
      if (c.resume) c.resume();
      else c.data?.resume();
    }
  }

  /** Stops accepting, then ends every connection so its partial frame is flushed. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.unsubscribeDrain?.();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of [...this.conns.values()]) {
      if (!c.data) {
        // Nothing was read from a handshake yet: nothing to wait for.
        this.close(c, 'stop');
        continue;
      }
      c.data.resume();
      c.data.end();
      c.data.destroySoon?.();
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    // The server reports closed once its last connection is destroyed, before the sockets' own
    // 'close' events run: flush each partial frame now, while the sink still takes frames.
    this.destroyRemaining();
  }

  /** The end of a stop: every connection still open is destroyed and forgotten now. */
  protected destroyRemaining(): void {
    for (const c of [...this.conns.values()]) {
      c.closedBy ??= 'stop';
      c.data?.destroy();
      c.raw.destroy();
      this.forget(c);
    }
    this.server = undefined;
  }
}
