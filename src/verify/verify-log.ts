import { openEscrow, EscrowError } from '../chain/escrow.js';
import { fingerprint as fingerprintOf, type RawKeyPair } from '../chain/keys.js';
import { genesisHash } from '../chain/mac.js';
import { checkpointHash, decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js';
import { LogStore } from '../store/log-store.js';
import type { BlockResult, BlockTask } from './block-check.js';
import { genesisStart, walkCheckpoints, type ChainStart } from './checkpoint-chain.js';
import type { Failure, ReasonCode } from './failures.js';
import { DEFAULT_MAX_LISTED_FAILURES, FailureLog } from './failure-log.js';
import { blockMayHold, OPEN_END_US, type TimeBounds, type TimeRange } from './range.js';
import { AnchorChecker, type AnchorSummary, type HeaderSource } from './anchors.js';
import { BitcoinRpcError } from '../bitcoind/errors.js';
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
  /** A node for block headers; without one, anchors are checked up to their transaction only. */
  headers?: HeaderSource;
  onProgress?: (entriesDone: number, entriesTotal: number) => void;
  /** Failures listed with their evidence (the earliest in log order); the rest are counted. */
  maxFailures?: number;
}

export interface UnverifiedWindow {
  block: number;
  firstSeq: number;
  lastSeq: number;
  firstTimeUs: number | undefined;
  lastTimeUs: number | undefined;
  why: string;
}

/** What the signed checkpoints of the blocks checked prove: their entries and their time span. */
export interface ProvedRange {
  firstBlock: number;
  lastBlock: number;
  firstSeq: number;
  /** Exclusive. */
  endSeq: number;
  fromUs: number;
  toUs: number;
}

export interface VerifyReport {
  fingerprint: string;
  identityPinned: boolean;
  /** The pinned identity is this log's (false when not pinned or not matched). */
  identityMatched: boolean;
  requested: { sinceUs: number | null; untilUs: number | null };
  proved: ProvedRange | null;
  found: { firstSeq: number | null; lastSeq: number | null; firstTimeUs: number | null; lastTimeUs: number | null };
  counts: { entries: number; blocks: number; checkpoints: number; openBlockEntries: number; otherParserVersion: number };
  newestCheckpoint: { index: number; timeUs: number; ageUs: number; reason: string } | null;
  unverified: UnverifiedWindow[];
  resumedFrom: number | null;
  anchors: AnchorSummary;
  /** The earliest failures in log order, at most maxFailures of them. */
  failures: Failure[];
  failureCount: number;
  failuresByCode: Partial<Record<ReasonCode, number>>;
  /** The state to remember for the next run; only when nothing failed. */
  nextState: AuditorState | null;
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

/** Folds block results in as they come, so memory does not grow with the number of blocks. */
class Tally {
  entries = 0;
  blocks = 0;
  otherParserVersion = 0;
  private firstSeq = Infinity;
  private lastSeq = -Infinity;
  private firstTimeUs = Infinity;
  private lastTimeUs = -Infinity;
  private proved: ProvedRange | null = null;

  constructor(private readonly failures: FailureLog) {}

  take(r: BlockResult): void {
    this.blocks++;
    this.entries += r.checked;
    this.otherParserVersion += r.otherParserVersion;
    if (r.checked > 0) {
      this.firstSeq = Math.min(this.firstSeq, r.lastSeq! - r.checked + 1);
      this.lastSeq = Math.max(this.lastSeq, r.lastSeq!);
      this.firstTimeUs = Math.min(this.firstTimeUs, r.firstTimeUs!);
      this.lastTimeUs = Math.max(this.lastTimeUs, r.lastTimeUs!);
    }
    for (const f of r.failures) this.failures.add(f);
    this.failures.addOmitted(r.omitted);
  }

  /** A sealed block was checked: its signed range joins what the report says is proved. */
  sealedChecked(block: number, firstSeq: number, count: number, b: TimeBounds): void {
    const p = this.proved;
    if (!p) {
      this.proved = { firstBlock: block, lastBlock: block, firstSeq, endSeq: firstSeq + count, fromUs: b.fromUs, toUs: b.toUs };
      return;
    }
    if (block < p.firstBlock) Object.assign(p, { firstBlock: block, firstSeq, fromUs: b.fromUs });
    if (block > p.lastBlock) Object.assign(p, { lastBlock: block, endSeq: firstSeq + count, toUs: b.toUs });
  }

  get provedRange(): ProvedRange | null {
    return this.proved;
  }

