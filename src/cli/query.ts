import { formatUs } from './time-arg.js';
import { TRANSPORT_BY_CODE } from '../chain/entry-format.js';
import { fieldsFromJson } from '../parse/index.js';
import { LogStore, type EntryFilter, type EntryRow } from '../store/log-store.js';
import { dataPaths } from '../log/data-dir.js';


function fieldsWithoutVersion(json: string): unknown {
  const { v: _v, ...f } = fieldsFromJson(json);
  return f;
}

export function entryToJson(r: EntryRow): Record<string, unknown> {
  return {
    seq: r.seq,
    received_at: formatUs(r.received_at_us),
    transport: TRANSPORT_BY_CODE[r.transport] ?? String(r.transport),
    listener: r.listener,
    peer: r.peer_address.includes(':') ? `[${r.peer_address}]:${r.peer_port}` : `${r.peer_address}:${r.peer_port}`,
    flags: r.flags,
    raw: r.raw.toString('base64'),
    fields: fieldsWithoutVersion(r.fields),
  };
}

/** One line per entry for people: control bytes escaped so a log line cannot forge another. */
export function entryToText(r: EntryRow): string {
  const text = r.raw.toString('utf8').replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return `${r.seq}\t${formatUs(r.received_at_us)}\t${r.peer_address}\t${text}`;
}

/** `out` returns false when its reader has gone (`query | head`): the scan stops there. */
export function runQuery(dataDir: string, filter: EntryFilter, json: boolean, out: (line: string) => boolean | void): number {
  const store = LogStore.open(dataPaths(dataDir).database, { create: false, readonly: true });
  let n = 0;
  try {
    for (const r of store.entries.query(filter)) {
      if (out(json ? JSON.stringify(entryToJson(r)) : entryToText(r)) === false) break;
      n++;
    }
  } finally {
    store.close();
  }
  return n;
}
