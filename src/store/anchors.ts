import type { CheckpointRow } from './checkpoints.js';
import type { Db } from './db.js';

export type AnchorState = 'built' | 'broadcast' | 'mined' | 'final';

export interface AnchorRow {
  id: number;
  state: AnchorState;
  root: Buffer;
  tree_size: number;
  txid: string;
  tx_hex: string;
  fee_sats: number;
  vsize: number;
  fee_rate: number;
  created_at_us: number;
  updated_at_us: number;
  broadcast_height: number | null;
  bumps: number;
  block_hash: string | null;
  block_height: number | null;
  tx_index: number | null;
  block_tx_count: number | null;
  branch: Buffer | null;
}

export interface AnchorProofRow {
  checkpoint: number;
  anchor_id: number;
  leaf_index: number;
  tree_size: number;
  path: Buffer;
}

/** A checkpoint's inclusion proof in one version's tree, before it is filed under an anchor. */
export type VersionProof = Omit<AnchorProofRow, 'anchor_id'>;

/** One version of an anchor's transaction (replace-by-fee), as anchor_txs holds it. */
export interface AnchorVersion {
  txid: string;
  tx_hex: string;
  root: Buffer;
  tree_size: number;
  fee_sats: number;
  fee_rate: number;
}

/** A replacement version to record: a version, its virtual size and when it was made. */
export interface NewAnchorVersion extends AnchorVersion {
  vsize: number;
  at_us: number;
}

/**
 * The four anchor tables and the replace-by-fee rules over them: every version of an anchor's
 * transaction keeps its own tree (anchor_txs, anchor_version_proofs), the anchor row follows the
 * newest version until one is mined, and anchor_proofs holds the proofs of the version that
 * currently decides: the newest, then the mined one.
 */
export class Anchors {
  constructor(private readonly db: Db) {}

