import { formatUs } from './time-arg.js';
import { TRANSPORT_BY_CODE } from '../chain/entry-format.js';
import { fieldsFromJson } from '../parse/index.js';
import { LogStore, type EntryFilter, type EntryRow } from '../store/log-store.js';
import { dataPaths } from '../log/data-dir.js';
import { isRelpListener, RedeliveryTracker, REDELIVERY_LOOKBACK_ENTRIES } from '../receive/redelivery.js';


function fieldsWithoutVersion(json: string): unknown {
  const { v: _v, ...f } = fieldsFromJson(json);
  return f;
}

/** `redelivery`: for an entry of a RELP listener, whether it is a possible redelivery (README "Redelivery"). */
export function entryToJson(r: EntryRow, redelivery?: boolean): Record<string, unknown> {
  return {
    seq: r.seq,
    received_at: formatUs(r.received_at_us),
    transport: TRANSPORT_BY_CODE[r.transport] ?? String(r.transport),
    listener: r.listener,
    peer: r.peer_address.includes(':') ? `[${r.peer_address}]:${r.peer_port}` : `${r.peer_address}:${r.peer_port}`,
    flags: r.flags,
    raw: r.raw.toString('base64'),
    fields: fieldsWithoutVersion(r.fields),
    ...(redelivery !== undefined ? { possible_redelivery: redelivery } : {}),
  };
}

/** One line per entry for people: control bytes escaped so a log line cannot forge another. */
export function entryToText(r: EntryRow, redelivery?: boolean): string {
  const text = r.raw.toString('utf8').replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return `${r.seq}\t${formatUs(r.received_at_us)}\t${r.peer_address}\t${redelivery ? '[possible redelivery] ' : ''}${text}`;
}

/** `out` returns false when its reader has gone (`query | head`): the scan stops there. */
export function runQuery(dataDir: string, filter: EntryFilter, json: boolean, out: (line: string) => boolean | void): number {
  const store = LogStore.open(dataPaths(dataDir).database, { create: false, readonly: true });
  const marks = new RedeliveryMarks(dataPaths(dataDir).database);
  let n = 0;
  try {
    for (const r of store.entries.query(filter)) {
      const m = marks.of(r);
      if (out(json ? JSON.stringify(entryToJson(r, m)) : entryToText(r, m)) === false) break;
      n++;
    }
  } finally {
    marks.close();
    store.close();
  }
  return n;
}

/**
 * The redelivery rule applied to stored entries: the RELP entries of the log are replayed through
 * the tracker in sequence order, from REDELIVERY_LOOKBACK_ENTRIES before the first one printed, on
 * a connection of its own (the query's is busy iterating).
 */
class RedeliveryMarks {
  private store: LogStore | undefined;
  private history: Iterator<Pick<EntryRow, 'seq' | 'listener' | 'peer_address' | 'peer_port' | 'raw'>> | undefined;
  private readonly tracker = new RedeliveryTracker();

  constructor(private readonly database: string) {}

  /** undefined for an entry of another listener than RELP. */
  of(r: EntryRow): boolean | undefined {
    if (!isRelpListener(r.listener)) return undefined;
    if (!this.history) {
      this.store = LogStore.open(this.database, { create: false, readonly: true });
      this.history = this.store.entries.relpHistory(Math.max(0, r.seq - REDELIVERY_LOOKBACK_ENTRIES));
    }
    for (let h = this.history.next(); !h.done; h = this.history.next()) {
      const e = h.value;
      const seen = this.tracker.observe(e.listener, e.peer_address, e.peer_port, e.raw);
      if (e.seq >= r.seq) return e.seq === r.seq && seen;
    }
    return false;
  }

  close(): void {
    this.history?.return?.();
    this.store?.close();
  }
}
