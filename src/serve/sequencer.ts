import { sealBatch, type ChainPosition, type SealedBatch } from '../chain/batch.js';
import { fieldsToJson, parseRecord } from '../parse/index.js';
import type { ReceivedFrame } from '../receive/frame.js';

/**
 * Sequencing and MAC step of the write path, on the main thread: parse each frame (index
 * fields), give it the next sequence number, chain its MAC, and hand the sealed batch on.
 */
export class Sequencer {
  private at: ChainPosition;
  private firstSeqOfBlock: number;
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
    const fields = frames.map((f) => fieldsToJson(parseRecord(f.raw)));
    const { batch, next } = sealBatch(this.at, frames, fields, this.allocate);
    this.at = next;
    this.sealed += batch.count;
    return batch;
  }

  /** Everything sealed from now on belongs to `block`, MAC'd with its key; the chain runs on. */
  openBlock(block: number, blockKey: Buffer): void {
    this.at = { ...this.at, block, blockKey };
    this.firstSeqOfBlock = this.at.nextSeq;
  }
}
