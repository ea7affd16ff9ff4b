import { existsSync } from 'node:fs';
import { LogStore } from '../store/log-store.js';
import { dataPaths } from '../serve/data-dir.js';

/** Bundle format version, in the bundle's meta table (`bundle_format`). */
export const BUNDLE_FORMAT = '1';

export class ExportError extends Error {}

/**
 * `immutalog export`: a self-contained bundle for verification on another machine. It is an
 * SQLite file with the log's own schema, holding the identity, all checkpoints and block rows,
 * the anchors and their proofs, and the entries of the whole blocks that cover the range.
 */
export function runExport(o: { dataDir: string; out: string; sinceUs?: number; untilUs?: number }): { entries: number; firstSeq: number; endSeq: number } {
  if (existsSync(o.out)) throw new ExportError(`${o.out} exists; refusing to overwrite it`);
  const p = dataPaths(o.dataDir);
  if (!existsSync(p.database)) throw new ExportError(`no database at ${p.database}`);
  const store = LogStore.open(p.database, { create: false });
  try {
    const last = store.lastEntry();
    const end = last ? last.seq + 1 : 0;
    const from = o.sinceUs !== undefined ? store.firstSeqAtOrAfter(o.sinceUs) ?? end : 0;
    const to = o.untilUs !== undefined ? store.firstSeqAtOrAfter(o.untilUs) ?? end : end;
    const range = store.blockAlignedRange(from, Math.max(from, to));
    const nowUs = Date.now() * 1000;
    const { entries } = store.exportBundle(o.out, range.from, range.to, {
      bundle_format: BUNDLE_FORMAT,
      bundle_exported_at_us: String(nowUs),
      bundle_first_seq: String(range.from),
      bundle_end_seq: String(Math.min(range.to, end)),
      bundle_since_us: o.sinceUs !== undefined ? String(o.sinceUs) : '',
      bundle_until_us: String(o.untilUs ?? nowUs),
    });
    return { entries, firstSeq: range.from, endSeq: Math.min(range.to, end) };
  } finally {
    store.close();
  }
}

/** The range a bundle was made for, from its meta table; undefined for a live database. */
export function bundleRange(path: string): { firstSeq: number; endSeq: number; untilUs: number; sinceUs?: number } | undefined {
  const store = LogStore.open(path, { create: false, readonly: true });
  try {
    if (store.getMeta('bundle_format') === undefined) return undefined;
    const since = store.getMeta('bundle_since_us');
    return {
      firstSeq: Number(store.getMeta('bundle_first_seq')),
      endSeq: Number(store.getMeta('bundle_end_seq')),
      untilUs: Number(store.getMeta('bundle_until_us')),
      ...(since ? { sinceUs: Number(since) } : {}),
    };
  } finally {
    store.close();
  }
}
