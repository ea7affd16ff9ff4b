import { escrowBlockKey } from '../chain/escrow.js';
import { freshNextKeys, type KeyState } from '../chain/keystate.js';
import { saveKeyState, saveKeyStateAsync } from '../log/keystate-file.js';
import { buildCheckpoint } from '../checkpoint/build.js';
import type { CheckpointReason } from '../checkpoint/format.js';
import { nowUs } from '../chain/clock.js';
import type { LogIdentity } from '../log/identity.js';
import type { Sequencer } from './sequencer.js';
import type { StorageClient } from './storage-client.js';
import { faultArmed, faultPoint } from './fault.js';
import { retryUntilDone } from './retry.js';

export interface CheckpointerOptions {
  keyStatePath: string;
  /** Close the block once it holds this many entries. */
  maxEntries: number;
  /** ...or this long after the last checkpoint, with or without entries (heartbeat). */
  intervalMs: number;
  /** Seals whatever is queued but not yet sequenced, so it lands in the block being closed. */
  flushQueue: () => void;
  onError: (e: Error) => void;
  onCheckpoint: (index: number, count: number, reason: CheckpointReason) => void;
}

type NextKeys = NonNullable<KeyState['next']>;

/** What closing a block asks of the sequencer: where the open block stands, and the cut. */
export type BlockCursor = Pick<Sequencer, 'entriesInBlock' | 'blockFirstSeq' | 'head' | 'earliestSealUs' | 'openBlock'>;
/** What it asks of storage: the block switch and the checkpoint, each resolved once durable. */
export type CheckpointStorage = Pick<StorageClient, 'sealBlock' | 'commitCheckpoint' | 'settled'>;

/** Block j as the cut left it: what its checkpoint states, and storage's answer to come. */
interface BlockCut {
  firstSeq: number;
  count: number;
  chainHead: Buffer;
  /** The checkpoint's time, and block j+1's floor. */
  time: number;
  /** Block j+1's key, escrowed to the auditor. */
  escrow: Buffer;
  sealed: ReturnType<CheckpointStorage['sealBlock']>;
}

/**
 * Closes blocks with signed checkpoints. The write order is what makes a crash at any point
 * recoverable (see recovery.ts):
 *   1. the next block key and signing key are in the key-state file (fsync'd): chosen when the
 *      previous checkpoint was promoted, or written now for the first checkpoint after a start;
 *   2. the sequencer moves to the next block; storage commits the block switch;
 *   3. the checkpoint, signed with the current key, is committed;
 *   4. the key state is promoted, erasing the disclosed block key and the used signing key, and
 *      choosing the keys for the checkpoint after (step 1 of the next one).
 * One checkpoint is in progress at a time; a request meanwhile runs right after it.
 */
export class Checkpointer {
  private ks: KeyState;
  private previousHash: Buffer;
  private running: Promise<void> | undefined;
  /** True while close() runs its synchronous first part (key state, flush, block switch). */
  private starting = false;
  private queued: CheckpointReason | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** A stop ran out of time: retries end and the checkpoint under way is left to recovery. */
  private abandoned = false;
  lastCheckpointAtUs: number | undefined;
  checkpoints = 0;

