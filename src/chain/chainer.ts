import { encodeEntry, type EntryFields } from './encoding.js';
import { chainMac } from './mac.js';

/** Where the chain stands: the next sequence number, the last MAC, and the open block. */
export interface ChainHead {
  nextSeq: number;
  head: Buffer;
  block: number;
  blockKey: Buffer;
}

export interface ChainedEntry {
  fields: EntryFields;
  mac: Buffer;
  block: number;
}

/**
 * Pure sequencing and MAC step. It returns the new head instead of keeping it, so that the
 * caller advances only once the entries are durable: a failed commit leaves the chain where it
 * was, and the same frames are chained again with the same sequence numbers.
 */
export function chainEntries(
  at: ChainHead,
  frames: readonly Omit<EntryFields, 'seq'>[],
): { entries: ChainedEntry[]; next: ChainHead } {
  let seq = at.nextSeq;
  let head = at.head;
  const entries: ChainedEntry[] = new Array(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const fields: EntryFields = { ...frames[i]!, seq };
    head = chainMac(at.blockKey, head, encodeEntry(fields));
    entries[i] = { fields, mac: head, block: at.block };
    seq++;
  }
  return { entries, next: { ...at, nextSeq: seq, head } };
}
