// Pure stream framer: bytes in, syslog frames out. The rules, with the reasons an operator
// needs: README, "Stream framing".
import { FLAG_INCOMPLETE, FLAG_TRUNCATED } from '../chain/entry-format.js';

export type FramingMode = 'auto' | 'octet' | 'lf' | 'nul';

export interface FramedMessage {
  raw: Buffer;
  /** FLAG_TRUNCATED and/or FLAG_INCOMPLETE; UTF-8 validity is judged by the caller. */
  flags: number;
}

/** RFC 6587 puts no limit on the count; 10 digits cover any 32-bit length a sender can hold, and
 * more digits than that are not a count but text that starts with a number. */
export const MAX_OCTET_COUNT_DIGITS = 10;
/** Bytes of an unfinished count header ("DIGITS SP") held across chunks, on top of maxFrameBytes. */
export const HEADER_SLACK_BYTES = MAX_OCTET_COUNT_DIGITS + 1;
/** First allocation for a terminator frame that spans chunks; doubles up to maxFrameBytes. Most
 * syslog lines fit, and small sizes come from Node's buffer pool. */
const INITIAL_FRAME_BYTES = 1024;

const LF = 0x0a;
const NUL = 0x00;
const SP = 0x20;
const LT = 0x3c;
const D0 = 0x30;
const D1 = 0x31;
const D9 = 0x39;

// Framer states.
const START = 0; // between frames
const HEADER = 1; // a count header is cut by the chunk end; its bytes are in hdrBuf
const OCTET = 2; // collecting an octet-counted frame
const OCTET_SKIP = 3; // dropping the tail of an over-long octet frame
const TERM = 4; // collecting a terminator frame
const TERM_SKIP = 5; // dropping the tail of an over-long terminator frame
const GARBAGE = 6; // 'octet' mode: bytes that are not a frame, up to the next valid count header

// Garbage scanner states: looking for `[1-9][0-9]{0,9} <` not preceded by a digit.
const G_IDLE = 0;
const G_CAND = 1; // digits of a candidate count
const G_SP = 2; // candidate count and its space seen
const G_RUN = 3; // digits that cannot be a count (leading 0, too long, or mid-number)

const NEED_MORE = -1;
const NOT_OCTET = -2;

export class StreamFramer {
  /** Dropped frames: no bytes (a terminator right after another), or only whitespace. */
  emptyFrames = 0;
  /** Bytes discarded: the tails of truncated frames. */
  skippedBytes = 0;
  /** 'octet' mode: runs of bytes that did not start with a count header (emitted as frames). */
  garbageFrames = 0;

  private readonly max: number;
  private readonly octetDetect: boolean;
  private readonly octetOnly: boolean;
  /** LF or NUL once decided; -1 while undecided ('auto') or unused ('octet'). */
  private termByte: number;
  private state = START;

  // The frame being collected when it spans chunks. Bytes beyond `max` are never kept.
  private acc: Buffer | null = null;
  private accLen = 0;

  private readonly hdrBuf = Buffer.alloc(HEADER_SLACK_BYTES);
  private hdrLen = 0;
  private hdrDigits = 0;
  private hdrVal = 0;
  private hdrSp = false;

  private octCount = 0; // the sender's count
  private octCap = 0; // min(count, max): bytes we keep
  private need = 0; // OCTET_SKIP: bytes left to drop

  private gState = G_IDLE;
  private gDigits = 0;
  private gVal = 0;
  private gSkipping = false; // this garbage run was already emitted truncated