  get found(): VerifyReport['found'] {
    const any = this.entries > 0;
    return { firstSeq: any ? this.firstSeq : null, lastSeq: any ? this.lastSeq : null, firstTimeUs: any ? this.firstTimeUs : null, lastTimeUs: any ? this.lastTimeUs : null };
  }
}

async function verifyStore(store: LogStore, o: VerifyOptions): Promise<VerifyReport> {
  const failures = new FailureLog(o.maxFailures ?? DEFAULT_MAX_LISTED_FAILURES);
  const maxFailures = failures.limit;
  const report = (f: Failure): void => failures.add(f);
  const log = readLogFacts(store, o, failures);
  const { start, remembered } = chainStart(store, o, log, failures);
  if (o.auditor) checkAuditorKey(o.auditor, log, remembered);

  const range: TimeRange = { ...(o.sinceUs !== undefined ? { sinceUs: o.sinceUs } : {}), ...(o.untilUs !== undefined ? { untilUs: o.untilUs } : {}) };
  // A bundle's entries are checked wherever they are: an entry it carries is proven or a failure.
  const held = o.bundle ? store.entries.seqSpan() : undefined;
  const holds = (firstSeq: number, endSeq: number): boolean => held !== undefined && firstSeq <= held.last && Math.max(endSeq, firstSeq + 1) > held.first;
  const lastEntry = store.entries.last();
  const endSeq = lastEntry ? lastEntry.seq + 1 : 0;
  const total = Math.max(0, endSeq - start.firstSeq);

  const tally = new Tally(failures);
  const take = (r: BlockResult, expectedCount: number | undefined): void => {
    if (o.bundle && expectedCount !== undefined && expectedCount > 0 && r.checked === 0) {
      // The bundle holds nothing of a block the range needs: one failure that says so.
      tally.take({ ...r, failures: [{ code: 'RANGE_NOT_COVERED', block: r.block, checkpoint: r.block, expected: `${expectedCount} entries`, actual: 'none in the bundle', detail: `the requested range needs block ${r.block}, whose entries this bundle does not hold` }], omitted: {} });
    } else {
      tally.take(r);
    }
    o.onProgress?.(tally.entries, total);
  };
  const inFlight = new Set<Promise<void>>();
  const submit = async (task: BlockTask): Promise<void> => {
    const p = o.runner.run(task).then((r) => take(r, task.expect?.count));
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= o.runner.parallelism * 2) await Promise.race(inFlight);
  };

  let checkpoints = 0;
  let last: { cp: Checkpoint; hash: Buffer } | undefined;
  const anchors = new AnchorChecker(store, o.headers, o.nowUs, report);
  let escrowOfThisBlock: Buffer | undefined = remembered ? remembered.nextKeyEscrow : log.signedEscrow0;
  // Block j's entries lie between the signed times of checkpoints j-1 and j (range.ts).
  let floorUs = remembered ? remembered.timeUs : log.createdAtUs ?? 0;
  for (const v of walkCheckpoints(store.checkpoints.iterate(start.index), start, log.logId, (b) => store.blocks.get(b), report)) {
    checkpoints++;
    const cp = v.checkpoint;
    // After a missing or undecodable checkpoint the signed escrow for this block is unknown;
    // that failure is already reported, and guessing here would only add a cascade.
    if (cp.index !== (last ? last.cp.index + 1 : start.index)) escrowOfThisBlock = undefined;
    // With the auditor key, the disclosed key must also be the one escrowed when the block opened.
    if (o.auditor && escrowOfThisBlock) {
      let escrowed: Buffer | undefined;
      try {
        escrowed = openEscrow(Buffer.from(escrowOfThisBlock), o.auditor, log.logId, cp.index);
      } catch (e) {
        if (!(e instanceof EscrowError)) throw e;
      }
      if (!escrowed || !escrowed.equals(cp.blockKey)) {
        report({ code: 'BLOCK_ESCROW_MISMATCH', block: cp.index, checkpoint: cp.index, expected: cp.blockKey.toString('hex'), actual: escrowed?.toString('hex') ?? 'escrow does not open', detail: `the key escrowed for block ${cp.index} is not the key checkpoint ${cp.index} discloses` });
      }
    }
    escrowOfThisBlock = cp.nextKeyEscrow;
    if (cp.timeUs < floorUs) {
      report({ code: 'CHECKPOINT_TIME_BACKWARDS', checkpoint: cp.index, receivedAtUs: cp.timeUs, expected: `at or after ${floorUs}`, actual: String(cp.timeUs), detail: `checkpoint ${cp.index} is dated before the ${cp.index === 0 ? "log's creation" : `checkpoint ${cp.index - 1}`}` });
    }
    const bounds: TimeBounds = { fromUs: Math.min(floorUs, cp.timeUs), toUs: cp.timeUs };
    if (blockMayHold(bounds, range) || holds(cp.firstSeq, cp.firstSeq + cp.count)) {
      try {
        await anchors.check(cp.index, v.hash, cp.timeUs);
      } catch (e) {
        if (e instanceof BitcoinRpcError) throw new VerifyRunError('NODE_UNREACHABLE', `the Bitcoin node could not be asked for block headers: ${e.message}`);
        throw e;
      }
      tally.sealedChecked(cp.index, cp.firstSeq, cp.count, bounds);
      await submit({
        block: cp.index, firstSeq: cp.firstSeq, endSeq: cp.firstSeq + cp.count, startHead: v.startHead, key: cp.blockKey,
        expect: { count: cp.count, chainHead: cp.chainHead, entryRoot: cp.entryRoot, checkpoint: cp.index }, bounds, maxFailures,
      });
    }
    floorUs = cp.timeUs;
    last = { cp, hash: v.hash };
  }

  const tail = last?.cp ?? remembered;
  const open = await checkUnsealed(store, o, log, {
    block: tail ? tail.index + 1 : start.index,
    firstSeq: tail ? tail.firstSeq + tail.count : start.firstSeq,
    head: tail ? tail.chainHead : start.startHead,
    escrow: tail ? tail.nextKeyEscrow : log.signedEscrow0,
    bounds: { fromUs: floorUs, toUs: OPEN_END_US },
    endSeq,
    wanted: (b, first, end) => blockMayHold(b, range) || holds(first, end),
    maxFailures,
  }, report);
  for (const r of open.results) take(r, undefined);
  await Promise.all(inFlight);

  const newestCheckpoint = checkFreshness(o, tail, log.createdAtUs, report);
  const identityMatched = o.identity !== undefined && o.identity.toLowerCase() === log.fingerprint;
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
    anchors: anchors.summary,
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
  wanted: (b: TimeBounds, firstSeq: number, endSeq: number) => boolean;
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
