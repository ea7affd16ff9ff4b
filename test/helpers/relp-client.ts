// A small RELP client for the tests, speaking what librelp's client sends (open with its offers,
// syslog commands in a window, close), with the daemon's answers collected as they come.
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { encodeRelpFrame, nextTxnr, RelpParser, type RelpFrame } from '../../src/receive/relp-frame.js';
import { waitFor } from './daemon.js';

/** The offers librelp 1.x sends with `open` (relp_version first, as it writes them). */
export const LIBRELP_OFFERS = 'relp_version=0\nrelp_software=http://librelp.adiscon.com,1.11.0,librelp\ncommands=syslog';

export class RelpTestClient {
  /** Frames the daemon sent, in order (answers, and serverclose hints). */
  readonly received: RelpFrame[] = [];
  errors: string[] = [];
  closed = false;
  /** The next transaction number this client sends. */
  txnr = 1;
  private readonly parser = new RelpParser(1 << 20);

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.parser.push(chunk)) {
        if (ev.kind === 'frame') this.received.push(ev.frame);
        else this.errors.push(ev.message);
      }
    });
    socket.on('error', (e) => this.errors.push(e.message));
    socket.on('close', () => (this.closed = true));
  }

  /** Connects; with `tls`, over TLS with those options (ca, cert, key). */
  static connect(port: number, tls?: ConnectionOptions): Promise<RelpTestClient> {
    return new Promise((resolve, reject) => {
      const s: Socket = tls ? connectTls({ host: '127.0.0.1', port, servername: undefined, ...tls }) : connectTcp({ host: '127.0.0.1', port });
      s.once(tls ? 'secureConnect' : 'connect', () => {
        s.removeListener('error', reject);
        resolve(new RelpTestClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends one command with the next transaction number; returns that number. */
  send(command: string, data: Buffer | string = ''): number {
    const t = this.txnr;
    this.socket.write(encodeRelpFrame(t, command, data));
    this.txnr = nextTxnr(t);
    return t;
  }

  answer(txnr: number): RelpFrame | undefined {
    return this.received.find((f) => f.command === 'rsp' && f.txnr === txnr);
  }

  /** Waits for the answer to `txnr`. */
  async waitAnswer(txnr: number, timeoutMs = 20_000): Promise<RelpFrame> {
    await waitFor(() => this.answer(txnr) ?? (this.closed ? 'closed' : undefined), (v) => v !== undefined, timeoutMs, 10);
    const a = this.answer(txnr);
    if (!a) throw new Error(`no answer to transaction ${txnr}; connection ${this.closed ? 'closed' : 'open'}; received ${JSON.stringify(this.received.map((f) => `${f.txnr} ${f.command} ${f.data.toString('latin1')}`))}`);
    return a;
  }

  async waitClosed(timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.closed, (v) => v, timeoutMs, 10);
    if (!this.closed) throw new Error('the daemon did not close the connection');
  }

  /** `open` with librelp's offers; resolves with the answer's text. */
  async open(): Promise<string> {
    return (await this.waitAnswer(this.send('open', LIBRELP_OFFERS))).data.toString('latin1');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
