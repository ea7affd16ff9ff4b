import { sealBatch, type ChainPosition, type FieldsJsonBytes, type SealedBatch } from '../chain/batch.js';
import { NO_ROOM, parseRecord, writeFieldsJson } from '../parse/index.js';
import type { ReceivedFrame } from '../receive/frame.js';

/**
 * Sequencing and MAC step of the write path, on the main thread: parse each frame (index
 * fields), give it the next sequence number, chain its MAC, and hand the sealed batch on.
 */
export class Sequencer {
  private at: ChainPosition;
  private firstSeqOfBlock: number;
  /** The open block's signed lower time bound: the time of the checkpoint that opened it. */
  private floorUs: number;
  /** The latest receive time sealed into the open block (its floor while it is empty). */
  private latestUs: number;
  /** Field JSON of the batch being sealed; grows to the largest batch seen, never shrinks. */
  private scratch = Buffer.allocUnsafe(256 * 1024);
  sealed = 0;

  constructor(
    start: ChainPosition & { blockFirstSeq: number; blockFloorUs: number; latestInBlockUs: number },
    /** Batch buffers (the storage thread hands them back for reuse). */
    private readonly allocate?: (size: number) => Buffer,
  ) {
    this.at = { nextSeq: start.nextSeq, head: start.head, block: start.block, blockKey: start.blockKey };
    this.firstSeqOfBlock = start.blockFirstSeq;
    this.floorUs = start.blockFloorUs;
    this.latestUs = Math.max(start.blockFloorUs, start.latestInBlockUs);
  }

  get nextSeq(): number {
    return this.at.nextSeq;
  }

  get head(): Buffer {
    return this.at.head;
  }

  get block(): number {
    return this.at.block;
  }

  get blockFirstSeq(): number {
    return this.firstSeqOfBlock;
  }

  get entriesInBlock(): number {
    return this.at.nextSeq - this.firstSeqOfBlock;
  }

  /**
   * The earliest time a checkpoint closing the open block may carry: no earlier than any entry
   * in it, nor than the checkpoint before (the wall clock can step back).
   */
  get earliestSealUs(): number {
    return this.latestUs;
  }

  seal(frames: readonly ReceivedFrame[]): SealedBatch {
    this.clampTimes(frames);
    const { batch, next } = sealBatch(this.at, frames, this.fieldsJson(frames), this.allocate);
    this.at = next;
    this.sealed += batch.count;
    return batch;
  }

  /**
   * Every entry of block j must lie within the signed times of checkpoints j-1 and j, because
   * verify chooses the blocks of a time range from those signed times alone. A frame stamped
   * before the open block's checkpoint (the rest of a batch split at a block boundary, or a
   * wall clock stepped back) is dated to that checkpoint: later than it arrived, never earlier.
   */
  private clampTimes(frames: readonly ReceivedFrame[]): void {
    let latest = this.latestUs;
    for (const f of frames) {
      if (f.receivedAtUs < this.floorUs) f.receivedAtUs = this.floorUs;
      if (f.receivedAtUs > latest) latest = f.receivedAtUs;
    }
    this.latestUs = latest;
  }

  /** Parses each frame and writes its field JSON into the reused scratch buffer. */
  private fieldsJson(frames: readonly ReceivedFrame[]): FieldsJsonBytes {
    const ends: number[] = new Array(frames.length);
    let o = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = parseRecord(frames[i]!.raw);
      let e = writeFieldsJson(this.scratch, o, f);
      while (e === NO_ROOM) {
        const bigger = Buffer.allocUnsafe(this.scratch.length * 2);
        this.scratch.copy(bigger, 0, 0, o);
        this.scratch = bigger;
        e = writeFieldsJson(this.scratch, o, f);
      }
      ends[i] = o = e;
    }
    return { bytes: this.scratch, ends };
  }

  /**
   * Everything sealed from now on belongs to `block`, MAC'd with its key, and is dated no
   * earlier than `floorUs` (the time of the checkpoint that closes the block before); the chain
   * runs on.
   */
  openBlock(block: number, blockKey: Buffer, floorUs: number): void {
    this.at = { ...this.at, block, blockKey };
    this.firstSeqOfBlock = this.at.nextSeq;
    this.floorUs = floorUs;
    this.latestUs = floorUs;
  }
}