  /** A built anchor, its first transaction version and its proofs, in one transaction. */
  insert(a: Omit<AnchorRow, 'id'>, proofs: VersionProof[]): number {
    return this.db.transaction(() => {
      const id = Number(
        this.db
          .prepare(
            `INSERT INTO anchors (state, root, tree_size, txid, tx_hex, fee_sats, vsize, fee_rate, created_at_us, updated_at_us, broadcast_height, bumps, block_hash, block_height, tx_index, block_tx_count, branch)
             VALUES (@state, @root, @tree_size, @txid, @tx_hex, @fee_sats, @vsize, @fee_rate, @created_at_us, @updated_at_us, @broadcast_height, @bumps, @block_hash, @block_height, @tx_index, @block_tx_count, @branch)`,
          )
          .run(a).lastInsertRowid,
      );
      this.db.prepare('INSERT INTO anchor_txs (txid, anchor_id, root, tree_size, tx_hex, fee_sats, fee_rate, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(a.txid, id, a.root, a.tree_size, a.tx_hex, a.fee_sats, a.fee_rate, a.created_at_us);
      const ins = this.db.prepare('INSERT INTO anchor_proofs (checkpoint, anchor_id, leaf_index, tree_size, path) VALUES (?, ?, ?, ?, ?)');
      for (const p of proofs) ins.run(p.checkpoint, id, p.leaf_index, p.tree_size, p.path);
      this.insertVersionProofs(a.txid, proofs);
      return id;
    })();
  }

  update(id: number, fields: Partial<Omit<AnchorRow, 'id'>>): void {
    const keys = Object.keys(fields);
    if (keys.length === 0) return;
    this.db.prepare(`UPDATE anchors SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ ...fields, id });
  }

  /**
   * A replacement version of an anchor's transaction: a higher fee, and possibly a new root over
   * more checkpoints (those it adds are anchored by this anchor from now on).
   */
  addVersion(id: number, v: NewAnchorVersion, proofs: VersionProof[]): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT OR IGNORE INTO anchor_txs (txid, anchor_id, root, tree_size, tx_hex, fee_sats, fee_rate, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(v.txid, id, v.root, v.tree_size, v.tx_hex, v.fee_sats, v.fee_rate, v.at_us);
      this.insertVersionProofs(v.txid, proofs);
      this.db
        .prepare('UPDATE anchors SET txid = ?, tx_hex = ?, root = ?, tree_size = ?, fee_sats = ?, fee_rate = ?, vsize = ?, bumps = bumps + 1, updated_at_us = ? WHERE id = ?')
        .run(v.txid, v.tx_hex, v.root, v.tree_size, v.fee_sats, v.fee_rate, v.vsize, v.at_us, id);
      this.adoptProofs(id, v.txid);
    })();
  }

  /**
   * Version `txid` was mined: its proofs become the anchor's and the row takes `fields` (the
   * version and its block), in one transaction, so a crash never leaves the proofs of one
   * version under a row that names another.
   */
  adoptMinedVersion(id: number, txid: string, fields: Partial<Omit<AnchorRow, 'id'>>): void {
    this.db.transaction(() => {
      this.adoptProofs(id, txid);
      this.update(id, fields);
    })();
  }

  private insertVersionProofs(txid: string, proofs: VersionProof[]): void {
    const ins = this.db.prepare('INSERT OR REPLACE INTO anchor_version_proofs (txid, checkpoint, leaf_index, tree_size, path) VALUES (?, ?, ?, ?, ?)');
    for (const p of proofs) ins.run(txid, p.checkpoint, p.leaf_index, p.tree_size, p.path);
  }

  /**
   * The proofs of one version become the anchor's: checkpoints only a losing (later) version
   * covered lose their proof and go back to waiting for the next round. Inside a transaction only.
   */
  private adoptProofs(id: number, txid: string): void {
    this.db.prepare('DELETE FROM anchor_proofs WHERE anchor_id = ?').run(id);
    this.db
      .prepare('INSERT INTO anchor_proofs (checkpoint, anchor_id, leaf_index, tree_size, path) SELECT checkpoint, ?, leaf_index, tree_size, path FROM anchor_version_proofs WHERE txid = ?')
      .run(id, txid);
  }

  /** Every version of an anchor's transaction, oldest first. */
  versions(id: number): AnchorVersion[] {
    return this.db.prepare('SELECT txid, tx_hex, root, tree_size, fee_sats, fee_rate FROM anchor_txs WHERE anchor_id = ? ORDER BY created_at_us').all(id) as AnchorVersion[];
  }

  /** The checkpoints an anchor currently covers, in leaf order. */
  checkpointsOf(id: number): number[] {
    return (this.db.prepare('SELECT checkpoint FROM anchor_proofs WHERE anchor_id = ? ORDER BY leaf_index').all(id) as { checkpoint: number }[]).map((r) => r.checkpoint);
  }

  /** Every anchor, or those in one of `states`, in order. */
  list(states?: AnchorState[]): AnchorRow[] {
    if (!states) return this.db.prepare('SELECT * FROM anchors ORDER BY id').all() as AnchorRow[];
    return this.db.prepare(`SELECT * FROM anchors WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY id`).all(...states) as AnchorRow[];
  }

  get(id: number): AnchorRow | undefined {
    return this.db.prepare('SELECT * FROM anchors WHERE id = ?').get(id) as AnchorRow | undefined;
  }

  /** A checkpoint's proof in the tree of the anchor that covers it. */
  proofOf(checkpoint: number): AnchorProofRow | undefined {
    return this.db.prepare('SELECT * FROM anchor_proofs WHERE checkpoint = ?').get(checkpoint) as AnchorProofRow | undefined;
  }

  /** Checkpoints with no anchor proof yet, oldest first, with their stored bytes. */
  unanchoredCheckpoints(limit: number): CheckpointRow[] {
    return this.db
      .prepare('SELECT c.* FROM checkpoints c LEFT JOIN anchor_proofs p ON p.checkpoint = c.idx WHERE p.checkpoint IS NULL ORDER BY c.idx LIMIT ?')
      .all(limit) as CheckpointRow[];
  }

  /** How many checkpoints wait for an anchor, and the time of the oldest (null for none). */
  unanchoredSummary(): { count: number; oldestTimeUs: number | null } {
    const r = this.db.prepare('SELECT min(c.time_us) AS t, count(*) AS n FROM checkpoints c LEFT JOIN anchor_proofs p ON p.checkpoint = c.idx WHERE p.checkpoint IS NULL').get() as { t: number | null; n: number };
    return { count: r.n, oldestTimeUs: r.t };
  }

  /** The fees of the anchors that were mined (final ones included). */
  feesSpentSats(): number {
    return (this.db.prepare("SELECT coalesce(sum(fee_sats), 0) AS f FROM anchors WHERE state IN ('mined', 'final')").get() as { f: number }).f;
  }

  countByState(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, count(*) AS n FROM anchors GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
