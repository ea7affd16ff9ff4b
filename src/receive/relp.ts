// RELP listener (rsyslog's omrelp, librelp): the TCP/TLS listener's accept, allowlist, limits and
// TLS, with RELP sessions instead of syslog framing. A `syslog` command becomes a frame exactly as
// a TCP frame would (its DATA is the raw bytes), and its `rsp 200 OK` goes out only once the
// entry is committed: what rsyslog saw acknowledged is on disk, the rest it resends.
import type { Socket } from 'node:net';
import { FLAG_TRUNCATED, utf8Flag } from '../chain/entry-format.js';
import { nowUs } from '../chain/clock.js';
import type { RedeliveryTracker } from './redelivery.js';
import { encodeRelpFrame, nextTxnr, parseOffers, RelpParser, type RelpFrame } from './relp-frame.js';
import { StreamListener, type Conn, type StreamListenerOptions } from './stream.js';

/**
 * Commands read but not yet answered, per connection, past which we stop reading from it until
 * answers went out. omrelp never has more than its window (128 by default) in flight; a client
 * that does is not waiting for answers, and must not make us hold an unbounded queue for it.
 */
export const RELP_MAX_UNANSWERED = 1024;
/** Answered entries kept at the head of a session's answer queue before it is compacted. */
const COMPACT_AFTER = 1024;
/** After a stop's final commit, how long connections get to take their last answers and close. */
const FINISH_WAIT_MS = 2000;

/** What we answer an `open` with: librelp's protocol version 0 (the only one), and syslog. */
const OPEN_OFFERS = '200 OK\nrelp_version=0\nrelp_software=immutalog\ncommands=syslog';
/** librelp's "server closes" hint (transaction number 0, no answer expected). */
const SERVERCLOSE = encodeRelpFrame(0, 'serverclose', '');

export interface RelpListenerOptions extends StreamListenerOptions {
  /** Counts possible redeliveries (shared with nothing else: one per listener). */
  redelivery?: RedeliveryTracker;
}

/** One RELP session's state, for the stop. */
interface Session {
  /** Stop reading; answers still go out. */
  quiesce(): void;
  /** Sends the answers that are ready and the serverclose hint, then ends the connection. */
  finish(): void;
}

export class RelpListener extends StreamListener {
  private readonly sessions = new Map<Conn, Session>();
  private quiesced = false;

  constructor(protected override readonly opts: RelpListenerOptions) {
    super(opts);
  }

  override get kind(): string {
    return this.opts.tls ? 'relp-tls' : 'relp';
  }

  protected override get partialFrameFate(): string {
    return 'closing (its sender keeps every message until it is acknowledged, and resends it)';
  }

