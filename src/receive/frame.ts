import type { TransportName } from '../chain/entry-format.js';

/** One syslog message as cut out of a datagram or a stream, before it is chained. */
export interface ReceivedFrame {
  /** Bytes exactly as received, after framing (octet count / terminator removed). */
  raw: Buffer;
  /** Receive time, microseconds since the Unix epoch. */
  receivedAtUs: number;
  transport: TransportName;
  /** The listener that accepted it, e.g. `tcp://127.0.0.1:5514`. */
  listener: string;
  peerAddress: string;
  peerPort: number;
  /** Bitwise OR of FLAG_* from chain/entry-format.ts. */
  flags: number;
  /**
   * Called once the entry is committed, in sequence order: RELP acknowledges a message only
   * then. Only RELP frames carry one, so the other listeners' hot paths pay nothing for it.
   */
  onCommitted?: () => void;
}
