import { openDb, type Db } from './db.js';

/** Copied whole whatever the range: the signature chain runs through every checkpoint from the identity on, and the anchors prove them. */
const WHOLE_TABLES = ['blocks', 'checkpoints', 'anchors', 'anchor_txs', 'anchor_proofs'];

/**
 * Each mined checkpoint's OpenTimestamps proof, as `export-ots` writes it: with the checkpoints
 * table, an auditor needs no immutalog to check them, only sqlite3 and the OpenTimestamps tools.
 */
const OTS_TABLE = 'CREATE TABLE bundle.ots_proofs (checkpoint INTEGER PRIMARY KEY, ots BLOB NOT NULL) STRICT';

/** `immutalog export`'s copy; verify reads a bundle as it reads a log (LogStore.open on the file). */
export class Bundle {
  constructor(private readonly db: Db) {}

  /**
   * Copies into a new database file everything needed to verify entries [fromSeq, toSeq) on
   * another machine: the identity, every block row and checkpoint, the anchors with their
   * proofs, and the entries, with `bundleMeta` added to its meta. Never the key state.
   */
  export(target: string, fromSeq: number, toSeq: number, bundleMeta: Record<string, string>, otsProofs: readonly { checkpoint: number; ots: Buffer }[] = []): { entries: number } {
    openDb(target, { create: true }).close();
    this.db.prepare('ATTACH DATABASE ? AS bundle').run(target);
    try {
      return this.db.transaction(() => {
        this.db.exec("INSERT INTO bundle.meta SELECT * FROM main.meta WHERE key <> 'schema_version'");
        const setMeta = this.db.prepare('INSERT INTO bundle.meta (key, value) VALUES (?, ?)');
        for (const [k, v] of Object.entries(bundleMeta)) setMeta.run(k, v);
        for (const t of WHOLE_TABLES) this.db.exec(`INSERT INTO bundle.${t} SELECT * FROM main.${t}`);
        const n = this.db.prepare('INSERT INTO bundle.entries SELECT * FROM main.entries WHERE seq >= ? AND seq < ?').run(fromSeq, toSeq).changes;
        // Only in a bundle: a log derives them from its anchors (cli/ots-proofs.ts) whenever asked.
        this.db.exec(OTS_TABLE);
        const ins = this.db.prepare('INSERT INTO bundle.ots_proofs (checkpoint, ots) VALUES (?, ?)');
        for (const p of otsProofs) ins.run(p.checkpoint, p.ots);
        return { entries: n };
      })();
    } finally {
      this.db.exec('DETACH DATABASE bundle');
    }
  }
}
