// Pure RELP frame parser: bytes in, frames out, as rsyslog's librelp writes and reads them
// (librelp src/relpframe.c; doc/relp.md):
//   FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] LF
// TXNR and DATALEN are 1-9 digits, COMMAND 1-32 letters; DATA is present only when DATALEN > 0.

/** librelp latches transaction numbers at 999,999,999 (9 digits) and wraps to 1 after it. */
export const RELP_MAX_TXNR = 999_999_999;
/** TXNR and DATALEN are at most 9 digits in librelp (it aborts the session on a 10th). */
export const RELP_MAX_NUMBER_DIGITS = 9;
/** librelp's command buffer: at most 32 letters. */
export const RELP_MAX_COMMAND_LETTERS = 32;
/**
 * Data of a command other than `syslog` (the offers of `open`, an empty `close`): librelp caps
 * an offer's name at 32 and each value at 255 bytes, and sends three short offers. More than this
 * is not a RELP client talking, and must not cost memory.
 */
export const RELP_MAX_CONTROL_DATA_BYTES = 4096;

const LF = 0x0a;
const SP = 0x20;

/** The transaction number that follows `txnr` (librelp relpEngineNextTXNR). */
export function nextTxnr(txnr: number): number {
  return txnr >= RELP_MAX_TXNR ? 1 : txnr + 1;
}

export interface RelpFrame {
  txnr: number;
  command: string;
  /** DATA as received; for `syslog`, at most maxSyslogBytes of it (the head). */
  data: Buffer;
  /** DATALEN as declared; longer than data.length when a syslog message was truncated. */
  dataLength: number;
}

export type RelpEvent = { kind: 'frame'; frame: RelpFrame } | { kind: 'error'; message: string };

// Parser states.
const TXNR = 0;
const COMMAND = 1;
const DATALEN = 2;
const DATA = 3;
const TRAILER = 4;
const FAILED = 5;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

