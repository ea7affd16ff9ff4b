import { existsSync } from 'node:fs';
import type { Command } from './program.js';
import { decodeCheckpoint } from '../checkpoint/format.js';
import { LogStore } from '../store/log-store.js';
import { dataPaths } from '../log/data-dir.js';
import { blockMayHold, OPEN_END_US, type TimeRange } from '../verify/range.js';
import { CannotRun } from './cannot-run.js';
import { OtsProofs } from './ots-proofs.js';
import { CONFIG_OPTION, DATA_DIR_OPTION, dataDirOf, timeOpt } from './common-args.js';

/** Bundle format version, in the bundle's meta table (`bundle_format`). */
export const BUNDLE_FORMAT = '1';

export class ExportError extends Error {}

/**
 * The sequence range of the whole blocks a time range needs, chosen exactly as verify chooses
 * them: by the signed times of the checkpoints around each block (verify/range.ts), and the
 * unsealed tail when the range reaches past the newest checkpoint.
 */
function blocksForRange(store: LogStore, range: TimeRange, endOfLog: number): { from: number; to: number } {
  let from = Number.MAX_SAFE_INTEGER;
  let to = 0;
  let floorUs = Number(store.meta.get('created_at_us') ?? 0);
  let unsealedFrom = 0;
  for (const row of store.checkpoints.iterate(0)) {
    const cp = decodeCheckpoint(Buffer.from(row.bytes));
    if (blockMayHold({ fromUs: Math.min(floorUs, cp.timeUs), toUs: cp.timeUs }, range)) {
      from = Math.min(from, cp.firstSeq);
      to = Math.max(to, cp.firstSeq + cp.count);
    }
    floorUs = cp.timeUs;
    unsealedFrom = cp.firstSeq + cp.count;
  }
  if (endOfLog > unsealedFrom && blockMayHold({ fromUs: floorUs, toUs: OPEN_END_US }, range)) {
    from = Math.min(from, unsealedFrom);
    to = endOfLog;
  }
  return from > to ? { from: endOfLog, to: endOfLog } : { from, to };
}

/**
 * `immutalog export`: a self-contained bundle for verification on another machine. It is an
 * SQLite file with the log's own schema, holding the identity, all checkpoints and block rows,
 * the anchors and their proofs, and the entries of the whole blocks that cover the range.
 */
export function runExport(o: { dataDir: string; out: string; sinceUs?: number; untilUs?: number }): { entries: number; firstSeq: number; endSeq: number; otsProofs: number } {
  if (existsSync(o.out)) throw new ExportError(`${o.out} exists; refusing to overwrite it`);
  const p = dataPaths(o.dataDir);
  if (!existsSync(p.database)) throw new ExportError(`no database at ${p.database}`);
  const store = LogStore.open(p.database, { create: false });
  try {
    const last = store.entries.last();
    const end = last ? last.seq + 1 : 0;
    const nowUs = Date.now() * 1000;
    const range = blocksForRange(store, { ...(o.sinceUs !== undefined ? { sinceUs: o.sinceUs } : {}), untilUs: o.untilUs ?? nowUs }, end);
    const proofs = new OtsProofs(store);
    const ots = store.checkpoints.indexes().flatMap((i) => {
      const r = proofs.of(i);
      return r.ok ? [{ checkpoint: i, ots: r.ots }] : [];
    });
    const { entries } = store.bundle.export(o.out, range.from, range.to, {
      bundle_format: BUNDLE_FORMAT,
      bundle_exported_at_us: String(nowUs),
      // Informational: verify never takes what it checks from these (the operator wrote them).
      bundle_first_seq: String(range.from),
      bundle_end_seq: String(range.to),
      bundle_since_us: o.sinceUs !== undefined ? String(o.sinceUs) : '',
      bundle_until_us: String(o.untilUs ?? nowUs),
    }, ots);
    return { entries, firstSeq: range.from, endSeq: range.to, otsProofs: ots.length };
  } finally {
    store.close();
  }
}

/**
 * The range a bundle says it was made for, from its meta table; undefined for a live database.
 * The operator wrote it: verify shows it as the bundle's claim and proves only from signatures.
 */
export function bundleClaim(path: string): { untilUs: number; sinceUs?: number } | undefined {
  const store = LogStore.open(path, { create: false, readonly: true });
  try {
    if (store.meta.get('bundle_format') === undefined) return undefined;
    const since = Number(store.meta.get('bundle_since_us') || NaN);
    const until = Number(store.meta.get('bundle_until_us') || NaN);
    return {
      untilUs: Number.isSafeInteger(until) ? until : Date.now() * 1000,
      ...(Number.isSafeInteger(since) ? { sinceUs: since } : {}),
    };
  } finally {
    store.close();
  }
}

/** `immutalog export`. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a self-contained bundle (entries, checkpoints, disclosed keys, anchors with proofs, identity) for `verify --bundle` on another machine')
    .requiredOption('--out <file>', 'the bundle to write (must not exist)')
    .addOption(DATA_DIR_OPTION())
    .addOption(CONFIG_OPTION())
    .option('--since <time>', 'start of the range (whole blocks covering it are exported)')
    .option('--until <time>', 'end of the range (exclusive)')
    .action((o: { out: string; dataDir?: string; config?: string; since?: string; until?: string }) => {
      const since = timeOpt(o.since, '--since');
      const until = timeOpt(o.until, '--until');
      try {
        const r = runExport({ dataDir: dataDirOf(o), out: o.out, ...(since !== undefined ? { sinceUs: since } : {}), ...(until !== undefined ? { untilUs: until } : {}) });
        process.stdout.write(`exported entries ${r.firstSeq}..${r.endSeq - 1} (${r.entries}) with every checkpoint and anchor, and ${r.otsProofs} OpenTimestamps proofs (table ots_proofs), to ${o.out}\n`);
      } catch (e) {
        throw new CannotRun((e as Error).message);
      }
    });
}
