import type { EntryRow, LogStore } from '../../src/store/log-store.js';

/** Stores rows as they are read back (field JSON as a string) through the store's one insert path. */
export function appendRows(store: LogStore, rows: readonly EntryRow[]): void {
  store.appendRowsFrom((insert) => {
    for (const r of rows) insert({ ...r, fieldsUtf8: Buffer.from(r.fields, 'utf8') });
  });
}
