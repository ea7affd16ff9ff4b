import { fileURLToPath } from 'node:url';
import { openBareSqlite, type Db } from './db.js';

/**
 * Verify's chunked read has SQLite lay out every row it reads (store/verify-read.ts). The
 * extension that `npm install` builds beside this file (node-gyp, src/store/rows-ext) does that
 * in C as one aggregate, immutalog_rows; without it the same bytes come from an SQL expression
 * (printf, unhex, group_concat) that costs about three times as much per row. It is loaded into
 * better-sqlite3's own SQLite, so it shares that library's file locks.
 *
 * This file sits two folders below the checkout both as src/store/*.ts and as dist/store/*.js,
 * so one path serves both.
 */
export const ROWS_EXTENSION_PATH = fileURLToPath(new URL('../../src/store/rows-ext/build/Release/immutalog_rows.node', import.meta.url));

/** IMMUTALOG_VERIFY_READ=extension requires the extension, =sql forces the SQL layout, unset or `auto` takes the extension when it loads. */
export const VERIFY_READ_ENV = 'IMMUTALOG_VERIFY_READ';

export type VerifyReadPath = 'extension' | 'sql';

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
  return process.env[VERIFY_READ_ENV] || 'auto';
}

/** Which layout verify's read of `db` uses, loading the extension into it when that is the one. */
export function verifyReadPath(db: Db): VerifyReadPath {
  const w = wanted();
  if (w === 'sql') return 'sql';
  const reason = loadRowsExtension(db);
  if (reason === undefined) return 'extension';
  // The CLI refuses to start under a setting it cannot honour (verifyReadRefusal), so this
  // only throws for a library caller that set one.
  if (w !== 'auto') throw new Error(verifyReadRefusal() ?? reason);
  return 'sql';
}

/** Why this process cannot read as IMMUTALOG_VERIFY_READ asks, or undefined when it can. */
export function verifyReadRefusal(): string | undefined {
  const w = wanted();
  if (w !== 'auto' && w !== 'extension' && w !== 'sql') return `${VERIFY_READ_ENV}: expected auto, extension or sql, got "${w}"`;
  if (w !== 'extension') return undefined;
  const db = openBareSqlite(':memory:', { timeout: 0 });
  try {
    const reason = loadRowsExtension(db);
    return reason === undefined ? undefined : `${VERIFY_READ_ENV}=extension, but ${reason}`;
  } finally {
    db.close();
  }
}

/** Why the extension does not load here (undefined when it does): for the test suite's client check. */
export function rowsExtensionMissing(): string | undefined {
  const db = openBareSqlite(':memory:', { timeout: 0 });
  try {
    return loadRowsExtension(db);
  } finally {
    db.close();
  }
}
