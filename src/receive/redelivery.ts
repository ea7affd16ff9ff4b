// Which RELP messages may be redeliveries: the rule is README "Redelivery"; the daemon counts by it
// as messages arrive, `query` marks by it from the stored entries, so both must use this code.
import { createHash } from 'node:crypto';

/**
 * How many earlier messages of one peer address on one listener a message is compared with.
 * After a break rsyslog's omrelp resends what it had not seen acknowledged: at most its window
 * (128 by default), sent first on the new connection; 1024 covers windows raised eightfold.
 */
export const REDELIVERY_WINDOW = 1024;
/**
 * How far back (in entries of the whole log) the history of a peer is read from the store: by
 * `query` before the first entry it prints, and by the daemon at its start. A resend follows its
 * original within seconds to minutes; at 10,000 messages/s from other senders this is 10 s.
 */
export const REDELIVERY_LOOKBACK_ENTRIES = 100_000;
/** Peers remembered per tracker; the least recently heard one is forgotten past this (memory bound). */
const MAX_PEERS = 1024;

/** True for the listener names of RELP listeners (`relp://…`, `relp-tls://…`). */
export function isRelpListener(name: string): boolean {
  return name.startsWith('relp://') || name.startsWith('relp-tls://');
}

interface PeerHistory {
  /** digest -> port -> how many of the last REDELIVERY_WINDOW messages carry it. */
  byDigest: Map<string, Map<number, number>>;
  ring: { digest: string; port: number }[];
  next: number;
}

/**
 * The last REDELIVERY_WINDOW messages of each (listener, peer address), as digests. A message is a
 * possible redelivery when one of them has the same bytes and came over another connection
 * (another peer port): a resend always comes on a new connection, and rsyslog stamps each
 * message it relays, so equal bytes from the same sender are almost never two messages.
 */
export class RedeliveryTracker {
  private readonly peers = new Map<string, PeerHistory>();

  /** Records the message; returns whether it is a possible redelivery. */
  observe(listener: string, address: string, port: number, raw: Uint8Array): boolean {
    const key = `${listener} ${address}`;
    let h = this.peers.get(key);
    if (h) {
      // Most recently heard last, so the first is the one to forget.
      this.peers.delete(key);
    } else {
      h = { byDigest: new Map(), ring: [], next: 0 };
      if (this.peers.size >= MAX_PEERS) this.peers.delete(this.peers.keys().next().value!);
    }
    this.peers.set(key, h);
    const digest = createHash('sha256').update(raw).digest('base64');
    const ports = h.byDigest.get(digest);
    let seen = false;
    if (ports) for (const [p, n] of ports) if (p !== port && n > 0) seen = true;
    if (h.ring.length === REDELIVERY_WINDOW) {
      const old = h.ring[h.next]!;
      const m = h.byDigest.get(old.digest)!;
      const n = m.get(old.port)! - 1;
      if (n > 0) m.set(old.port, n);
      else m.delete(old.port);
      if (m.size === 0) h.byDigest.delete(old.digest);
      h.ring[h.next] = { digest, port };
      h.next = (h.next + 1) % REDELIVERY_WINDOW;
    } else {
      h.ring.push({ digest, port });
    }
    const m = h.byDigest.get(digest) ?? new Map<number, number>();
    m.set(port, (m.get(port) ?? 0) + 1);
    h.byDigest.set(digest, m);
    return seen;
  }
}
