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
  /** Field JSON of the batch being sealed; grows to the largest batch seen, never shrinks. */
  private scratch = Buffer.allocUnsafe(256 * 1024);
  sealed = 0;

  constructor(
    start: ChainPosition & { blockFirstSeq: number },
    /** Batch buffers (the storage thread hands them back for reuse). */
    private readonly allocate?: (size: number) => Buffer,
  ) {
    this.at = { nextSeq: start.nextSeq, head: start.head, block: start.block, blockKey: start.blockKey };
    this.firstSeqOfBlock = start.blockFirstSeq;
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

  seal(frames: readonly ReceivedFrame[]): SealedBatch {
    const { batch, next } = sealBatch(this.at, frames, this.fieldsJson(frames), this.allocate);
    this.at = next;
    this.sealed += batch.count;
    return batch;
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

  /** Everything sealed from now on belongs to `block`, MAC'd with its key; the chain runs on. */
  openBlock(block: number, blockKey: Buffer): void {
    this.at = { ...this.at, block, blockKey };
    this.firstSeqOfBlock = this.at.nextSeq;
  }
}
