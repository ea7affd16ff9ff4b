import { openEscrow, EscrowError } from '../chain/escrow.js';
import { fingerprint as fingerprintOf, type RawKeyPair } from '../chain/keys.js';
import { genesisHash } from '../chain/mac.js';
import { checkpointHash, decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js';
import { LogStore } from '../store/log-store.js';
import type { BlockResult, BlockRunner } from './block-check.js';
import { genesisStart, walkCheckpoints, type ChainStart, type VerifiedCheckpoint } from './checkpoint-chain.js';
import type { Failure } from './failures.js';
import type { AuditorState, UnverifiedWindow, VerifyReport } from './report.js';
import { BlockQueue } from './tally.js';
import { DEFAULT_MAX_LISTED_FAILURES, FailureLog } from './failure-log.js';
import { blockMayHold, OPEN_END_US, type TimeBounds, type TimeRange } from './range.js';
import { AnchorChecker, type HeaderSource } from './anchors.js';
import { checkAnchorChain, type ChainSource } from './anchor-chain.js';
import { BitcoinRpcError } from '../bitcoind/errors.js';
import { genesisSignatureValid, genesisStatement } from '../checkpoint/genesis.js';
import { ESCROW_BYTES } from '../chain/escrow.js';

export interface VerifyOptions {
  sinceUs?: number;
  untilUs?: number;
  /**
   * A bundle: every block it holds entries of is checked whatever the range (an entry it carries
   * is either proven or a failure), and a block the range needs whose entries it lacks is
   * RANGE_NOT_COVERED.
   */
  bundle?: boolean;
  /** Pinned identity fingerprint (hex); without it the database's own claim is reported as unpinned. */
  identity?: string;
  auditor?: RawKeyPair;
  state?: AuditorState;
  /** Newest checkpoint older than this (at `until`, or now) is a failure: the heartbeat stopped. */
  maxCheckpointAgeUs: number;
  nowUs: number;
  runner: BlockRunner;
  /**
   * A node for block headers and the UTXO set; without one, anchors are checked up to their
   * transaction only, and the chain of anchors only as the stored transactions show it.
   */
  headers?: HeaderSource & ChainSource;
  onProgress?: (entriesDone: number, entriesTotal: number) => void;
  /** Failures listed with their evidence (the earliest in log order); the rest are counted. */
  maxFailures?: number;
}

export class VerifyRunError extends Error {
  constructor(readonly code: 'NO_IDENTITY' | 'STATE_OTHER_LOG' | 'NODE_UNREACHABLE' | 'AUDITOR_KEY_MISMATCH', message: string) {
    super(message);
  }
}

/**
 * The whole audit of a database: the checkpoint chain from the pinned identity, every block in
 * the requested range against its checkpoint, the open block with the auditor key (otherwise
 * reported unverified with its bounds), and the age of the newest checkpoint. Everything is read
 * in one read transaction, so a log being written verifies as of one moment. Read-only; it never
 * imports the write path.
 */
export async function verifyDatabase(databasePath: string, o: VerifyOptions): Promise<VerifyReport> {
  const store = LogStore.open(databasePath, { create: false, readonly: true });
  try {
    store.beginRead();
    return await verifyStore(store, o);
  } finally {
    store.endRead();
    store.close();
  }
}

interface LogFacts {
  identity: Buffer;
  logId: Buffer;
  fingerprint: string;
  /** From the genesis statement, when its signature holds. */
  createdAtUs: number | undefined;
  /** Block 0's escrow, when the genesis statement signs it. */
  signedEscrow0: Buffer | undefined;
}

/** The identity (derived from the key, not trusted from the meta row) and the signed genesis statement. */
function readLogFacts(store: LogStore, o: VerifyOptions, failures: FailureLog): LogFacts {
  const identityHex = store.meta.get('identity_public');
  const fingerprint = store.meta.get('fingerprint') ?? '';
  if (identityHex === undefined) throw new VerifyRunError('NO_IDENTITY', 'no log identity in this database (not an immutalog database, or its meta table was removed)');
  const identity = Buffer.from(identityHex, 'hex');
  const logId = Buffer.from(fingerprint, 'hex');
  const derived = fingerprintOf(identity);
  if (derived !== fingerprint) failures.add({ code: 'IDENTITY_MISMATCH', expected: derived, actual: fingerprint, detail: 'the stored fingerprint is not the hash of the stored identity key' });
  if (o.identity !== undefined && o.identity.toLowerCase() !== derived) {
    failures.add({ code: 'IDENTITY_MISMATCH', expected: o.identity.toLowerCase(), actual: derived, detail: 'this log is not the one whose identity was pinned' });
  }
  const sig = store.meta.get('genesis_signature');
  const created = Number(store.meta.get('created_at_us'));
  const escrow0 = store.blocks.get(0)?.escrow;
  const valid = sig !== undefined && Number.isSafeInteger(created) && escrow0 !== undefined && escrow0.length === ESCROW_BYTES &&
    genesisSignatureValid(genesisStatement(logId, created, Buffer.from(escrow0)), Buffer.from(sig, 'hex'), identity);
  if (!valid) {
    failures.add({ code: 'GENESIS_INVALID', block: 0, expected: 'a genesis statement signed by the identity key', actual: sig === undefined ? 'none' : 'signature does not verify', detail: 'the creation time or block 0\'s escrowed key is not what the identity signed' });
  }
  return { identity, logId, fingerprint: derived, createdAtUs: valid ? created : undefined, signedEscrow0: valid ? Buffer.from(escrow0!) : undefined };
}

/**
 * A wrong auditor key is the auditor's mistake, not the log's: it is found on the first escrow a
 * signature vouches for (block 0's, or the remembered checkpoint's next one) and stops the run.
 */
function checkAuditorKey(auditor: RawKeyPair, log: LogFacts, remembered: Checkpoint | undefined): void {
  const signed = remembered ? { escrow: remembered.nextKeyEscrow, block: remembered.index + 1 } : log.signedEscrow0 ? { escrow: log.signedEscrow0, block: 0 } : undefined;
  if (!signed) return;
  try {
    openEscrow(signed.escrow, auditor, log.logId, signed.block);
  } catch (e) {
    if (!(e instanceof EscrowError)) throw e;
    throw new VerifyRunError('AUDITOR_KEY_MISMATCH', `this auditor key does not open this log's escrow (block ${signed.block}'s key, which the log's ${remembered ? `checkpoint ${remembered.index}` : 'genesis statement'} signs): it is not the auditor key of log ${log.fingerprint}; use the one \`immutalog keys init\` made for this log`);
  }
}

/** Where the checkpoint walk starts: the beginning, or the checkpoint remembered from the last run. */
function chainStart(store: LogStore, o: VerifyOptions, log: LogFacts, failures: FailureLog): { start: ChainStart; remembered: Checkpoint | undefined } {
  const start = genesisStart(log.identity, genesisHash(log.identity));
  if (!o.state) return { start, remembered: undefined };
  if (o.state.fingerprint !== log.fingerprint) throw new VerifyRunError('STATE_OTHER_LOG', `the state file belongs to log ${o.state.fingerprint}, this is ${log.fingerprint}`);
  const row = store.checkpoints.get(o.state.checkpoint);
  const hash = row ? checkpointHash(Buffer.from(row.bytes)).toString('hex') : undefined;
  if (hash !== o.state.hash) {
    failures.add({ code: 'STATE_MISMATCH', checkpoint: o.state.checkpoint, expected: o.state.hash, actual: hash ?? 'missing', detail: `checkpoint ${o.state.checkpoint}, verified on ${o.state.verified_at}, is ${row ? 'changed' : 'gone'}: the database was rolled back or rewritten` });
    return { start, remembered: undefined };
  }
  const cp = decodeCheckpoint(Buffer.from(row!.bytes));
  return {
    start: { index: cp.index + 1, previousHash: Buffer.from(o.state.hash, 'hex'), signer: cp.nextSigningKey, firstSeq: cp.firstSeq + cp.count, startHead: cp.chainHead },
    remembered: cp,
  };
}

/** Whether a block is checked, from its signed time bounds and its sequence range. */
type Wanted = (b: TimeBounds, firstSeq: number, endSeq: number) => boolean;

/** The blocks the requested range may hold entries of; for a bundle, also every block it carries entries of. */
function blocksWanted(store: LogStore, o: VerifyOptions): Wanted {
  const range: TimeRange = { ...(o.sinceUs !== undefined ? { sinceUs: o.sinceUs } : {}), ...(o.untilUs !== undefined ? { untilUs: o.untilUs } : {}) };
  // A bundle's entries are checked wherever they are: an entry it carries is proven or a failure.
  const held = o.bundle ? store.entries.seqSpan() : undefined;
  const holds = (firstSeq: number, endSeq: number): boolean => held !== undefined && firstSeq <= held.last && Math.max(endSeq, firstSeq + 1) > held.first;
  return (b, firstSeq, endSeq) => blockMayHold(b, range) || holds(firstSeq, endSeq);
}

/** What the walk over the sealed blocks shares with the rest of the run. */
interface SealedWalk {
  log: LogFacts;
  start: ChainStart;
  remembered: Checkpoint | undefined;
  wanted: Wanted;
  queue: BlockQueue;
  anchors: AnchorChecker;
  report: (f: Failure) => void;
  maxFailures: number;
}

/**
 * The sealed blocks, checkpoint by checkpoint: the chain of checkpoints (checkpoint-chain.ts),
 * each disclosed key against its escrow, checkpoint times, and, for a block the run wants, its
 * anchor and its entries (queued). Returns where the unsealed tail starts.
 */
async function checkSealed(store: LogStore, o: VerifyOptions, w: SealedWalk): Promise<{ checkpoints: number; last: { cp: Checkpoint; hash: Buffer } | undefined; floorUs: number }> {
  let checkpoints = 0;
  let last: { cp: Checkpoint; hash: Buffer } | undefined;
  let escrowOfThisBlock: Buffer | undefined = w.remembered ? w.remembered.nextKeyEscrow : w.log.signedEscrow0;
  // Block j's entries lie between the signed times of checkpoints j-1 and j (range.ts).
  let floorUs = w.remembered ? w.remembered.timeUs : w.log.createdAtUs ?? 0;
  for (const v of walkCheckpoints(store.checkpoints.iterate(w.start.index), w.start, w.log.logId, (b) => store.blocks.get(b), w.report)) {
    checkpoints++;
    const cp = v.checkpoint;
    // After a missing or undecodable checkpoint the signed escrow for this block is unknown;
    // that failure is already reported, and guessing here would only add a cascade.
    if (cp.index !== (last ? last.cp.index + 1 : w.start.index)) escrowOfThisBlock = undefined;
    if (o.auditor && escrowOfThisBlock) checkDisclosedKey(o.auditor, escrowOfThisBlock, w.log.logId, cp, w.report);
    escrowOfThisBlock = cp.nextKeyEscrow;
    checkCheckpointTime(cp, floorUs, w.report);
    const bounds: TimeBounds = { fromUs: Math.min(floorUs, cp.timeUs), toUs: cp.timeUs };
    if (w.wanted(bounds, cp.firstSeq, cp.firstSeq + cp.count)) await checkSealedBlock(v, bounds, w);
    floorUs = cp.timeUs;
    last = { cp, hash: v.hash };
  }
  return { checkpoints, last, floorUs };
}

/** With the auditor key, the disclosed key must also be the one escrowed when the block opened. */
function checkDisclosedKey(auditor: RawKeyPair, escrow: Buffer, logId: Buffer, cp: Checkpoint, report: (f: Failure) => void): void {
  let escrowed: Buffer | undefined;
  try {
    escrowed = openEscrow(Buffer.from(escrow), auditor, logId, cp.index);
  } catch (e) {
    if (!(e instanceof EscrowError)) throw e;
  }
  if (!escrowed || !escrowed.equals(cp.blockKey)) {
    report({ code: 'BLOCK_ESCROW_MISMATCH', block: cp.index, checkpoint: cp.index, expected: cp.blockKey.toString('hex'), actual: escrowed?.toString('hex') ?? 'escrow does not open', detail: `the key escrowed for block ${cp.index} is not the key checkpoint ${cp.index} discloses` });
  }
}

/** `floorUs`: the previous checkpoint's time, or the log's signed creation time. */
function checkCheckpointTime(cp: Checkpoint, floorUs: number, report: (f: Failure) => void): void {
  if (cp.timeUs < floorUs) {
    report({ code: 'CHECKPOINT_TIME_BACKWARDS', checkpoint: cp.index, receivedAtUs: cp.timeUs, expected: `at or after ${floorUs}`, actual: String(cp.timeUs), detail: `checkpoint ${cp.index} is dated before the ${cp.index === 0 ? "log's creation" : `checkpoint ${cp.index - 1}`}` });
  }
}

/** A sealed block the run wants: its anchor now, its entries against its checkpoint on the runner. */
async function checkSealedBlock(v: VerifiedCheckpoint, bounds: TimeBounds, w: SealedWalk): Promise<void> {
  const cp = v.checkpoint;
  try {
    await w.anchors.check(cp.index, v.hash, cp.timeUs);
  } catch (e) {
    if (e instanceof BitcoinRpcError) throw new VerifyRunError('NODE_UNREACHABLE', `the Bitcoin node could not be asked for block headers: ${e.message}`);
    throw e;
  }
  w.queue.tally.sealedChecked(cp.index, cp.firstSeq, cp.count, bounds);
  await w.queue.submit({
    block: cp.index, firstSeq: cp.firstSeq, endSeq: cp.firstSeq + cp.count, startHead: v.startHead, key: cp.blockKey,
    expect: { count: cp.count, chainHead: cp.chainHead, entryRoot: cp.entryRoot, checkpoint: cp.index }, bounds, maxFailures: w.maxFailures,
  });
}

/**
 * The run in its order: identity and genesis, where the walk starts, the sealed blocks, the
 * unsealed tail, the heartbeat. Failures arrive in this order and ties in log order are listed
 * by arrival (failure-log.ts), so the steps keep it.
 */
async function verifyStore(store: LogStore, o: VerifyOptions): Promise<VerifyReport> {
  const failures = new FailureLog(o.maxFailures ?? DEFAULT_MAX_LISTED_FAILURES);
  const maxFailures = failures.limit;
  const report = (f: Failure): void => failures.add(f);
  const log = readLogFacts(store, o, failures);
  const { start, remembered } = chainStart(store, o, log, failures);
  if (o.auditor) checkAuditorKey(o.auditor, log, remembered);

  const wanted = blocksWanted(store, o);
  const lastEntry = store.entries.last();
  const endSeq = lastEntry ? lastEntry.seq + 1 : 0;
  const queue = new BlockQueue(o.runner, failures, { bundle: o.bundle === true, total: Math.max(0, endSeq - start.firstSeq), onProgress: o.onProgress });
  const anchors = new AnchorChecker(store, o.headers, o.nowUs, report);
  const { checkpoints, last, floorUs } = await checkSealed(store, o, { log, start, remembered, wanted, queue, anchors, report, maxFailures });
  let chain;
  try {
    chain = await checkAnchorChain(store, o.headers, { bundle: o.bundle === true }, report);
  } catch (e) {
    if (e instanceof BitcoinRpcError) throw new VerifyRunError('NODE_UNREACHABLE', `the Bitcoin node could not be asked where the newest anchor's change went: ${e.message}`);
    throw e;
  }

  const tail = last?.cp ?? remembered;
  const open = await checkUnsealed(store, o, log, {
    block: tail ? tail.index + 1 : start.index,
    firstSeq: tail ? tail.firstSeq + tail.count : start.firstSeq,
    head: tail ? tail.chainHead : start.startHead,
    escrow: tail ? tail.nextKeyEscrow : log.signedEscrow0,
    bounds: { fromUs: floorUs, toUs: OPEN_END_US },
    endSeq,
    wanted,
    maxFailures,
  }, report);
  for (const r of open.results) queue.take(r, undefined);
  await queue.drain();

  const newestCheckpoint = checkFreshness(o, tail, log.createdAtUs, report);
  const identityMatched = o.identity !== undefined && o.identity.toLowerCase() === log.fingerprint;
  const tally = queue.tally;
  return {
    fingerprint: log.fingerprint,
    identityPinned: o.identity !== undefined,
    identityMatched,
    requested: { sinceUs: o.sinceUs ?? null, untilUs: o.untilUs ?? null },
    proved: tally.provedRange,
    found: tally.found,
    counts: { entries: tally.entries, blocks: tally.blocks, checkpoints, openBlockEntries: open.results.reduce((n, r) => n + r.checked, 0), otherParserVersion: tally.otherParserVersion },
    newestCheckpoint,
    unverified: open.unverified,
    resumedFrom: remembered?.index ?? null,
    anchors: { ...anchors.summary, chain },
    failures: failures.listed(),
    failureCount: failures.total,
    failuresByCode: failures.countsByCode(),
    nextState: failures.total === 0 && tail ? { fingerprint: log.fingerprint, checkpoint: tail.index, hash: (last?.hash ?? Buffer.from(o.state!.hash, 'hex')).toString('hex'), verified_at: new Date(o.nowUs / 1000).toISOString() } : null,
  };
}

interface UnsealedStart {
  /** The block after the newest checkpoint. */
  block: number;
  firstSeq: number;
  head: Buffer;
  /** Its key's escrow as a signature vouches for it (the newest checkpoint, or the genesis statement). */
  escrow: Buffer | undefined;
  bounds: TimeBounds;
  /** End of the log (exclusive) in this read's snapshot. */
  endSeq: number;
  wanted: Wanted;
  maxFailures: number;
}

/**
 * The entries no checkpoint seals yet. Normally one open block; after a stop (or, live, for a
 * moment) between a block switch and its checkpoint, two: the switched block, whose key the
 * newest checkpoint escrowed, and the new one, whose escrow no signature vouches for yet (anyone
 * can encrypt a key to the auditor, so opening it would prove nothing). The next start completes
 * that checkpoint, so this is unsealed state to report with its bounds, not tampering.
 */
async function checkUnsealed(store: LogStore, o: VerifyOptions, log: LogFacts, u: UnsealedStart, report: (f: Failure) => void): Promise<{ results: BlockResult[]; unverified: UnverifiedWindow[] }> {
  const results: BlockResult[] = [];
  const unverified: UnverifiedWindow[] = [];
  if (u.endSeq <= u.firstSeq || !u.wanted(u.bounds, u.firstSeq, u.endSeq)) return { results, unverified };
  const switched = store.blocks.after(u.block)[0];
  const splitAt = switched ? Math.min(Math.max(switched.first_seq, u.firstSeq), u.endSeq) : u.endSeq;
  const parts = [
    { block: u.block, firstSeq: u.firstSeq, endSeq: splitAt, head: u.head, escrow: u.escrow },
    ...(switched && splitAt < u.endSeq ? [{ block: switched.block, firstSeq: splitAt, endSeq: u.endSeq, head: u.head, escrow: undefined }] : []),
  ];
  for (const part of parts) {
    if (part.firstSeq >= part.endSeq) continue;
    let key: Buffer | undefined;
    let why: string;
    if (part.block !== u.block) {
      why = `checkpoint ${u.block}, which signs this block's escrowed key, is not written yet: the writer stopped (or is, at this moment) between a block switch and its checkpoint, and its next start completes it`;
    } else if (!o.auditor) {
      why = 'no auditor key given (--auditor-key): the open block\'s MACs were not checked';
    } else if (!part.escrow) {
      why = `no signed escrow for block ${part.block} (the genesis statement does not verify)`;
    } else {
      try {
        key = openEscrow(Buffer.from(part.escrow), o.auditor, log.logId, part.block);
        why = '';
      } catch (e) {
        if (!(e instanceof EscrowError)) throw e;
        report({ code: 'BLOCK_ESCROW_INVALID', block: part.block, detail: e.message });
        why = 'the escrowed key could not be opened';
      }
    }
    // The second part is checked without a key (continuity, filing, times, fields), so its start head is never used.
    const r = await o.runner.run({ block: part.block, firstSeq: part.firstSeq, endSeq: part.endSeq, startHead: part.head, key, bounds: u.bounds, maxFailures: u.maxFailures });
    results.push(r);
    if (!key) unverified.push({ block: part.block, firstSeq: part.firstSeq, lastSeq: r.lastSeq ?? part.firstSeq - 1, firstTimeUs: r.firstTimeUs, lastTimeUs: r.lastTimeUs, why });
  }
  return { results, unverified };
}

/** Freshness: the heartbeat must have sealed up to the end of the range. */
function checkFreshness(o: VerifyOptions, newest: Checkpoint | undefined, createdAtUs: number | undefined, report: (f: Failure) => void): VerifyReport['newestCheckpoint'] {
  const refUs = o.untilUs !== undefined ? Math.min(o.untilUs, o.nowUs) : o.nowUs;
  const limit = `${Math.round(o.maxCheckpointAgeUs / 1e6)} s`;
  if (newest) {
    if (refUs - newest.timeUs > o.maxCheckpointAgeUs) {
      report({ code: 'CHECKPOINT_STALE', checkpoint: newest.index, receivedAtUs: newest.timeUs, expected: `a checkpoint within ${limit} of ${new Date(refUs / 1000).toISOString()}`, actual: `newest is ${Math.round((refUs - newest.timeUs) / 1e6)} s older (checkpoint ${newest.index}, ${newest.reason})`, detail: 'no checkpoint seals the end of the range: entries may have been cut off the tail, the database rolled back, or the receiver stopped' });
    }
    return { index: newest.index, timeUs: newest.timeUs, ageUs: o.nowUs - newest.timeUs, reason: newest.reason };
  }
  // No checkpoint at all is only right for a log younger than the heartbeat; its age comes
  // from the signed genesis statement (an unsigned one is already a failure).
  if (refUs - (createdAtUs ?? 0) > o.maxCheckpointAgeUs) {
    report({ code: 'CHECKPOINT_STALE', expected: `a checkpoint within ${limit}`, actual: 'no checkpoint at all', detail: 'the log has no checkpoint although it is older than the heartbeat interval' });
  }
  return null;
}
