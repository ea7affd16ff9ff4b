import { openEscrow, EscrowError } from '../chain/escrow.js';
import { fingerprint as fingerprintOf, type RawKeyPair } from '../chain/keys.js';
import { genesisHash } from '../chain/mac.js';
import { checkpointHash, decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js';
import { LogStore } from '../store/log-store.js';
import type { BlockResult, BlockTask } from './block-check.js';
import { genesisStart, walkCheckpoints, type ChainStart } from './checkpoint-chain.js';
import type { Failure } from './failures.js';
import { AnchorChecker, type AnchorSummary, type HeaderSource } from './anchors.js';
import { BitcoinRpcError } from '../anchor/rpc/bitcoind.js';
import { genesisSignatureValid, genesisStatement } from '../checkpoint/genesis.js';
import { ESCROW_BYTES } from '../chain/escrow.js';

/** What an auditor keeps between runs (`verify --state FILE`). */
export interface AuditorState {
  fingerprint: string;
  checkpoint: number;
  hash: string;
  verified_at: string;
}

/** Runs block checks, inline or on worker threads; results may come back in any order. */
export interface BlockRunner {
  run(task: BlockTask): Promise<BlockResult>;
  /** How many tasks to keep in flight. */
  readonly parallelism: number;
}

export interface VerifyOptions {
  sinceUs?: number;
  untilUs?: number;
  /** A sequence range to check instead of the one --since/--until select (a bundle's own range). */
  seqRange?: { from: number; to: number };
  /** Pinned identity fingerprint (hex); without it the database's own claim is reported as unpinned. */
  identity?: string;
  auditor?: RawKeyPair;
  state?: AuditorState;
  /** Newest checkpoint older than this (at `until`, or now) is a failure: the heartbeat stopped. */
  maxCheckpointAgeUs: number;
  nowUs: number;
  runner: BlockRunner;
  /** A node for block headers; without one, anchors are checked up to their transaction only. */
  headers?: HeaderSource;
  onProgress?: (entriesDone: number, entriesTotal: number) => void;
}

export interface UnverifiedWindow {
  block: number;
  firstSeq: number;
  lastSeq: number;
  firstTimeUs: number | undefined;
  lastTimeUs: number | undefined;
  why: string;
}

export interface VerifyReport {
  fingerprint: string;
  identityPinned: boolean;
  requested: { sinceUs: number | null; untilUs: number | null };
  found: { firstSeq: number | null; lastSeq: number | null; firstTimeUs: number | null; lastTimeUs: number | null };
  counts: { entries: number; blocks: number; checkpoints: number; openBlockEntries: number; otherParserVersion: number };
  newestCheckpoint: { index: number; timeUs: number; ageUs: number; reason: string } | null;
  unverified: UnverifiedWindow[];
  resumedFrom: number | null;
  anchors: AnchorSummary;
  failures: Failure[];
  /** The state to remember for the next run; only when nothing failed. */
  nextState: AuditorState | null;
}

export class VerifyRunError extends Error {
  constructor(readonly code: 'NO_IDENTITY' | 'STATE_OTHER_LOG' | 'NODE_UNREACHABLE', message: string) {
    super(message);
  }
}

/**
 * The whole audit of a database: the checkpoint chain from the pinned identity, every block in
 * the requested range against its checkpoint, the open block with the auditor key (otherwise
 * reported unverified with its bounds), and the age of the newest checkpoint. Read-only; it
 * never imports the write path.
 */
export async function verifyDatabase(databasePath: string, o: VerifyOptions): Promise<VerifyReport> {
  const store = LogStore.open(databasePath, { create: false, readonly: true });
  try {
    return await verifyStore(store, o);
  } finally {
    store.close();
  }
}

async function verifyStore(store: LogStore, o: VerifyOptions): Promise<VerifyReport> {
  const identityHex = store.getMeta('identity_public');
  const fingerprint = store.getMeta('fingerprint') ?? '';
  if (identityHex === undefined) throw new VerifyRunError('NO_IDENTITY', 'no log identity in this database (not an immutalog database, or its meta table was removed)');
  const identity = Buffer.from(identityHex, 'hex');
  const logId = Buffer.from(fingerprint, 'hex');
  const failures: Failure[] = [];
  const report = (f: Failure): void => void failures.push(f);

  // The identity is derived from the key, not trusted from the meta row.
  const derived = fingerprintOf(identity);
  if (derived !== fingerprint) report({ code: 'IDENTITY_MISMATCH', expected: derived, actual: fingerprint, detail: 'the stored fingerprint is not the hash of the stored identity key' });
  if (o.identity !== undefined && o.identity.toLowerCase() !== derived) {
    report({ code: 'IDENTITY_MISMATCH', expected: o.identity.toLowerCase(), actual: derived, detail: 'this log is not the one whose identity was pinned' });
  }

  // The genesis statement: the creation time and block 0's escrow, signed by the identity key.
  let createdAtUs: number | undefined;
  {
    const sig = store.getMeta('genesis_signature');
    const created = Number(store.getMeta('created_at_us'));
    const escrow0 = store.block(0)?.escrow;
    const valid = sig !== undefined && Number.isSafeInteger(created) && escrow0 !== undefined && escrow0.length === ESCROW_BYTES &&
      genesisSignatureValid(genesisStatement(logId, created, Buffer.from(escrow0)), Buffer.from(sig, 'hex'), identity);
    if (valid) createdAtUs = created;
    else report({ code: 'GENESIS_INVALID', block: 0, expected: 'a genesis statement signed by the identity key', actual: sig === undefined ? 'none' : 'signature does not verify', detail: 'the creation time or block 0\'s escrowed key is not what the identity signed' });
  }

  // Where to start: the beginning, or the checkpoint remembered from the last run.
  let start: ChainStart = genesisStart(identity, genesisHash(identity));
  let resumedFrom: number | null = null;
  let remembered: Checkpoint | undefined;
  if (o.state) {
    if (o.state.fingerprint !== derived) throw new VerifyRunError('STATE_OTHER_LOG', `the state file belongs to log ${o.state.fingerprint}, this is ${derived}`);
    const row = store.checkpoint(o.state.checkpoint);
    const hash = row ? checkpointHash(Buffer.from(row.bytes)).toString('hex') : undefined;
    if (hash !== o.state.hash) {
      report({ code: 'STATE_MISMATCH', checkpoint: o.state.checkpoint, expected: o.state.hash, actual: hash ?? 'missing', detail: `checkpoint ${o.state.checkpoint}, verified on ${o.state.verified_at}, is ${row ? 'changed' : 'gone'}: the database was rolled back or rewritten` });
    } else {
      remembered = decodeCheckpoint(Buffer.from(row!.bytes));
      start = { index: remembered.index + 1, previousHash: Buffer.from(o.state.hash, 'hex'), signer: remembered.nextSigningKey, firstSeq: remembered.firstSeq + remembered.count, startHead: remembered.chainHead };
      resumedFrom = remembered.index;
    }
  }

  // The requested time range, as a sequence range: whole blocks overlapping it are checked.
  const seqFrom = o.seqRange ? o.seqRange.from : o.sinceUs !== undefined ? store.firstSeqAtOrAfter(o.sinceUs) ?? Number.MAX_SAFE_INTEGER : 0;
  const seqTo = o.seqRange ? o.seqRange.to : o.untilUs !== undefined ? store.firstSeqAtOrAfter(o.untilUs) ?? Number.MAX_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  // An empty block (a heartbeat) still has a chain head and root to check: it occupies its position.
  const overlaps = (a: number, b: number): boolean => a < seqTo && Math.max(b, a + 1) > seqFrom;
  const lastEntry = store.lastEntry();
  const total = lastEntry ? Math.max(0, Math.min(seqTo, lastEntry.seq + 1) - Math.max(seqFrom, start.firstSeq)) : 0;

  // Results are folded in as they come, so memory does not grow with the number of blocks.
  const agg = { entries: 0, blocks: 0, otherParserVersion: 0, firstSeq: Infinity, lastSeq: -Infinity, firstTimeUs: Infinity, lastTimeUs: -Infinity };
  const blockFailures: Failure[] = [];
  const take = (r: BlockResult): void => {
    agg.blocks++;
    agg.entries += r.checked;
    agg.otherParserVersion += r.otherParserVersion;
    if (r.checked > 0) {
      agg.firstSeq = Math.min(agg.firstSeq, r.lastSeq! - r.checked + 1);
      agg.lastSeq = Math.max(agg.lastSeq, r.lastSeq!);
      agg.firstTimeUs = Math.min(agg.firstTimeUs, r.firstTimeUs!);
      agg.lastTimeUs = Math.max(agg.lastTimeUs, r.lastTimeUs!);
    }
    for (const f of r.failures) blockFailures.push(f);
    o.onProgress?.(agg.entries, total);
  };
  const inFlight = new Set<Promise<void>>();
  const submit = async (task: BlockTask): Promise<void> => {
    const p = o.runner.run(task).then(take);
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= o.runner.parallelism * 2) await Promise.race(inFlight);
  };

  let checkpoints = 0;
  let last: { cp: Checkpoint; hash: Buffer } | undefined;
  const anchors = new AnchorChecker(store, o.headers, o.nowUs, report);
  let escrowOfThisBlock: Buffer | undefined = start.index === 0 ? store.block(0)?.escrow : remembered?.nextKeyEscrow;
  for (const v of walkCheckpoints(store.iterateCheckpoints(start.index), start, logId, (b) => store.block(b), report)) {
    checkpoints++;
    const cp = v.checkpoint;
    // After a missing or undecodable checkpoint the signed escrow for this block is unknown;
    // that failure is already reported, and guessing here would only add a cascade.
    if (cp.index !== (last ? last.cp.index + 1 : start.index)) escrowOfThisBlock = undefined;
    // With the auditor key, the disclosed key must also be the one escrowed when the block opened.
    if (o.auditor && escrowOfThisBlock) {
      let escrowed: Buffer | undefined;
      try {
        escrowed = openEscrow(Buffer.from(escrowOfThisBlock), o.auditor, logId, cp.index);
      } catch (e) {
        if (!(e instanceof EscrowError)) throw e;
      }
      if (!escrowed || !escrowed.equals(cp.blockKey)) {
        report({ code: 'BLOCK_ESCROW_MISMATCH', block: cp.index, checkpoint: cp.index, expected: cp.blockKey.toString('hex'), actual: escrowed?.toString('hex') ?? 'escrow does not open', detail: `the key escrowed for block ${cp.index} is not the key checkpoint ${cp.index} discloses` });
      }
    }
    escrowOfThisBlock = cp.nextKeyEscrow;
    if (overlaps(cp.firstSeq, cp.firstSeq + cp.count)) {
      try {
        await anchors.check(cp.index, v.hash, cp.timeUs);
      } catch (e) {
        if (e instanceof BitcoinRpcError) throw new VerifyRunError('NODE_UNREACHABLE', `the Bitcoin node could not be asked for block headers: ${e.message}`);
        throw e;
      }
      await submit({
        block: cp.index, firstSeq: cp.firstSeq, endSeq: cp.firstSeq + cp.count, startHead: v.startHead, key: cp.blockKey,
        expect: { count: cp.count, chainHead: cp.chainHead, entryRoot: cp.entryRoot, checkpoint: cp.index },
      });
    }
    last = { cp, hash: v.hash };
  }

  // The open block: after the newest checkpoint, sealed by none yet.
  const tail = last?.cp ?? remembered;
  const openBlock = tail ? tail.index + 1 : 0;
  const openFirst = tail ? tail.firstSeq + tail.count : 0;
  const openHead = tail ? tail.chainHead : start.startHead;
  const unverified: UnverifiedWindow[] = [];
  let openResult: BlockResult | undefined;
  if (lastEntry && lastEntry.seq >= openFirst && overlaps(openFirst, lastEntry.seq + 1)) {
    let key: Buffer | undefined;
    let why = 'no auditor key given (--auditor-key): the open block\'s MACs were not checked';
    if (o.auditor) {
      // Prefer the escrow the newest checkpoint signed over the copy in the block table.
      const escrow = tail ? tail.nextKeyEscrow : store.block(openBlock)?.escrow;
      try {
        if (escrow) key = openEscrow(Buffer.from(escrow), o.auditor, logId, openBlock);
        else why = `no escrow stored for block ${openBlock}`;
      } catch (e) {
        if (!(e instanceof EscrowError)) throw e;
        report({ code: 'BLOCK_ESCROW_INVALID', block: openBlock, detail: e.message });
        why = 'the escrowed key could not be opened';
      }
    }
    openResult = await o.runner.run({ block: openBlock, firstSeq: openFirst, endSeq: Number.MAX_SAFE_INTEGER, startHead: openHead, key });
    take(openResult);
    if (!key) {
      unverified.push({ block: openBlock, firstSeq: openFirst, lastSeq: openResult.lastSeq ?? openFirst - 1, firstTimeUs: openResult.firstTimeUs, lastTimeUs: openResult.lastTimeUs, why });
    }
  }
  await Promise.all(inFlight);

  // Freshness: the heartbeat must have sealed up to the end of the range.
  const newest = last?.cp ?? remembered;
  const refUs = o.untilUs !== undefined ? Math.min(o.untilUs, o.nowUs) : o.nowUs;
  let newestCheckpoint: VerifyReport['newestCheckpoint'] = null;
  if (newest) {
    newestCheckpoint = { index: newest.index, timeUs: newest.timeUs, ageUs: o.nowUs - newest.timeUs, reason: newest.reason };
    if (refUs - newest.timeUs > o.maxCheckpointAgeUs) {
      report({ code: 'CHECKPOINT_STALE', checkpoint: newest.index, receivedAtUs: newest.timeUs, expected: `a checkpoint within ${Math.round(o.maxCheckpointAgeUs / 1e6)} s of ${new Date(refUs / 1000).toISOString()}`, actual: `newest is ${Math.round((refUs - newest.timeUs) / 1e6)} s older (checkpoint ${newest.index}, ${newest.reason})`, detail: 'no checkpoint seals the end of the range: entries may have been cut off the tail, the database rolled back, or the receiver stopped' });
    }
  } else {
    // No checkpoint at all is only right for a log younger than the heartbeat; its age comes
    // from the signed genesis statement (an unsigned one is already a failure above).
    const created = createdAtUs ?? 0;
    if (refUs - created > o.maxCheckpointAgeUs) {
      report({ code: 'CHECKPOINT_STALE', expected: `a checkpoint within ${Math.round(o.maxCheckpointAgeUs / 1e6)} s`, actual: 'no checkpoint at all', detail: 'the log has no checkpoint although it is older than the heartbeat interval' });
    }
  }

  for (const f of blockFailures) failures.push(f);
  // In log order, so the first failure listed is the first place the log is wrong: an entry by
  // its sequence number, a block or checkpoint by the first sequence number of its block (a
  // block's own failures before those of its entries), and failures with no place first.
  const blockStart = (j: number): number => store.block(j)?.first_seq ?? -1;
  const place = (f: Failure): [number, number] => {
    if (f.seq !== undefined) return [f.seq, 1];
    const j = f.block ?? f.checkpoint;
    return j === undefined ? [-1, 0] : [blockStart(j), 0];
  };
  const keyed = failures.map((f, i) => ({ f, i, k: place(f) }));
  keyed.sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.i - b.i);
  failures.splice(0, failures.length, ...keyed.map((x) => x.f));
  const any = agg.entries > 0;
  const found = {
    firstSeq: any ? agg.firstSeq : null,
    lastSeq: any ? agg.lastSeq : null,
    firstTimeUs: any ? agg.firstTimeUs : null,
    lastTimeUs: any ? agg.lastTimeUs : null,
  };
  return {
    fingerprint: derived,
    identityPinned: o.identity !== undefined,
    requested: { sinceUs: o.sinceUs ?? null, untilUs: o.untilUs ?? null },
    found,
    counts: { entries: agg.entries, blocks: agg.blocks, checkpoints, openBlockEntries: openResult?.checked ?? 0, otherParserVersion: agg.otherParserVersion },
    newestCheckpoint,
    unverified,
    resumedFrom,
    anchors: anchors.summary,
    failures,
    nextState: failures.length === 0 && newest ? { fingerprint: derived, checkpoint: newest.index, hash: (last?.hash ?? Buffer.from(o.state!.hash, 'hex')).toString('hex'), verified_at: new Date(o.nowUs / 1000).toISOString() } : null,
  };
}
