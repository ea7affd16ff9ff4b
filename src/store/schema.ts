/**
 * Bumped when the tables change incompatibly; openDb (db.ts) refuses a database of another
 * version. Dropping an unused table needed none: logs made before hold a `counters` table that
 * nothing ever wrote (the daemon's counters live in memory and start at zero with each
 * process); they open as before, and a bundle never copies it.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- One row per block, written when the block opens, before any of its entries.
CREATE TABLE IF NOT EXISTS blocks (
  block        INTEGER PRIMARY KEY,
  first_seq    INTEGER NOT NULL,
  opened_at_us INTEGER NOT NULL,
  escrow       BLOB NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS entries (
  seq            INTEGER PRIMARY KEY,
  block          INTEGER NOT NULL,
  received_at_us INTEGER NOT NULL,
  transport      INTEGER NOT NULL,
  flags          INTEGER NOT NULL,
  listener       TEXT NOT NULL,
  peer_address   TEXT NOT NULL,
  peer_port      INTEGER NOT NULL,
  raw            BLOB NOT NULL,
  mac            BLOB NOT NULL,
  -- Derived from raw by the parser; an index for queries, re-checked by verify.
  fields         TEXT NOT NULL
) STRICT;

-- Signed checkpoints; the bytes are the record (see README "Checkpoint v1"), time_us a copy for lookups.
CREATE TABLE IF NOT EXISTS checkpoints (
  idx     INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  bytes   BLOB NOT NULL
) STRICT;

-- Anchor rounds: one Bitcoin transaction each, committing to the root of a tree over the
-- hashes of every checkpoint that was not yet anchored. state: built | broadcast | mined | final.
CREATE TABLE IF NOT EXISTS anchors (
  id               INTEGER PRIMARY KEY,
  state            TEXT NOT NULL,
  root             BLOB NOT NULL,
  tree_size        INTEGER NOT NULL,
  txid             TEXT NOT NULL,
  tx_hex           TEXT NOT NULL,
  fee_sats         INTEGER NOT NULL,
  vsize            INTEGER NOT NULL,
  fee_rate         REAL NOT NULL,
  created_at_us    INTEGER NOT NULL,
  updated_at_us    INTEGER NOT NULL,
  broadcast_height INTEGER,
  bumps            INTEGER NOT NULL DEFAULT 0,
  block_hash       TEXT,
  block_height     INTEGER,
  tx_index         INTEGER,
  block_tx_count   INTEGER,
  branch           BLOB
) STRICT;

-- Every version of an anchor's transaction (replace-by-fee); whichever confirms proves the root.
CREATE TABLE IF NOT EXISTS anchor_txs (
  txid          TEXT PRIMARY KEY,
  anchor_id     INTEGER NOT NULL,
  root          BLOB NOT NULL,
  tree_size     INTEGER NOT NULL,
  tx_hex        TEXT NOT NULL,
  fee_sats      INTEGER NOT NULL,
  fee_rate      REAL NOT NULL,
  created_at_us INTEGER NOT NULL
) STRICT;

-- Each version's tree: a replacement may re-merkle checkpoints that arrived while the anchor was
-- stuck, and whichever version is mined decides which proofs hold.
CREATE TABLE IF NOT EXISTS anchor_version_proofs (
  txid       TEXT NOT NULL,
  checkpoint INTEGER NOT NULL,
  leaf_index INTEGER NOT NULL,
  tree_size  INTEGER NOT NULL,
  path       BLOB NOT NULL,
  PRIMARY KEY (txid, checkpoint)
) STRICT;

-- Each anchored checkpoint's inclusion proof in the tree of its anchor's current (or mined) version.
CREATE TABLE IF NOT EXISTS anchor_proofs (
  checkpoint INTEGER PRIMARY KEY,
  anchor_id  INTEGER NOT NULL,
  leaf_index INTEGER NOT NULL,
  tree_size  INTEGER NOT NULL,
  path       BLOB NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS entries_received_at ON entries(received_at_us);
`;