  constructor(opts: { maxFrameBytes: number; mode?: FramingMode }) {
    const { maxFrameBytes, mode = 'auto' } = opts;
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
      throw new RangeError(`maxFrameBytes must be a positive integer, got ${maxFrameBytes}`);
    }
    this.max = maxFrameBytes;
    this.octetDetect = mode === 'auto' || mode === 'octet';
    this.octetOnly = mode === 'octet';
    this.termByte = mode === 'lf' ? LF : mode === 'nul' ? NUL : -1;
  }

  /** Bytes held for a frame not yet complete; at most maxFrameBytes + HEADER_SLACK_BYTES. */
  get bufferedBytes(): number {
    return this.accLen + this.hdrLen;
  }

  /** True while a frame has started but not ended (also while its over-long tail is skipped). */
  get inFrame(): boolean {
    return this.state !== START;
  }

  /** The connection's terminator: undefined until the first terminator decides it in 'auto' mode. */
  get terminator(): 'lf' | 'nul' | undefined {
    return this.termByte === LF ? 'lf' : this.termByte === NUL ? 'nul' : undefined;
  }

  push(chunk: Buffer): FramedMessage[] {
    const out: FramedMessage[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case START: i = this.start(chunk, i, out); break;
        case HEADER: i = this.header(chunk, i, out); break;
        case OCTET: i = this.octet(chunk, i, out); break;
        case OCTET_SKIP: {
          const s = Math.min(this.need, n - i);
          this.need -= s;
          this.skippedBytes += s;
          i += s;
          if (this.need === 0) this.state = START;
          break;
        }
        case TERM: i = this.term(chunk, i, out); break;
        case TERM_SKIP: {
          const t = this.findTerm(chunk, i);
          const stop = t < 0 ? n : t;
          this.skippedBytes += stop - i;
          i = stop;
          if (t >= 0) { i++; this.state = START; }
          break;
        }
        default: i = this.garbage(chunk, i, out);
      }
    }
    return out;
  }

  /** The stream closed: whatever frame was started is returned flagged FLAG_INCOMPLETE. */
  end(): FramedMessage[] {
    const out: FramedMessage[] = [];
    const s = this.state;
    if (s === HEADER) {
      out.push({ raw: Buffer.from(this.hdrBuf.subarray(0, this.hdrLen)), flags: FLAG_INCOMPLETE });
    } else if (s === OCTET && this.accLen > 0) {
      this.emitAcc(out, FLAG_INCOMPLETE);
    } else if (s === TERM && this.accLen > 0) {
      this.emitWhole(out, this.takeAcc(), FLAG_INCOMPLETE);
    } else if (s === GARBAGE) {
      this.dropCandidate(out);
      if (!this.gSkipping && this.accLen > 0) this.emitWhole(out, this.takeAcc(), FLAG_INCOMPLETE);
    }
    this.acc = null;
    this.accLen = 0;
    this.hdrLen = 0;
    this.state = START;
    return out;
  }

  private start(c: Buffer, i: number, out: FramedMessage[]): number {
    const b = c[i]!;
    if ((b === LF || b === NUL) && (this.termByte < 0 || b === this.termByte)) {
      // Doesn't decide the terminator: a stray blank line says nothing about the sender.
      this.emptyFrames++;
      return i + 1;
    }
    if (this.octetDetect && b >= D1 && b <= D9) {
      this.hdrDigits = 0;
      this.hdrVal = 0;
      this.hdrSp = false;
      const r = this.scanHeader(c, i);
      if (r >= 0) return this.beginOctet(c, r, this.hdrVal, out);
      if (r === NEED_MORE) {
        c.copy(this.hdrBuf, 0, i, c.length);
        this.hdrLen = c.length - i;
        this.state = HEADER;
        return c.length;
      }
    }
    // Not a count header: a terminator frame (or garbage) starting at i, rescanned from there.
    if (this.octetOnly) this.beginGarbage();
    else this.state = TERM;
    return i;
  }

  /** Continues a count header cut by a chunk boundary. */
  private header(c: Buffer, i: number, out: FramedMessage[]): number {
    const r = this.scanHeader(c, i);
    if (r >= 0) {
      this.hdrLen = 0;
      return this.beginOctet(c, r, this.hdrVal, out);
    }
    if (r === NEED_MORE) {
      c.copy(this.hdrBuf, this.hdrLen, i, c.length);
      this.hdrLen += c.length - i;
      return c.length;
    }
    // The held digits (and space) are the start of a non-octet frame.
    const held = this.hdrBuf.subarray(0, this.hdrLen);
    this.hdrLen = 0;
    if (this.octetOnly) {
      this.beginGarbage();
      // As if scanned: the held candidate failed at c[i], mid-number if it ended in a digit.
      this.gState = held[held.length - 1] === SP ? G_IDLE : G_RUN;
      this.appendGarbage(held, 0, held.length, out);
    } else {
      this.state = TERM;
      const over = this.keep(held, 0, held.length);
      if (over > 0) this.truncate(out, over, TERM_SKIP);
    }
    return i;
  }

  /** Runs the count-header recogniser from the saved state. Returns the index of the '<' that
   * starts the frame, NEED_MORE at the chunk end, or NOT_OCTET. */
  private scanHeader(c: Buffer, i: number): number {
    const n = c.length;
    let d = this.hdrDigits;
    let v = this.hdrVal;
    let sp = this.hdrSp;
    for (let j = i; j < n; j++) {
      const b = c[j]!;
      if (sp) {
        if (b !== LT) return NOT_OCTET;
        this.hdrVal = v;
        return j;
      }
      if (b >= D0 && b <= D9) {
        if (d === 0 ? b === D0 : d === MAX_OCTET_COUNT_DIGITS) return NOT_OCTET;
        v = v * 10 + (b - D0);
        d++;
      } else if (b === SP && d > 0) {
        sp = true;
      } else {
        return NOT_OCTET;
      }
    }
    this.hdrDigits = d;
    this.hdrVal = v;
    this.hdrSp = sp;
    return NEED_MORE;
  }

  /** Starts an octet frame of `count` bytes whose first byte is c[p]. */
  private beginOctet(c: Buffer, p: number, count: number, out: FramedMessage[]): number {
    const cap = count < this.max ? count : this.max;
    if (p + cap <= c.length) {
      // Common case: the kept part is inside this chunk, no copy.
      const truncated = count > cap;
      out.push({ raw: c.subarray(p, p + cap), flags: truncated ? FLAG_TRUNCATED : 0 });
      if (truncated) {
        this.need = count - cap;
        this.state = OCTET_SKIP;
      } else {
        this.state = START;
      }
      return p + cap;
    }
    this.octCount = count;
    this.octCap = cap;
    this.acc = Buffer.allocUnsafe(cap);
    this.accLen = 0;
    this.state = OCTET;
    return p;
  }

  private octet(c: Buffer, i: number, out: FramedMessage[]): number {
    const take = Math.min(this.octCap - this.accLen, c.length - i);
    this.keep(c, i, i + take);
    if (this.accLen === this.octCap) {
      if (this.octCount > this.octCap) {
        this.emitAcc(out, FLAG_TRUNCATED);
        this.need = this.octCount - this.octCap;
        this.state = OCTET_SKIP;
      } else {
        this.emitAcc(out, 0);
        this.state = START;
      }
    }
    return i + take;
  }

  private term(c: Buffer, i: number, out: FramedMessage[]): number {
    const t = this.findTerm(c, i);
    if (t < 0) {
      const over = this.keep(c, i, c.length);
      if (over > 0) this.truncate(out, over, TERM_SKIP);
      return c.length;
    }
    if (this.accLen === 0) {
      const len = t - i;
      if (len <= this.max) this.emitWhole(out, c.subarray(i, t), 0);
      else {
        out.push({ raw: c.subarray(i, i + this.max), flags: FLAG_TRUNCATED });
        this.skippedBytes += len - this.max;
      }
    } else {
      const over = this.keep(c, i, t);
      if (over > 0) this.truncate(out, over, START);
      else this.emitWhole(out, this.takeAcc(), 0);
    }
    this.state = START;
    return t + 1;
  }

  /** Index of the next terminator at or after i, deciding LF vs NUL on first sight in 'auto'. */
  private findTerm(c: Buffer, i: number): number {
    if (this.termByte >= 0) return c.indexOf(this.termByte, i);
    const nul = c.indexOf(NUL, i);
    // Any NUL in the bytes at hand means NUL framing, even after an LF: Python's SysLogHandler
    // and glibc stream mode send raw LFs inside NUL-terminated messages.
    if (nul >= 0) {
      this.termByte = NUL;
      return nul;
    }
    const lf = c.indexOf(LF, i);
    if (lf >= 0) this.termByte = LF;
    return lf;
  }

  private beginGarbage(): void {
    this.state = GARBAGE;
    this.gState = G_IDLE;
    this.gSkipping = false;
    this.garbageFrames++;
  }

  /** 'octet' mode resync: everything up to the next plausible count header is one frame. The
   * bytes of a candidate header are held in hdrBuf, not in the frame, until it proves valid or
   * not, so the result does not depend on where chunks end. */
  private garbage(c: Buffer, i: number, out: FramedMessage[]): number {
    const n = c.length;
    let s = this.gState;
    let d = this.gDigits;
    let v = this.gVal;
    let from = -1; // where the candidate header starts in this chunk, if it does
    for (let j = i; j < n; j++) {
      const b = c[j]!;
      if (s === G_SP) {
        if (b === LT) {
          this.appendGarbage(c, i, from < 0 ? i : from, out);
          return this.endGarbage(c, j, v, out);
        }
        s = G_IDLE;
        this.dropCandidate(out);
        from = -1;
      }
      const digit = b >= D0 && b <= D9;
      if (s === G_CAND) {
        if (digit && d < MAX_OCTET_COUNT_DIGITS) { d++; v = v * 10 + (b - D0); }
        else if (b === SP) s = G_SP;
        else {
          s = digit ? G_RUN : G_IDLE;
          this.dropCandidate(out);
          from = -1;
        }
      } else if (s === G_RUN) {
        if (!digit) s = G_IDLE;
      } else if (digit) {
        if (b === D0) s = G_RUN;
        else { s = G_CAND; d = 1; v = b - D0; from = j; }
      }
    }
    this.gState = s;
    this.gDigits = d;
    this.gVal = v;
    if (s === G_CAND || s === G_SP) {
      const start = from < 0 ? i : from; // a candidate without `from` began in an earlier chunk
      this.appendGarbage(c, i, start, out);
      c.copy(this.hdrBuf, this.hdrLen, start, n);
      this.hdrLen += n - start;
    } else {
      this.appendGarbage(c, i, n, out);
    }
    return n;
  }

  /** The candidate header turned out not to be one: its held bytes are garbage after all. */
  private dropCandidate(out: FramedMessage[]): void {
    if (this.hdrLen === 0) return;
    const held = this.hdrLen;
    this.hdrLen = 0;
    this.appendGarbage(this.hdrBuf, 0, held, out);
  }

  /** A valid header ends the garbage run; c[lt] is the '<' that starts the octet frame. */
  private endGarbage(c: Buffer, lt: number, count: number, out: FramedMessage[]): number {
    this.hdrLen = 0;
    if (!this.gSkipping && this.accLen > 0) this.emitWhole(out, this.takeAcc(), 0);
    this.acc = null;
    this.accLen = 0;
    return this.beginOctet(c, lt, count, out);
  }

  private appendGarbage(c: Buffer, from: number, to: number, out: FramedMessage[]): void {
    if (to <= from) return;
    if (this.gSkipping) {
      this.skippedBytes += to - from;
      return;
    }
    const over = this.keep(c, from, to);
    if (over > 0) {
      this.truncate(out, over, GARBAGE);
      this.gSkipping = true;
    }
  }

  /** The frame outgrew max: emit what is kept, count the rest, and drop its tail in `next`. */
  private truncate(out: FramedMessage[], over: number, next: number): void {
    this.emitAcc(out, FLAG_TRUNCATED);
    this.skippedBytes += over;
    this.state = next;
  }

  /** Copies c[from, to) into the frame being collected, up to max; returns the bytes that did not fit. */
  private keep(c: Buffer, from: number, to: number): number {
    const len = to - from;
    const room = this.max - this.accLen;
    const take = len < room ? len : room;
    if (take > 0) {
      const total = this.accLen + take;
      let acc = this.acc;
      if (acc === null || acc.length < total) {
        let cap = acc === null ? INITIAL_FRAME_BYTES : acc.length * 2;
        if (cap < total) cap = total;
        if (cap > this.max) cap = this.max;
        const grown = Buffer.allocUnsafe(cap);
        if (acc !== null) acc.copy(grown, 0, 0, this.accLen);
        this.acc = acc = grown;
      }
      c.copy(acc, this.accLen, from, from + take);
      this.accLen = total;
    }
    return len - take;
  }

  private emitAcc(out: FramedMessage[], flags: number): void {
    out.push({ raw: this.takeAcc(), flags });
  }

  private takeAcc(): Buffer {
    const raw = this.acc!.subarray(0, this.accLen);
    this.acc = null;
    this.accLen = 0;
    return raw;
  }

  /** A terminator frame or garbage run that is all whitespace ("\r" of a CRLF blank line, the
   * "\r\n" some senders put after octet frames) carries no message: count it as empty. */
  private emitWhole(out: FramedMessage[], raw: Buffer, flags: number): void {
    if (raw.length === 0 || (raw[0]! <= SP && isBlank(raw))) this.emptyFrames++;
    else out.push({ raw, flags });
  }
}

function isBlank(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    if (x !== SP && x !== 0x09 && x !== 0x0d && x !== LF && x !== NUL) return false;
  }
  return true;
}
