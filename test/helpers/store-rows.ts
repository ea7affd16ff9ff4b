import type { EntryInsert, EntryRow, LogStore } from '../../src/store/log-store.js';

/** A row as read back (field JSON as a string) in the form the store's insert takes. */
export const asInsert = (r: EntryRow): EntryInsert => ({ ...r, fieldsUtf8: Buffer.from(r.fields, 'utf8') });

/** Stores rows as they are read back through the store's one insert path. */
export function appendRows(store: LogStore, rows: readonly EntryRow[]): void {
  store.entries.append((insert) => {
    for (const r of rows) insert(asInsert(r));
  });
}
