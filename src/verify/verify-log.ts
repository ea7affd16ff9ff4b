import { openEscrow, EscrowError } from '../chain/escrow.js';
import type { RawKeyPair } from '../chain/keys.js';
import { genesisHash } from '../chain/mac.js';
import { LogStore, type BlockRow } from '../store/log-store.js';
import { checkChain } from './chain-check.js';
import type { Failure } from './failures.js';

export interface VerifyReport {
  fingerprint: string;
  entries: number;
  blocks: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  unverifiedBlocks: number[];
  failures: Failure[];
}

/**
 * Checks a whole log from its database: continuity, block filing, every MAC and every parsed
 * field. Block keys come from the auditor's escrow (checkpoint disclosure comes later).
 * Read-only; never imports the write path.
 */
export function verifyDatabase(databasePath: string, opts: { auditor?: RawKeyPair }): VerifyReport {
  const store = LogStore.open(databasePath, { create: false, readonly: true });
  try {
    const identityHex = store.getMeta('identity_public');
    const fingerprint = store.getMeta('fingerprint') ?? '';
    if (identityHex === undefined) throw new Error(`${databasePath}: no log identity in this database`);
    const identity = Buffer.from(identityHex, 'hex');
    const blocks = store.blocks();
    const failures: Failure[] = [];
    const keys = new Map<number, Buffer>();
    if (opts.auditor) {
      for (const b of blocks) {
        try {
          keys.set(b.block, openEscrow(b.escrow, opts.auditor, Buffer.from(fingerprint, 'hex'), b.block));
        } catch (e) {
          if (!(e instanceof EscrowError)) throw e;
          failures.push({ code: 'BLOCK_ESCROW_INVALID', block: b.block, detail: e.message });
        }
      }
    }
    const result = checkChain(
      {
        entries: store.iterateEntries(),
        firstSeq: 0,
        previousMac: genesisHash(identity),
        keyFor: (j) => keys.get(j),
        blockOf: blockLocator(blocks),
      },
      (f) => failures.push(f),
    );
    return {
      fingerprint,
      entries: result.checked,
      blocks: blocks.length,
      firstSeq: result.checked ? 0 : undefined,
      lastSeq: result.lastSeq,
      unverifiedBlocks: [...result.unverifiedBlocks].sort((a, b) => a - b),
      failures,
    };
  } finally {
    store.close();
  }
}

/** Block holding a sequence number: the last block whose first_seq is at or below it. */
export function blockLocator(blocks: BlockRow[]): (seq: number) => number | undefined {
  const sorted = [...blocks].sort((a, b) => a.first_seq - b.first_seq || a.block - b.block);
  let i = 0;
  // Entries arrive in sequence order, so a moving cursor answers in amortised O(1).
  return (seq) => {
    if (i > 0 && sorted[i]!.first_seq > seq) i = 0;
    while (i + 1 < sorted.length && sorted[i + 1]!.first_seq <= seq) i++;
    const b = sorted[i];
    return b && b.first_seq <= seq ? b.block : undefined;
  };
}
