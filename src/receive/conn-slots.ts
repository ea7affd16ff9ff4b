// Connection slots of one stream listener: the total and per-source limits, and which connection
// makes room for a new one when the listener is full. Pure: the listener passes the clock in and
// closes whatever this returns.

/**
 * A connection that delivered a message this recently is never evicted: a busy sender is not cut
 * for a newcomer, and after this long of silence no byte of it can still sit unread in our socket
 * (we read as bytes arrive, and a socket paused by our backpressure is never evicted).
 */
export const SPEAKER_EVICTION_MIN_IDLE_MS = 10_000;

export interface SlotLimits {
  total: number;
  perSource: number;
  speakerMinIdleMs?: number;
}

interface Slot {
  readonly source: string;
  /** It delivered at least one complete message: a sender, not just a held socket. */
  speaking: boolean;
  /** Paused by our own backpressure: its unread bytes wait in the kernel, so it is never cut. */
  pinned: boolean;
  lastActiveMs: number;
}

interface Source {
  count: number;
  /** Its speaking connections, least recently active first (a Map keeps insertion order). */
  speakers: Map<unknown, Slot>;
}

export type Admission<T> =
  | { admitted: true; evict?: T }
  | { admitted: false; reason: 'source-limit' | 'total-limit' };

/**
 * When the listener is full, a new connection takes the place of, in this order:
 * 1. the connection silent longest among those that never delivered a complete message (a bare
 *    TCP connection, a TLS handshake that has not finished, half a frame that stalled): what
 *    idle and half-open floods are made of, while real senders speak as soon as they connect;
 * 2. the speaking connection idle longest (at least SPEAKER_EVICTION_MIN_IDLE_MS) of the source
 *    holding the most connections, if that is the newcomer's own source (a sender that reconnects
 *    replaces its own stale connection) or holds at least two more than the newcomer's: nobody
 *    loses a connection to a source that would end up holding as many;
 * otherwise it is refused. A quiet sender with one connection (Python's SysLogHandler keeps one
 * for its whole life and never reconnects) is only ever cut for a newcomer when every source
 * holds at most as many connections as its own and nothing silent is left to evict, so that a
 * flood must first come from more sources than the listener has slots.
 */
export class ConnectionSlots<T> {
  private readonly slots = new Map<T, Slot>();
  /** Connections that never delivered a message, least recently active first. */
  private readonly silent = new Map<T, Slot>();
  private readonly sources = new Map<string, Source>();
  private readonly speakerMinIdleMs: number;

  constructor(private limits: SlotLimits) {
    this.speakerMinIdleMs = limits.speakerMinIdleMs ?? SPEAKER_EVICTION_MIN_IDLE_MS;
  }

  get size(): number {
    return this.slots.size;
  }

  /** New limits (a reload): held connections past them stay; new ones wait for room. */
  setLimits(l: SlotLimits): void {
    this.limits = { ...this.limits, ...l };
  }

  has(conn: T): boolean {
    return this.slots.has(conn);
  }

  countOf(source: string): number {
    return this.sources.get(source)?.count ?? 0;
  }

  /** Takes a slot for `conn`, or says why not. An `evict` connection has already lost its slot: close it. */
  admit(conn: T, source: string, nowMs: number): Admission<T> {
    const own = this.countOf(source);
    if (own >= this.limits.perSource) return { admitted: false, reason: 'source-limit' };
    let evict: T | undefined;
    if (this.slots.size >= this.limits.total) {
      evict = this.victim(source, own, nowMs);
      if (evict === undefined) return { admitted: false, reason: 'total-limit' };
      this.release(evict);
    }
    const slot: Slot = { source, speaking: false, pinned: false, lastActiveMs: nowMs };
    this.slots.set(conn, slot);
    this.silent.set(conn, slot);
    let s = this.sources.get(source);
    if (!s) this.sources.set(source, (s = { count: 0, speakers: new Map() }));
    s.count++;
    return evict === undefined ? { admitted: true } : { admitted: true, evict };
  }

  /** Bytes arrived on `conn`. */
  touch(conn: T, nowMs: number): void {
    const slot = this.slots.get(conn);
    if (!slot) return;
    slot.lastActiveMs = nowMs;
    const order = slot.speaking ? this.sources.get(slot.source)!.speakers : this.silent;
    order.delete(conn);
    order.set(conn, slot);
  }

  /** `conn` delivered a complete message. */
  spoke(conn: T, nowMs: number): void {
    const slot = this.slots.get(conn);
    if (!slot) return;
    if (!slot.speaking) {
      slot.speaking = true;
      this.silent.delete(conn);
    }
    this.touch(conn, nowMs);
  }

  setPinned(conn: T, pinned: boolean): void {
    const slot = this.slots.get(conn);
    if (slot) slot.pinned = pinned;
  }

  /** Frees `conn`'s slot; nothing happens when it holds none. */
  release(conn: T): void {
    const slot = this.slots.get(conn);
    if (!slot) return;
    this.slots.delete(conn);
    this.silent.delete(conn);
    const s = this.sources.get(slot.source)!;
    s.speakers.delete(conn);
    if (--s.count === 0) this.sources.delete(slot.source);
  }

  private victim(source: string, own: number, nowMs: number): T | undefined {
    for (const [conn, slot] of this.silent) if (!slot.pinned) return conn;
    // One pass over the sources (not the connections), and only when nothing silent is left.
    let best: { conn: T; count: number; lastActiveMs: number } | undefined;
    for (const [name, s] of this.sources) {
      if (name !== source && s.count <= own + 1) continue;
      let conn: T | undefined;
      let lastActiveMs = 0;
      for (const [c, slot] of s.speakers) {
        // Least recently active first: once one is too recent, so are the rest.
        if (nowMs - slot.lastActiveMs < this.speakerMinIdleMs) break;
        if (slot.pinned) continue;
        conn = c as T;
        lastActiveMs = slot.lastActiveMs;
        break;
      }
      if (conn === undefined) continue;
      if (!best || s.count > best.count || (s.count === best.count && lastActiveMs < best.lastActiveMs)) best = { conn, count: s.count, lastActiveMs };
    }
    return best?.conn;
  }
}
