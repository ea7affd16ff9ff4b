import { fileURLToPath } from 'node:url';
import { openBareSqlite, type Db } from './db.js';

/**
 * How rows go in and out of the entries table. The SQLite extension that `npm install` builds
 * beside this file (node-gyp, src/store/rows-ext) takes a sealed batch in as one BLOB
 * (immutalog_batch) and lays out verify's chunks (immutalog_rows) in C; without it the storage
 * thread binds eleven values per row and an SQL expression (printf, unhex, group_concat) lays
 * out the same chunk bytes, each at two to three times the cost. It is loaded into
 * better-sqlite3's own SQLite, so it shares that library's file locks.
 *
 * This file sits two folders below the checkout both as src/store/*.ts and as dist/store/*.js,
 * so one path serves both.
 */
export const ROWS_EXTENSION_PATH = fileURLToPath(new URL('../../src/store/rows-ext/build/Release/immutalog_rows.node', import.meta.url));

/** IMMUTALOG_ROWS=native requires the extension, =sql forces the plain SQL path, unset or `auto` takes the extension when it loads. */
export const ROWS_ENV = 'IMMUTALOG_ROWS';

export type RowsPath = 'native' | 'sql';

/** Why the extension cannot be loaded into `db`, or undefined once it is. */
export function loadRowsExtension(db: Db): string | undefined {
  try {
    // SQLite finds the entry point, sqlite3_immutalogrows_init, from the file's name.
    db.loadExtension(ROWS_EXTENSION_PATH);
    return undefined;
  } catch (e) {
    const message = (e as Error).message.split('\n')[0]!;
    return /cannot open shared object|No such file/.test(message)
      ? `the rows extension is not built (expected ${ROWS_EXTENSION_PATH}; run \`npm run build:native\`)`
      : `the rows extension at ${ROWS_EXTENSION_PATH} did not load: ${message}`;
  }
}

function wanted(): string {
  return process.env[ROWS_ENV] || 'auto';
}

/** Which path a connection's rows take, loading the extension into `db` when that is the one. */
export function rowsPath(db: Db): RowsPath {
  const w = wanted();
  if (w === 'sql') return 'sql';
  const reason = loadRowsExtension(db);
  if (reason === undefined) return 'native';
  // The CLI refuses to start under a setting it cannot honour (rowsRefusal), so this only
  // throws for a library caller that set one.
  if (w !== 'auto') throw new Error(rowsRefusal() ?? reason);
  return 'sql';
}

/** Why the extension does not load here (undefined when it does), from a throwaway connection. */
export function rowsExtensionMissing(): string | undefined {
  const db = openBareSqlite(':memory:', { timeout: 0 });
  try {
    return loadRowsExtension(db);
  } finally {
    db.close();
  }
}

/** Why this process cannot take rows as IMMUTALOG_ROWS asks, or undefined when it can. */
export function rowsRefusal(): string | undefined {
  const w = wanted();
  if (w !== 'auto' && w !== 'native' && w !== 'sql') return `${ROWS_ENV}: expected auto, native or sql, got "${w}"`;
  if (w !== 'native') return undefined;
  const reason = rowsExtensionMissing();
  return reason === undefined ? undefined : `${ROWS_ENV}=native, but ${reason}`;
}

let choice: { path: RowsPath; detail: string } | undefined;

/** For the start log and `status`: the path this process's connections take, and why (probed once). */
export function rowsChoice(): { path: RowsPath; detail: string } {
  if (choice) return choice;
  const reason = wanted() === 'sql' ? `${ROWS_ENV}=sql` : rowsExtensionMissing();
  choice = reason === undefined ? { path: 'native', detail: 'SQLite rows extension' } : { path: 'sql', detail: `plain SQL (${reason})` };
  return choice;
}