  constructor(
    private readonly identity: LogIdentity,
    ks: KeyState,
    previousHash: Buffer,
    private readonly sequencer: BlockCursor,
    private readonly storage: CheckpointStorage,
    private readonly o: CheckpointerOptions,
  ) {
    this.ks = ks;
    this.previousHash = previousHash;
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.request(this.sequencer.entriesInBlock > 0 ? 'interval' : 'heartbeat'), this.o.intervalMs);
    this.timer.unref();
  }

  /** Called after each sealed batch. */
  afterSeal(): void {
    if (this.sequencer.entriesInBlock >= this.o.maxEntries) void this.request('entries');
  }

  /**
   * Room left in the open block before it must be closed (the write queue splits batches at
   * it). While a checkpoint is already under way the block simply grows until the next one:
   * splitting then would only cut batches into single entries.
   */
  get room(): number {
    if (this.running || this.starting) return Number.POSITIVE_INFINITY;
    return Math.max(1, this.o.maxEntries - this.sequencer.entriesInBlock);
  }

  request(reason: CheckpointReason): Promise<void> {
    if (this.running || this.starting) {
      // 'shutdown' and 'restart' outrank a size or time trigger already waiting.
      if (this.queued === undefined || reason === 'shutdown' || reason === 'restart') this.queued = reason;
      return (this.running ?? Promise.resolve()).then(() => this.drainQueued());
    }
    // close() runs synchronously up to the block switch, so a batch being sealed when the
    // block fills has its remaining frames sealed into the next block, in order.
    this.starting = true;
    let closing: Promise<void>;
    try {
      closing = this.close(reason);
    } finally {
      this.starting = false;
    }
    this.running = closing
      .catch((e: Error) => this.o.onError(e))
      .finally(() => {
        this.running = undefined;
      });
    return this.running.then(() => this.drainQueued());
  }

  private drainQueued(): Promise<void> {
    const r = this.queued;
    if (r === undefined || this.running) return this.running ?? Promise.resolve();
    this.queued = undefined;
    if (r === 'entries' && this.sequencer.entriesInBlock < this.o.maxEntries) return Promise.resolve();
    return this.request(r);
  }

  private async close(reason: CheckpointReason): Promise<void> {
    this.arm();
    const j = this.ks.block;
    const pending = this.pendingKeys();
    faultPoint('checkpoint-after-pending-keys');
    const cut = this.cut(j, pending.next.blockKey);
    const sealed = await cut.sealed;
    faultPoint('checkpoint-after-block-switch');
    if (faultArmed('checkpoint-after-block-switch-settled')) {
      await this.storage.settled();
      faultPoint('checkpoint-after-block-switch-settled');
    }
    if (sealed.count !== cut.count || sealed.firstSeq !== cut.firstSeq) {
      throw new Error(`block ${j}: sequenced ${cut.count} entries from ${cut.firstSeq}, storage committed ${sealed.count} from ${sealed.firstSeq}`);
    }
    const cp = buildCheckpoint(
      this.identity.fingerprint,
      { index: j, firstSeq: cut.firstSeq, count: cut.count, chainHead: cut.chainHead, entryRoot: Buffer.from(sealed.entryRoot) },
      pending,
      cut.escrow,
      this.previousHash,
      cut.time,
      reason,
    );
    await this.storage.commitCheckpoint(j, cut.time, cp.bytes);
    faultPoint('checkpoint-after-commit');
    const promoted = await this.promote(j, pending, reason);
    faultPoint('checkpoint-after-promote');
    this.ks = promoted;
    this.previousHash = cp.hash;
    this.lastCheckpointAtUs = cut.time;
    this.checkpoints++;
    this.o.onCheckpoint(j, cut.count, reason);
  }

  /** Step 1: the key state with the next block's keys, durable before the block is cut. */
  private pendingKeys(): KeyState & { next: NextKeys } {
    if (this.ks.next) {
      // Chosen and made durable when checkpoint j-1 was promoted: nothing to write here, so the
      // block closes at exactly the entry that filled it.
      return this.ks as KeyState & { next: NextKeys };
    }
    // Recovery chooses them at start and every promotion chooses the following ones, so this
    // is a fallback that keeps the write order if that ever changes.
    const pending = { ...this.ks, next: freshNextKeys() };
    saveKeyState(this.o.keyStatePath, pending);
    this.ks = pending;
    return pending;
  }

  /**
   * Step 2, synchronous up to the post of the block switch: what is queued is sealed into block
   * j, the sequencer moves on to block j+1, and storage is asked to commit the switch.
   */
  private cut(j: number, nextBlockKey: Buffer): BlockCut {
    this.o.flushQueue();
    const firstSeq = this.sequencer.blockFirstSeq;
    const count = this.sequencer.entriesInBlock;
    const chainHead = this.sequencer.head;
    // The checkpoint is dated at the cut: every entry of block j was sealed before it, every
    // entry of block j+1 is dated from it on (Sequencer.clampTimes), so the signed times of
    // consecutive checkpoints bound each block's entries, which is how verify maps a time range
    // to blocks without trusting any unsigned column.
    const time = Math.max(nowUs(), this.sequencer.earliestSealUs);
    const escrow = escrowBlockKey(nextBlockKey, this.identity.auditorPublic, Buffer.from(this.identity.fingerprint, 'hex'), j + 1);
    this.sequencer.openBlock(j + 1, nextBlockKey, time);
    const sealed = this.storage.sealBlock(j, { block: j + 1, first_seq: firstSeq + count, opened_at_us: time, escrow });
    return { firstSeq, count, chainHead, time, escrow, sealed };
  }

  /**
   * Step 4: the promoted state already carries the keys for checkpoint j+1 (not after the last
   * one, so a clean stop leaves none pending). Written off the main thread: a synchronous fsync
   * here stalled UDP reception long enough to drop datagrams.
   */
  private async promote(j: number, pending: KeyState & { next: NextKeys }, reason: CheckpointReason): Promise<KeyState> {
    const promoted: KeyState = {
      version: 1, fingerprint: pending.fingerprint, block: j + 1, blockKey: pending.next.blockKey, signingPublic: pending.next.signingPublic, signingPrivate: pending.next.signingPrivate,
      ...(reason === 'shutdown' ? {} : { next: freshNextKeys() }),
    };
    // Retried until it lands (a full disk): until then `ks` still names block j, and a new
    // checkpoint started on it would close block j a second time.
    await retryUntilDone(() => saveKeyStateAsync(this.o.keyStatePath, promoted), {
      onFailure: (e) => this.o.onError(new Error(`checkpoint ${j} is committed but ${this.o.keyStatePath} could not be advanced (retrying): ${e.message}`)),
      abandoned: () => this.abandoned,
    });
    return promoted;
  }

  /** Stops retrying (see `abandoned`). */
  abandon(): void {
    this.abandoned = true;
  }

  /** Final checkpoint on a clean stop; no timer afterwards. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.request('shutdown');
  }
}