function show(c: number): string {
  return c >= 0x21 && c <= 0x7e ? `"${String.fromCharCode(c)}"` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/**
 * Cuts RELP frames out of a byte stream. A syslog message longer than `maxSyslogBytes` keeps its
 * head and skips the rest (as the TCP framer does with max_message_bytes: stored truncated, not
 * refused); any other command with more than RELP_MAX_CONTROL_DATA_BYTES of data, or a byte the
 * grammar does not allow, is an error, after which the parser takes nothing more (the session
 * must be closed: RELP has no way to find the next frame).
 */
export class RelpParser {
  private state = TXNR;
  private digits = 0;
  private txnr = 0;
  private command = '';
  private dataLength = 0;
  private data: Buffer = Buffer.alloc(0);
  /** Bytes of DATA kept so far. */
  private kept = 0;
  /** Bytes of DATA read so far (kept or skipped). */
  private read = 0;
  /** Bytes of the frame in progress, for the error messages. */
  private at = 0;

  constructor(private readonly maxSyslogBytes: number) {}

  /** Some of a frame has been read and not all of it. */
  get inFrame(): boolean {
    return this.state !== FAILED && (this.state !== TXNR || this.digits > 0);
  }

  get failed(): boolean {
    return this.state === FAILED;
  }

  push(chunk: Buffer): RelpEvent[] {
    const out: RelpEvent[] = [];
    let i = 0;
    const fail = (message: string): RelpEvent[] => {
      this.state = FAILED;
      out.push({ kind: 'error', message });
      return out;
    };
    while (i < chunk.length) {
      if (this.state === FAILED) return out;
      if (this.state === DATA) {
        const take = Math.min(chunk.length - i, this.dataLength - this.read);
        const keep = Math.min(take, this.data.length - this.kept);
        if (keep > 0) chunk.copy(this.data, this.kept, i, i + keep);
        this.kept += keep;
        this.read += take;
        i += take;
        if (this.read === this.dataLength) this.state = TRAILER;
        continue;
      }
      const c = chunk[i++]!;
      this.at++;
      switch (this.state) {
        case TXNR:
          if (isDigit(c)) {
            if (++this.digits > RELP_MAX_NUMBER_DIGITS) return fail(`expected a transaction number of at most ${RELP_MAX_NUMBER_DIGITS} digits, got more`);
            this.txnr = this.txnr * 10 + c - 0x30;
          } else if (c === SP && this.digits > 0) {
            this.state = COMMAND;
            this.digits = 0;
          } else {
            return fail(`expected a digit of a transaction number at byte ${this.at} of a frame, got ${show(c)}`);
          }
          break;
        case COMMAND:
          if (isAlpha(c)) {
            if (this.command.length === RELP_MAX_COMMAND_LETTERS) return fail(`expected a command of at most ${RELP_MAX_COMMAND_LETTERS} letters, got more`);
            this.command += String.fromCharCode(c);
          } else if (c === SP && this.command.length > 0) {
            this.state = DATALEN;
          } else {
            return fail(`expected a letter of a command at byte ${this.at} of frame ${this.txnr}, got ${show(c)}`);
          }
          break;
        case DATALEN:
          if (isDigit(c)) {
            if (++this.digits > RELP_MAX_NUMBER_DIGITS) return fail(`expected a data length of at most ${RELP_MAX_NUMBER_DIGITS} digits, got more`);
            this.dataLength = this.dataLength * 10 + c - 0x30;
          } else if (this.digits === 0) {
            return fail(`expected a digit of the data length of frame ${this.txnr}, got ${show(c)}`);
          } else if (this.dataLength === 0) {
            if (c !== LF) return fail(`expected LF after data length 0 of frame ${this.txnr}, got ${show(c)}`);
            this.emit(out);
          } else if (c === SP) {
            const max = this.command === 'syslog' ? this.maxSyslogBytes : RELP_MAX_CONTROL_DATA_BYTES;
            if (this.command !== 'syslog' && this.dataLength > max) return fail(`expected at most ${max} bytes of data for command "${this.command}", got a data length of ${this.dataLength}`);
            this.data = Buffer.allocUnsafe(Math.min(this.dataLength, max));
            this.state = DATA;
          } else {
            return fail(`expected SP after the data length of frame ${this.txnr}, got ${show(c)}`);
          }
          break;
        case TRAILER:
          if (c !== LF) return fail(`expected LF after the ${this.dataLength} bytes of data of frame ${this.txnr}, got ${show(c)}`);
          this.emit(out);
          break;
      }
    }
    return out;
  }

  private emit(out: RelpEvent[]): void {
    out.push({ kind: 'frame', frame: { txnr: this.txnr, command: this.command, data: this.data.subarray(0, this.kept), dataLength: this.dataLength } });
    this.state = TXNR;
    this.digits = 0;
    this.txnr = 0;
    this.command = '';
    this.dataLength = 0;
    this.data = Buffer.alloc(0);
    this.kept = 0;
    this.read = 0;
    this.at = 0;
  }
}

/** One RELP frame's bytes (a response, or a hint with txnr 0). */
export function encodeRelpFrame(txnr: number, command: string, data: Buffer | string): Buffer {
  const d = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const head = `${txnr} ${command} ${d.length}`;
  return d.length === 0 ? Buffer.from(`${head}\n`, 'latin1') : Buffer.concat([Buffer.from(`${head} `, 'latin1'), d, Buffer.from('\n', 'latin1')]);
}

/**
 * The offers of an `open` command's data (LF-separated `name=value,value`), as librelp reads
 * them; names and values are what the client sent, unchecked.
 */
export function parseOffers(data: Buffer): Map<string, string[]> {
  const offers = new Map<string, string[]>();
  for (const line of data.toString('latin1').split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    const values = eq < 0 ? [] : line.slice(eq + 1).split(',').filter((v) => v !== '');
    offers.set(name, values);
  }
  return offers;
}