  protected override attach(conn: Conn, socket: Socket): void {
    const o = this.opts;
    const { raw, peerAddress, peerPort } = conn;
    const c = this.counters;
    conn.data = socket;
    // The client waits for our answers before it sends past its window: a small answer must not
    // wait for Nagle (through rsyslog, window 128, one round each: 35,118 msg/s, 30,202 with Nagle).
    socket.setNoDelay(true);
    const parser = new RelpParser(o.maxMessageBytes);
    /** Answers in command order; `bytes` undefined while its message is not committed. */
    const answers: { bytes: Buffer | undefined }[] = [];
    let head = 0;
    let expected = 1;
    let opened = false;
    /** No more commands are read (a close, an error, a stop). */
    let closing = false;
    /** The connection ends once every command read is answered (a close, an error, the stop's end). */
    let ending = false;
    /** Send the serverclose hint before ending (we close, not the client). */
    let hint = false;
    let ended = false;
    let gone = false;
    let unanswered = 0;

    const flow = (): void => {
      if (gone) return;
      const read = !closing && !this.paused.has(conn) && unanswered < RELP_MAX_UNANSWERED && !socket.writableNeedDrain;
      if (read && socket.isPaused()) socket.resume();
      else if (!read && !socket.isPaused()) socket.pause();
    };
    const flush = (): void => {
      // The peer's FIN ends our side too (allowHalfOpen is off): nothing more can be written.
      if (gone || ended || socket.writableEnded) return;
      const ready: Buffer[] = [];
      while (head < answers.length && answers[head]!.bytes) ready.push(answers[head++]!.bytes!);
      // One write for what a commit made ready (a window's answers), not one per answer.
      if (ready.length > 0) socket.write(ready.length === 1 ? ready[0]! : Buffer.concat(ready));
      if (head > COMPACT_AFTER && head * 2 > answers.length) {
        // A busy session never runs dry: the answered head is dropped as it outgrows the rest.
        answers.splice(0, head);
        head = 0;
      }
      if (head === answers.length) {
        answers.length = 0;
        head = 0;
        if (ending) {
          ended = true;
          if (hint) socket.write(SERVERCLOSE);
          socket.end();
        }
      }
      flow();
    };
    let flushQueued = false;
    /** A commit fires one callback per entry in a row: the answers go out together after the last. */
    const flushAfterCommit = (): void => {
      if (flushQueued) return;
      flushQueued = true;
      queueMicrotask(() => {
        flushQueued = false;
        flush();
      });
    };
    const answer = (txnr: number, text: string): void => {
      answers.push({ bytes: encodeRelpFrame(txnr, 'rsp', text) });
    };
    /** An error the peer caused: counted, logged, answered with a 500 when a command can carry it, then closed. */
    const refuse = (message: string, txnr?: number): void => {
      c.protocolErrors++;
      o.warn('relp-error', `${this.name}: ${peerAddress}:${peerPort}: ${message}; closing the connection`);
      if (txnr !== undefined) answer(txnr, `500 ${message}`.slice(0, 80));
      closing = ending = hint = true;
    };
    const syslog = (f: RelpFrame, at: number): void => {
      const slot: { bytes: Buffer | undefined } = { bytes: undefined };
      answers.push(slot);
      unanswered++;
      const truncated = f.dataLength > o.maxMessageBytes;
      const u = utf8Flag(f.data);
      if (truncated) c.truncated++;
      if (u) c.invalidUtf8++;
      c.received++;
      if (o.redelivery?.observe(this.name, peerAddress, peerPort, f.data)) c.possibleRedeliveries++;
      const txnr = f.txnr;
      o.sink.accept({
        raw: f.data, flags: (truncated ? FLAG_TRUNCATED : 0) | u, receivedAtUs: at, transport: this.transport,
        listener: this.name, peerAddress, peerPort,
        onCommitted: () => {
          slot.bytes = encodeRelpFrame(txnr, 'rsp', '200 OK');
          unanswered--;
          flushAfterCommit();
        },
      });
    };
    const command = (f: RelpFrame, at: number): void => {
      if (f.txnr !== expected) return refuse(`expected transaction number ${expected}, got ${f.txnr}`);
      expected = nextTxnr(expected);
      switch (f.command) {
        case 'syslog':
          if (!opened) return refuse('expected open before syslog, got syslog', f.txnr);
          return syslog(f, at);
        case 'open': {
          if (opened) return refuse('protocol error: connection already open', f.txnr);
          const version = parseOffers(f.data).get('relp_version');
          if (!version || version.length === 0) return refuse('expected a relp_version offer, got none', f.txnr);
          opened = true;
          return answer(f.txnr, OPEN_OFFERS);
        }
        case 'close':
          answer(f.txnr, '200 OK');
          closing = ending = true;
          return;
        default:
          return refuse(`expected open, syslog or close, got command ${JSON.stringify(f.command)}`, f.txnr);
      }
    };

    this.sessions.set(conn, {
      quiesce: () => {
        closing = true;
        flow();
      },
      finish: () => {
        closing = ending = hint = true;
        // Answers still waiting for a commit that will not come in this run: the client resends them.
        for (let i = head; i < answers.length; i++) answers[i]!.bytes ??= Buffer.alloc(0);
        flush();
      },
    });
    conn.resume = flow;
    // A client whose messages wait for their commit waits for us (its window is full), not idle.
    this.watchTimers(conn, socket, () => parser.inFrame, () => this.paused.has(conn) || unanswered > 0 || socket.writableNeedDrain);
    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      c.bytes += chunk.length;
      conn.idleTimer?.refresh();
      const at = nowUs();
      let frames = 0;
      for (const ev of parser.push(chunk)) {
        if (closing) break;
        if (ev.kind === 'error') refuse(ev.message);
        else {
          frames++;
          command(ev.frame, at);
        }
      }
      if (frames > 0) {
        this.slots.spoke(raw, Date.now());
        o.sink.flushSoon?.();
      } else {
        this.slots.touch(raw, Date.now());
      }
      this.pauseIfCongested(conn, socket);
      flush();
    });
    socket.on('drain', flow);
    socket.on('error', (e) => {
      c.connectionErrors++;
      o.warn('connection-error', `${this.name}: ${peerAddress}:${peerPort}: ${e.message}`);
    });
    socket.on('end', () => {
      closing = ending = true;
      flush();
    });
    socket.on('close', () => {
      gone = true;
      this.sessions.delete(conn);
      this.forget(conn);
    });
  }

  /**
   * The first half of a stop: no new connection, no more commands read; answers of messages
   * committed from now on still go out. finish() (after the final commit) ends the sessions.
   */
  quiesce(): void {
    if (this.quiesced || !this.server) return;
    this.quiesced = true;
    this.unsubscribeDrain?.();
    this.server.close();
    for (const c of [...this.conns.values()]) {
      const s = this.sessions.get(c);
      if (s) s.quiesce();
      // A TLS handshake not finished: it has sent nothing to answer.
      else if (!c.data) this.close(c, 'stop');
    }
  }

  /** Ends every session after its last answers and the serverclose hint; then the listener is closed. */
  override async stop(): Promise<void> {
    if (!this.server) return;
    this.quiesce();
    for (const s of this.sessions.values()) s.finish();
    const deadline = Date.now() + FINISH_WAIT_MS;
    while (this.conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.destroyRemaining();
  }
}
